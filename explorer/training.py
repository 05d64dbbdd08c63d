"""Live training: watch a language model learn, on a CPU, in seconds to minutes.

Four kinds of run, all on a private copy of the model (the shared, cached model is never
changed):

- ``scratch``: a tiny GPT (causal) or BERT (masked) built from a chosen size, with a small
  tokenizer trained on the corpus, so the loss starts near ln(vocabulary size);
- ``continue``: more masked-LM or causal-LM training of a pretrained model on the user's text;
- ``classify``: a classification head on the sentence encoder, with held-out accuracy;
- ``sft``: supervised fine-tuning of the causal LM on prompt-response pairs, the prompt
  tokens labelled -100 so that only the response counts in the loss.

A `Trainer` runs one optimisation step at a time; `train()` loops with a progress callback
(called after every step) and a stop callback. An ``interrupt`` callable, if given, is called
between transformer blocks during a step, so a caller can abandon a long step within a fraction
of a second (the weights then stay as they were after the last finished step).

Server safety: `SLOTS` limits how many trainings run at once in this process
(``SSL_EXPLORER_MAX_TRAININGS``, default 2); steps, sequence length, batch size and uploads
are bounded by the limits below, and uploads are checked before use.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from explorer.errors import ExplorerError
from explorer.tokens import clean_text, display_piece, encode

CORPUS_DIR = Path(__file__).resolve().parent.parent / "assets" / "corpora"

# ----------------------------------------------------------------------------- limits

MAX_STEPS = 2000
LARGE_MODEL_PARAMS = 50_000_000
MAX_STEPS_LARGE = 300  # for models over LARGE_MODEL_PARAMS parameters
MAX_SEQ_LEN = 128
MAX_BATCH = 32
MAX_UPLOAD_BYTES = 1_000_000
MAX_TEXT_CHARS = 1_000_000
MIN_TEXT_CHARS = 200
MAX_ROWS = 2000
MIN_ROWS = 8
MAX_CLASSES = 10
MAX_FIELD_CHARS = 1000
MAX_PROBES = 5
VOCAB_SIZE = 1024
DEFAULT_MAX_TRAININGS = 2
SLOT_WAIT_SECONDS = 30.0
INTERRUPT_ABOVE_SECONDS = 0.2  # steps this long can be interrupted between transformer blocks

MODES = ("scratch", "continue", "classify", "sft")
AUTO = "auto"
LAYER_CHOICES = (AUTO, "all", "top 4", "top 2", "head only")
MASK = "[MASK]"


def limits_text(max_trainings: int | None = None) -> str:
    """The limits of this server in one sentence, for the page."""
    n = max_trainings if max_trainings is not None else SLOTS.limit
    return (f"Limits on this server: at most {MAX_STEPS:,} steps ({MAX_STEPS_LARGE} for models over "
            f"{LARGE_MODEL_PARAMS // 1_000_000} M parameters), {MAX_SEQ_LEN} tokens per sequence, batches of "
            f"{MAX_BATCH}, uploads up to {MAX_UPLOAD_BYTES // 1_000_000} MB ({MAX_TEXT_CHARS // 1_000_000} M "
            f"characters of text, {MAX_ROWS:,} CSV rows), and {n} training{'s' if n != 1 else ''} at a time.")


# ----------------------------------------------------------------------------- concurrency


class ServerBusy(ExplorerError):
    """Every training slot of this server is taken."""


class TrainingSlots:
    """A process-wide counting semaphore for trainings that can also say how many are running."""

    def __init__(self, limit: int):
        self.limit = max(1, int(limit))
        self._active = 0
        self._cond = threading.Condition()

    @property
    def active(self) -> int:
        return self._active

    def acquire(self, timeout: float = 0.0) -> bool:
        with self._cond:
            ok = self._cond.wait_for(lambda: self._active < self.limit, timeout=max(0.0, timeout))
            if ok:
                self._active += 1
            return ok

    def release(self) -> None:
        with self._cond:
            self._active = max(0, self._active - 1)
            self._cond.notify()


def max_trainings() -> int:
    try:
        return max(1, int(os.environ.get("SSL_EXPLORER_MAX_TRAININGS", DEFAULT_MAX_TRAININGS)))
    except ValueError:
        return DEFAULT_MAX_TRAININGS


SLOTS = TrainingSlots(max_trainings())


def busy_message(slots: TrainingSlots) -> str:
    return (f"Please wait: {slots.active} of {slots.limit} training slots on this server are in use. "
            "Your training starts as soon as one is free.")


@contextlib.contextmanager
def training_slot(slots: TrainingSlots | None = None, *, wait: float = 0.0,
                  on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold one training slot for the block; wait up to `wait` seconds for one, else raise `ServerBusy`.

    `on_wait(message)` is called about twice a second while waiting (a page can show the
    message there, and stop waiting by raising).
    """
    slots = slots or SLOTS
    if not slots.acquire(0.0):
        deadline = time.monotonic() + wait
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ServerBusy(
                    f"The server is busy: {slots.limit} training{'s are' if slots.limit != 1 else ' is'} "
                    "already running, the most it allows at once.",
                    "Please wait a minute and press Start again.")
            if on_wait:
                on_wait(busy_message(slots))
            if slots.acquire(min(0.5, remaining)):
                break
    try:
        yield
    finally:
        slots.release()


# ----------------------------------------------------------------------------- corpora and uploads


@dataclass(frozen=True)
class Corpus:
    key: str
    title: str
    file: str
    description: str


CORPORA = {
    "shakespeare": Corpus("shakespeare", "Shakespeare (four plays)", "shakespeare.txt",
                          "Macbeth, Romeo and Juliet, A Midsummer Night's Dream and Julius Caesar (public domain)."),
    "simple": Corpus("simple", "Simple English stories", "simple_english.txt",
                     "Short template stories with consistent facts: dogs bark, the sky is blue."),
}


def corpus_text(key: str) -> str:
    if key not in CORPORA:
        raise ExplorerError(f"There is no bundled corpus called '{key}'.", f"Pick one of: {', '.join(CORPORA)}.")
    return (CORPUS_DIR / CORPORA[key].file).read_text(encoding="utf-8")


