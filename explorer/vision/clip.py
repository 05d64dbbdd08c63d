"""CLIP on the digits: images and text in one space, learnt from pairs (a digit and a caption of it), and
zero-shot classification falling out of it.

The text tower is the bundled sentence encoder (all-MiniLM-L6-v2), **locked** (LiT: its sentence vectors are
read once and never change) with a learnt linear projection; the image tower is the small CNN of SimCLR
(`DigitEncoder`) trained from scratch, its projection head giving the shared space. The loss is CLIP's own
(Radford et al. 2021, figure 3): cosine similarities of every image with every caption in the batch, times a
learnt temperature exp(t) (t starts at log(1/0.07) and is clipped at log 100), cross-entropy over the rows
(image → text) and over the columns (text → image), averaged. The labels are used only to write the captions:
nothing ever asks the model for a class.

Zero-shot: one prompt per class ("a handwritten seven", or what a participant types), each image's class is
the prompt with the highest cosine (`zero_shot`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch.nn import Module

from explorer.errors import ExplorerError
from explorer.models.loaded import LoadedModel
from explorer.vision.simclr import DigitEncoder

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# captions of a digit during training ({word}: "seven", {num}: "7"); a caption is drawn at random each time
TEMPLATES = (
    "a handwritten {word}",
    "the digit {num}",
    "{word}",
    "a {num} written by hand",
    "the number {word}",
    "a scanned digit: {num}",
    "handwritten {num}",
    "someone wrote a {word}",
)
PLAIN = "the digit {num}"  # the page's first zero-shot prompts: one plain prompt per class
ORDINALS = ("zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth")
FRENCH = ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf")
LOGIT_SCALE_INIT = math.log(1 / 0.07)  # CLIP's initial temperature 0.07
LOGIT_SCALE_MAX = math.log(100.0)  # CLIP clips the scale at 100
EMBED = 64  # the shared space
MAX_PROMPT_CHARS = 200


def prompts(template: str) -> list[str]:
    """The ten prompts of a template, one per class: "{word}" → "zero" … "nine", "{num}" → "0" … "9"."""
    if "{word}" not in template and "{num}" not in template:
        raise ExplorerError(
            "A template needs {word} or {num} where the digit goes.", 'For example: "a handwritten {word}".'
        )
    try:
        return [template.format(word=w, num=i) for i, w in enumerate(WORDS)]
    except (KeyError, IndexError, ValueError) as exc:
        raise ExplorerError(
            f"This template cannot be filled in: {exc}.", "Use only {word} and {num} inside braces."
        ) from None


def prompt_sets() -> dict[str, list[str]]:
    """Ways of writing the ten prompts, named by their prompt for 7: the captions' own words, words the
    captions never used (ordinals, French), and a description that needs counting ("the number after six")."""
    return {
        "the digit 7": prompts(PLAIN),
        "a handwritten seven": prompts("a handwritten {word}"),
        "7": prompts("{num}"),
        "seventh": list(ORDINALS),
        "sept (French)": list(FRENCH),
        "the number after six": ["the number before one"] + [f"the number after {w}" for w in WORDS[:-1]],
    }


def captions(templates: Sequence[str] = TEMPLATES) -> list[list[str]]:
    """captions[label][t]: template t written for the digit `label`."""
    per_template = [prompts(t) for t in templates]
    return [[p[label] for p in per_template] for label in range(len(WORDS))]


def check_prompts(texts: Sequence[str]) -> list[str]:
    """One prompt per class, each non-empty and at most MAX_PROMPT_CHARS characters."""
    from explorer.tokens import clean_text

    texts = [("" if t is None else str(t)).strip() for t in texts]
    if len(texts) != len(WORDS):
        raise ExplorerError(f"Zero-shot needs one prompt per class: {len(WORDS)}, got {len(texts)}.")
    for i, t in enumerate(texts):
        if not t:
            raise ExplorerError(f"The prompt for {i} is empty.", "Type a few words that describe the digit.")
        if len(t) > MAX_PROMPT_CHARS:
            raise ExplorerError(
                f"The prompt for {i} is {len(t):,} characters long; the limit is {MAX_PROMPT_CHARS}.",
                "Shorten it.",
            )
    return [clean_text(t, what="prompt") for t in texts]


def text_features(encoder: LoadedModel, texts: Sequence[str]) -> torch.Tensor:
    """The locked text tower: the sentence encoder's vectors of `texts` [n, 384] (read once, cached)."""
    from explorer.contrastive.embeddings import embed

    return torch.tensor(np.asarray(embed(encoder, list(texts), limit=max(64, len(texts))).vectors))


