"""SimCLR on the digits: a tiny CNN encoder learns, with no labels, to give two views of the same
digit similar embeddings and views of different digits dissimilar ones (in-batch InfoNCE).

`info_nce_loss` is the torch twin of `explorer.contrastive.info_nce` (the text contrastive page's
loss; the same numbers, proven in tests/core/vision/test_vision.py): logits cos(a_i, b_j) / τ, the positive of
row i is column i, the others are in-batch negatives; `symmetric` also counts the columns (b → a).
The encoder has no batch norm and no dropout, so embedding images never changes it and gives the
same result in training or evaluation mode.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.nn import Module

from explorer.contrastive.info_nce import InfoNCE, info_nce
from explorer.errors import ExplorerError
from explorer.vision.probe import encoder_features, linear_probe
from explorer.vision.views import Augment, augment

TEMPERATURE = 0.2
FEATURES = 128  # the representation a linear probe reads
PROJECTION = 64  # the space the contrastive loss is computed in (SimCLR's projection head)


class DigitEncoder(torch.nn.Module):
    """A small CNN for 8×8 images: two 3×3 convolutions, a 2×2 pooling, a linear layer to
    `FEATURES` (the representation), and a 2-layer projection head (what the loss sees)."""

    def __init__(self, width: int = 32, features: int = FEATURES, projection: int = PROJECTION, size: int = 8):
        super().__init__()
        self.size = size
        self.backbone = torch.nn.Sequential(
            torch.nn.Conv2d(1, width, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(width, 2 * width, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(2 * width * (size // 2) ** 2, features),
            torch.nn.ReLU(),
        )
        self.head = torch.nn.Sequential(
            torch.nn.Linear(features, features), torch.nn.ReLU(), torch.nn.Linear(features, projection)
        )

    def features(self, images: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(images, dtype=torch.float32)
        if x.ndim == 3:
            x = x[:, None]
        if tuple(x.shape[-2:]) != (self.size, self.size):
            raise ExplorerError(
                f"This encoder takes {self.size}×{self.size} images; got {x.shape[-2]}×{x.shape[-1]}.",
                "Resize the image first.",
            )
        return self.backbone(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


@functools.lru_cache(maxsize=1)
def untrained_encoder() -> DigitEncoder:
    """The untrained encoder a page shows before any training (seed 0), made once per process, never trained."""
    model = digit_encoder(0).eval()
    model.requires_grad_(False)
    return model


def digit_encoder(seed: int = 0, width: int = 32) -> DigitEncoder:
    """A new, randomly initialised encoder (seeded): the SimCLR starting point, and the random baseline."""
    from explorer.training.modelling import seeded

    with seeded(seed):
        return DigitEncoder(width)


def info_nce_loss(
    a: torch.Tensor, b: torch.Tensor, temperature: float = TEMPERATURE, *, symmetric: bool = False
) -> torch.Tensor:
    """In-batch InfoNCE of embeddings a [n, d] and b [n, d] (row i of a and of b are a positive pair),
    the same value as `explorer.contrastive.info_nce(a, b, temperature, symmetric=...).loss`."""
    if a.shape != b.shape or a.ndim != 2 or len(a) < 2:
        raise ExplorerError("A contrastive batch needs at least two pairs of embeddings of the same size.")
    if not temperature > 0:
        raise ExplorerError("The temperature must be above 0.")
    sim = torch.nn.functional.normalize(a, dim=1, eps=1e-12) @ torch.nn.functional.normalize(b, dim=1, eps=1e-12).T
    logits = sim.clamp(-1.0, 1.0) / temperature
    target = torch.arange(len(a))
    loss = torch.nn.functional.cross_entropy(logits, target)
    if symmetric:
        loss = (loss + torch.nn.functional.cross_entropy(logits.T, target)) / 2
    return loss


def embed(model: Module, images: np.ndarray, *, projection: bool = True) -> np.ndarray:
    """Embeddings of images [n, 8, 8]: the projection head's output (what the loss compares), or with
    `projection=False` the encoder's features (what a linear probe reads)."""
    if not projection:
        return encoder_features(model, images)
    with torch.no_grad():
        return model(torch.tensor(np.asarray(images, dtype=np.float32))).numpy()


