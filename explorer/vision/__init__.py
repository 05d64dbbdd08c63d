"""Self-supervision on images, with tiny models that train on a CPU in seconds to a minute.

- `data`: scikit-learn's 1,797 handwritten digits (8×8, one fixed 70/30 split, a development split
  inside the training part) and its two sample photographs, greyscale in [0, 1], read-only;
- `uploads`: an uploaded file's bytes → a checked greyscale array (`read_image`);
- `patches`: the patch grid, masks (exactly round(r × patches) hidden, or the clicked patches) and
  the pictures drawn side by side (masked view, composite, per-patch error);
- `mae_model`: the tiny `ViTMAEForPreTraining`, its shapes and initialisation; `mae`: masked image modelling with it (`reconstruct`, `mae_loss`);
- `attention`: the ViT's attention from the CLS token to the patches (`cls_attention`);
- `views`: SimCLR augmentations (crop-and-resize, shift, rotation, noise), seeded pairs of views;
- `simclr`: the tiny CNN encoder, InfoNCE (the torch twin of `explorer.contrastive.info_nce`), the
  batch similarity matrix (`view_batch`);
- `probe`: the linear probe with a few labels per class against a random encoder and raw pixels,
  and the PCA map of held-out embeddings;
- `clip`: CLIP on the digits: the same CNN as the image tower, the locked sentence encoder as the text tower
  (LiT), CLIP's symmetric loss with a learnt temperature, captions written from the labels, zero-shot
  classification from typed prompts;
- `dino`: DINO on the digits: a student and its EMA teacher, centering and sharpening (and the collapse
  without them);
- `runs`: the `Run`s the page starts with `explorer.training.start(run)` (`mae_run`, `simclr_run`, `clip_run`,
  `dino_run`).

Figures for all of these: `explorer.charts.vision` (the pictures themselves: `explorer.charts.images`).
"""

from explorer.vision.data import DIGIT_SIZE, PHOTOS, Digits, digits, photo, photo_crops, resize
from explorer.vision.patches import (
    MAE_RATIO,
    PatchGrid,
    check_mask,
    composite,
    hidden_count,
    mask_from_indices,
    masked_image,
    patch_errors,
    patchify,
    random_mask,
    toggle,
    unpatchify,
)
from explorer.vision.views import AUGMENTATIONS, Augment, augment, view_pairs
from explorer.vision.uploads import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, MIN_IMAGE_SIDE, UserImage, read_image
from explorer.vision.mae_model import SHAPES, MAEShape, mae_model, model_shape, untrained_mae
from explorer.vision.mae import MAETask, Reconstruction, mae_features, mae_forward, mae_loss, noise_for, reconstruct
from explorer.vision.attention import CLSAttention, cls_attention
from explorer.vision.probe import (
    LABELS_PER_CLASS,
    EmbeddingMap,
    compare_probes,
    embedding_map,
    encoder_features,
    labelled_subset,
    linear_probe,
    pixel_features,
    probe_table,
    wide,
)
from explorer.vision.simclr import (
    TEMPERATURE,
    DigitEncoder,
    SimCLRTask,
    ViewBatch,
    digit_encoder,
    embed,
    info_nce_loss,
    untrained_encoder,
    view_batch,
)
from explorer.vision.clip import CLIPModel, CLIPTask, ZeroShot, clip_loss, clip_model, zero_shot
from explorer.vision.dino import DINOModel, DINOTask, dino_loss, dino_model
from explorer.vision.runs import (
    MAX_IMAGE_BATCH,
    PROBE_PER_CLASS,
    VISION_MODES,
    clip_run,
    dino_run,
    mae_run,
    random_encoder,
    run_defaults,
    simclr_run,
    vision_plan,
)

__all__ = [
    # data
    "DIGIT_SIZE",
    "PHOTOS",
    "Digits",
    "digits",
    "photo",
    "photo_crops",
    "resize",
    # patches
    "MAE_RATIO",
    "PatchGrid",
    "check_mask",
    "composite",
    "hidden_count",
    "mask_from_indices",
    "masked_image",
    "patch_errors",
    "patchify",
    "random_mask",
    "toggle",
    "unpatchify",
    # views
    "AUGMENTATIONS",
    "Augment",
    "augment",
    "view_pairs",
    # uploads
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MIN_IMAGE_SIDE",
    "UserImage",
    "read_image",
    # mae
    "SHAPES",
    "MAEShape",
    "MAETask",
    "Reconstruction",
    "mae_features",
    "mae_forward",
    "mae_loss",
    "mae_model",
    "model_shape",
    "noise_for",
    "reconstruct",
    "untrained_mae",
    # attention
    "CLSAttention",
    "cls_attention",
    # probe
    "LABELS_PER_CLASS",
    "EmbeddingMap",
    "compare_probes",
    "embedding_map",
    "encoder_features",
    "labelled_subset",
    "linear_probe",
    "pixel_features",
    "probe_table",
    "wide",
    # simclr
    "TEMPERATURE",
    "DigitEncoder",
    "SimCLRTask",
    "ViewBatch",
    "digit_encoder",
    "embed",
    "info_nce_loss",
    "untrained_encoder",
    "view_batch",
    # clip
    "CLIPModel",
    "CLIPTask",
    "ZeroShot",
    "clip_loss",
    "clip_model",
    "zero_shot",
    # dino
    "DINOModel",
    "DINOTask",
    "dino_loss",
    "dino_model",
    # runs
    "MAX_IMAGE_BATCH",
    "PROBE_PER_CLASS",
    "VISION_MODES",
    "clip_run",
    "dino_run",
    "mae_run",
    "random_encoder",
    "run_defaults",
    "simclr_run",
    "vision_plan",
]
