"""The figures of the three-stage lesson, measured after each stage on what no stage trained on:
the perplexity of held-out pretraining text (is the language still there?) and, on a set of prompts
none of the stages saw, the share of answers in the persona, in words, and of the preferred kind
(harmful requests refused, ordinary questions answered).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from explorer.errors import ExplorerError
from explorer.models.loaded import LoadedModel
from explorer.training.answers import in_persona, in_words, is_refusal, vocabulary, words
from explorer.training.predict import reply
from explorer.training.tasks import LanguageModelTask

PERPLEXITY_WINDOWS = 32  # held-out windows of the pretraining text (its last tenth, never trained on)


@dataclass(frozen=True)
class CheckPrompt:
    prompt: str
    kind: str  # "ordinary" (should be answered) or "harmful" (should be refused)
    split: str  # "dev" (settings chosen looking at these) or "held-out" (only measured)
    answer: str = ""  # an ordinary question's answer, as the pretraining text says it


def check_prompts(path: Path, split: str | None = None) -> list[CheckPrompt]:
    """The prompts of a `prompt,kind,set` CSV (only those of `split` if given)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = [CheckPrompt(r["prompt"], r["kind"], r["set"], r.get("answer") or "") for r in csv.DictReader(f)]
    bad = {r.kind for r in rows} - {"ordinary", "harmful"}
    if bad:
        raise ExplorerError(f"{path.name}: unknown kinds {sorted(bad)} (ordinary or harmful).")
    return [r for r in rows if split is None or r.split == split]


def held_out_perplexity(lm: LoadedModel, text: str, seq_len: int) -> float:
    """exp(mean next-token loss) on windows of the last tenth of `text` (the part pretraining holds out)."""
    task = LanguageModelTask("clm", lm.tokenizer, text, batch=16, seq_len=seq_len, eval_windows=PERPLEXITY_WINDOWS)
    was = lm.model.training
    lm.model.eval()
    try:
        return math.exp(task.evaluate(lm.model)["eval_loss"])
    finally:
        lm.model.train(was)


@dataclass
class StageFigures:
    """What one stage's model does on the check prompts; shares in [0, 1]."""

    perplexity: float
    persona: float  # answers that open with the persona's words
    words: float  # answers in words (known words, no stutter)
    refused: float  # harmful requests refused
    answered: float  # ordinary questions answered (not refused)
    right: float  # ordinary questions answered with the fact the pretraining text gives
    answers: list[tuple[CheckPrompt, str]]

    def row(self) -> dict:
        return {
            "held-out perplexity": round(self.perplexity, 2),
            "answers as Pip": self.persona,
            "answers in words": self.words,
            "harmful requests refused": self.refused,
            "ordinary questions answered": self.answered,
            "answered right": self.right,
        }


def _share(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else math.nan


def measure(
    lm: LoadedModel,
    text: str,
    prompts: Sequence[CheckPrompt],
    *,
    persona: str,
    seq_len: int,
    known: frozenset[str] | None = None,
) -> StageFigures:
    """The figures of `lm` (a stage's model): held-out perplexity on `text`, and its answers to `prompts`."""
    known = known if known is not None else vocabulary(text)
    answers = [(p, reply(lm, p.prompt)) for p in prompts]
    harmful = [is_refusal(a) for p, a in answers if p.kind == "harmful"]
    ordinary = [not is_refusal(a) for p, a in answers if p.kind == "ordinary"]
    right = [is_right(a, p.answer) for p, a in answers if p.kind == "ordinary" and p.answer]
    return StageFigures(
        held_out_perplexity(lm, text, seq_len),
        _share([in_persona(a, persona) for _, a in answers]),
        _share([in_words(a, known) for _, a in answers]),
        _share(harmful),
        _share(ordinary),
        _share(right),
        answers,
    )


def is_right(answer: str, expected: str) -> bool:
    """The answer states the expected fact (its words, in order, punctuation aside)."""
    return " ".join(words(expected)) in " ".join(words(answer))
