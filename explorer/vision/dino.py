"""DINO on the digits: self-distillation with no labels (Caron et al. 2021). A **student** network and a
**teacher** of the same shape each read an augmented view of a digit; the student learns to give, for one
view, the distribution over K output dimensions the teacher gives for the other view. The teacher is not
trained: it follows the student as an exponential moving average of its weights (EMA, momentum m).

Nothing stops both from giving every image the same answer (**collapse**) except two operations on the
teacher's output (the paper's algorithm 1):
- **centering**: subtract a running mean of the teacher's outputs (momentum 0.9), so no one dimension can win
  for every image (without it: one dimension takes the whole batch). The head's batch norm centres each batch
  too; `centering=False` removes both (with the batch norm kept, one dimension only grows to a third of the
  batch: measured on the development split);
- **sharpening**: a low teacher temperature (0.04 against the student's 0.1), so each image's distribution is
  peaked (without it, centering alone flattens every output towards uniform: entropy ln K).

The loss: H(P_t(view a), P_s(view b)) + H(P_t(view b), P_s(view a)), the cross-entropy of the teacher's
centred, sharpened softmax with the student's log-softmax, over the two orders of the views.
The backbone is SimCLR's small CNN (`DigitEncoder`'s features); the head is DINO's: an MLP to a bottleneck,
l2-normalised, then a weight-normalised linear layer to K dimensions.
"""

from __future__ import annotations

import copy
import math
from typing import Callable

import numpy as np
import torch
from torch.nn import Module

from explorer.errors import ExplorerError
from explorer.vision.attention import CLSAttention
from explorer.vision.patches import PatchGrid
from explorer.vision.probe import encoder_features, linear_probe
from explorer.vision.simclr import FEATURES, DigitEncoder
from explorer.vision.views import Augment, augment

OUT_DIM = 64  # K: the teacher's and the student's output dimensions
STUDENT_TEMP, TEACHER_TEMP = 0.1, 0.04
CENTER_MOMENTUM = 0.9
TEACHER_MOMENTUM = 0.99  # the paper starts at 0.996 for long runs; a short run needs a teacher that moves


