"""Causal language modelling: predict the next token from the tokens before it.

Everything here works on any causal LM (``AutoModelForCausalLM``) and its tokenizer. Functions
take either a `LoadedModel` (from `explorer.load("clm")`) or a bare model plus an optional
``tokenizer=`` (only needed for readable token labels), and token ids either as an `Encoded`
(from `explorer.tokens.encode` or `build_prompt`) or as a plain list of ints.

- `build_prompt`: user text → the exact text and tokens the model sees (raw text or the
  model's chat template; an empty prompt starts from the start-of-text token).
- `next_token_distribution`: the model's probabilities for the next token, top candidates,
  the remaining mass ("other") and the entropy.
- `apply_sampling`: temperature, top-k and top-p applied to the logits (the same order and
  rules as ``model.generate``), with the distribution before and after, what was cut, and the
  renormalised probabilities.
- `Generation`: a step-by-step continuation (append a chosen token, undo, greedy, seeded
  sampling, generate N more).
- `teacher_forcing`: one forward pass scores every position's prediction of the actual next
  token at once: probability, surprisal, loss and perplexity, and the (context → target) pairs.

Forward passes are cached per model and token sequence (a small LRU), so reshaping a
distribution or undoing a step never recomputes the model. A teacher-forcing pass over a text
also fills the cache with the next-token logits of each of its prefixes: under the causal mask,
position i of the whole text sees exactly what a pass over the first i+1 tokens sees.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch

from explorer.errors import ExplorerError
from explorer.tokens import Encoded, clean_text, display_piece, display_pieces, encode, model_max_tokens

PROMPT_LIMIT = 256  # tokens of prompt (chat template included) the page accepts
MAX_NEW_TOKENS = 128  # tokens a step-by-step continuation may add
TOP_N = 10  # candidates listed by default

# --------------------------------------------------------------------------- inputs


def _parts(model: Any, tokenizer: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) from a `LoadedModel` or a bare model (+ optional tokenizer)."""
    if hasattr(model, "model") and hasattr(model, "tokenizer") and hasattr(model, "info"):
        return model.model, tokenizer if tokenizer is not None else model.tokenizer
    return model, tokenizer


def as_ids(tokens: Encoded | Sequence[int] | torch.Tensor) -> list[int]:
    """Token ids from an `Encoded`, a list of ints or a 1-d tensor."""
    if isinstance(tokens, Encoded):
        return list(tokens.ids)
    if isinstance(tokens, torch.Tensor):
        return [int(t) for t in tokens.reshape(-1).tolist()]
    return [int(t) for t in tokens]


def _piece(tokenizer: Any, token_id: int) -> str:
    return display_piece(tokenizer, token_id) if tokenizer is not None else f"<{token_id}>"


def vocab_size(model: Any) -> int:
    return int(model.get_output_embeddings().weight.shape[0])


def max_positions(model: Any, tokenizer: Any = None) -> int:
    """How many tokens the model can read at once (its position limit)."""
    return model_max_tokens(tokenizer, model, cap=1_000_000) if tokenizer is not None else \
        int(getattr(model.config, "max_position_embeddings", 0) or getattr(model.config, "n_positions", 0) or 1_000_000)


def _check_ids(model: Any, ids: list[int]) -> None:
    if not ids:
        raise ExplorerError("There are no tokens to predict from.", "Type a prompt.")
    limit = max_positions(model)
    if len(ids) > limit:
        raise ExplorerError(f"The text is {len(ids)} tokens long; this model reads at most {limit}.",
                            "Shorten the text or undo some steps.")
    size = vocab_size(model)
    bad = [i for i in ids if not 0 <= i < size]
    if bad:
        raise ExplorerError(f"Token id {bad[0]} is outside this model's vocabulary (0–{size - 1}).")


# --------------------------------------------------------------------------- forward cache


