"""Tokenizers and models for training: tiny GPT/BERT built from scratch, private copies of shared models."""

from __future__ import annotations

import contextlib
import copy
import functools
import threading
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch.nn import Module

from explorer.errors import ExplorerError
from explorer.training.limits import MAX_SEQ_LEN, VOCAB_SIZE


@dataclass(frozen=True)
class ModelSize:
    key: str
    layers: int
    hidden: int
    heads: int

    @property
    def label(self) -> str:
        return f"{self.key}: {self.layers} layers x {self.hidden} wide, {self.heads} heads"


SIZES = {
    "tiny": ModelSize("tiny", 2, 64, 2),
    "small": ModelSize("small", 4, 128, 4),
    "medium": ModelSize("medium", 6, 256, 8),
}
ARCHS = {"gpt": "GPT (causal LM, predicts the next token)", "bert": "BERT (masked LM, fills in blanks)"}


@functools.lru_cache(maxsize=4)
def corpus_tokenizer(kind: str, text: str, vocab_size: int = VOCAB_SIZE):
    """A small tokenizer trained on `text`: byte-level BPE for GPT, lower-cased WordPiece for BERT."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    lines = text.splitlines()
    if kind == "gpt":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=["<|endoftext|>"],
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        tok.train_from_iterator(lines, trainer=trainer)
        return PreTrainedTokenizerFast(
            tokenizer_object=tok,
            eos_token="<|endoftext|>",
            bos_token="<|endoftext|>",
            unk_token="<|endoftext|>",
            model_max_length=MAX_SEQ_LEN,
        )
    if kind == "bert":
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False)
        tok.train_from_iterator(lines, trainer=trainer)
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
        )
        return PreTrainedTokenizerFast(
            tokenizer_object=tok,
            pad_token="[PAD]",
            unk_token="[UNK]",
            cls_token="[CLS]",
            sep_token="[SEP]",
            mask_token="[MASK]",
            model_max_length=MAX_SEQ_LEN,
        )
    raise ExplorerError(f"Unknown architecture '{kind}'.", f"Pick one of: {', '.join(ARCHS)}.")


def scratch_model(arch: str, size: str, tokenizer: Any, seed: int = 0):
    """A freshly initialised tiny GPT-2 or BERT for `tokenizer` (same seed → same weights)."""
    from transformers import BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel

    if size not in SIZES:
        raise ExplorerError(f"Unknown model size '{size}'.", f"Pick one of: {', '.join(SIZES)}.")
    s = SIZES[size]
    vocab = len(tokenizer)
    if arch == "gpt":
        cfg = GPT2Config(
            vocab_size=vocab,
            n_positions=MAX_SEQ_LEN,
            n_embd=s.hidden,
            n_layer=s.layers,
            n_head=s.heads,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            bos_token_id=tokenizer.eos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        cls = GPT2LMHeadModel
    elif arch == "bert":
        cfg = BertConfig(
            vocab_size=vocab,
            hidden_size=s.hidden,
            num_hidden_layers=s.layers,
            num_attention_heads=s.heads,
            intermediate_size=4 * s.hidden,
            max_position_embeddings=MAX_SEQ_LEN,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            pad_token_id=tokenizer.pad_token_id,
        )
        cls = BertForMaskedLM
    else:
        raise ExplorerError(f"Unknown architecture '{arch}'.", f"Pick one of: {', '.join(ARCHS)}.")
    with seeded(seed):
        model = cls(cfg)
    _fast_attention(model)
    return model


_SEED_LOCK = threading.Lock()


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global generator for a block (weight initialisation) and restore it afterwards,
    one session at a time, so other sessions' random numbers are not disturbed."""
    with _SEED_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _fast_attention(model: Module) -> None:
    try:
        model.set_attn_implementation("sdpa")
    except Exception:  # noqa: BLE001 - eager attention trains too, only slower
        pass


def transformer_blocks(model: Module) -> torch.nn.ModuleList:
    """The model's stack of transformer blocks (the longest ModuleList)."""
    best = None
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and (best is None or len(module) > len(best)):
            best = module
    if best is None:
        raise ExplorerError(f"{type(model).__name__} has no stack of transformer blocks to train.")
    return best


def _frozen_parameters(model: Module, layers: int) -> dict[int, Any]:
    """The parameters that stay as they are when only the top `layers` blocks (and what follows
    them) learn: the input embeddings (and anything named embed... outside the blocks) and the
    lower blocks; by id."""
    blocks = list(transformer_blocks(model))
    frozen = {id(p): p for b in blocks[: len(blocks) - layers] for p in b.parameters()}
    in_blocks = {id(p) for b in blocks for p in b.parameters()}
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    frozen.update({id(p): p for p in emb.parameters()} if emb is not None else {})
    frozen.update({id(p): p for n, p in model.named_parameters() if "embed" in n and id(p) not in in_blocks})
    return frozen


def private_copy(model: Module, layers: int | None = None):
    """A copy of a shared model that can be trained; only the top `layers` blocks (and what
    follows them, e.g. the final norm and prediction head) learn, or all of it with `layers=None`.

    What does not learn is not copied: the copy uses the shared model's own frozen tensors (they
    never change), so a session training the top 4 of SmolLM2's 30 blocks holds about 15 M
    parameters of its own instead of 135 M.
    """
    try:
        shared = {} if layers is None else _frozen_parameters(model, layers)
    except ExplorerError:  # no recognisable blocks: copy everything
        shared = {}
    m = copy.deepcopy(model, memo=dict(shared))
    _fast_attention(m)
    if layers is None:
        m.requires_grad_(True)
        return m
    m.requires_grad_(False)
    blocks = transformer_blocks(m)
    in_blocks = {id(p) for p in blocks.parameters()}
    emb = m.get_input_embeddings() if hasattr(m, "get_input_embeddings") else None
    frozen = {id(p) for p in emb.parameters()} if emb is not None else set()
    for name, p in m.named_parameters():
        if id(p) not in in_blocks and id(p) not in frozen and "embed" not in name:
            p.requires_grad_(True)
    for block in list(blocks)[len(blocks) - layers :] if layers else []:
        block.requires_grad_(True)
    return m


def count_trainable(model: Module) -> tuple[int, int]:
    params = list({id(p): p for p in model.parameters()}.values())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