class DINOHead(Module):
    """MLP → bottleneck → l2-normalise → weight-normalised linear to K (the paper's head). With `batch_norm`, batch
    normalisation in the MLP, as the paper's code uses for convolutional backbones: a random CNN gives every digit
    nearly the same features, and without it the teacher's centred outputs start out all alike (measured: the run
    then flattens to uniform even with sharpening). Batch norm centres each batch inside the head, so it is part of
    what "centering" switches (`DINOModel`)."""

    def __init__(
        self,
        features: int = FEATURES,
        hidden: int = 128,
        bottleneck: int = 32,
        out_dim: int = OUT_DIM,
        batch_norm: bool = True,
    ):
        super().__init__()
        norm = [torch.nn.BatchNorm1d(hidden)] if batch_norm else []
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(features, hidden), *norm, torch.nn.GELU(), torch.nn.Linear(hidden, bottleneck)
        )
        self.last = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(bottleneck, out_dim, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(torch.nn.functional.normalize(self.mlp(x), dim=-1))


class DigitViT(Module):
    """A tiny vision transformer for the digits (the MAE's shape: 8×8 digits upsampled to 16×16, 16 patches of
    4×4 pixels, 2 layers of 4 heads, width 64), its CLS token's last state as the representation; eager
    attention, so that where the CLS token looks can be read (`cls_attention`)."""

    SIZE, PATCH = 16, 4

    def __init__(self, hidden: int = 64, layers: int = 2, heads: int = 4):
        super().__init__()
        from transformers import ViTConfig, ViTModel

        config = ViTConfig(
            image_size=self.SIZE,
            patch_size=self.PATCH,
            num_channels=1,
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=4 * hidden,
            attn_implementation="eager",
        )
        self.vit = ViTModel(config, add_pooling_layer=False)
        self.out_features = hidden

    def pixels(self, images: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(images, dtype=torch.float32)
        if x.ndim == 3:
            x = x[:, None]
        return torch.nn.functional.interpolate(x, size=(self.SIZE, self.SIZE), mode="bilinear", align_corners=False)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.vit(pixel_values=self.pixels(images)).last_hidden_state[:, 0]


BACKBONES = ("cnn", "vit")


class DINOModel(Module):
    """The student (or the teacher): a backbone (SimCLR's small CNN, or a tiny ViT), then DINO's head (with batch
    norm unless `centered` is off: a model trained with no centering of any kind)."""

    def __init__(self, width: int = 32, out_dim: int = OUT_DIM, centered: bool = True, backbone: str = "cnn"):
        super().__init__()
        if backbone not in BACKBONES:
            raise ExplorerError(f"Unknown student network '{backbone}'.", f"Pick one of: {', '.join(BACKBONES)}.")
        self.backbone = DigitEncoder(width) if backbone == "cnn" else DigitViT()
        features = FEATURES if backbone == "cnn" else self.backbone.out_features
        self.head = DINOHead(features=features, out_dim=out_dim, batch_norm=centered)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The representation a probe reads."""
        return self.backbone.features(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def dino_model(seed: int = 0, centered: bool = True, backbone: str = "cnn") -> DINOModel:
    """A new student (seeded; the backbone's weights are the same whatever the head)."""
    from explorer.training.modelling import seeded

    with seeded(seed):
        return DINOModel(centered=centered, backbone=backbone)


def cls_attention(model: DINOModel, image: np.ndarray) -> CLSAttention:
    """Where a ViT student's CLS token looks: its attention to each of the 16 patches, per layer and head, for one
    8×8 digit (the DINO picture)."""
    if not isinstance(model.backbone, DigitViT):
        raise ExplorerError("Only a ViT student has a CLS token to look with.", "Train DINO with the tiny ViT.")
    vit = model.backbone
    grid = PatchGrid(vit.SIZE, vit.PATCH)
    with torch.no_grad():
        out = vit.vit(
            pixel_values=vit.pixels(torch.tensor(np.array(image, dtype=np.float32))[None]), output_attentions=True
        )
    layers = np.stack([a[0].numpy() for a in out.attentions])  # [layers, heads, 1 + 16, 1 + 16]
    return CLSAttention(
        grid.as_grid(layers[:, :, 0, 1:]), layers[:, :, 0, 0], np.zeros((grid.side, grid.side), dtype=bool)
    )


def teacher_probs(
    teacher_out: torch.Tensor, center: torch.Tensor, *, temperature: float = TEACHER_TEMP, centering: bool = True
) -> torch.Tensor:
    """softmax((t − c) / τ_t): centred (when `centering`) and sharpened (a small τ_t)."""
    return torch.softmax((teacher_out - center if centering else teacher_out) / temperature, dim=-1)


def dino_loss(
    student_a: torch.Tensor,
    student_b: torch.Tensor,
    teacher_a: torch.Tensor,
    teacher_b: torch.Tensor,
    center: torch.Tensor,
    *,
    student_temp: float = STUDENT_TEMP,
    teacher_temp: float = TEACHER_TEMP,
    centering: bool = True,
) -> torch.Tensor:
    """The mean over the batch of H(P_t(a), P_s(b)) + H(P_t(b), P_s(a)), halved (the paper averages its terms)."""
    if not (student_temp > 0 and teacher_temp > 0):
        raise ExplorerError("The temperatures must be above 0.")
    pa = teacher_probs(teacher_a.detach(), center, temperature=teacher_temp, centering=centering)
    pb = teacher_probs(teacher_b.detach(), center, temperature=teacher_temp, centering=centering)
    la = torch.log_softmax(student_a / student_temp, dim=-1)
    lb = torch.log_softmax(student_b / student_temp, dim=-1)
    return (-(pa * lb).sum(-1).mean() - (pb * la).sum(-1).mean()) / 2


def updated_center(center: torch.Tensor, teacher_out: torch.Tensor, momentum: float = CENTER_MOMENTUM) -> torch.Tensor:
    """c ← m c + (1 − m) mean of the batch's teacher outputs."""
    return momentum * center + (1 - momentum) * teacher_out.detach().mean(0)


@torch.no_grad()
def ema_update(teacher: Module, student: Module, momentum: float = TEACHER_MOMENTUM) -> None:
    """θ_t ← m θ_t + (1 − m) θ_s, parameter by parameter."""
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(momentum).add_(s.detach(), alpha=1 - momentum)


def collapse_signs(probs: torch.Tensor) -> dict:
    """What collapse looks like in the teacher's distributions [n, K]: their mean entropy (nats; ln K when
    uniform, 0 when one-hot), and the share of the batch whose most likely dimension is the most common one."""
    p = probs.clamp_min(1e-12)
    entropy = float(-(p * p.log()).sum(-1).mean())
    top = probs.argmax(-1)
    share = float(torch.bincount(top, minlength=probs.shape[-1]).max()) / max(1, len(top))
    return {"teacher_entropy": entropy, "top_share": share}


class DINOTask:
    """Unlabelled training digits in pairs of views; the task holds the teacher (an EMA copy of the student) and
    the center. At evaluation: the collapse signs on held-out views and a linear probe on the student's features
    fitted on a few labelled training digits per class."""

    unit = "images"

    def __init__(
        self,
        student: DINOModel,
        train: np.ndarray,
        held_out: np.ndarray,
        held_out_labels: np.ndarray,
        probe_images: np.ndarray,
        probe_labels: np.ndarray,
        *,
        aug: Augment = Augment(),
        batch: int = 128,
        centering: bool = True,
        sharpening: bool = True,
        teacher_momentum: float = TEACHER_MOMENTUM,
    ):
        # the teacher runs in training mode, as in the paper's code: its batch norm reads each batch's statistics
        self.teacher = copy.deepcopy(student).requires_grad_(False)
        self.center = torch.zeros(student.head.last.out_features)
        self.train_images = torch.tensor(np.asarray(train, dtype=np.float32))
        self.held_out, self.held_out_labels = np.asarray(held_out, dtype=np.float32), np.asarray(held_out_labels)
        self.probe_images, self.probe_labels = np.asarray(probe_images, dtype=np.float32), np.asarray(probe_labels)
        self.aug, self.batch_size, self.centering = aug, int(batch), bool(centering)
        self.teacher_temp = TEACHER_TEMP if sharpening else STUDENT_TEMP  # no sharpening: the student's own τ
        self.teacher_momentum = float(teacher_momentum)
        gen = torch.Generator().manual_seed(1234)  # the same held-out views at every evaluation
        x = torch.tensor(self.held_out)
        self.eval_views = (augment(x, aug, gen), augment(x, aug, gen))
        self.step_metrics: dict = {}
        self._teacher_batch: torch.Tensor | None = None

    def batch(self, gen: torch.Generator) -> dict:
        idx = torch.randint(len(self.train_images), (self.batch_size,), generator=gen)
        images = self.train_images[idx]
        return {"a": augment(images, self.aug, gen), "b": augment(images, self.aug, gen)}

    @staticmethod
    def tokens(batch: dict) -> int:
        return int(batch["a"].shape[0])

    def loss(self, model: Module, batch: dict) -> torch.Tensor:
        with torch.no_grad():
            ta, tb = self.teacher(batch["a"]), self.teacher(batch["b"])
            self._teacher_batch = torch.cat([ta, tb])
            probs = teacher_probs(
                self._teacher_batch, self.center, temperature=self.teacher_temp, centering=self.centering
            )
            self.step_metrics = collapse_signs(probs)
        return dino_loss(
            model(batch["a"]),
            model(batch["b"]),
            ta,
            tb,
            self.center,
            teacher_temp=self.teacher_temp,
            centering=self.centering,
        )

    def after_step(self, model: Module) -> None:
        """After the student's update: the teacher follows it (EMA) and the center follows the teacher's outputs."""
        ema_update(self.teacher, model, self.teacher_momentum)
        if self._teacher_batch is not None:
            self.center = updated_center(self.center, self._teacher_batch)

    def evaluate(self, model: Module, interrupt: Callable[[], None] | None = None) -> dict:
        with torch.no_grad():
            a, b = self.eval_views
            ta, tb = self.teacher(a), self.teacher(b)
            loss = float(
                dino_loss(
                    model(a), model(b), ta, tb, self.center, teacher_temp=self.teacher_temp, centering=self.centering
                )
            )
            probs = teacher_probs(
                torch.cat([ta, tb]), self.center, temperature=self.teacher_temp, centering=self.centering
            )
            signs = collapse_signs(probs)
        if interrupt is not None:
            interrupt()
        acc = linear_probe(
            encoder_features(model, self.probe_images),
            self.probe_labels,
            encoder_features(model, self.held_out),
            self.held_out_labels,
        )
        return {"eval_loss": loss, "accuracy": acc, **{f"eval_{k}": v for k, v in signs.items()}}


def max_entropy(k: int = OUT_DIM) -> float:
    return math.log(k)