class _ForwardCache:
    """A small LRU of forward results per model (weakly keyed, so unloaded models free their entries)."""

    def __init__(self, size: int):
        self.size = size
        self._lock = threading.Lock()
        self._models: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.misses = 0

    def get(self, model: Any, key: tuple, compute: Callable[[], Any]) -> Any:
        with self._lock:
            entries = self._models.setdefault(model, OrderedDict())
            if key in entries:
                entries.move_to_end(key)
                return entries[key]
        value = compute()
        with self._lock:
            self.misses += 1
            entries = self._models.setdefault(model, OrderedDict())
            entries[key] = value
            while len(entries) > self.size:
                entries.popitem(last=False)
        return value

    def put(self, model: Any, key: tuple, value: Any) -> None:
        """Store a value computed elsewhere, unless the key is already there (what was shown stays shown)."""
        with self._lock:
            entries = self._models.setdefault(model, OrderedDict())
            if key not in entries:
                entries[key] = value
                while len(entries) > self.size:
                    entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
            self.misses = 0


_LAST = _ForwardCache(128)  # last-position logits: one vocabulary row each
_FORCED = _ForwardCache(8)  # teacher-forcing summaries


def clear_cache() -> None:
    _LAST.clear()
    _FORCED.clear()


def forward_count() -> int:
    """How many forward passes the cache has not been able to spare (for tests and benchmarks)."""
    return _LAST.misses + _FORCED.misses


def next_token_logits(model: Any, tokens: Encoded | Sequence[int] | torch.Tensor) -> torch.Tensor:
    """The model's logits for the token after `tokens` (1-d float32 tensor over the vocabulary); cached."""
    model, _ = _parts(model)
    ids = as_ids(tokens)
    _check_ids(model, ids)

    def compute() -> torch.Tensor:
        with torch.inference_mode():
            x = torch.tensor([ids])
            try:
                out = model(input_ids=x, use_cache=False, logits_to_keep=1)
            except TypeError:  # models without logits_to_keep
                out = model(input_ids=x, use_cache=False)
            return out.logits[0, -1].float().clone()

    return _LAST.get(model, tuple(ids), compute).clone()


# --------------------------------------------------------------------------- prompt


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
    return Encoded(text=text, ids=ids, pieces=display_pieces(tokenizer, ids), special=[i in special_ids for i in ids],
                   word_ids=list(range(len(ids))), offsets=offsets, original_length=len(ids), limit=len(ids),
                   notes=list(notes))


def _chat_text(tokenizer: Any, content: str, system: str | None) -> str:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": content}]
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except Exception as exc:  # noqa: BLE001 - templates are model-provided code
        raise ExplorerError(f"This model's chat template failed: {str(exc)[:200]}",
                            "Switch the chat template off to give the model raw text.") from exc


def _clean_or_empty(text: str | None) -> str:
    try:
        return clean_text(text, what="prompt")
    except ExplorerError:
        if text is None or isinstance(text, str):
            return ""  # blank after cleaning
        raise


def build_prompt(tokenizer: Any, text: str | None, *, chat: bool = False, max_tokens: int = PROMPT_LIMIT,
                 system: str | None = None) -> Prompt:
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
            raise ExplorerError("This model has no chat template (it was not trained as a chat assistant).",
                                "Switch the chat template off to give it raw text.")
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
                notes.append(f"The prompt is {user.original_length + overhead} tokens long with the chat template "
                             f"({overhead} of them); the limit here is {max_tokens}. Only the first {len(user)} "
                             "tokens of your message are used.")
        else:
            notes.append("The message is empty: the model sees only the chat template and answers an empty question.")
        enc = _exact_encoded(tokenizer, _chat_text(tokenizer, content, system), notes)
        return Prompt(enc, content, True, False, notes)
    if not cleaned:
        start = start_token_id(tokenizer)
        if start is None:
            raise ExplorerError("The prompt is empty, and this model has no start-of-text token to begin from.",
                                "Type a few words.")
        piece = display_piece(tokenizer, start)
        note = (f"The prompt is empty. A causal LM needs at least one token to predict from, so the model starts "
                f"from its start-of-text token {piece} (id {start}): what you see is its guess for the first "
                "token of a text.")
        enc = Encoded(text=tokenizer.convert_ids_to_tokens(start), ids=[start], pieces=[piece], special=[True],
                      word_ids=[None], offsets=[(0, 0)], original_length=1, limit=max_tokens, notes=[note])
        return Prompt(enc, "", False, True, [note])
    enc = encode(tokenizer, cleaned, max_tokens=max_tokens, add_special_tokens=True, what="prompt")
    return Prompt(enc, enc.text, False, False, list(enc.notes))