@dataclass
class ViewBatch:
    """A batch of positive pairs and its InfoNCE: `result.similarity` is the [n, n] matrix of
    cos(view A of i, view B of j), positives on the diagonal."""

    a: np.ndarray  # [n, 8, 8]
    b: np.ndarray
    labels: np.ndarray  # the digits (never used by the loss; for the page's axis labels)
    result: InfoNCE


def view_batch(
    model: Module,
    images: np.ndarray,
    labels: np.ndarray,
    aug: Augment = Augment(),
    *,
    seed: int = 0,
    temperature: float = TEMPERATURE,
    symmetric: bool = True,
) -> ViewBatch:
    """Two views of each image, their embeddings, and the batch's InfoNCE through
    `explorer.contrastive.info_nce` (the text page's function)."""
    from explorer.vision.views import view_pairs

    if len(images) < 2:
        raise ExplorerError("A contrastive batch needs at least two images.", "Pick more digits.")
    a, b = view_pairs(images, aug, seed)
    result = info_nce(embed(model, a), embed(model, b), temperature, symmetric=symmetric)
    return ViewBatch(a, b, np.asarray(labels), result)


class SimCLRTask:
    """Unlabelled training digits in batches of view pairs; at evaluation, the held-out InfoNCE on
    fixed views and the held-out accuracy of a linear probe fitted on `probe_per_class` labelled
    training digits per class (the labels are used by the probe only, never by the training)."""

    def __init__(
        self,
        train: np.ndarray,
        held_out: np.ndarray,
        held_out_labels: np.ndarray,
        probe_images: np.ndarray,
        probe_labels: np.ndarray,
        *,
        aug: Augment = Augment(),
        temperature: float = TEMPERATURE,
        batch: int = 256,
        symmetric: bool = True,
    ):
        self.train_images = torch.tensor(np.asarray(train, dtype=np.float32))
        self.aug, self.temperature, self.batch_size, self.symmetric = aug, float(temperature), int(batch), symmetric
        if not self.temperature > 0:
            raise ExplorerError("The temperature must be above 0.")
        self.held_out, self.held_out_labels = np.asarray(held_out, dtype=np.float32), np.asarray(held_out_labels)
        self.probe_images, self.probe_labels = np.asarray(probe_images, dtype=np.float32), np.asarray(probe_labels)
        gen = torch.Generator().manual_seed(1234)  # the same held-out views at every evaluation
        x = torch.tensor(self.held_out)
        self.eval_views = [
            (augment(x[i : i + batch], aug, gen), augment(x[i : i + batch], aug, gen))
            for i in range(0, len(x), batch)
            if len(x[i : i + batch]) >= 2
        ]
        self.step_metrics: dict = {}

    def batch(self, gen: torch.Generator) -> dict:
        idx = torch.randint(len(self.train_images), (self.batch_size,), generator=gen)
        images = self.train_images[idx]
        return {"a": augment(images, self.aug, gen), "b": augment(images, self.aug, gen)}

    unit = "images"  # what `tokens` counts, for the live progress text

    @staticmethod
    def tokens(batch: dict) -> int:
        """Images per step (two views each)."""
        return int(batch["a"].shape[0])

    def loss(self, model: Module, batch: dict) -> torch.Tensor:
        za, zb = model(batch["a"]), model(batch["b"])
        with torch.no_grad():
            sim = torch.nn.functional.normalize(za, dim=1) @ torch.nn.functional.normalize(zb, dim=1).T
            self.step_metrics = {"pair_accuracy": float((sim.argmax(1) == torch.arange(len(sim))).float().mean())}
        return info_nce_loss(za, zb, self.temperature, symmetric=self.symmetric)

    def evaluate(self, model: Module, interrupt: Callable[[], None] | None = None) -> dict:
        total, n = 0.0, 0
        with torch.no_grad():
            for a, b in self.eval_views:
                if interrupt is not None:
                    interrupt()
                total += float(info_nce_loss(model(a), model(b), self.temperature, symmetric=self.symmetric)) * len(a)
                n += len(a)
        acc = linear_probe(
            encoder_features(model, self.probe_images),
            self.probe_labels,
            encoder_features(model, self.held_out),
            self.held_out_labels,
        )
        return {"eval_loss": total / max(1, n), "accuracy": acc}