class CLIPModel(Module):
    """The image tower (a small CNN and its projection head, trained from scratch), the text projection over the
    locked sentence vectors, and the learnt temperature."""

    def __init__(self, text_dim: int, width: int = 32, embed_dim: int = EMBED):
        super().__init__()
        self.image = DigitEncoder(width, projection=embed_dim)
        self.text_projection = torch.nn.Linear(text_dim, embed_dim, bias=False)
        self.logit_scale = torch.nn.Parameter(torch.tensor(LOGIT_SCALE_INIT))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The image tower's representation (what a linear probe reads)."""
        return self.image.features(images)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(self.image(images), dim=-1)

    def encode_text(self, sentence_vectors: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(self.text_projection(sentence_vectors), dim=-1)

    def scale(self) -> torch.Tensor:
        return self.logit_scale.clamp(max=LOGIT_SCALE_MAX).exp()

    def temperature(self) -> float:
        """1 / the scale: CLIP's τ (0.07 at the start)."""
        return float(1 / self.scale().detach())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.encode_image(images)


def clip_model(text_dim: int, seed: int = 0) -> CLIPModel:
    """A new CLIP model (seeded): the image tower and the text projection random, the temperature CLIP's 0.07."""
    from explorer.training.modelling import seeded

    with seeded(seed):
        return CLIPModel(text_dim)


@functools.lru_cache(maxsize=4)
def untrained(text_dim: int) -> CLIPModel:
    """The untrained model a page shows before any training (seed 0), made once per process, never trained."""
    model = clip_model(text_dim, 0).eval()
    model.requires_grad_(False)
    return model


def text_dim(encoder: LoadedModel) -> int:
    """The size of the sentence encoder's vectors."""
    return int(encoder.model.config.hidden_size)


def pair_similarity(model: CLIPModel, images: np.ndarray, sentence_vectors: torch.Tensor) -> np.ndarray:
    """[n images, m captions]: the cosine of every image with every caption in the shared space."""
    with torch.no_grad():
        img = model.encode_image(torch.tensor(np.asarray(images, dtype=np.float32)))
        return (img @ model.encode_text(sentence_vectors).T).numpy()


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """CLIP's symmetric loss: row i of the images and of the texts are a pair; logits = scale × cosine."""
    if image_emb.shape != text_emb.shape or image_emb.ndim != 2 or len(image_emb) < 2:
        raise ExplorerError("A CLIP batch needs at least two image–text pairs of the same size.")
    i = torch.nn.functional.normalize(image_emb, dim=-1)
    t = torch.nn.functional.normalize(text_emb, dim=-1)
    logits = scale * i @ t.T
    target = torch.arange(len(i))
    return (torch.nn.functional.cross_entropy(logits, target) + torch.nn.functional.cross_entropy(logits.T, target)) / 2


@dataclass
class ZeroShot:
    prompts: list[str]
    similarity: np.ndarray  # [n images, classes]: cosine of each image with each prompt
    probabilities: np.ndarray  # softmax over the prompts of scale × cosine
    predicted: np.ndarray  # [n]
    labels: np.ndarray | None = None

    @property
    def accuracy(self) -> float:
        if self.labels is None or not len(self.labels):
            return float("nan")
        return float((self.predicted == self.labels).mean())

    def confusion(self) -> np.ndarray:
        """[true class, predicted class] counts."""
        c = len(self.prompts)
        m = np.zeros((c, c), dtype=np.int64)
        if self.labels is not None:
            np.add.at(m, (self.labels, self.predicted), 1)
        return m


def zero_shot(
    model: CLIPModel,
    prompt_vectors: torch.Tensor,
    images: np.ndarray,
    labels: np.ndarray | None = None,
    prompt_texts: Sequence[str] = (),
) -> ZeroShot:
    """Classify images by the prompt each is most similar to (argmax of the cosine)."""
    with torch.no_grad():
        img = model.encode_image(torch.tensor(np.asarray(images, dtype=np.float32)))
        txt = model.encode_text(prompt_vectors)
        sim = img @ txt.T
        probs = torch.softmax(model.scale() * sim, dim=-1)
    return ZeroShot(
        list(prompt_texts),
        sim.numpy(),
        probs.numpy(),
        sim.argmax(-1).numpy(),
        None if labels is None else np.asarray(labels),
    )


class CLIPTask:
    """Training digits, each with a caption drawn from the templates at every step; at evaluation, the loss on
    fixed held-out pairs and the zero-shot accuracy on the held-out digits with the plain prompts."""

    unit = "pairs"

    def __init__(
        self,
        train: np.ndarray,
        train_labels: np.ndarray,
        held_out: np.ndarray,
        held_out_labels: np.ndarray,
        caption_vectors: torch.Tensor,  # [classes, templates, dim]
        plain_vectors: torch.Tensor,  # [classes, dim]
        *,
        batch: int = 128,
    ):
        self.images = torch.tensor(np.asarray(train, dtype=np.float32))
        self.labels = torch.tensor(np.asarray(train_labels, dtype=np.int64))
        self.held_out, self.held_out_labels = np.asarray(held_out, dtype=np.float32), np.asarray(held_out_labels)
        self.caption_vectors, self.plain_vectors, self.batch_size = caption_vectors, plain_vectors, int(batch)
        gen = torch.Generator().manual_seed(1234)  # the same held-out captions at every evaluation
        n_t = caption_vectors.shape[1]
        self.eval_templates = torch.randint(n_t, (len(self.held_out),), generator=gen)
        self.step_metrics: dict = {}

    def batch(self, gen: torch.Generator) -> dict:
        idx = torch.randint(len(self.images), (self.batch_size,), generator=gen)
        labels = self.labels[idx]
        t = torch.randint(self.caption_vectors.shape[1], (len(idx),), generator=gen)
        return {"images": self.images[idx], "text": self.caption_vectors[labels, t], "labels": labels}

    @staticmethod
    def tokens(batch: dict) -> int:
        return int(batch["images"].shape[0])

    def loss(self, model: Module, batch: dict) -> torch.Tensor:
        img, txt = model.encode_image(batch["images"]), model.encode_text(batch["text"])
        with torch.no_grad():
            same = batch["labels"][:, None] == batch["labels"][None, :]  # a caption of the same digit is right too
            hit = same[torch.arange(len(img)), (img @ txt.T).argmax(1)]
            self.step_metrics = {"match_accuracy": float(hit.float().mean()), "temperature": model.temperature()}
        return clip_loss(img, txt, model.scale())

    def evaluate(self, model: Module, interrupt: Callable[[], None] | None = None) -> dict:
        with torch.no_grad():
            labels = torch.tensor(self.held_out_labels)
            total, n = 0.0, 0
            for s in range(0, len(self.held_out), self.batch_size):
                if interrupt is not None:
                    interrupt()
                x = torch.tensor(self.held_out[s : s + self.batch_size])
                if len(x) < 2:
                    continue
                txt = self.caption_vectors[labels[s : s + len(x)], self.eval_templates[s : s + len(x)]]
                total += float(clip_loss(model.encode_image(x), model.encode_text(txt), model.scale())) * len(x)
                n += len(x)
        zs = zero_shot(model, self.plain_vectors, self.held_out, self.held_out_labels)
        return {"eval_loss": total / max(1, n), "accuracy": zs.accuracy}