# --------------------------------------------------------------------------- next-token distribution


def softmax(logits: np.ndarray | torch.Tensor) -> np.ndarray:
    """Probabilities (float64) from logits; -inf logits get probability 0."""
    x = torch.as_tensor(logits).double()
    return torch.softmax(x, dim=-1).numpy()


def entropy_bits(probs: np.ndarray) -> float:
    p = np.asarray(probs, dtype=np.float64)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def rank_of(probs: np.ndarray, token_id: int) -> int:
    """1-based rank of a token (1 = most likely)."""
    return int((probs > probs[int(token_id)]).sum()) + 1


@dataclass
class Candidate:
    token_id: int
    piece: str
    prob: float
    logit: float
    rank: int  # 1 = most likely


@dataclass
class NextToken:
    """The model's distribution over the next token after `context_ids`."""

    context_ids: list[int]
    logits: np.ndarray  # float32, one per vocabulary entry
    probs: np.ndarray  # float64, sums to 1
    top: list[Candidate]

    @property
    def other(self) -> float:
        """Probability mass outside the listed candidates."""
        return max(0.0, 1.0 - sum(c.prob for c in self.top))

    @property
    def entropy(self) -> float:
        """Entropy in bits: 0 when the model is sure; log2(vocabulary) when it has no idea."""
        return entropy_bits(self.probs)

    @property
    def effective_choices(self) -> float:
        """2 ** entropy: as uncertain as a fair choice between this many tokens."""
        return float(2 ** self.entropy)

    def frame(self) -> pd.DataFrame:
        rows = [{"rank": c.rank, "token": c.piece, "id": c.token_id, "probability": c.prob, "logit": c.logit}
                for c in self.top]
        rows.append({"rank": None, "token": "(other)", "id": None, "probability": self.other, "logit": None})
        return pd.DataFrame(rows)


def top_order(probs: np.ndarray, n: int) -> np.ndarray:
    """Indices of the `n` largest values, largest first, ties in index order: a stable
    ``argsort(-probs)[:n]`` without sorting the whole vocabulary."""
    probs = np.asarray(probs)
    if not 0 < n < len(probs):
        return np.argsort(-probs, kind="stable")[:n]
    nth = np.partition(probs, len(probs) - n)[len(probs) - n]  # the n-th largest value
    near = np.flatnonzero(probs >= nth)  # the n largest and any ties with the last of them
    return near[np.argsort(-probs[near], kind="stable")][:n]


def top_candidates(probs: np.ndarray, logits: np.ndarray, tokenizer: Any, n: int) -> list[Candidate]:
    n = max(1, min(int(n), len(probs)))
    order = top_order(probs, n)
    return [Candidate(int(i), _piece(tokenizer, int(i)), float(probs[i]), float(logits[i]), r + 1)
            for r, i in enumerate(order)]


def next_token_distribution(model: Any, tokens: Encoded | Sequence[int] | torch.Tensor, *, tokenizer: Any = None,
                            top_n: int = TOP_N) -> NextToken:
    """Softmax of the model's last-position logits: what it predicts after `tokens`.

    `model` is a `LoadedModel` or a causal LM (pass ``tokenizer=`` for readable labels).
    """
    model, tokenizer = _parts(model, tokenizer)
    ids = as_ids(tokens)
    logits = next_token_logits(model, ids).numpy()
    probs = softmax(logits)
    return NextToken(ids, logits, probs, top_candidates(probs, logits, tokenizer, top_n))


# --------------------------------------------------------------------------- decoding settings