def _size_text(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.0f} KB" if n >= 1000 else f"{n} bytes"


def decode_upload(data: bytes | None, what: str = "file") -> str:
    """Bytes of an uploaded file → text; refuses empty, too large, binary and non-UTF-8 files."""
    if not data:
        raise ExplorerError(f"The {what} is empty.", "Upload a file with some text in it.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ExplorerError(f"The {what} is {_size_text(len(data))}; the limit here is "
                            f"{_size_text(MAX_UPLOAD_BYTES)}.", "Upload a shorter file, or a part of it.")
    head = data[:65536]
    if b"\x00" in head:
        raise ExplorerError(f"The {what} looks like a binary file, not text.",
                            "Upload a plain text file (.txt or .csv) saved as UTF-8.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ExplorerError(f"The {what} is not UTF-8 text (byte {exc.start} cannot be read).",
                            "Save it as UTF-8 text and upload it again.") from exc
    sample = text[:65536]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(5, len(sample) // 100):
        raise ExplorerError(f"The {what} looks like a binary file, not text.",
                            "Upload a plain text file (.txt or .csv) saved as UTF-8.")
    if not text.strip():
        raise ExplorerError(f"The {what} is empty.", "Upload a file with some text in it.")
    return text


def training_text(text: str | None, what: str = "training text") -> tuple[str, list[str]]:
    """Clean user text for training; refuses text that is too short, cuts text over the limit (with a note)."""
    notes = []
    if text and len(text) > MAX_TEXT_CHARS:
        notes.append(f"The {what} has {len(text):,} characters; only the first {MAX_TEXT_CHARS:,} are used.")
    text = clean_text(text, max_chars=MAX_TEXT_CHARS, what=what)
    if len(text) < MIN_TEXT_CHARS:
        raise ExplorerError(f"The {what} has only {len(text)} characters; at least {MIN_TEXT_CHARS} are needed "
                            "to learn anything.", "Paste a few paragraphs, or pick a bundled corpus.")
    return text, notes


def _read_csv(data: bytes | None, columns: tuple[str, str], what: str):
    import pandas as pd

    text = decode_upload(data, what)
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise ExplorerError(f"The {what} could not be read as CSV: {str(exc).splitlines()[0][:200]}",
                            f"The first line must be the header {','.join(columns)}; quote fields that contain commas.") from exc
    found = {str(c).strip().lower(): c for c in df.columns}
    missing = [c for c in columns if c not in found]
    if missing:
        have = ", ".join(str(c) for c in list(df.columns)[:8]) or "none"
        raise ExplorerError(f"The {what} needs the columns {' and '.join(columns)}; it has: {have}.",
                            f"Make the first line the header {','.join(columns)}.")
    df = df[[found[c] for c in columns]].copy()
    df.columns = list(columns)
    notes = []
    for c in columns:
        df[c] = df[c].astype(str).str.strip().str.slice(0, MAX_FIELD_CHARS)
    df = df[(df[columns[0]] != "") & (df[columns[1]] != "")].reset_index(drop=True)
    if len(df) > MAX_ROWS:
        notes.append(f"The {what} has {len(df):,} rows; only the first {MAX_ROWS:,} are used.")
        df = df.iloc[:MAX_ROWS].reset_index(drop=True)
    if len(df) < MIN_ROWS:
        raise ExplorerError(f"The {what} has {len(df)} usable row{'s' if len(df) != 1 else ''}; at least "
                            f"{MIN_ROWS} are needed.", "Add more examples (rows with both columns filled in).")
    return df, notes


def labelled_examples(data: bytes | None, what: str = "CSV file"):
    """An uploaded CSV of text,label → (DataFrame[text, label], notes); checks classes."""
    df, notes = _read_csv(data, ("text", "label"), what)
    return check_labels(df, what), notes


def check_labels(df, what: str = "data"):
    counts = df["label"].value_counts()
    if len(counts) < 2:
        raise ExplorerError(f"Every row of the {what} has the label '{counts.index[0]}': a classifier needs at "
                            "least two classes.", "Add examples of another class (e.g. positive and negative).")
    if len(counts) > MAX_CLASSES:
        raise ExplorerError(f"The {what} has {len(counts)} different labels; the limit here is {MAX_CLASSES}.",
                            "Check that the label column holds class names, not text.")
    rare = counts[counts < 2]
    if len(rare):
        raise ExplorerError(f"The class '{rare.index[0]}' has only one example; every class needs at least two "
                            "(one to learn from, one to test on).", "Add more examples of that class.")
    return df


def prompt_response_pairs(data: bytes | None, what: str = "CSV file") -> tuple[list[tuple[str, str]], list[str]]:
    """An uploaded CSV of prompt,response → (pairs, notes)."""
    df, notes = _read_csv(data, ("prompt", "response"), what)
    return list(zip(df["prompt"], df["response"])), notes


def sentiment_examples():
    import pandas as pd

    return pd.read_csv(CORPUS_DIR / "sentiment.csv", dtype=str, keep_default_na=False)


def sft_examples() -> list[tuple[str, str]]:
    import pandas as pd

    df = pd.read_csv(CORPUS_DIR / "sft_pairs.csv", dtype=str, keep_default_na=False)
    return list(zip(df["prompt"], df["response"]))


def probe_lines(text: str | None, what: str = "probe", required: bool = True) -> list[str]:
    """One probe per non-empty line, at most MAX_PROBES."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    if not lines and required:
        raise ExplorerError(f"Write at least one {what}, one per line.")
    return lines[:MAX_PROBES]


# ----------------------------------------------------------------------------- settings


@dataclass
class Plan:
    """Concrete settings for a run, after 'auto' choices and limits are applied."""

    steps: int
    lr: float
    batch: int
    seq_len: int
    layers: int | None  # trainable top blocks; None = all, 0 = head only
    notes: list[str] = field(default_factory=list)


_DEFAULTS = {  # mode → (steps, lr, batch, seq_len) for small models; large models below
    "scratch": (300, 2e-3, 16, 64),
    "continue": (100, 1e-4, 8, 64),
    "classify": (60, 1e-4, 16, 64),
    "sft": (60, 1e-4, 8, 128),
}
_LARGE = {"continue": (40, 1e-4, 2, 64), "sft": (40, 2e-4, 2, 128)}


def plan(mode: str, *, steps: Any = AUTO, lr: Any = AUTO, batch: Any = AUTO, seq_len: Any = AUTO,
         layers: str = AUTO, n_params: int = 0) -> Plan:
    """Resolve 'auto' settings for a mode and model size, and clamp everything to the limits."""
    if mode not in MODES:
        raise ExplorerError(f"Unknown training mode '{mode}'.")
    large = n_params > LARGE_MODEL_PARAMS
    d_steps, d_lr, d_batch, d_seq = _LARGE.get(mode, _DEFAULTS[mode]) if large else _DEFAULTS[mode]
    notes: list[str] = []
    steps = d_steps if steps in (AUTO, None) else int(steps)
    cap = MAX_STEPS_LARGE if large else MAX_STEPS
    if steps > cap:
        notes.append(f"Steps are limited to {cap} here{' for a model this size' if large else ''}.")
    steps = min(max(1, steps), cap)
    batch = min(max(1, d_batch if batch in (AUTO, None) else int(batch)), MAX_BATCH)
    seq_len = min(max(8, d_seq if seq_len in (AUTO, None) else int(seq_len)), MAX_SEQ_LEN)
    lr = d_lr if lr in (AUTO, None) else float(lr)
    if not 0 < lr <= 0.1:
        raise ExplorerError(f"A learning rate of {lr:g} is out of range.", "Pick one between 1e-6 and 0.1.")
    if layers in (AUTO, None):
        n_layers = 4 if large and mode in ("continue", "sft") else None
    elif layers == "all":
        n_layers = None
    elif layers == "head only":
        n_layers = 0
    elif str(layers).startswith("top "):
        n_layers = int(str(layers)[4:])
    else:
        raise ExplorerError(f"Unknown choice of layers to train: '{layers}'.")
    if mode == "scratch":
        n_layers = None
    return Plan(steps, lr, batch, seq_len, n_layers, notes)


# ----------------------------------------------------------------------------- tokenizers and models


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
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"], show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(lines, trainer=trainer)
        return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                       unk_token="<|endoftext|>", model_max_length=MAX_SEQ_LEN)
    if kind == "bert":
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False)
        tok.train_from_iterator(lines, trainer=trainer)
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                           special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
        return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                       sep_token="[SEP]", mask_token="[MASK]", model_max_length=MAX_SEQ_LEN)
    raise ExplorerError(f"Unknown architecture '{kind}'.", f"Pick one of: {', '.join(ARCHS)}.")


def scratch_model(arch: str, size: str, tokenizer: Any, seed: int = 0):
    """A freshly initialised tiny GPT-2 or BERT for `tokenizer` (same seed → same weights)."""
    from transformers import BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel

    if size not in SIZES:
        raise ExplorerError(f"Unknown model size '{size}'.", f"Pick one of: {', '.join(SIZES)}.")
    s = SIZES[size]
    vocab = len(tokenizer)
    if arch == "gpt":
        cfg = GPT2Config(vocab_size=vocab, n_positions=MAX_SEQ_LEN, n_embd=s.hidden, n_layer=s.layers, n_head=s.heads,
                         resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=tokenizer.eos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
        cls = GPT2LMHeadModel
    elif arch == "bert":
        cfg = BertConfig(vocab_size=vocab, hidden_size=s.hidden, num_hidden_layers=s.layers,
                         num_attention_heads=s.heads, intermediate_size=4 * s.hidden,
                         max_position_embeddings=MAX_SEQ_LEN, hidden_dropout_prob=0.0,
                         attention_probs_dropout_prob=0.0, pad_token_id=tokenizer.pad_token_id)
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


def _fast_attention(model: Any) -> None:
    try:
        model.set_attn_implementation("sdpa")
    except Exception:  # noqa: BLE001 - eager attention trains too, only slower
        pass


def transformer_blocks(model: Any) -> torch.nn.ModuleList:
    """The model's stack of transformer blocks (the longest ModuleList)."""
    best = None
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and (best is None or len(module) > len(best)):
            best = module
    if best is None:
        raise ExplorerError(f"{type(model).__name__} has no stack of transformer blocks to train.")
    return best


def private_copy(model: Any, layers: int | None = None):
    """A deep copy of a shared model that can be trained; only the top `layers` blocks (and what
    follows them, e.g. the final norm and prediction head) learn, or all of it with `layers=None`."""
    m = copy.deepcopy(model)
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
    for block in list(blocks)[len(blocks) - layers:] if layers else []:
        block.requires_grad_(True)
    return m


def count_trainable(model: Any) -> tuple[int, int]:
    params = list({id(p): p for p in model.parameters()}.values())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


# ----------------------------------------------------------------------------- data


def token_ids(tokenizer: Any, text: str) -> list[int]:
    """All token ids of a long text, without special tokens (no length warnings)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return list(backend.encode(text, add_special_tokens=False).ids)
    return list(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


class TokenStream:
    """A text as one long run of token ids, split into a training part and a held-out tail."""

    def __init__(self, ids: Sequence[int], window: int, held_out: float = 0.1):
        n = len(ids)
        if n < 48:
            raise ExplorerError(f"The text is only {n} tokens long; at least 48 are needed to train and hold some out.",
                                "Use a longer text.")
        self.window = max(8, min(window, n // 4))
        n_val = max(int(n * held_out), self.window + 1)
        self.train = torch.tensor(ids[: n - n_val], dtype=torch.long)
        self.val = torch.tensor(ids[n - n_val:], dtype=torch.long)

    def sample(self, gen: torch.Generator, batch: int) -> torch.Tensor:
        starts = torch.randint(0, len(self.train) - self.window + 1, (batch,), generator=gen)
        return torch.stack([self.train[s: s + self.window] for s in starts.tolist()])

    def held_out(self, n: int) -> torch.Tensor:
        last = len(self.val) - self.window
        starts = sorted({round(i * last / max(1, n - 1)) for i in range(n)})
        return torch.stack([self.val[s: s + self.window] for s in starts])


def mask_tokens(ids: torch.Tensor, tokenizer: Any, gen: torch.Generator, prob: float = 0.15):
    """BERT masking: pick ~15% of non-special tokens as targets; 80% become [MASK], 10% a random token,
    10% stay. Returns (input_ids, labels) with labels -100 everywhere else."""
    special = torch.zeros_like(ids, dtype=torch.bool)
    for sid in set(tokenizer.all_special_ids or []):
        special |= ids == sid
    chosen = (torch.rand(ids.shape, generator=gen) < prob) & ~special
    for row in range(ids.shape[0]):  # at least one target per row
        if not chosen[row].any():
            candidates = (~special[row]).nonzero().flatten()
            if len(candidates):
                chosen[row, candidates[torch.randint(len(candidates), (1,), generator=gen)]] = True
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    roll = torch.rand(ids.shape, generator=gen)
    inputs = ids.clone()
    inputs[chosen & (roll < 0.8)] = tokenizer.mask_token_id
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = torch.randint(len(tokenizer), ids.shape, generator=gen)[swap]
    return inputs, labels


def _with_specials(windows: torch.Tensor, tokenizer: Any) -> torch.Tensor:
    first = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    last = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    parts = []
    if first is not None:
        parts.append(torch.full((windows.shape[0], 1), first, dtype=torch.long))
    parts.append(windows)
    if last is not None:
        parts.append(torch.full((windows.shape[0], 1), last, dtype=torch.long))
    return torch.cat(parts, dim=1)


class LanguageModelTask:
    """Self-supervised batches from a text: next-token (``clm``) or masked-token (``mlm``) labels."""

    def __init__(self, objective: str, tokenizer: Any, text: str, *, batch: int, seq_len: int, eval_windows: int = 8):
        if objective not in ("clm", "mlm"):
            raise ExplorerError(f"Unknown objective '{objective}'.")
        if objective == "mlm" and tokenizer.mask_token_id is None:
            raise ExplorerError("This tokenizer has no mask token, so it cannot be trained as a masked LM.")
        self.objective, self.tokenizer, self.batch_size = objective, tokenizer, batch
        inner = seq_len - 2 if objective == "mlm" else seq_len
        self.stream = TokenStream(token_ids(tokenizer, text), inner)
        gen = torch.Generator().manual_seed(1234)  # the same held-out masks at every evaluation
        windows = self.stream.held_out(eval_windows)
        self.eval_set = [self._make(windows[i: i + batch], gen) for i in range(0, len(windows), max(1, batch))]

    def _make(self, windows: torch.Tensor, gen: torch.Generator) -> dict:
        if self.objective == "clm":
            return {"input_ids": windows, "labels": windows}
        inputs, labels = mask_tokens(_with_specials(windows, self.tokenizer), self.tokenizer, gen)
        return {"input_ids": inputs, "labels": labels}

    def batch(self, gen: torch.Generator) -> dict:
        return self._make(self.stream.sample(gen, self.batch_size), gen)

    @staticmethod
    def tokens(batch: dict) -> int:
        return int(batch["input_ids"].numel())

    def loss(self, model: Any, batch: dict) -> torch.Tensor:
        return masked_lm_loss(model, batch) if self.objective == "mlm" else model(**batch).loss

    def evaluate(self, model: Any, interrupt: Callable[[], None] | None = None) -> dict:
        return {"eval_loss": _mean_loss(model, self.eval_set, interrupt, self.loss)}


def masked_lm_loss(model: Any, batch: dict) -> torch.Tensor:
    """Masked-LM loss computing vocabulary logits only at the masked positions (BERT-style models
    with ``bert`` + ``cls`` parts), which is several times cheaper than logits everywhere; the
    same value as ``model(**batch).loss``. Other models take the plain path."""
    base, head = getattr(model, "bert", None), getattr(model, "cls", None)
    if base is None or head is None:
        return model(**batch).loss
    labels = batch["labels"]
    hidden = base(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask")).last_hidden_state
    targets = labels != -100
    return torch.nn.functional.cross_entropy(head(hidden[targets]).float(), labels[targets])


def _mean_loss(model: Any, batches: list[dict], interrupt, loss_fn=None) -> float:
    total, weight = 0.0, 0
    with torch.no_grad(), interrupt_points(model, interrupt):
        for b in batches:
            n = int((b["labels"] != -100).sum()) or 1
            total += float(loss_fn(model, b) if loss_fn else model(**b).loss) * n
            weight += n
    return total / max(1, weight)


def _pad(rows: list[list[int]], pad_id: int, label_rows: list[list[int]] | None = None) -> dict:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
        if label_rows is not None:
            labels[i, : len(r)] = torch.tensor(label_rows[i])
    out = {"input_ids": ids, "attention_mask": mask}
    if label_rows is not None:
        out["labels"] = labels
    return out


def split_indices(labels: Sequence[Any], held_out: float, seed: int) -> tuple[list[int], list[int]]:
    """Held-out split, stratified by label when labels repeat; at least one example on each side per label."""
    gen = torch.Generator().manual_seed(seed)
    by_label: dict[Any, list[int]] = {}
    for i, lab in enumerate(labels):
        by_label.setdefault(lab, []).append(i)
    train, test = [], []
    for idx in by_label.values():
        order = [idx[j] for j in torch.randperm(len(idx), generator=gen).tolist()]
        k = min(len(order) - 1, max(1, round(len(order) * held_out))) if len(order) > 1 else 0
        test += order[:k]
        train += order[k:]
    return sorted(train), sorted(test)


class EncoderClassifier(torch.nn.Module):
    """A sentence encoder with a linear classification head on its mean-pooled output."""

    def __init__(self, encoder: Any, n_labels: int, seed: int = 0):
        super().__init__()
        self.encoder = encoder
        self.dropout = torch.nn.Dropout(0.1)
        with seeded(seed):
            self.head = torch.nn.Linear(encoder.config.hidden_size, n_labels)

    def forward(self, input_ids, attention_mask, labels=None):
        from transformers.modeling_outputs import SequenceClassifierOutput

        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
        logits = self.head(self.dropout(pooled))
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


class ExampleTask:
    """A task made of separate examples (sentences, prompt-response pairs): training batches are
    random examples of the training split, padded; subclasses say how to `_make` a batch."""

    train_idx: list[int]
    batch_size: int

    def _make(self, idx: Sequence[int]) -> dict:
        raise NotImplementedError

    def batch(self, gen: torch.Generator) -> dict:
        pick = torch.randint(len(self.train_idx), (self.batch_size,), generator=gen).tolist()
        return self._make([self.train_idx[i] for i in pick])

    @staticmethod
    def tokens(batch: dict) -> int:
        return int(batch["attention_mask"].sum())


class ClassificationTask(ExampleTask):
    """Labelled sentences, a stratified held-out split, batches of padded token ids."""

    def __init__(self, tokenizer: Any, texts: Sequence[str], labels: Sequence[str], *, batch: int, seq_len: int,
                 seed: int = 0, held_out: float = 0.2):
        self.tokenizer, self.batch_size = tokenizer, batch
        self.classes = sorted(set(labels))
        self.texts = list(texts)
        self.label_ids = [self.classes.index(lab) for lab in labels]
        self.ids = [tokenizer(t, truncation=True, max_length=seq_len)["input_ids"] for t in self.texts]
        self.train_idx, self.test_idx = split_indices(self.label_ids, held_out, seed)
        self.eval_set = [self._make(self.test_idx[i: i + 32]) for i in range(0, len(self.test_idx), 32)]

    def _make(self, idx: Sequence[int]) -> dict:
        out = _pad([self.ids[i] for i in idx], self.tokenizer.pad_token_id or 0)
        out["labels"] = torch.tensor([self.label_ids[i] for i in idx], dtype=torch.long)
        return out

    def predict(self, model: Any, texts: Sequence[str], interrupt=None) -> torch.Tensor:
        """Class probabilities for `texts` (rows) with the model in eval mode."""
        rows = [self.tokenizer(t, truncation=True, max_length=MAX_SEQ_LEN)["input_ids"] for t in texts]
        with _eval_mode(model), torch.no_grad(), interrupt_points(model, interrupt):
            b = _pad(rows, self.tokenizer.pad_token_id or 0)
            return torch.softmax(model(**b).logits, dim=-1)

    def evaluate(self, model: Any, interrupt: Callable[[], None] | None = None) -> dict:
        total, correct, n = 0.0, 0, 0
        with torch.no_grad(), interrupt_points(model, interrupt):
            for b in self.eval_set:
                out = model(**b)
                total += float(out.loss) * len(b["labels"])
                correct += int((out.logits.argmax(-1) == b["labels"]).sum())
                n += len(b["labels"])
        return {"eval_loss": total / max(1, n), "accuracy": correct / max(1, n)}

    def held_out_table(self, model: Any):
        import pandas as pd

        texts = [self.texts[i] for i in self.test_idx]
        probs = self.predict(model, texts)
        pred = probs.argmax(-1).tolist()
        return pd.DataFrame({
            "text": texts,
            "label": [self.classes[self.label_ids[i]] for i in self.test_idx],
            "predicted": [self.classes[p] for p in pred],
            "confidence": [round(float(probs[r, p]), 3) for r, p in enumerate(pred)],
            "correct": [self.label_ids[i] == p for i, p in zip(self.test_idx, pred)],
        })


# ----------------------------------------------------------------------------- SFT


def chat_prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
    """Token ids of a user turn followed by the start of the assistant's turn."""
    if getattr(tokenizer, "chat_template", None):
        out = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                            tokenize=True)
        return list(out["input_ids"] if hasattr(out, "keys") else out)
    return token_ids(tokenizer, f"User: {prompt}\nAssistant:")


