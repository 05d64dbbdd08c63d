"""Fill-mask predictions: a masked LM's top-k tokens, the answer's rank and probability, and the
loss at every masked position, all from one forward pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from explorer.errors import ExplorerError
from explorer.forward_cache import ForwardCache, is_frozen
from explorer.mlm.input import check_vocab, expand_to_words, mask_token, typed_masks
from explorer.mlm.masking import NO_LOSS, MaskingResult
from explorer.models.loaded import LoadedModel, model_parts
from explorer.tokens import Encoded, display_piece
from explorer.wording import count

if TYPE_CHECKING:
    from torch.nn import Module


@dataclass(frozen=True)
class Prediction:
    """What the model predicts at one masked position.

    `original_*`, `loss` are None for a blank with no answer (a typed ``[MASK]``). `loss` is
    the cross-entropy at this position, -ln p(original); `entropy` that of the whole distribution.
    """

    position: int
    input_piece: str
    original_id: int | None
    original_piece: str | None
    top_ids: list[int]
    top_pieces: list[str]
    top_probs: list[float]
    original_prob: float | None
    original_rank: int | None
    loss: float | None
    entropy: float


@dataclass
class FillResult:
    """Predictions for every masked position of one input (all predicted in one forward pass)."""

    input_ids: list[int]
    positions: list[int]
    predictions: list[Prediction]

    @property
    def mean_loss(self) -> float | None:
        """The masked-LM loss of this input: the mean loss over positions with a known answer."""
        losses = [p.loss for p in self.predictions if p.loss is not None]
        return sum(losses) / len(losses) if losses else None

    def summary_frame(self) -> pd.DataFrame:
        """One row per masked position."""
        return pd.DataFrame(
            [
                {
                    "position": p.position,
                    "model sees": p.input_piece,
                    "answer": p.original_piece if p.original_piece is not None else "(blank)",
                    "top prediction": p.top_pieces[0],
                    "top probability": p.top_probs[0],
                    "rank of answer": p.original_rank,
                    "probability of answer": p.original_prob,
                    "loss (nats)": p.loss,
                }
                for p in self.predictions
            ]
        )

    def predictions_frame(self) -> pd.DataFrame:
        """One row per (position, candidate): the top-k list of every masked position, for CSV export."""
        rows = []
        for p in self.predictions:
            for rank, (tid, piece, prob) in enumerate(zip(p.top_ids, p.top_pieces, p.top_probs), start=1):
                rows.append(
                    {
                        "position": p.position,
                        "model sees": p.input_piece,
                        "answer": p.original_piece,
                        "rank": rank,
                        "prediction": piece,
                        "token id": tid,
                        "probability": prob,
                        "is answer": tid == p.original_id,
                        "answer rank": p.original_rank,
                        "answer probability": p.original_prob,
                        "loss (nats)": p.loss,
                    }
                )
        return pd.DataFrame(rows)


def log_probs_at(model: Module, batch: Any, rows: Any, cols: Any, attention_mask: Any = None) -> Any:
    """Log-probabilities over the vocabulary at (row, column) pairs of a batch of id sequences
    (of one length; rows padded on the right come with an `attention_mask`, 0 on the padding)."""
    import torch

    with torch.inference_mode():
        if hasattr(model, "logits_at"):  # the vocabulary head only where it is read
            return torch.log_softmax(model.logits_at(batch, rows, cols, attention_mask=attention_mask).float(), dim=-1)
        parts = encoder_and_head(model)
        if parts is not None:  # BERT-, RoBERTa-style: the encoder everywhere, the head at the read positions
            encoder, head = parts
            states = encoder(input_ids=batch, attention_mask=attention_mask).last_hidden_state
            return torch.log_softmax(head(states[rows, cols]).float(), dim=-1)
        out = model(input_ids=batch, attention_mask=attention_mask)
        return torch.log_softmax(out.logits[rows, cols].float(), dim=-1)


_HEADS = {
    "BertForMaskedLM": "cls",
    "RobertaForMaskedLM": "lm_head",
    "XLMRobertaForMaskedLM": "lm_head",
    "CamembertForMaskedLM": "lm_head",
}  # masked LMs whose forward is encoder(ids) → head(states)


def encoder_and_head(model: Module) -> tuple[Any, Any] | None:
    """(encoder, vocabulary head) of a masked LM whose logits are head(encoder(ids)), to apply the head
    only where it is read (it is a third of MiniLM's work at every position); None for other models."""
    name = _HEADS.get(type(model).__name__)
    encoder = getattr(model, getattr(model, "base_model_prefix", ""), None)
    head = getattr(model, name, None) if name else None
    return (encoder, head) if encoder is not None and head is not None else None


_PREDICTIONS = ForwardCache(256)  # per model: (ids, positions, answers, k) -> predictions


def prediction_passes() -> int:
    """How many forward passes the predictions' cache could not spare (for tests and benchmarks)."""
    return _PREDICTIONS.misses


def predict_at(
    lm: LoadedModel,
    input_ids: Sequence[int],
    positions: Sequence[int],
    *,
    answers: Sequence[int | None] | None = None,
    k: int = 10,
) -> list[Prediction]:
    """Top-k predictions at `positions` of `input_ids` in one forward pass (cached for every session
    of the process: `explorer.forward_cache`).

    `answers` (aligned with `positions`) are the true tokens there; None where there is no answer.
    The input is used as given: mask the positions first (see `fill_mask`), or pass a training
    pair's input ids and labels (see `predict_training_pair`).
    """
    model, tok = model_parts(lm)
    ids = [int(i) for i in input_ids]
    positions = [int(p) for p in positions]
    answers = [None if a is None else int(a) for a in answers] if answers is not None else [None] * len(positions)
    if len(answers) != len(positions):
        raise ValueError("answers must be aligned with positions")
    if not positions:
        return []
    check_vocab(model, ids)
    if not is_frozen(model):  # a model in training changes: never cached
        return list(_predict(model, tok, ids, positions, answers, k))
    key = (tuple(ids), tuple(positions), tuple(answers), int(k))
    return list(_PREDICTIONS.get(model, key, lambda: _predict(model, tok, ids, positions, answers, k)))


def _predict(
    model: Module, tok: Any, ids: list[int], positions: list[int], answers: list[int | None], k: int
) -> tuple[Prediction, ...]:
    import torch

    logp = log_probs_at(
        model, torch.tensor([ids]), torch.zeros(len(positions), dtype=torch.long), torch.tensor(positions)
    )
    k = max(1, min(int(k), logp.shape[-1]))
    top = torch.topk(logp, k, dim=-1)
    entropy = -(logp.exp() * logp).sum(-1)
    out = []
    for j, p in enumerate(positions):
        answer = answers[j]
        prob = rank = loss = None
        if answer is not None and answer != NO_LOSS:
            lp = logp[j, int(answer)]
            prob, loss = float(lp.exp()), float(-lp)
            rank = int((logp[j] > lp).sum()) + 1
        else:
            answer = None
        top_ids = [int(i) for i in top.indices[j]]
        out.append(
            Prediction(
                position=p,
                input_piece=display_piece(tok, ids[p]),
                original_id=int(answer) if answer is not None else None,
                original_piece=display_piece(tok, int(answer)) if answer is not None else None,
                top_ids=top_ids,
                top_pieces=[display_piece(tok, i) for i in top_ids],
                top_probs=[float(v) for v in top.values[j].exp()],
                original_prob=prob,
                original_rank=rank,
                loss=loss,
                entropy=float(entropy[j]),
            )
        )
    return tuple(out)


def masked_input(enc: Encoded, positions: Sequence[int], tokenizer: Any) -> list[int]:
    """The text's ids with `positions` replaced by the mask token."""
    _, mask_id = mask_token(tokenizer)
    ids = list(enc.ids)
    for p in positions:
        ids[p] = mask_id
    return ids


def _check_positions(enc: Encoded, positions: Sequence[int]) -> list[int]:
    out = sorted({int(p) for p in positions})
    for p in out:
        if not 0 <= p < len(enc.ids):
            raise ExplorerError(f"Position {p} is outside the text (it has {count(len(enc.ids), 'token')}).")
        if enc.special[p]:
            raise ExplorerError(
                f"Position {p} is the special token {enc.pieces[p]}, which is never masked.",
                "Pick a token of the text itself.",
            )
    return out


def fill_mask(
    lm: LoadedModel, enc: Encoded, positions: Sequence[int] = (), *, k: int = 10, whole_word: bool = False
) -> FillResult:
    """Mask `positions` of the text (plus any typed ``[MASK]``) and predict every blank at once.

    The answer at each position is the text's own token (none for a typed mask), so each
    prediction carries the answer's rank, probability and the loss there. With `whole_word`,
    all pieces of a touched word are masked. Raises `ExplorerError` when nothing is masked.
    """
    model, tok = model_parts(lm)
    token, mask_id = mask_token(tok)
    chosen = _check_positions(enc, positions)
    if whole_word:
        chosen = expand_to_words(enc, chosen)
    chosen = sorted(set(chosen) | set(typed_masks(enc, tok)))
    if not chosen:
        raise ExplorerError(
            "Nothing is masked yet, so there is nothing to predict.",
            f"Click one or more tokens to mask them, or type {token} in the text.",
        )
    ids = masked_input(enc, chosen, tok)
    answers = [enc.ids[p] if enc.ids[p] != mask_id else None for p in chosen]
    return FillResult(ids, chosen, predict_at(lm, ids, chosen, answers=answers, k=k))


def predict_training_pair(lm: LoadedModel, result: MaskingResult, *, k: int = 5) -> FillResult:
    """Predictions on a `mask_tokens` example, at every chosen position (as in training).

    The mean loss is the masked-LM loss the model would get on this example.
    """
    model, tok = model_parts(lm)
    chosen = result.chosen
    preds = predict_at(lm, result.input_ids, chosen, answers=[result.labels[p] for p in chosen], k=k)
    return FillResult(list(result.input_ids), chosen, preds)