@dataclass(frozen=True)
class Settings:
    """Decoding settings. temperature 0 = greedy; top_k 0 = off; top_p 1 = off."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0

    def checked(self) -> "Settings":
        t, k, p = float(self.temperature), int(self.top_k), float(self.top_p)
        if not math.isfinite(t) or t < 0:
            raise ExplorerError(f"Temperature must be 0 or more (got {self.temperature}).",
                                "0 means greedy: always the most likely token.")
        if k < 0:
            raise ExplorerError(f"top-k must be 0 (off) or a positive number of tokens (got {self.top_k}).")
        if not math.isfinite(p) or not 0 <= p <= 1:
            raise ExplorerError(f"top-p must be between 0 and 1 (got {self.top_p}).",
                                "1 keeps every token; 0 keeps only the most likely one.")
        return Settings(t, k, p)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def describe(self) -> str:
        parts = ["temperature 0 (greedy)" if self.greedy else f"temperature {self.temperature:g}"]
        parts.append(f"top-k {self.top_k}" if self.top_k else "top-k off")
        parts.append(f"top-p {self.top_p:g}" if self.top_p < 1 else "top-p off")
        return ", ".join(parts)


GREEDY = Settings(0.0)


@dataclass
class Sampled:
    """A distribution reshaped by decoding settings."""

    settings: Settings
    logits: np.ndarray  # the model's logits
    before: np.ndarray  # softmax(logits): the model's own distribution
    scaled: np.ndarray  # softmax(logits / temperature), nothing cut (one-hot at the argmax when greedy)
    kept: np.ndarray  # bool: tokens that survive top-k and top-p
    after: np.ndarray  # scaled restricted to `kept`, renormalised to sum to 1
    notes: list[str] = field(default_factory=list)

    @property
    def n_kept(self) -> int:
        return int(self.kept.sum())

    @property
    def kept_mass(self) -> float:
        """Share of the temperature-scaled mass that survives the cut (before renormalising)."""
        return float(self.scaled[self.kept].sum())

    @property
    def best(self) -> int:
        return int(np.argmax(self.after))

    def filtered_logits(self) -> np.ndarray:
        """Logits / temperature with cut tokens at -inf (what ``model.generate`` samples from)."""
        t = self.settings.temperature or 1.0
        out = self.logits.astype(np.float64) / t
        out[~self.kept] = -np.inf
        return out

    def cut(self, n: int = TOP_N) -> list[int]:
        """Ids of the model's `n` most likely tokens that the settings removed."""
        order = top_order(self.before, n)
        return [int(i) for i in order if not self.kept[i]]

    def frame(self, tokenizer: Any = None, n: int = TOP_N) -> pd.DataFrame:
        """The model's `n` most likely tokens, before and after the settings."""
        order = top_order(self.before, n)
        rows = [{"rank": r + 1, "token": _piece(tokenizer, int(i)), "id": int(i), "model": float(self.before[i]),
                 "after temperature": float(self.scaled[i]), "kept": bool(self.kept[i]),
                 "renormalised": float(self.after[i])} for r, i in enumerate(order)]
        rest = np.ones(len(self.before), dtype=bool)
        rest[order] = False
        rows.append({"rank": None, "token": "(other)", "id": None, "model": float(self.before[rest].sum()),
                     "after temperature": float(self.scaled[rest].sum()), "kept": bool(self.kept[rest].any()),
                     "renormalised": float(self.after[rest].sum())})
        return pd.DataFrame(rows)