def sft_example(tokenizer: Any, prompt: str, response: str, max_len: int = MAX_SEQ_LEN) -> tuple[list[int], list[int]]:
    """(input_ids, labels) for one pair: the prompt tokens carry label -100, the response tokens
    (and the end-of-turn token) are labelled with themselves."""
    prompt = clean_text(prompt, max_chars=MAX_FIELD_CHARS, what="prompt")
    response = clean_text(response, max_chars=MAX_FIELD_CHARS, what="response")
    p = chat_prompt_ids(tokenizer, prompt)
    if getattr(tokenizer, "chat_template", None):
        end = "<|im_end|>" if "<|im_end|>" in tokenizer.get_vocab() else (tokenizer.eos_token or "")
        r = token_ids(tokenizer, response + end)
    else:
        r = token_ids(tokenizer, " " + response) + ([tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else [])
    if len(p) >= max_len - 1:
        raise ExplorerError(f"The prompt '{prompt[:40]}...' is {len(p)} tokens long with the chat template; the "
                            f"limit here is {max_len} tokens for prompt and response together.", "Shorten the prompt.")
    ids = (p + r)[:max_len]
    labels = ([-100] * len(p) + r)[:max_len]
    return ids, labels


class SFTTask(ExampleTask):
    """Prompt-response pairs as causal-LM batches where only response tokens count in the loss."""

    def __init__(self, tokenizer: Any, pairs: Sequence[tuple[str, str]], *, batch: int, seq_len: int, seed: int = 0,
                 held_out: float = 0.2):
        if len(pairs) < 2:
            raise ExplorerError("Supervised fine-tuning needs at least two prompt-response pairs.")
        self.tokenizer, self.batch_size = tokenizer, batch
        self.pairs = list(pairs)
        self.examples = [sft_example(tokenizer, p, r, seq_len) for p, r in self.pairs]
        order = torch.randperm(len(self.pairs), generator=torch.Generator().manual_seed(seed)).tolist()
        k = max(1, round(len(order) * held_out))
        self.test_idx, self.train_idx = sorted(order[:k]), sorted(order[k:])
        self.eval_set = [self._make(self.test_idx[i: i + 8]) for i in range(0, len(self.test_idx), 8)]

    def _make(self, idx: Sequence[int]) -> dict:
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        return _pad([self.examples[i][0] for i in idx], pad, [self.examples[i][1] for i in idx])

    def evaluate(self, model: Any, interrupt: Callable[[], None] | None = None) -> dict:
        return {"eval_loss": _mean_loss(model, self.eval_set, interrupt)}


def label_table(tokenizer: Any, prompt: str, response: str):
    """Token by token: the label each token gets under self-supervised CLM and under SFT."""
    import pandas as pd

    ids, labels = sft_example(tokenizer, prompt, response)
    return pd.DataFrame({
        "token": [display_piece(tokenizer, i) for i in ids],
        "part": ["prompt" if lab == -100 else "response" for lab in labels],
        "self-supervised label": ids,
        "SFT label": labels,
    })


# ----------------------------------------------------------------------------- the training loop


@contextlib.contextmanager
def interrupt_points(model: Any, interrupt: Callable[[], None] | None) -> Iterator[None]:
    """Call `interrupt()` before every transformer block in the forward pass and after each in the
    backward pass, so whatever it raises ends a long step early."""
    if interrupt is None:
        yield
        return
    handles = []

    def before(_module, _args):
        interrupt()

    def after(_module, _args, output):
        first = output[0] if isinstance(output, tuple) else output
        if isinstance(first, torch.Tensor) and first.requires_grad:
            first.register_hook(lambda grad: (interrupt(), grad)[1])

    try:
        for block in transformer_blocks(model):
            handles.append(block.register_forward_pre_hook(before))
            handles.append(block.register_forward_hook(after))
    except ExplorerError:
        pass
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    was = model.training
    if was:
        model.eval()
    try:
        yield
    finally:
        if was:
            model.train()


class Trainer:
    """Optimises a private model on a task one step at a time and keeps the history.

    `history` holds one dict per step: step, loss, tokens, seconds, lr, and at evaluation steps
    eval_loss (and accuracy for classification); entry 0 is the evaluation before training.
    """

    def __init__(self, model: Any, task: Any, *, lr: float, seed: int = 0, eval_every: int = 10,
                 warmup: int = 10, sample_every: int = 0, sampler: Callable[[Any], list[dict]] | None = None):
        self.model, self.task, self.lr = model, task, lr
        self.params = [p for p in {id(p): p for p in model.parameters()}.values() if p.requires_grad]
        if not self.params:
            raise ExplorerError("Nothing in this model is set to learn.", "Train more layers.")
        self.optimizer = torch.optim.AdamW(self.params, lr=lr, weight_decay=0.01)
        self.gen = torch.Generator().manual_seed(seed)
        self.eval_every, self.warmup = max(1, eval_every), max(0, warmup)
        self.sample_every, self.sampler = sample_every, sampler
        self.step_count = 0
        self.train_seconds = 0.0
        self.samples: list[tuple[int, list[dict]]] = []
        model.train()
        with _eval_mode(model):
            first = {"step": 0, **task.evaluate(model)}
        self.history: list[dict] = [first]
        if sampler:
            self.samples.append((0, sampler(model)))

    def lr_at(self, step: int) -> float:
        return self.lr * min(1.0, (step + 1) / (self.warmup + 1))

    def step(self, interrupt: Callable[[], None] | None = None) -> dict:
        """One optimisation step (then an evaluation or samples when due); returns its history entry.

        If `interrupt` raises during the forward or backward pass, the weights stay as they were.
        It is only called in steps that follow a step of at least INTERRUPT_ABOVE_SECONDS (short
        steps end soon enough by themselves, and skipping the hooks keeps them fast).
        """
        t0 = time.perf_counter()
        batch = self.task.batch(self.gen)
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        last = self.history[-1].get("seconds", INTERRUPT_ABOVE_SECONDS)
        with interrupt_points(self.model, interrupt if last >= INTERRUPT_ABOVE_SECONDS else None):
            loss = self.task.loss(self.model, batch) if hasattr(self.task, "loss") else self.model(**batch).loss
            loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        lr = self.lr_at(self.step_count)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.step_count += 1
        rec = {"step": self.step_count, "loss": float(loss.detach()), "tokens": self.task.tokens(batch), "lr": lr}
        self.history.append(rec)
        try:
            if self.step_count % self.eval_every == 0:
                with _eval_mode(self.model):
                    rec.update(self.task.evaluate(self.model, interrupt))
            if self.sampler and self.sample_every and self.step_count % self.sample_every == 0:
                self.samples.append((self.step_count, self.sampler(self.model)))
        finally:
            rec["seconds"] = time.perf_counter() - t0
            self.train_seconds += rec["seconds"]
        return rec

    # -- figures for the page

    def recent(self, n: int = 20) -> list[dict]:
        return [h for h in self.history[-n:] if "seconds" in h]

    def tokens_per_second(self, n: int = 20) -> float:
        recent = self.recent(n)
        secs = sum(h["seconds"] for h in recent)
        return sum(h["tokens"] for h in recent) / secs if secs > 0 else 0.0

    def eta_seconds(self, target: int, n: int = 20) -> float:
        recent = self.recent(n)
        if not recent:
            return float("nan")
        return max(0, target - self.step_count) * sum(h["seconds"] for h in recent) / len(recent)

    def last(self, key: str) -> float | None:
        for h in reversed(self.history):
            if key in h:
                return h[key]
        return None


def train(trainer: Trainer, steps: int, *, on_step: Callable[[Trainer, dict], None] | None = None,
          should_stop: Callable[[], bool] | None = None, interrupt: Callable[[], None] | None = None) -> str:
    """Run `trainer` until it has done `steps` steps in all; returns "done" or "stopped".

    `on_step(trainer, record)` runs after every step (progress, charts); `should_stop()` is asked
    before every step; `interrupt()` is called inside steps (see `Trainer.step`).
    """
    steps = min(int(steps), MAX_STEPS)
    while trainer.step_count < steps:
        if should_stop is not None and should_stop():
            return "stopped"
        rec = trainer.step(interrupt)
        if on_step is not None:
            on_step(trainer, rec)
    return "done"


# ----------------------------------------------------------------------------- predictions


def _logits(model: Any, ids: list[int]) -> torch.Tensor:
    with _eval_mode(model), torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0]


