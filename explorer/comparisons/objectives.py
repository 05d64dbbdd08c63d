"""Three pre-training objectives on the same sentence: masked LM (BERT), next-token prediction
(GPT) and span corruption (T5): what each hides, what it predicts and where its loss is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from explorer.errors import ExplorerError
from explorer.wording import count

if TYPE_CHECKING:
    from explorer.span.corruption import Corruption


@dataclass
class ObjectiveView:
    """One objective on the tokens of a sentence: what the model's input shows at each token,
    which tokens are hidden from it and which are predicted (the loss positions)."""

    name: str
    shown: list[str]
    hidden: list[bool]
    predicted: list[bool]
    model_sees: str
    model_predicts: str
    loss_positions: int
    example_models: str


def compare_objectives(
    corruption: Corruption, tokenizer: Any, *, mlm_rate: float = 0.15, seed: int = 0
) -> list[ObjectiveView]:
    """Masked LM (BERT's recipe, `explorer.mlm.mask_tokens`), next-token prediction and span
    corruption on the same tokens. `tokenizer` must be the one `corruption` was made with and
    have a mask token (BERT's WordPiece tokenizer does)."""
    from explorer import mlm

    pieces = corruption.pieces
    n = len(pieces)
    enc = mlm.encode_for_masking(tokenizer, corruption.text, max_tokens=n + 8)
    content = enc.content_positions
    if [enc.ids[p] for p in content] != corruption.ids:
        raise ExplorerError(
            "The masked-LM tokens do not line up with the span-corruption tokens.",
            "Compare with the masked LM's own tokenizer.",
        )
    masking = mlm.mask_tokens(enc, tokenizer, mlm_rate, seed)
    actions = [masking.actions[p] for p in content]
    mlm_view = ObjectiveView(
        name="Masked LM (BERT)",
        shown=[masking.input_pieces[p] for p in content],
        hidden=[a in (mlm.MASKED, mlm.RANDOM) for a in actions],
        predicted=[bool(a) for a in actions],
        model_sees="the whole sentence, both sides, with about 15% of the tokens picked: 80% of those become "
        "[MASK], 10% a random token, 10% stay unchanged",
        model_predicts="the original token at each picked position",
        loss_positions=sum(bool(a) for a in actions),
        example_models="BERT, RoBERTa, MiniLM-MLM",
    )
    clm_view = ObjectiveView(
        name="Next token (GPT)",
        shown=list(pieces),
        hidden=[False] * n,
        predicted=[i > 0 for i in range(n)],
        model_sees="at each position, only the tokens to its left (a causal mask hides the future)",
        model_predicts="every next token, from the second one on",
        loss_positions=n - 1,
        example_models="GPT-2, SmolLM2",
    )
    starts = {sp.start: sp.sentinel for sp in corruption.spans}
    span_view = ObjectiveView(
        name="Span corruption (T5)",
        shown=[starts.get(i, "") if m else p for i, (p, m) in enumerate(zip(pieces, corruption.mask))],
        hidden=list(corruption.mask),
        predicted=list(corruption.mask),
        model_sees=f"the encoder reads the shortened input ({count(len(corruption.input_pieces), 'token')}: "
        f"one sentinel per dropped span)",
        model_predicts=f"the decoder writes the target ({count(len(corruption.target_pieces), 'token')}: each sentinel "
        f"followed by its span, then a closing sentinel)",
        loss_positions=len(corruption.target_pieces),
        example_models="T5, Flan-T5, mT5",
    )
    return [mlm_view, clm_view, span_view]


def objectives_frame(views: Sequence[ObjectiveView], n_tokens: int) -> pd.DataFrame:
    """The comparison as a table: what each objective hides, predicts and where its loss is."""
    return pd.DataFrame(
        [
            {
                "objective": v.name,
                "what is hidden": f"{sum(v.hidden)} of {count(n_tokens, 'token')}"
                if any(v.hidden)
                else "nothing (only the future)",
                "the model sees": v.model_sees,
                "the model predicts": v.model_predicts,
                "loss positions": v.loss_positions,
                "models trained this way": v.example_models,
            }
            for v in views
        ]
    )