def apply_sampling(logits: np.ndarray | torch.Tensor, temperature: float = 1.0, top_k: int = 0,
                   top_p: float = 1.0) -> Sampled:
    """Reshape a next-token distribution the way ``model.generate(do_sample=True)`` does.

    In order: divide the logits by `temperature`; keep the `top_k` most likely tokens (ties with
    the k-th are kept); then keep the smallest set of most likely tokens whose (renormalised)
    probability reaches `top_p`; the survivors are renormalised. Temperature 0 is greedy (only
    the most likely token), top-p 0 keeps only the most likely token, top-p 1 and top-k 0 are off.
    """
    s = Settings(temperature, top_k, top_p).checked()
    lg = torch.as_tensor(np.asarray(logits), dtype=torch.float64).reshape(-1)
    before = torch.softmax(lg, -1)
    notes: list[str] = []
    if s.greedy:
        best = int(torch.argmax(lg))
        kept = torch.zeros_like(lg, dtype=torch.bool)
        kept[best] = True
        onehot = kept.double()
        notes.append("Temperature 0 is greedy decoding: the most likely token gets all the probability.")
        return Sampled(s, lg.numpy().astype(np.float32), before.numpy(), onehot.numpy(), kept.numpy(), onehot.numpy(),
                       notes)
    scaled_logits = lg / s.temperature
    scaled = torch.softmax(scaled_logits, -1)
    kept = scaled_logits > -math.inf
    if s.top_k:
        k = min(s.top_k, lg.numel())
        kth = torch.topk(scaled_logits, k).values[-1]
        kept &= scaled_logits >= kth
    if s.top_p < 1:
        masked = scaled_logits.masked_fill(~kept, -math.inf)
        p = torch.softmax(masked, -1)
        order = torch.argsort(p, descending=True, stable=True)
        mass_above = torch.cumsum(p[order], 0) - p[order]  # probability of the tokens ranked above each one
        keep_sorted = mass_above < s.top_p
        keep_sorted[0] = True  # at least one token
        keep_p = torch.zeros_like(kept)
        keep_p[order] = keep_sorted
        kept &= keep_p
        if s.top_p == 0:
            notes.append("top-p 0 keeps only the most likely token, like greedy decoding.")
    after = torch.where(kept, scaled, torch.zeros_like(scaled))
    after = after / after.sum()
    return Sampled(s, lg.numpy().astype(np.float32), before.numpy(), scaled.numpy(), kept.numpy(), after.numpy(),
                   notes)


def draw(probs: np.ndarray, seed: int, position: int = 0) -> int:
    """One seeded draw from a distribution: the same seed and position always give the same token."""
    g = torch.Generator().manual_seed((int(seed) * 1_000_003 + int(position)) % (2 ** 63))
    p = torch.as_tensor(np.asarray(probs, dtype=np.float64))
    return int(torch.multinomial(p, 1, generator=g))


# --------------------------------------------------------------------------- step-by-step generation


@dataclass
class Step:
    token_id: int
    piece: str
    model_prob: float  # the model's own probability for the token (temperature 1, nothing cut)
    prob: float  # its probability under the decoding settings in force when it was chosen
    rank: int  # its rank in the model's distribution (1 = most likely)
    how: str  # "picked", "greedy" or "sampled"


ProgressFn = Callable[[int, int, "Step"], None]