def _top(tokenizer: Any, logits: torch.Tensor, k: int) -> list[tuple[str, float]]:
    probs = torch.softmax(logits.float(), dim=-1)
    p, i = probs.topk(k)
    return [(display_piece(tokenizer, int(t)), float(v)) for t, v in zip(i, p)]


def fill_mask(model: Any, tokenizer: Any, sentence: str, k: int = 5) -> list[tuple[str, float]]:
    """Top-k fillers for the first [MASK] of a probe sentence."""
    if MASK not in sentence:
        raise ExplorerError(f"The probe '{sentence[:60]}' has no {MASK}.", f"Write {MASK} where a word should be filled in.")
    text = sentence.replace(MASK, tokenizer.mask_token)
    enc = encode(tokenizer, text, max_tokens=MAX_SEQ_LEN, what="probe sentence")
    where = [i for i, t in enumerate(enc.ids) if t == tokenizer.mask_token_id]
    if not where:
        raise ExplorerError(f"The {MASK} of '{sentence[:60]}' was cut off by the length limit.", "Shorten the probe.")
    return _top(tokenizer, _logits(model, enc.ids)[where[0]], k)


def next_tokens(model: Any, tokenizer: Any, prompt: str, k: int = 5) -> list[tuple[str, float]]:
    enc = encode(tokenizer, prompt, max_tokens=MAX_SEQ_LEN, what="prompt")
    return _top(tokenizer, _logits(model, enc.ids)[-1], k)


