"""The tiny ViT-MAE itself: its two shapes (``digits``: the 8×8 digits upsampled to 16×16, 4×4-pixel
patches; ``photos``: 32×32 crops of the photographs), its config, and its initialisation. transformers 5.x
leaves both sin-cos position embeddings of a ViT-MAE built from a config at zero (a model that cannot tell
its patches apart); `mae_model` fills them in (fixed 2-D sin-cos) and initialises the weights as the MAE
paper's code does (`xavier_init`). What it is trained and read with is `explorer.vision.mae`."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch.nn import Module

from explorer.errors import ExplorerError
from explorer.vision.patches import (
    MAE_RATIO,
    PatchGrid,
)


@dataclass(frozen=True)
class MAEShape:
    """The size of a tiny ViT-MAE and of the images it takes."""

    name: str
    image_size: int
    patch: int
    hidden: int = 64
    layers: int = 2
    heads: int = 4
    decoder_hidden: int = 64
    decoder_layers: int = 1
    decoder_heads: int = 4

    @property
    def grid(self) -> PatchGrid:
        return PatchGrid(self.image_size, self.patch)


SHAPES = {
    "digits": MAEShape("digits", 16, 4),
    "photos": MAEShape("photos", 32, 4),
}


def shape_of(shape: str | MAEShape) -> MAEShape:
    if isinstance(shape, MAEShape):
        return shape
    if shape not in SHAPES:
        raise ExplorerError(f"There is no image model shape called '{shape}'.", f"Pick one of: {', '.join(SHAPES)}.")
    return SHAPES[shape]


def model_shape(model: Module) -> MAEShape:
    """The shape a ViT-MAE was built with (from its config)."""
    c = model.config
    for s in SHAPES.values():
        if (s.image_size, s.patch) == (c.image_size, c.patch_size):
            return s
    return MAEShape(
        "custom",
        c.image_size,
        c.patch_size,
        c.hidden_size,
        c.num_hidden_layers,
        c.num_attention_heads,
        c.decoder_hidden_size,
        c.decoder_num_hidden_layers,
        c.decoder_num_attention_heads,
    )


def mae_config(shape: str | MAEShape = "digits"):
    from transformers import ViTMAEConfig

    s = shape_of(shape)
    return ViTMAEConfig(
        image_size=s.image_size,
        patch_size=s.patch,
        num_channels=1,
        hidden_size=s.hidden,
        num_hidden_layers=s.layers,
        num_attention_heads=s.heads,
        intermediate_size=2 * s.hidden,
        decoder_hidden_size=s.decoder_hidden,
        decoder_num_hidden_layers=s.decoder_layers,
        decoder_num_attention_heads=s.decoder_heads,
        decoder_intermediate_size=2 * s.decoder_hidden,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        mask_ratio=MAE_RATIO,
        norm_pix_loss=False,
        attn_implementation="eager",
    )  # eager: the attention weights can be read (explorer.vision.attention)


def sincos_positions(model: Module) -> None:
    """Fill the encoder's and the decoder's position embeddings with fixed 2-D sin-cos values."""
    from transformers.models.vit_mae.modeling_vit_mae import build_2d_sinusoidal_position_embedding as sincos

    c = model.config
    side = c.image_size // c.patch_size
    with torch.no_grad():
        enc = sincos(side, side, c.hidden_size, cls_token=True)
        half = enc.shape[-1] // 2  # the layout transformers' own initialisation uses for ViT-MAE
        model.vit.embeddings.position_embeddings.copy_(torch.cat([enc[:, half:], enc[:, :half]], dim=-1)[None])
        dec = sincos(side, side, c.decoder_hidden_size, cls_token=True)
        half = dec.shape[-1] // 2
        model.decoder.decoder_pos_embed.copy_(torch.cat([dec[:, half:], dec[:, :half]], dim=-1)[None])


def mae_model(shape: str | MAEShape = "digits", seed: int = 0):
    """A new, randomly initialised tiny `ViTMAEForPreTraining` (seeded), position embeddings filled in."""
    from transformers import ViTMAEForPreTraining
    from transformers.utils import logging

    from explorer.training.modelling import seeded

    logging.disable_progress_bar()
    with seeded(seed):
        model = ViTMAEForPreTraining(mae_config(shape))
        xavier_init(model)
    sincos_positions(model)
    return model


def xavier_init(model: Module) -> None:
    """The MAE paper's code's initialisation: linear layers and the patch embedding (as a matrix) xavier-
    uniform, biases zero. transformers' normal(0, 0.02), ~6× smaller for 64-wide layers, kept the loss on
    the average image's line for many more steps (bench/notes/vision.md)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
                torch.nn.init.xavier_uniform_(module.weight.view(module.weight.shape[0], -1))
                if module.bias is not None:
                    module.bias.zero_()


@functools.lru_cache(maxsize=2)
def untrained_mae(shape: str = "digits"):
    """The untrained MAE a page shows before any training (seed 0), made once per process, never trained
    (runs copy it or make their own)."""
    model = mae_model(shape, 0).eval()
    model.requires_grad_(False)
    return model
