"""Why each model predicts the hidden word: both models' token attributions (`explorer.inside.attribution`)
for the same blank, summed per word, so the two sides line up word by word however each tokenizer splits
them. The masked LM's credit reaches the words to the right of the blank; the causal LM's is exactly zero
there: it never read them."""

from __future__ import annotations

from dataclasses import dataclass

from explorer import inside
from explorer.comparisons.masked_vs_causal import Comparison, Side
from explorer.comparisons.sentence import BLANK, word_span
from explorer.errors import ExplorerError
from explorer.models.loaded import LoadedModel
from explorer.words.pieces import WordCandidate


@dataclass(frozen=True)
class WordCredit:
    """One side's credit per word of the sentence (`scores[blank]` is None: the hidden word itself)."""

    kind: str  # "mlm" or "clm"
    words: list[str]
    scores: list[float | None]
    blank: int
    target: str
    contrast: str | None
    attribution: inside.Attribution

    @property
    def right_of_blank(self) -> float:
        """How much credit, in absolute value, the words after the blank get."""
        return sum(abs(s) for s in self.scores[self.blank + 1 :] if s is not None)


def candidate(side: Side, word: str | None) -> WordCandidate:
    """The side's candidate spelled `word` (its own hidden word, or one of its top words); by default the
    hidden word, or the top word for a typed blank."""
    pool = side.words.with_answer()
    if not pool:
        raise ExplorerError("This side has no prediction to explain yet.")
    if word is None:
        return pool[0]
    for c in pool:
        if c.word == word:
            return c
    raise ExplorerError(f"'{word}' is not among this model's words for the blank.", "Pick one from its chart.")


def explain_word(
    comp: Comparison,
    lm: LoadedModel,
    side: Side,
    index: int,
    *,
    method: str = inside.INTEGRATED,
    steps: int = inside.DEFAULT_STEPS,
    target: str | None = None,
    contrast: str | None = None,
    progress: inside.attribution.Progress | None = None,
) -> WordCredit:
    """Credit per word for `side`'s prediction of word `index` (the word `target`, default the hidden word;
    with `contrast`, rather than that word)."""
    ids, mapping = (comp.mlm_enc.ids, comp.mlm_map) if side.kind == "mlm" else (comp.clm_ids, comp.clm_map)
    start, end = word_span(mapping, index)
    chosen = candidate(side, target)
    other = candidate(side, contrast) if contrast else None
    att = inside.attribute(
        lm,
        ids,
        start,
        end,
        chosen.ids,
        contrast=other.ids if other is not None else (),
        method=method,
        steps=steps,
        progress=progress,
    )
    tokens = list(range(start)) + list(range(end, len(ids)))  # the context's tokens, in the attribution's order
    context_scores = att.scores[: att.blank] + att.scores[att.blank + 1 :]
    per_word: list[float | None] = [None] * len(comp.words)
    for token, credit in zip(tokens, context_scores):
        w = mapping[token]
        if w is None or credit is None or w == index:
            continue
        per_word[w] = (per_word[w] or 0.0) + credit
    shown = [BLANK if w.index == index else w.text for w in comp.words]
    return WordCredit(side.kind, shown, per_word, index, chosen.word, other.word if other else None, att)