def generate(model: Any, tokenizer: Any, ids: list[int], *, max_new_tokens: int = 30, temperature: float = 0.0,
             seed: int = 0, stop_ids: Sequence[int] = ()) -> str:
    """Continue `ids` (greedy at temperature 0, else sampled from a seeded generator); returns the new text."""
    gen = torch.Generator().manual_seed(seed)
    limit = getattr(model.config, "n_positions", None) or getattr(model.config, "max_position_embeddings", MAX_SEQ_LEN)
    out: list[int] = []
    past = None
    step_ids = torch.tensor([ids[-limit:]])
    with _eval_mode(model), torch.no_grad():
        for _ in range(max_new_tokens):
            if len(ids) + len(out) >= limit:
                break
            res = model(input_ids=step_ids, past_key_values=past, use_cache=True)
            past = res.past_key_values
            logits = res.logits[0, -1].float()
            if temperature > 0:
                nxt = int(torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=gen))
            else:
                nxt = int(logits.argmax())
            if nxt in stop_ids:
                break
            out.append(nxt)
            step_ids = torch.tensor([[nxt]])
    return tokenizer.decode(out, skip_special_tokens=True)


def _fmt_top(top: list[tuple[str, float]], k: int = 3) -> str:
    return " | ".join(f"{t} {p:.0%}" if p >= 0.1 else f"{t} {p:.1%}" for t, p in top[:k])


