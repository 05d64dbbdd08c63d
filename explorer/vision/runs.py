"""Runs of the vision page, trained by the same machinery as the Live training page
(`explorer.training.start(run)`, `stop`, `wait`; `Run.trainer.history` for the charts):

- ``mae``: a new tiny ViT-MAE learns to reconstruct hidden patches of the training digits (or of
  crops of the sample photographs); held-out loss = masked-patch loss on held-out images;
- ``simclr``: a new tiny CNN encoder learns from pairs of augmented training digits, no labels;
  held-out loss = InfoNCE on held-out views, held-out accuracy = a linear probe fitted on a few
  labelled training digits per class (`PROBE_PER_CLASS`);
- ``clip``: the same CNN learns from (digit, caption) pairs against the locked sentence encoder; held-out
  loss = CLIP's loss on held-out pairs, held-out accuracy = zero-shot with one plain prompt per class.

A model handed in (`model=`, e.g. one the page keeps) is copied first: the run never changes it.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from explorer.errors import ExplorerError
from explorer.training.limits import AUTO, MAX_STEPS
from explorer.training.loop import Trainer
from explorer.training.runs import Run
from explorer.training.settings import Plan
from explorer.vision.data import digits, photo_crops, resize
from explorer.vision.mae import MAETask
from explorer.vision.mae_model import MAEShape, mae_model, model_shape, shape_of
from explorer.vision.patches import MAE_RATIO
from explorer.vision.probe import labelled_subset
from explorer.vision.simclr import TEMPERATURE, SimCLRTask, digit_encoder
from explorer.vision.views import Augment

if TYPE_CHECKING:
    from torch.nn import Module

    from explorer.models.loaded import LoadedModel

VISION_MODES = ("mae", "simclr", "clip", "dino")
MAX_IMAGE_BATCH = 512  # images per step (they are tiny: 8×8 to 32×32 pixels)
PROBE_PER_CLASS = 10  # labelled training digits per class for the probe measured during SimCLR training
PHOTO_CROPS = (2048, 256)  # training and held-out crops of the sample photographs


def run_defaults(mode: str) -> dict:
    """The page's default settings of a run (`assets/examples/images.toml`, chosen on the development
    split: bench/vision.py --dev): steps, lr, batch, and for ``mae`` the mask ratio and what to expect."""
    from explorer import examples

    return dict(examples.load("images")[mode])


def vision_plan(mode: str, *, steps: Any = AUTO, lr: Any = AUTO, batch: Any = AUTO) -> Plan:
    """Concrete settings for a vision run ('auto' → the defaults), clamped to the limits."""
    if mode not in VISION_MODES:
        raise ExplorerError(f"Unknown image training mode '{mode}'.", f"Pick one of: {', '.join(VISION_MODES)}.")
    d = run_defaults(mode)
    d_steps, d_lr, d_batch = int(d["steps"]), float(d["lr"]), int(d["batch"])
    notes: list[str] = []
    steps = d_steps if steps in (AUTO, None) else int(steps)
    if steps > MAX_STEPS:
        notes.append(f"Steps are limited to {MAX_STEPS} here.")
    steps = min(max(1, steps), MAX_STEPS)
    batch = d_batch if batch in (AUTO, None) else int(batch)
    if batch > MAX_IMAGE_BATCH:
        notes.append(f"Batches are limited to {MAX_IMAGE_BATCH} images here.")
    batch = min(max(2, batch), MAX_IMAGE_BATCH)
    lr = d_lr if lr in (AUTO, None) else float(lr)
    if not 0 < lr <= 0.1:
        raise ExplorerError(f"A learning rate of {lr:g} is out of range.", "Pick one between 1e-6 and 0.1.")
    return Plan(steps, lr, batch, 0, None, notes)


def _private(model: Module) -> Any:
    m = copy.deepcopy(model)
    m.requires_grad_(True)
    if hasattr(m, "vit"):  # the fixed sin-cos position embeddings stay fixed
        m.vit.embeddings.position_embeddings.requires_grad_(False)
        m.decoder.decoder_pos_embed.requires_grad_(False)
    return m


def _run(mode: str, desc: str, trainer: Trainer, p: Plan, notes: list[str], extra: dict) -> Run:
    return Run(mode, desc, trainer, p.steps, None, mode, None, notes, extra=extra)


def _eval_every(steps: int) -> int:
    return max(10, steps // 25)


def mae_images(shape: str | MAEShape, dev: bool = False) -> tuple[Any, Any, str]:
    """(training images, held-out images, a description) at the shape's size: crops of the photographs
    for the ``photos`` shape, the digits resized to the image size for any other."""
    s = shape_of(shape)
    if s.name == "photos":
        n_train, n_held = PHOTO_CROPS
        # (the development split of the photographs: other crops of the training strip)
        return (
            photo_crops(n_train, s.image_size, held_out=False, seed=0),
            photo_crops(n_held, s.image_size, held_out=not dev, seed=1 if not dev else 2),
            f"{n_train} crops of the left three quarters of china.jpg and flower.jpg ({n_held} held-out crops "
            "from their right quarters)",
        )
    d = digits()
    train, test = d.split(dev)
    return (
        resize(d.images[train], s.image_size),
        resize(d.images[test], s.image_size),
        f"{len(train)} training digits{'' if s.image_size == 8 else f' upsampled to {s.image_size}×{s.image_size}'}"
        f" ({len(test)} {'development' if dev else 'held-out'})",
    )


def mae_run(
    p: Plan,
    *,
    shape: str | MAEShape = "digits",
    ratio: float = MAE_RATIO,
    seed: int = 0,
    model: Module = None,
    dev: bool = False,
) -> Run:
    """Masked image modelling: a new tiny ViT-MAE (or a copy of `model`) learns to fill in hidden patches."""
    s = model_shape(model) if model is not None else shape_of(shape)
    train, held, what = mae_images(s, dev)
    task = MAETask(train, held, s.grid, ratio=ratio, batch=p.batch)
    net = _private(model) if model is not None else mae_model(s, seed)
    trainer = Trainer(net, task, lr=p.lr, seed=seed, eval_every=_eval_every(p.steps), warmup=min(30, p.steps // 10))
    n = sum(x.numel() for x in net.parameters() if x.requires_grad)
    desc = (
        f"a tiny ViT-MAE ({n / 1e3:.0f} k parameters, {s.grid.count} patches of {s.patch}×{s.patch} pixels) "
        f"hiding {task.hidden} of {s.grid.count} patches, on {what}"
    )
    notes = p.notes + [
        f"Predicting the average training image scores {task.baseline:.4f} on the held-out hidden "
        "patches: a reconstruction has to beat that."
    ]
    return _run(
        "mae",
        desc,
        trainer,
        p,
        notes,
        {
            "shape": s.name,
            "ratio": float(ratio),
            "hidden": task.hidden,
            "baseline_loss": task.baseline,
            "seed": seed,
        },
    )


def simclr_run(
    p: Plan,
    *,
    aug: Augment = Augment(),
    temperature: float = TEMPERATURE,
    seed: int = 0,
    model: Module = None,
    dev: bool = False,
    probe_per_class: int = PROBE_PER_CLASS,
) -> Run:
    """SimCLR: a new tiny CNN encoder (or a copy of `model`) learns from augmented pairs, no labels."""
    d = digits()
    train, test = d.split(dev)
    probe = labelled_subset(d.labels, train, probe_per_class, seed)
    task = SimCLRTask(
        d.images[train],
        d.images[test],
        d.labels[test],
        d.images[probe],
        d.labels[probe],
        aug=aug,
        temperature=temperature,
        batch=p.batch,
    )
    net = _private(model) if model is not None else digit_encoder(seed)
    trainer = Trainer(net, task, lr=p.lr, seed=seed, eval_every=_eval_every(p.steps), warmup=min(20, p.steps // 10))
    n = sum(x.numel() for x in net.parameters() if x.requires_grad)
    desc = (
        f"SimCLR of a small CNN ({n / 1e3:.0f} k parameters) on {len(train)} unlabelled training digits, "
        f"τ = {temperature:g}, views: {aug.describe()}"
    )
    notes = p.notes + [
        f"Held-out accuracy: a linear probe on the encoder's features fitted on {probe_per_class} "
        f"labelled training digits per class, measured on the {len(test)} "
        f"{'development' if dev else 'held-out'} digits."
    ]
    return _run(
        "simclr",
        desc,
        trainer,
        p,
        notes,
        {"aug": aug, "temperature": float(temperature), "probe_per_class": probe_per_class, "seed": seed},
    )


def clip_run(p: Plan, encoder: LoadedModel, *, seed: int = 0, dev: bool = False) -> Run:
    """CLIP: a new image tower learns to meet the locked sentence encoder's captions of the training digits."""
    from explorer.vision import clip

    d = digits()
    train, test = d.split(dev)
    rows = clip.captions()
    flat = clip.text_features(encoder, [c for row in rows for c in row])
    vectors = flat.reshape(len(rows), len(rows[0]), -1)
    plain = clip.text_features(encoder, clip.prompts(clip.PLAIN))
    task = clip.CLIPTask(
        d.images[train], d.labels[train], d.images[test], d.labels[test], vectors, plain, batch=p.batch
    )
    net = clip.clip_model(vectors.shape[-1], seed)
    trainer = Trainer(net, task, lr=p.lr, seed=seed, eval_every=_eval_every(p.steps), warmup=min(20, p.steps // 10))
    n = sum(x.numel() for x in net.parameters() if x.requires_grad)
    desc = (
        f"CLIP of a small CNN ({n / 1e3:.0f} k parameters, with the text projection and the temperature) against "
        f"{encoder.info.name}, locked, on {len(train)} training digits with {len(rows[0])} kinds of caption"
    )
    notes = p.notes + [
        f"Held-out accuracy: zero-shot on the {len(test)} {'development' if dev else 'held-out'} digits with one "
        f'plain prompt per class ("{clip.PLAIN.format(num=7, word="seven")}" …): no labels, no probe.'
    ]
    return _run("clip", desc, trainer, p, notes, {"seed": seed, "encoder": encoder.info.model_id})


def dino_run(
    p: Plan,
    *,
    aug: Augment = Augment(),
    centering: bool = True,
    sharpening: bool = True,
    backbone: str = "cnn",
    seed: int = 0,
    dev: bool = False,
    probe_per_class: int = PROBE_PER_CLASS,
) -> Run:
    """DINO: a new student (the small CNN, or a tiny ViT, and DINO's head) and its EMA teacher, on pairs of views,
    no labels."""
    from explorer.vision import dino

    d = digits()
    train, test = d.split(dev)
    probe = labelled_subset(d.labels, train, probe_per_class, seed)
    net = dino.dino_model(seed, centered=centering, backbone=backbone)
    task = dino.DINOTask(
        net,
        d.images[train],
        d.images[test],
        d.labels[test],
        d.images[probe],
        d.labels[probe],
        aug=aug,
        batch=p.batch,
        centering=centering,
        sharpening=sharpening,
    )
    trainer = Trainer(net, task, lr=p.lr, seed=seed, eval_every=_eval_every(p.steps), warmup=min(20, p.steps // 10))
    n = sum(x.numel() for x in net.parameters() if x.requires_grad)
    off = [name for name, on in (("centering", centering), ("sharpening", sharpening)) if not on]
    desc = (
        f"DINO of {'a small CNN' if backbone == 'cnn' else 'a tiny ViT'} ({n / 1e3:.0f} k parameters, K = "
        f"{dino.OUT_DIM} outputs) and its EMA teacher on "
        f"{len(train)} unlabelled training digits" + (f", {' and '.join(off)} off" if off else "")
    )
    notes = p.notes + [
        f"Held-out accuracy: a linear probe on the student's features fitted on {probe_per_class} labelled "
        f"training digits per class, measured on the {len(test)} {'development' if dev else 'held-out'} digits."
    ]
    return _run(
        "dino",
        desc,
        trainer,
        p,
        notes,
        {
            "seed": seed,
            "centering": centering,
            "sharpening": sharpening,
            "backbone": backbone,
            "probe_per_class": probe_per_class,
        },
    )


def random_encoder(run: Run) -> Any:
    """The untrained encoder a SimCLR run started from (same architecture, same seed): the baseline."""
    if run.mode == "dino":
        from explorer.vision.dino import dino_model

        return dino_model(run.extra.get("seed", 0), backbone=run.extra.get("backbone", "cnn"))
    if run.mode != "simclr":
        raise ExplorerError("Only a SimCLR or DINO run has an encoder to compare with.")
    return digit_encoder(run.extra.get("seed", 0))