@dataclass
class Generation:
    """A continuation built one token at a time; holds ids only (pass the model to each call)."""

    prompt_ids: list[int]
    stop_ids: tuple[int, ...] = ()
    max_new_tokens: int = MAX_NEW_TOKENS
    steps: list[Step] = field(default_factory=list)

    @classmethod
    def start(cls, model: Any, prompt: Prompt | Encoded | Sequence[int], *, tokenizer: Any = None,
              max_new_tokens: int = MAX_NEW_TOKENS) -> "Generation":
        """A new continuation of `prompt`; stops at the model's end-of-text token(s)."""
        model, tokenizer = _parts(model, tokenizer)
        ids = prompt.ids if isinstance(prompt, Prompt) else as_ids(prompt)
        room = max(0, max_positions(model, tokenizer) - len(ids))
        return cls(ids, stop_token_ids(model, tokenizer), min(max_new_tokens, room))

    @property
    def ids(self) -> list[int]:
        return self.prompt_ids + [s.token_id for s in self.steps]

    @property
    def new_ids(self) -> list[int]:
        return [s.token_id for s in self.steps]

    @property
    def finished(self) -> bool:
        """True once the model produced an end-of-text token."""
        return bool(self.steps) and self.steps[-1].token_id in self.stop_ids

    @property
    def full(self) -> bool:
        return len(self.steps) >= self.max_new_tokens

    def check_room(self) -> None:
        if self.finished:
            raise ExplorerError("The model ended the text (it chose its end-of-text token).",
                                "Undo the last step to continue.")
        if self.full:
            raise ExplorerError(f"The continuation has reached its limit of {self.max_new_tokens} new tokens.",
                                "Undo some steps or reset.")

    def distribution(self, model: Any, *, tokenizer: Any = None, top_n: int = TOP_N) -> NextToken:
        return next_token_distribution(model, self.ids, tokenizer=tokenizer, top_n=top_n)

    def append(self, model: Any, token_id: int, *, settings: Settings | None = None, how: str = "picked",
               tokenizer: Any = None) -> Step:
        """Append a chosen token, recording its probability (under `settings`, default temperature 1)."""
        self.check_room()
        model, tokenizer = _parts(model, tokenizer)
        token_id = int(token_id)
        logits = next_token_logits(model, self.ids)
        if not 0 <= token_id < logits.numel():
            raise ExplorerError(f"Token id {token_id} is outside this model's vocabulary.")
        s = settings or Settings()
        shaped = apply_sampling(logits, s.temperature, s.top_k, s.top_p)
        step = Step(token_id, _piece(tokenizer, token_id), float(shaped.before[token_id]),
                    float(shaped.after[token_id]), rank_of(shaped.before, token_id), how)
        self.steps.append(step)
        return step

    def undo(self) -> Step | None:
        return self.steps.pop() if self.steps else None

    def reset(self) -> None:
        self.steps.clear()

    def greedy(self, model: Any, *, tokenizer: Any = None) -> Step:
        """Append the most likely token."""
        self.check_room()
        best = int(torch.argmax(next_token_logits(model, self.ids)))
        return self.append(model, best, settings=GREEDY, how="greedy", tokenizer=tokenizer)

    def sample(self, model: Any, settings: Settings, seed: int, *, tokenizer: Any = None) -> Step:
        """Append a token drawn with `settings`, seeded by `seed` and the position (reproducible)."""
        self.check_room()
        if settings.greedy:
            return self.greedy(model, tokenizer=tokenizer)
        shaped = apply_sampling(next_token_logits(model, self.ids), settings.temperature, settings.top_k,
                                settings.top_p)
        token = draw(shaped.after, seed, len(self.ids))
        return self.append(model, token, settings=settings, how="sampled", tokenizer=tokenizer)

    def generate(self, model: Any, n: int, *, settings: Settings | None = None, seed: int = 0,
                 tokenizer: Any = None, progress: ProgressFn | None = None) -> list[Step]:
        """Append up to `n` tokens (greedy when `settings` is None or has temperature 0).

        Stops early at an end-of-text token or the length limit; `progress(done, n, step)` is called
        after each token.
        """
        self.check_room()
        n = max(0, min(int(n), self.max_new_tokens - len(self.steps)))
        out: list[Step] = []
        for i in range(n):
            if settings is None or settings.greedy:
                step = self.greedy(model, tokenizer=tokenizer)
            else:
                step = self.sample(model, settings, seed, tokenizer=tokenizer)
            out.append(step)
            if progress:
                progress(i + 1, n, step)
            if self.finished:
                break
        return out

    def text(self, tokenizer: Any, *, new_only: bool = False) -> str:
        return tokenizer.decode(self.new_ids if new_only else self.ids, skip_special_tokens=False,
                                clean_up_tokenization_spaces=False)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"step": i + 1, "token": s.piece, "id": s.token_id, "how": s.how,
                              "model probability": s.model_prob, "probability as chosen": s.prob, "rank": s.rank}
                             for i, s in enumerate(self.steps)],
                            columns=["step", "token", "id", "how", "model probability", "probability as chosen",
                                     "rank"])


def stop_token_ids(model: Any, tokenizer: Any = None) -> tuple[int, ...]:
    """End-of-text ids, as ``model.generate`` uses them (generation config, else the tokenizer's EOS)."""
    model, tokenizer = _parts(model, tokenizer)
    cfg = getattr(model, "generation_config", None)
    eos = getattr(cfg, "eos_token_id", None) if cfg is not None else None
    if eos is None:
        eos = getattr(model.config, "eos_token_id", None)
    if eos is None and tokenizer is not None:
        eos = getattr(tokenizer, "eos_token_id", None)
    if eos is None:
        return ()
    return tuple(int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos]))


# --------------------------------------------------------------------------- teacher forcing