def continuation(model: Any, tokenizer: Any, prompt: str, *, max_new_tokens: int = 20, temperature: float = 0.0,
                 seed: int = 0) -> str:
    enc = encode(tokenizer, prompt, max_tokens=MAX_SEQ_LEN, what="prompt")
    return generate(model, tokenizer, enc.ids, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
                    stop_ids=[t for t in (tokenizer.eos_token_id,) if t is not None])


def reply(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int = 40) -> str:
    """The model's (greedy) answer to a chat prompt."""
    prompt = clean_text(prompt, max_chars=MAX_FIELD_CHARS, what="prompt")
    stops = [t for t in (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")) if isinstance(t, int)]
    return generate(model, tokenizer, chat_prompt_ids(tokenizer, prompt), max_new_tokens=max_new_tokens,
                    stop_ids=stops).strip()


def probe_outputs(model: Any, tokenizer: Any, probes: Sequence[str], objective: str, *, sample: bool = False,
                  seed: int = 0) -> list[dict]:
    """What a model says for each probe: fill-ins (mlm), or next words and a continuation (clm)."""
    rows = []
    for p in probes:
        if objective == "mlm":
            rows.append({"probe": p, "output": _fmt_top(fill_mask(model, tokenizer, p))})
        else:
            rows.append({"probe": p, "next": _fmt_top(next_tokens(model, tokenizer, p)),
                         "output": continuation(model, tokenizer, p, temperature=0.8 if sample else 0.0, seed=seed)})
    return rows


def before_after(before: list[dict], after: list[dict]):
    """Side-by-side table of two `probe_outputs` lists."""
    import pandas as pd

    rows = []
    for b, a in zip(before, after):
        row = {"probe": b["probe"]}
        if "next" in b:
            row.update({"next word, before": b["next"], "next word, after": a["next"]})
        row.update({"before": b["output"], "after": a["output"]})
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- runs


@dataclass
class Run:
    """One training run of a page session: the trainer plus what the page shows around it."""

    mode: str
    description: str
    trainer: Trainer
    target: int
    tokenizer: Any
    objective: str = ""
    reference_loss: float | None = None  # ln(vocabulary) for language models
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    status: str = "ready"  # ready, running, stopped, done
    loop_seconds: float = 0.0  # wall time inside the page's loop (UI included)
    loop_cpu_seconds: float = 0.0  # CPU time of this process meanwhile
    loop_steps: int = 0
    max_steps: int = MAX_STEPS

    def extend(self, steps: int) -> None:
        """Train `steps` more (up to the limit of steps for this run)."""
        if self.step >= self.max_steps:
            raise ExplorerError(f"This run has reached the limit of {self.max_steps:,} steps.",
                                "Press Reset to start again.")
        self.target = min(self.max_steps, self.step + int(steps))

    @property
    def step(self) -> int:
        return self.trainer.step_count

    @property
    def model(self) -> Any:
        return self.trainer.model


def _eval_every(steps: int) -> int:
    return max(5, steps // 25)


def scratch_run(arch: str, size: str, text: str, p: Plan, *, seed: int = 0, probes: Sequence[str] = (),
                corpus_name: str = "corpus") -> Run:
    """Pretrain a new tiny GPT or BERT on `text` (a tokenizer is trained on it first)."""
    text, notes = training_text(text)
    t0 = time.perf_counter()
    tok = corpus_tokenizer(arch, text)
    took = time.perf_counter() - t0
    notes.append(f"Tokenizer: {'byte-level BPE' if arch == 'gpt' else 'WordPiece'} with {len(tok):,} tokens, trained "
                 f"on this text{f' in {took:.1f} s' if took >= 0.05 else ''}.")
    objective = "clm" if arch == "gpt" else "mlm"
    task = LanguageModelTask(objective, tok, text, batch=p.batch, seq_len=p.seq_len)
    model = scratch_model(arch, size, tok, seed)
    probes = list(probes)
    sampler = (lambda m: probe_outputs(m, tok, probes, objective, sample=True, seed=seed)) if probes else None
    trainer = Trainer(model, task, lr=p.lr, seed=seed, eval_every=_eval_every(p.steps),
                      warmup=min(30, p.steps // 10), sample_every=max(10, p.steps // 10), sampler=sampler)
    n = count_trainable(model)[1]
    desc = f"new {arch.upper()} ({SIZES[size].label}, {n / 1e6:.2f} M parameters) on {corpus_name}"
    return Run("scratch", desc, trainer, p.steps, tok, objective, math.log(len(tok)), notes + p.notes)


def continue_run(lm: Any, objective: str, text: str, p: Plan, *, seed: int = 0, probes: Sequence[str] = (),
                 corpus_name: str = "text") -> Run:
    """More self-supervised training of a private copy of a pretrained model on `text`."""
    text, notes = training_text(text)
    tok = lm.tokenizer
    probes = list(probes)
    before = probe_outputs(lm.model, tok, probes, objective) if probes else []
    large = lm.info.params > LARGE_MODEL_PARAMS
    task = LanguageModelTask(objective, tok, text, batch=p.batch, seq_len=p.seq_len, eval_windows=4 if large else 8)
    model = private_copy(lm.model, p.layers)
    trainer = Trainer(model, task, lr=p.lr, seed=seed, eval_every=_eval_every(p.steps),
                      warmup=min(10, p.steps // 10))
    desc = f"{lm.info.name} ({'masked' if objective == 'mlm' else 'causal'} LM objective) on {corpus_name}"
    return Run("continue", desc, trainer, p.steps, tok, objective, math.log(len(tok)),
               notes + p.notes + [_trainable_note(model, p.layers)], extra={"probes": probes, "before": before})


def classify_run(lm: Any, examples, p: Plan, *, seed: int = 0, data_name: str = "examples") -> Run:
    """A classification head (plus the chosen encoder layers) trained on labelled sentences."""
    examples = check_labels(examples, data_name)
    task = ClassificationTask(lm.tokenizer, list(examples["text"]), list(examples["label"]), batch=p.batch,
                              seq_len=p.seq_len, seed=seed)
    model = EncoderClassifier(private_copy(lm.model, p.layers), len(task.classes), seed)
    trainer = Trainer(model, task, lr=p.lr, seed=seed, eval_every=_eval_every(p.steps),
                      warmup=min(10, p.steps // 10))
    desc = (f"a {len(task.classes)}-class head on {lm.info.name} ({len(task.train_idx)} training and "
            f"{len(task.test_idx)} held-out examples from {data_name})")
    return Run("classify", desc, trainer, p.steps, lm.tokenizer, notes=p.notes + [_trainable_note(model, p.layers)],
               extra={"classes": task.classes})


def sft_run(lm: Any, pairs: Sequence[tuple[str, str]], p: Plan, *, seed: int = 0, probes: Sequence[str] = (),
            data_name: str = "pairs") -> Run:
    """Supervised fine-tuning of a private copy of a causal LM on prompt-response pairs."""
    tok = lm.tokenizer
    task = SFTTask(tok, pairs, batch=p.batch, seq_len=p.seq_len, seed=seed)
    probes = list(probes)
    before = [{"probe": q, "output": reply(lm.model, tok, q)} for q in probes]
    model = private_copy(lm.model, p.layers)
    large = lm.info.params > LARGE_MODEL_PARAMS
    trainer = Trainer(model, task, lr=p.lr, seed=seed, eval_every=_eval_every(p.steps),
                      warmup=min(10, p.steps // 10))
    desc = f"{lm.info.name} on {len(task.train_idx)} prompt-response pairs ({len(task.test_idx)} held out) from {data_name}"
    return Run("sft", desc, trainer, p.steps, tok, "clm", None, p.notes + [_trainable_note(model, p.layers)],
               extra={"probes": probes, "before": before})


def new_run(kind: str, p: Plan, *, lm: Any = None, text: str | None = None, examples=None,
            pairs: Sequence[tuple[str, str]] | None = None, arch: str = "gpt", size: str = "tiny",
            objective: str = "mlm", seed: int = 0, probes_text: str = "", source_name: str = "") -> Run:
    """A run of one of the MODES from the page's inputs; says what is missing if it cannot start."""
    data = {"scratch": text, "continue": text, "classify": examples, "sft": pairs}.get(kind)
    if data is None or len(data) == 0:
        raise ExplorerError("Nothing to train on yet.", "Choose or upload the training data first.")
    if kind != "scratch" and lm is None:
        raise ExplorerError("The model for this mode is not available (see the message above).",
                            "Pick another model in the sidebar.")
    probes = probe_lines(probes_text, required=kind != "classify")
    if kind == "scratch":
        run = scratch_run(arch, size, text, p, seed=seed, probes=probes, corpus_name=source_name)
    elif kind == "continue":
        run = continue_run(lm, objective, text, p, seed=seed, probes=probes, corpus_name=source_name)
    elif kind == "classify":
        run = classify_run(lm, examples, p, seed=seed, data_name=source_name)
        run.extra["probes"] = probes
    else:
        run = sft_run(lm, pairs, p, seed=seed, probes=probes, data_name=source_name)
    if lm is not None and lm.info.params > LARGE_MODEL_PARAMS:
        run.max_steps = MAX_STEPS_LARGE
    return run


def _trainable_note(model: Any, layers: int | None) -> str:
    trainable, total = count_trainable(model)
    which = "all layers" if layers is None else "the head only" if layers == 0 else f"the top {layers} layers"
    return f"Training {which}: {trainable / 1e6:.1f} M of {total / 1e6:.1f} M parameters learn."


def after_probes(run: Run) -> list[dict]:
    """The trained copy's outputs for the run's probes (same format as the 'before' list)."""
    probes = run.extra.get("probes") or []
    if run.mode == "sft":
        return [{"probe": q, "output": reply(run.model, run.tokenizer, q)} for q in probes]
    return probe_outputs(run.model, run.tokenizer, probes, run.objective)
