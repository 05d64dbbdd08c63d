"""Training data: the bundled corpora, uploaded text and CSV files, probe sentences."""

from __future__ import annotations

import io
from dataclasses import dataclass

from explorer import paths
from explorer.errors import ExplorerError
from explorer.tokens import clean_text
from explorer.training.limits import (
    MAX_CLASSES,
    MAX_FIELD_CHARS,
    MAX_PROBES,
    MAX_ROWS,
    MAX_TEXT_CHARS,
    MAX_UPLOAD_BYTES,
    MIN_ROWS,
    MIN_TEXT_CHARS,
)
from explorer.wording import size_text

CORPUS_DIR = paths.ASSETS / "corpora"


@dataclass(frozen=True)
class Corpus:
    key: str
    title: str
    file: str
    description: str


CORPORA = {
    "shakespeare": Corpus(
        "shakespeare",
        "Shakespeare (four plays)",
        "shakespeare.txt",
        "Macbeth, Romeo and Juliet, A Midsummer Night's Dream and Julius Caesar (public domain).",
    ),
    "simple": Corpus(
        "simple",
        "Simple English stories",
        "simple_english.txt",
        "Short template stories with consistent facts: dogs bark, the sky is blue.",
    ),
    "facts": Corpus(
        "facts",
        "Facts and stories (simple English)",
        "pip_world.txt",
        "The simple stories, plus facts about everyday things (the sun, bees, snow…) and children "
        "asking a grown-up about them: the pretraining text of the three-stage lesson.",
    ),
}


def corpus_text(key: str) -> str:
    if key not in CORPORA:
        raise ExplorerError(f"There is no bundled corpus called '{key}'.", f"Pick one of: {', '.join(CORPORA)}.")
    return (CORPUS_DIR / CORPORA[key].file).read_text(encoding="utf-8")


def decode_upload(data: bytes | None, what: str = "file") -> str:
    """Bytes of an uploaded file → text; refuses empty, too large, binary and non-UTF-8 files."""
    if not data:
        raise ExplorerError(f"The {what} is empty.", "Upload a file with some text in it.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ExplorerError(
            f"The {what} is {size_text(len(data))}; the limit here is {size_text(MAX_UPLOAD_BYTES)}.",
            "Upload a shorter file, or a part of it.",
        )
    head = data[:65536]
    if b"\x00" in head:
        raise ExplorerError(
            f"The {what} looks like a binary file, not text.", "Upload a plain text file (.txt or .csv) saved as UTF-8."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ExplorerError(
            f"The {what} is not UTF-8 text (byte {exc.start} cannot be read).",
            "Save it as UTF-8 text and upload it again.",
        ) from exc
    sample = text[:65536]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(5, len(sample) // 100):
        raise ExplorerError(
            f"The {what} looks like a binary file, not text.", "Upload a plain text file (.txt or .csv) saved as UTF-8."
        )
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
        raise ExplorerError(
            f"The {what} has only {len(text)} characters; at least {MIN_TEXT_CHARS} are needed to learn anything.",
            "Paste a few paragraphs, or pick a bundled corpus.",
        )
    return text, notes


def read_upload_csv(data: bytes | None, columns: tuple[str, ...], what: str, optional: tuple[str, ...] = ()):
    """An uploaded CSV → (frame with `columns` (and those of `optional` it has), notes). Rows with an
    empty required field are left out, and a note says how many; fields are cut to MAX_FIELD_CHARS."""
    import pandas as pd

    text = decode_upload(data, what)
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise ExplorerError(
            f"The {what} could not be read as CSV: {str(exc).splitlines()[0][:200]}",
            f"The first line must be the header {','.join(columns)}; quote fields that contain commas.",
        ) from exc
    found = {str(c).strip().lower(): c for c in df.columns}
    missing = [c for c in columns if c not in found]
    if missing:
        have = ", ".join(str(c) for c in list(df.columns)[:8]) or "none"
        raise ExplorerError(
            f"The {what} needs the columns {' and '.join(columns)}; it has: {have}.",
            f"Make the first line the header {','.join(columns)}.",
        )
    keep = list(columns) + [c for c in optional if c in found]
    df = df[[found[c] for c in keep]].copy()
    df.columns = keep
    notes = []
    for c in keep:
        df[c] = df[c].astype(str).str.strip().str.slice(0, MAX_FIELD_CHARS)
    filled = (df[list(columns)] != "").all(axis=1)
    if not filled.all():
        n = int((~filled).sum())
        notes.append(
            f"{n} row{'s' if n != 1 else ''} of the {what} with an empty field {'were' if n != 1 else 'was'} left out."
        )
    df = df[filled].reset_index(drop=True)
    if len(df) > MAX_ROWS:
        notes.append(f"The {what} has {len(df):,} rows; only the first {MAX_ROWS:,} are used.")
        df = df.iloc[:MAX_ROWS].reset_index(drop=True)
    if len(df) < MIN_ROWS:
        raise ExplorerError(
            f"The {what} has {len(df)} usable row{'s' if len(df) != 1 else ''}; at least {MIN_ROWS} are needed.",
            "Add more examples (rows with every column filled in).",
        )
    return df, notes


def labelled_examples(data: bytes | None, what: str = "CSV file"):
    """An uploaded CSV of text,label → (DataFrame[text, label], notes); checks classes."""
    df, notes = read_upload_csv(data, ("text", "label"), what)
    return check_labels(df, what), notes


def check_labels(df, what: str = "data"):
    counts = df["label"].value_counts()
    if len(counts) < 2:
        raise ExplorerError(
            f"Every row of the {what} has the label '{counts.index[0]}': a classifier needs at least two classes.",
            "Add examples of another class (e.g. positive and negative).",
        )
    if len(counts) > MAX_CLASSES:
        raise ExplorerError(
            f"The {what} has {len(counts)} different labels; the limit here is {MAX_CLASSES}.",
            "Check that the label column holds class names, not text.",
        )
    rare = counts[counts < 2]
    if len(rare):
        raise ExplorerError(
            f"The class '{rare.index[0]}' has only one example; every class needs at least two "
            "(one to learn from, one to test on).",
            "Add more examples of that class.",
        )
    return df


def prompt_response_pairs(data: bytes | None, what: str = "CSV file") -> tuple[list[tuple[str, str]], list[str]]:
    """An uploaded CSV of prompt,response → (pairs, notes)."""
    df, notes = read_upload_csv(data, ("prompt", "response"), what)
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