@dataclass
class TeacherForcing:
    """Every position's prediction of the actual next token, from one forward pass.

    Position i reads tokens 0..i and is scored on token i+1, so a text of T tokens gives T-1
    training pairs; the loss is their mean surprisal (cross-entropy) and perplexity is exp(loss).
    """

    ids: list[int]
    pieces: list[str]
    target_probs: np.ndarray  # p(actual next token), one per pair
    surprisal: np.ndarray  # -ln p, nats
    ranks: np.ndarray  # rank of the actual next token (1 = the model's top guess)
    guess_ids: np.ndarray  # the model's most likely next token at each position
    guess_probs: np.ndarray
    entropy: np.ndarray  # bits, the model's uncertainty at each position

    @property
    def n_pairs(self) -> int:
        return len(self.target_probs)

    @property
    def surprisal_bits(self) -> np.ndarray:
        return self.surprisal / math.log(2)

    @property
    def loss(self) -> float:
        """Mean cross-entropy in nats per token: what training minimises."""
        return float(self.surprisal.mean())

    @property
    def perplexity(self) -> float:
        return float(math.exp(self.loss))

    @property
    def accuracy(self) -> float:
        """Share of positions where the model's top guess is the actual next token."""
        return float((self.ranks == 1).mean())

    def pairs(self, context_tokens: int = 8) -> list[tuple[str, str]]:
        """(context → target) pairs as display text; long contexts show their last tokens after '…'."""
        out = []
        for i in range(self.n_pairs):
            lo = max(0, i + 1 - context_tokens)
            ctx = ("…" if lo > 0 else "") + "".join(self.pieces[lo:i + 1])
            out.append((ctx, self.pieces[i + 1]))
        return out

    def frame(self, tokenizer: Any = None, context_tokens: int = 8) -> pd.DataFrame:
        rows = []
        for i, (ctx, target) in enumerate(self.pairs(context_tokens)):
            rows.append({"position": i + 1, "context": ctx, "target": target, "target id": self.ids[i + 1],
                         "p(target)": float(self.target_probs[i]), "surprisal (bits)": float(self.surprisal_bits[i]),
                         "rank": int(self.ranks[i]), "model's guess": _piece(tokenizer, int(self.guess_ids[i])),
                         "p(guess)": float(self.guess_probs[i])})
        return pd.DataFrame(rows)


def teacher_forcing(model: Any, tokens: Encoded | Sequence[int] | torch.Tensor, *,
                    tokenizer: Any = None) -> TeacherForcing:
    """Score a text the way next-token training does: all positions in parallel, one forward pass."""
    model, tokenizer = _parts(model, tokenizer)
    ids = as_ids(tokens)
    if len(ids) < 2:
        raise ExplorerError("Teacher forcing needs a text of at least two tokens: each token is predicted from "
                            "the ones before it.", "Type a longer text.")
    _check_ids(model, ids)

    def compute() -> TeacherForcing:
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0].float()
            _keep_prefix_logits(model, ids, logits)
            # float32 over the vocabulary (float64 there made the call ~15% slower than the forward pass alone)
            logp = torch.log_softmax(logits[:-1], -1)
            targets = torch.tensor(ids[1:])
            lp = logp.gather(1, targets[:, None])[:, 0]
            ranks = (logp > lp[:, None]).sum(-1) + 1
            lp = lp.double()
            best = logp.max(-1)
            # p * ln p in place; 0 * -inf (a token the model rules out) is nan there and counts 0
            ent = -logp.exp().mul_(logp).nan_to_num_(0.0).sum(-1) / math.log(2)
        pieces = display_pieces(tokenizer, ids) if tokenizer is not None else [f"<{i}>" for i in ids]
        return TeacherForcing(ids, pieces, lp.exp().numpy(), (-lp).numpy(), ranks.numpy(), best.indices.numpy(),
                              best.values.exp().numpy(), ent.numpy())

    key = (tuple(ids), tokenizer is not None)
    return _FORCED.get(model, key, compute)


def _keep_prefix_logits(model: Any, ids: list[int], logits: torch.Tensor) -> None:
    """Put row i of a whole-text pass (the logits after ids[:i+1]) in the next-token cache, for the
    prefixes it can hold (the longest ones)."""
    for end in range(max(1, len(ids) + 1 - _LAST.size), len(ids) + 1):
        _LAST.put(model, tuple(ids[:end]), logits[end - 1].clone())
