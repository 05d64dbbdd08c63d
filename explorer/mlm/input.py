"""The input of a masked LM: its mask token, user text encoded for it (a typed ``[MASK]`` or
``<mask>`` becomes the model's own), and the positions a user can mask, by piece or whole word."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Sequence

from explorer.errors import ExplorerError
from explorer.models.loaded import LoadedModel, model_parts
from explorer.tokens import Encoded, encode, model_max_tokens, word_groups, word_text

if TYPE_CHECKING:
    from torch.nn import Module

MAX_TOKENS = 128  # the most tokens a text may have on the cloze pages (below the model's own limit)
SUGGESTED_MLMS = ("bert-base-uncased", "distilroberta-base")
MASK_MARKERS = re.compile(r"\[mask\]|<mask>", re.IGNORECASE)


def mask_token(tokenizer: Any) -> tuple[str, int]:
    """The tokenizer's mask token and its id (``[MASK]`` for BERT, ``<mask>`` for RoBERTa).

    Raises `ExplorerError` for tokenizers without one (causal LMs, sentence encoders…).
    """
    token = getattr(tokenizer, "mask_token", None)
    token_id = getattr(tokenizer, "mask_token_id", None) if token else None
    if not token or token_id is None or token_id < 0:
        raise ExplorerError(
            "This model's tokenizer has no mask token, so it cannot fill in blanks: "
            "it was not trained with masked language modelling.",
            f"Pick a masked LM in the sidebar: the offline default, or {SUGGESTED_MLMS[0]} ([MASK]) "
            f"or {SUGGESTED_MLMS[1]} (<mask>) when this machine is online.",
        )
    return str(token), int(token_id)


def replace_mask_markers(text: str, tokenizer: Any) -> str:
    """Turn any typed ``[MASK]`` / ``<mask>`` (any case) into this tokenizer's own mask token."""
    token, _ = mask_token(tokenizer)
    return MASK_MARKERS.sub(lambda _m: token, text)


def encode_text(lm: LoadedModel, text: str | None, *, max_tokens: int = MAX_TOKENS) -> Encoded:
    """Clean and tokenize user text for a masked LM.

    Checks the model has a mask token, lets the user type ``[MASK]`` or ``<mask>`` whatever
    the model's own spelling, keeps at most `max_tokens` (or the model's limit if lower; a note
    says what was cut), and adds a note when characters fell out of the vocabulary (``[UNK]``).
    """
    model, tok = model_parts(lm)
    return encode_for_masking(tok, text, max_tokens=model_max_tokens(tok, model, cap=max_tokens))


def encode_for_masking(tok: Any, text: str | None, *, max_tokens: int = MAX_TOKENS, what: str = "text") -> Encoded:
    """`encode_text` with a tokenizer alone (no model: e.g. to mask the tokens of a span-corruption example);
    `what` names the text in messages ("probe sentence")."""
    mask_token(tok)
    if isinstance(text, str):
        text = replace_mask_markers(text, tok)
    enc = encode(tok, text, max_tokens=max_tokens, what=what)
    unk = getattr(tok, "unk_token_id", None)
    unknown = [p for p in enc.content_positions if unk is not None and enc.ids[p] == unk]
    if unknown:
        chars = "".join(dict.fromkeys(enc.text[enc.offsets[p][0] : enc.offsets[p][1]] for p in unknown))
        enc.notes.append(
            f"{len(unknown)} piece(s) of the text are not in this model's vocabulary and became "
            f"{tok.unk_token} ({chars[:40]}): the model can neither read nor predict them."
        )
    if any("\ufffd" in enc.pieces[p] for p in enc.content_positions):
        enc.notes.append(
            "Some characters (emoji, non-Latin scripts) are split into byte pieces, shown as \ufffd: "
            "the model reads and predicts them one byte at a time."
        )
    return enc


def typed_masks(enc: Encoded, tokenizer: Any) -> list[int]:
    """Positions where the text itself holds the mask token (typed ``[MASK]``): blanks with no answer."""
    _, mask_id = mask_token(tokenizer)
    return [p for p in enc.content_positions if enc.ids[p] == mask_id]


def maskable_positions(enc: Encoded, tokenizer: Any) -> list[int]:
    """Content positions a user can mask (special tokens and typed masks excluded)."""
    _, mask_id = mask_token(tokenizer)
    return [p for p in enc.content_positions if enc.ids[p] != mask_id]


def expand_to_words(enc: Encoded, positions: Sequence[int]) -> list[int]:
    """Whole-word masking: every piece of each word that any of `positions` belongs to."""
    chosen = set(positions)
    out = set(chosen)
    for group in word_groups(enc).values():
        if chosen.intersection(group):
            out.update(group)
    return sorted(out)


def positions_of_words(enc: Encoded, words: Sequence[str]) -> list[int]:
    """Token positions of every word of the text equal (ignoring case) to one of `words`."""
    wanted = {w.strip().lower() for w in words}
    out: list[int] = []
    for group in word_groups(enc).values():
        if word_text(enc, group).lower() in wanted:
            out.extend(group)
    return sorted(out)


def update_word_selection(enc: Encoded, before: Sequence[int], after: Sequence[int]) -> list[int]:
    """Whole-word masking for a row of clickable pieces: a piece clicked on masks its whole
    word, a piece clicked off unmasks its whole word."""
    old, new = set(before), set(after)
    added, removed = new - old, old - new
    for group in word_groups(enc).values():
        if removed.intersection(group):
            new.difference_update(group)
        elif added.intersection(group):
            new.update(group)
    return sorted(new)


def check_vocab(model: Module, ids: Sequence[int]) -> None:
    """Refuse token ids the model has no embedding for (a tokenizer that does not match its model)."""
    emb = model.get_input_embeddings()
    size = getattr(emb, "num_embeddings", None) or model.config.vocab_size
    if ids and max(ids) >= size:
        raise ExplorerError(
            f"The tokenizer produced token id {max(ids)}, but the model only has {size} tokens.",
            "The model and its tokenizer do not match; pick another model.",
        )
