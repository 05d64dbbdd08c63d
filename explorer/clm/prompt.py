"""The exact text and tokens a causal LM reads: raw text or the model's chat template, with a start token."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from explorer.errors import ExplorerError
from explorer.tokens import Encoded, clean_text, display_piece, display_pieces, encode
from explorer.wording import count

PROMPT_LIMIT = 256  # tokens of prompt (chat template included) the page accepts


@dataclass
class Prompt:
    """What the model is given: the exact text and its tokens."""

    encoded: Encoded  # the tokens the model reads (chat template and start token included)
    user_text: str  # the cleaned text the user typed ("" for an empty prompt)
    chat: bool  # True: wrapped in the model's chat template
    start_token_added: bool = False  # True: the prompt was empty, the model starts from its start token
    notes: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return list(self.encoded.ids)

    @property
    def text(self) -> str:
        """The exact text the model sees (special tokens written out)."""
        return self.encoded.text


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


DOCUMENT_START = "<|endoftext|>"  # the document separator of GPT-2-style pretraining


def start_token_id(tokenizer: Any) -> int | None:
    """The token a text starts from when there is nothing else.

    A chat model's BOS can be a chat-role marker (SmolLM2-Instruct's is ``<|im_start|>``, after which
    the model expects a role name), so the pretraining document separator ``<|endoftext|>`` is
    preferred when the vocabulary has it; else BOS, else EOS.
    """
    if getattr(tokenizer, "bos_token", None) not in (None, DOCUMENT_START, "<s>"):
        doc = _vocab_id(tokenizer, DOCUMENT_START)
        if doc is not None:
            return doc
    for name in ("bos_token_id", "eos_token_id"):
        v = getattr(tokenizer, name, None)
        if isinstance(v, int):
            return v
    return None


def _vocab_id(tokenizer: Any, token: str) -> int | None:
    """The id of `token` when the vocabulary has it (a lookup, not a copy of the whole vocabulary)."""
    try:
        i = tokenizer.convert_tokens_to_ids(token)
        return int(i) if i is not None and tokenizer.convert_ids_to_tokens(int(i)) == token else None
    except (AttributeError, TypeError, ValueError, IndexError, OverflowError):
        return None


def _exact_encoded(tokenizer: Any, text: str, notes: list[str]) -> Encoded:
    """Tokenize text exactly as written (no cleaning or stripping: a chat template's newlines matter)."""
    full = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(full["input_ids"])
    special_ids = set(tokenizer.all_special_ids or [])
    offsets = [tuple(o) for o in full.get("offset_mapping", [(0, 0)] * len(ids))]
    return Encoded(
        text=text,
        ids=ids,
        pieces=display_pieces(tokenizer, ids),
        special=[i in special_ids for i in ids],
        word_ids=list(range(len(ids))),
        offsets=offsets,
        original_length=len(ids),
        limit=len(ids),
        notes=list(notes),
    )


def _chat_text(tokenizer: Any, content: str, system: str | None) -> str:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": content}]
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except Exception as exc:  # noqa: BLE001 - templates are model-provided code
        raise ExplorerError(
            f"This model's chat template failed: {str(exc)[:200]}",
            "Switch the chat template off to give the model raw text.",
        ) from exc


def _clean_or_empty(text: str | None) -> str:
    try:
        return clean_text(text, what="prompt")
    except ExplorerError:
        if text is None or isinstance(text, str):
            return ""  # blank after cleaning
        raise


def build_prompt(
    tokenizer: Any, text: str | None, *, chat: bool = False, max_tokens: int = PROMPT_LIMIT, system: str | None = None
) -> Prompt:
    """The exact tokens a causal LM reads for `text`.

    Raw text (``chat=False``) is tokenized as typed (cleaned, cut to `max_tokens` with a note).
    With ``chat=True`` the text becomes a user message in the model's chat template, followed by
    the assistant's turn, which is where the model continues. An empty raw prompt becomes the
    model's start token alone: a causal LM needs at least one token to predict from.
    """
    if max_tokens < 1:
        raise ExplorerError("The token limit must be at least 1.")
    cleaned = _clean_or_empty(text)
    if chat:
        if not has_chat_template(tokenizer):
            raise ExplorerError(
                "This model has no chat template (it was not trained as a chat assistant).",
                "Switch the chat template off to give it raw text.",
            )
        notes: list[str] = []
        overhead = len(tokenizer(_chat_text(tokenizer, "", system), add_special_tokens=False)["input_ids"])
        room = max_tokens - overhead
        if room < 1:
            raise ExplorerError(f"The chat template alone takes {overhead} tokens, over the limit of {max_tokens}.")
        content = cleaned
        if cleaned:
            user = encode(tokenizer, cleaned, max_tokens=room, add_special_tokens=False, what="prompt")
            content = user.text
            if user.truncated:
                notes.append(
                    f"The prompt is {user.original_length + overhead} tokens long with the chat template "
                    f"({overhead} of them); the limit here is {max_tokens}. Only the first {count(len(user), 'token')} "
                    "of your message are used."
                )
        else:
            notes.append("The message is empty: the model sees only the chat template and answers an empty question.")
        enc = _exact_encoded(tokenizer, _chat_text(tokenizer, content, system), notes)
        return Prompt(enc, content, True, False, notes)
    if not cleaned:
        start = start_token_id(tokenizer)
        if start is None:
            raise ExplorerError(
                "The prompt is empty, and this model has no start-of-text token to begin from.", "Type a few words."
            )
        piece = display_piece(tokenizer, start)
        note = (
            f"The prompt is empty. A causal LM needs at least one token to predict from, so the model starts "
            f"from its start-of-text token {piece} (id {start}): what you see is its guess for the first "
            "token of a text."
        )
        enc = Encoded(
            text=tokenizer.convert_ids_to_tokens(start),
            ids=[start],
            pieces=[piece],
            special=[True],
            word_ids=[None],
            offsets=[(0, 0)],
            original_length=1,
            limit=max_tokens,
            notes=[note],
        )
        return Prompt(enc, "", False, True, [note])
    enc = encode(tokenizer, cleaned, max_tokens=max_tokens, add_special_tokens=True, what="prompt")
    return Prompt(enc, enc.text, False, False, list(enc.notes))
