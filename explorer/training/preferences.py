"""Preference data for alignment: pairs of answers to one prompt, the one people prefer first.

A preference pair is (prompt, chosen, rejected): a person read two answers to the same prompt and
said which is better. That is all RLHF's reward model and DPO learn from. The bundled pairs
(`assets/corpora/preferences.csv`) have a visible preference of four kinds: helpful over evasive,
concise over rambling, polite over rude, and a refusal of a harmful request over compliance.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterable, Sequence

from explorer.errors import ExplorerError
from explorer.tokens import clean_text
from explorer.training.data import CORPUS_DIR, read_upload_csv
from explorer.training.limits import MAX_FIELD_CHARS, MAX_ROWS, MIN_ROWS

COLUMNS = ("prompt", "chosen", "rejected")
MIN_PAIRS = MIN_ROWS
BUNDLED_FILE = "preferences.csv"


@dataclass(frozen=True)
class PreferencePair:
    prompt: str
    chosen: str
    rejected: str
    kind: str = ""  # what the preference is about (helpful, concise, polite, safe), or who made it


def check_pairs(pairs: Iterable[PreferencePair], what: str = "pairs") -> tuple[list[PreferencePair], list[str]]:
    """The usable pairs and notes on what was left out: pairs whose two answers are the same teach nothing,
    and a prompt with the same two answers twice counts once."""
    kept, same, repeats, seen = [], 0, 0, set()
    for p in pairs:
        if p.chosen.strip() == p.rejected.strip():
            same += 1
            continue
        key = (p.prompt, p.chosen, p.rejected)
        if key in seen:
            repeats += 1
            continue
        seen.add(key)
        kept.append(p)
    notes = []
    if same:
        notes.append(
            f"{same} pair{'s' if same != 1 else ''} of the {what} with the same chosen and rejected answer "
            f"{'were' if same != 1 else 'was'} left out: there is nothing to prefer."
        )
    if repeats:
        notes.append(
            f"{repeats} repeated pair{'s' if repeats != 1 else ''} of the {what} "
            f"{'were' if repeats != 1 else 'was'} left out."
        )
    if len(kept) > MAX_ROWS:
        notes.append(f"The {what} has {len(kept):,} pairs; only the first {MAX_ROWS:,} are used.")
        kept = kept[:MAX_ROWS]
    if len(kept) < MIN_PAIRS:
        raise ExplorerError(
            f"The {what} has {len(kept)} usable pair{'s' if len(kept) != 1 else ''}; at least "
            f"{MIN_PAIRS} are needed (some to learn from, some held out).",
            "Add pairs whose chosen and rejected answers differ.",
        )
    return kept, notes


def preference_pairs(data: bytes | None, what: str = "CSV file") -> tuple[list[PreferencePair], list[str]]:
    """An uploaded CSV with the header prompt,chosen,rejected (and optionally kind) → (pairs, notes)."""
    df, notes = read_upload_csv(data, COLUMNS, what, optional=("kind",))
    kinds = df["kind"] if "kind" in df.columns else [""] * len(df)
    pairs, more = check_pairs(
        [PreferencePair(p, c, r, k) for p, c, r, k in zip(df["prompt"], df["chosen"], df["rejected"], kinds)], what
    )
    return pairs, notes + more


def bundled_pairs() -> list[PreferencePair]:
    """The project's own preference pairs (see `assets/corpora/README.md`), read once per version of the file."""
    path = CORPUS_DIR / BUNDLED_FILE
    return list(_read_bundled(str(path), path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=2)
def _read_bundled(path: str, _version: int) -> tuple[PreferencePair, ...]:
    with open(path, "rb") as f:
        pairs, _ = preference_pairs(f.read(), "bundled pairs")
    return tuple(pairs)


def dpo_defaults() -> dict:
    """The Alignment page's default DPO settings and probes for the bundled pairs (`[dpo]` of
    `assets/examples/alignment.toml`): beta, steps, lr, layers, nll_weight, seed, probes."""
    from explorer import examples

    return dict(examples.load("alignment")["dpo"])


def human_pair(prompt: str, answers: Sequence[str], better: int) -> PreferencePair:
    """The pair a participant makes by picking the better of two sampled answers (0 or 1)."""
    if len(answers) != 2 or better not in (0, 1):
        raise ExplorerError("Pick the better one of exactly two answers.")
    prompt = clean_text(prompt, max_chars=MAX_FIELD_CHARS, what="prompt")
    chosen, rejected = (answers[better].strip(), answers[1 - better].strip())
    if not chosen or not rejected:
        raise ExplorerError(
            "One of the two answers is empty, so there is nothing to compare.", "Sample two new answers."
        )
    if chosen == rejected:
        raise ExplorerError(
            "The two answers are the same, so there is nothing to prefer.",
            "Sample again (a higher temperature gives more different answers).",
        )
    return PreferencePair(prompt, chosen, rejected, "yours")


def pairs_frame(pairs: Sequence[PreferencePair]):
    import pandas as pd

    return pd.DataFrame(
        [{"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected, "kind": p.kind} for p in pairs],
        columns=[*COLUMNS, "kind"],
    )


def pairs_csv(pairs: Sequence[PreferencePair]) -> bytes:
    """The pairs as a CSV in the upload format (to download and reuse)."""
    return pairs_frame(pairs).to_csv(index=False).encode("utf-8")
