"""Masked language modelling, the cloze task: BERT's masking recipe, fill-in-the-blank
predictions and pseudo-log-likelihood.

Every function takes the model either as a `LoadedModel` (anything with `.model` and
`.tokenizer`), as a ``(model, tokenizer)`` pair, or as a model with ``tokenizer=`` given;
text comes in as an `Encoded` (see `encode_text`, which wraps `explorer.tokens.encode` and
also turns a typed ``[MASK]`` / ``<mask>`` into the model's own mask token).

Positions are indices into `Encoded.ids` (special tokens such as ``[CLS]`` included), so
they line up with `Encoded.pieces`. Losses and surprisals are in nats (natural log), the
unit of the cross-entropy a masked LM is trained on.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import pandas as pd

from explorer.errors import ExplorerError
from explorer.tokens import Encoded, display_piece, encode, model_max_tokens, word_groups, word_text

NO_LOSS = -100  # label value the loss ignores (PyTorch's CrossEntropyLoss ignore_index)
MASKED, RANDOM, KEPT = "[MASK]", "random token", "unchanged"  # what became of a chosen position
MAX_TOKENS = 128  # the most tokens a text may have on the cloze pages (below the model's own limit)
SUGGESTED_MLMS = ("bert-base-uncased", "distilroberta-base")
MASK_MARKERS = re.compile(r"\[mask\]|<mask>", re.IGNORECASE)
_UNUSED = re.compile(r"^(\[unused\d+\]|<unused\d+>|\[unk\]|<unk>)$", re.IGNORECASE)
_LOGIT_BUDGET = 32_000_000  # floats of logits per forward pass (batch x length x vocabulary)

ProgressFn = Callable[[float, str], None]


# --------------------------------------------------------------------------- model, tokenizer, mask token


def model_and_tokenizer(lm: Any, tokenizer: Any = None) -> tuple[Any, Any]:
    """Split what callers pass as a model: a `LoadedModel`, a (model, tokenizer) pair, or a model."""
    if tokenizer is not None:
        return getattr(lm, "model", lm), tokenizer
    if hasattr(lm, "model") and hasattr(lm, "tokenizer"):
        return lm.model, lm.tokenizer
    if isinstance(lm, (tuple, list)) and len(lm) == 2:
        return lm[0], lm[1]
    raise TypeError("pass a LoadedModel, a (model, tokenizer) pair, or tokenizer=")


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


def encode_text(lm: Any, text: str | None, *, max_tokens: int = MAX_TOKENS, tokenizer: Any = None) -> Encoded:
    """Clean and tokenize user text for a masked LM.

    Checks the model has a mask token, lets the user type ``[MASK]`` or ``<mask>`` whatever
    the model's own spelling, keeps at most `max_tokens` (or the model's limit if lower; a note
    says what was cut), and adds a note when characters fell out of the vocabulary (``[UNK]``).
    """
    model, tok = model_and_tokenizer(lm, tokenizer)
    mask_token(tok)
    if isinstance(text, str):
        text = replace_mask_markers(text, tok)
    enc = encode(tok, text, max_tokens=model_max_tokens(tok, model, cap=max_tokens))
    unk = getattr(tok, "unk_token_id", None)
    unknown = [p for p in enc.content_positions if unk is not None and enc.ids[p] == unk]
    if unknown:
        chars = "".join(dict.fromkeys(enc.text[enc.offsets[p][0]:enc.offsets[p][1]] for p in unknown))
        enc.notes.append(
            f"{len(unknown)} piece(s) of the text are not in this model's vocabulary and became "
            f"{tok.unk_token} ({chars[:40]}): the model can neither read nor predict them."
        )
    if any("\ufffd" in enc.pieces[p] for p in enc.content_positions):
        enc.notes.append("Some characters (emoji, non-Latin scripts) are split into byte pieces, shown as \ufffd: "
                         "the model reads and predicts them one byte at a time.")
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


def _check_positions(enc: Encoded, positions: Sequence[int]) -> list[int]:
    out = sorted({int(p) for p in positions})
    for p in out:
        if not 0 <= p < len(enc.ids):
            raise ExplorerError(f"Position {p} is outside the text (it has {len(enc.ids)} tokens).")
        if enc.special[p]:
            raise ExplorerError(f"Position {p} is the special token {enc.pieces[p]}, which is never masked.",
                                "Pick a token of the text itself.")
    return out


# --------------------------------------------------------------------------- BERT's masking recipe


@dataclass
class MaskingResult:
    """One training example made by BERT's recipe from a text.

    `labels` hold the original id where a position was chosen and `NO_LOSS` (-100) elsewhere;
    `actions` say what became of each position: "" (not chosen), `MASKED`, `RANDOM` or `KEPT`.
    """

    original_ids: list[int]
    input_ids: list[int]
    labels: list[int]
    actions: list[str]
    candidates: list[int]
    rate: float
    seed: int
    whole_word: bool = False
    input_pieces: list[str] = field(default_factory=list)

    @property
    def chosen(self) -> list[int]:
        return [p for p, a in enumerate(self.actions) if a]

    def counts(self) -> dict[str, int]:
        return {a: sum(1 for x in self.actions if x == a) for a in (MASKED, RANDOM, KEPT)}


def _random_token(rng: random.Random, tokenizer: Any, vocab_size: int, special_ids: set[int]) -> int:
    """A random vocabulary entry that is a real token (no special, unknown or unused slots)."""
    for _ in range(1000):
        i = rng.randrange(vocab_size)
        if i in special_ids:
            continue
        tok = tokenizer.convert_ids_to_tokens(i)
        if tok and not _UNUSED.match(tok):
            return i
    return rng.randrange(vocab_size)


def mask_tokens(enc: Encoded, tokenizer: Any, rate: float = 0.15, seed: int = 0, *, whole_word: bool = False,
                exact: bool = True, mask_share: float = 0.8, random_share: float = 0.1,
                vocab_size: int | None = None) -> MaskingResult:
    """BERT's masking recipe on one text.

    Chooses `rate` of the text's tokens (special tokens, ``[UNK]`` and typed masks are never
    chosen: their label would mean nothing). With `exact` (the original BERT data script) exactly
    ``round(rate × n)`` tokens are chosen, at least one; otherwise each token is chosen by an
    independent coin flip (Hugging Face's ``DataCollatorForLanguageModeling``), so short texts
    may get none. `whole_word` chooses whole words (all their pieces) instead of single pieces.
    Each chosen position then becomes ``[MASK]`` (80 %), a random token (10 %) or stays
    unchanged (10 %); its label is the original token. Same `seed`, same result.
    """
    if not 0.0 <= rate <= 1.0:
        raise ExplorerError(f"The masking rate must be between 0 and 1 (got {rate}).")
    if mask_share < 0 or random_share < 0 or mask_share + random_share > 1:
        raise ExplorerError("The [MASK] and random-token shares must be non-negative and add up to at most 1.")
    _, mask_id = mask_token(tokenizer)
    special_ids = set(tokenizer.all_special_ids or [])
    candidates = [p for p in enc.content_positions if enc.ids[p] not in special_ids]
    if not candidates:
        raise ExplorerError("This text has no token that can be masked (only special or unknown tokens).",
                            "Type a few ordinary words.")
    rng = random.Random(seed)
    if whole_word:
        by_word: dict[Any, list[int]] = {}
        for p in candidates:
            by_word.setdefault(enc.word_ids[p] if enc.word_ids[p] is not None else ("pos", p), []).append(p)
        units = list(by_word.values())
    else:
        units = [[p] for p in candidates]
    chosen: list[int] = []
    if exact:
        target = max(1, int(len(candidates) * rate + 0.5)) if rate > 0 else 0
        order = units[:]
        rng.shuffle(order)
        for unit in order:
            if len(chosen) >= target:
                break
            if len(chosen) + len(unit) > target:
                continue
            chosen.extend(unit)
        if target and not chosen:  # every word is longer than the target: take one whole word
            chosen.extend(order[0])
    else:
        for unit in units:
            if rng.random() < rate:
                chosen.extend(unit)
    input_ids = list(enc.ids)
    labels = [NO_LOSS] * len(enc.ids)
    actions = [""] * len(enc.ids)
    size = vocab_size or len(tokenizer)
    for p in sorted(chosen):
        labels[p] = enc.ids[p]
        draw = rng.random()
        if draw < mask_share:
            actions[p], input_ids[p] = MASKED, mask_id
        elif draw < mask_share + random_share:
            actions[p], input_ids[p] = RANDOM, _random_token(rng, tokenizer, size, special_ids)
        else:
            actions[p] = KEPT
    return MaskingResult(list(enc.ids), input_ids, labels, actions, candidates, rate, seed, whole_word,
                         input_pieces=[display_piece(tokenizer, i) for i in input_ids])


def training_pair_frame(result: MaskingResult, tokenizer: Any) -> pd.DataFrame:
    """The (input ids, labels) pair as a table, one row per position."""
    rows = []
    for p, (orig, inp, lab, act) in enumerate(zip(result.original_ids, result.input_ids, result.labels,
                                                  result.actions)):
        rows.append({
            "position": p,
            "text token": display_piece(tokenizer, orig),
            "chosen": "yes" if act else "",
            "became": act,
            "input id": inp,
            "input token": display_piece(tokenizer, inp),
            "label": lab,
            "label token": display_piece(tokenizer, lab) if lab != NO_LOSS else "(no loss)",
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- predictions


@dataclass
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
        return pd.DataFrame([{
            "position": p.position,
            "model sees": p.input_piece,
            "answer": p.original_piece if p.original_piece is not None else "(blank)",
            "top prediction": p.top_pieces[0],
            "top probability": p.top_probs[0],
            "rank of answer": p.original_rank,
            "probability of answer": p.original_prob,
            "loss (nats)": p.loss,
        } for p in self.predictions])

    def predictions_frame(self) -> pd.DataFrame:
        """One row per (position, candidate): the top-k list of every masked position, for CSV export."""
        rows = []
        for p in self.predictions:
            for rank, (tid, piece, prob) in enumerate(zip(p.top_ids, p.top_pieces, p.top_probs), start=1):
                rows.append({"position": p.position, "model sees": p.input_piece,
                             "answer": p.original_piece, "rank": rank, "prediction": piece, "token id": tid,
                             "probability": prob, "is answer": tid == p.original_id,
                             "answer rank": p.original_rank, "answer probability": p.original_prob,
                             "loss (nats)": p.loss})
        return pd.DataFrame(rows)


def _check_vocab(model: Any, ids: Sequence[int]) -> None:
    emb = model.get_input_embeddings()
    size = getattr(emb, "num_embeddings", None) or model.config.vocab_size
    if ids and max(ids) >= size:
        raise ExplorerError(f"The tokenizer produced token id {max(ids)}, but the model only has {size} tokens.",
                            "The model and its tokenizer do not match; pick another model.")


def log_probs_at(model: Any, batch: Any, rows: Any, cols: Any) -> Any:
    """Log-probabilities over the vocabulary at (row, column) pairs of a batch of id sequences
    (all of one length, no padding: no attention mask is needed, and none is built)."""
    import torch

    with torch.inference_mode():
        if hasattr(model, "logits_at"):  # the vocabulary head only where it is read
            return torch.log_softmax(model.logits_at(batch, rows, cols).float(), dim=-1)
        parts = _encoder_and_head(model)
        if parts is not None:  # BERT-, RoBERTa-style: the encoder everywhere, the head at the read positions
            encoder, head = parts
            return torch.log_softmax(head(encoder(input_ids=batch).last_hidden_state[rows, cols]).float(), dim=-1)
        out = model(input_ids=batch)
        return torch.log_softmax(out.logits[rows, cols].float(), dim=-1)


_HEADS = {"BertForMaskedLM": "cls", "RobertaForMaskedLM": "lm_head", "XLMRobertaForMaskedLM": "lm_head",
          "CamembertForMaskedLM": "lm_head"}  # masked LMs whose forward is encoder(ids) → head(states)


def _encoder_and_head(model: Any) -> tuple[Any, Any] | None:
    """(encoder, vocabulary head) of a masked LM whose logits are head(encoder(ids)), to apply the head
    only where it is read (it is a third of MiniLM's work at every position); None for other models."""
    name = _HEADS.get(type(model).__name__)
    encoder = getattr(model, getattr(model, "base_model_prefix", ""), None)
    head = getattr(model, name, None) if name else None
    return (encoder, head) if encoder is not None and head is not None else None


def predict_at(lm: Any, input_ids: Sequence[int], positions: Sequence[int], *,
               answers: Sequence[int | None] | None = None, k: int = 10, tokenizer: Any = None) -> list[Prediction]:
    """Top-k predictions at `positions` of `input_ids` in one forward pass.

    `answers` (aligned with `positions`) are the true tokens there; None where there is no answer.
    The input is used as given: mask the positions first (see `fill_mask`), or pass a training
    pair's input ids and labels (see `predict_training_pair`).
    """
    import torch

    model, tok = model_and_tokenizer(lm, tokenizer)
    ids = [int(i) for i in input_ids]
    positions = [int(p) for p in positions]
    answers = list(answers) if answers is not None else [None] * len(positions)
    if len(answers) != len(positions):
        raise ValueError("answers must be aligned with positions")
    if not positions:
        return []
    _check_vocab(model, ids)
    logp = log_probs_at(model, torch.tensor([ids]), torch.zeros(len(positions), dtype=torch.long),
                      torch.tensor(positions))
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
        out.append(Prediction(
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
        ))
    return out


def masked_input(enc: Encoded, positions: Sequence[int], tokenizer: Any) -> list[int]:
    """The text's ids with `positions` replaced by the mask token."""
    _, mask_id = mask_token(tokenizer)
    ids = list(enc.ids)
    for p in positions:
        ids[p] = mask_id
    return ids


def fill_mask(lm: Any, enc: Encoded, positions: Sequence[int] = (), *, k: int = 10, whole_word: bool = False,
              tokenizer: Any = None) -> FillResult:
    """Mask `positions` of the text (plus any typed ``[MASK]``) and predict every blank at once.

    The answer at each position is the text's own token (none for a typed mask), so each
    prediction carries the answer's rank, probability and the loss there. With `whole_word`,
    all pieces of a touched word are masked. Raises `ExplorerError` when nothing is masked.
    """
    model, tok = model_and_tokenizer(lm, tokenizer)
    token, mask_id = mask_token(tok)
    chosen = _check_positions(enc, positions)
    if whole_word:
        chosen = expand_to_words(enc, chosen)
    chosen = sorted(set(chosen) | set(typed_masks(enc, tok)))
    if not chosen:
        raise ExplorerError("Nothing is masked yet, so there is nothing to predict.",
                            f"Click one or more tokens to mask them, or type {token} in the text.")
    ids = masked_input(enc, chosen, tok)
    answers = [enc.ids[p] if enc.ids[p] != mask_id else None for p in chosen]
    return FillResult(ids, chosen, predict_at((model, tok), ids, chosen, answers=answers, k=k))


def predict_training_pair(lm: Any, result: MaskingResult, *, k: int = 5, tokenizer: Any = None) -> FillResult:
    """Predictions on a `mask_tokens` example, at every chosen position (as in training).

    The mean loss is the masked-LM loss the model would get on this example.
    """
    model, tok = model_and_tokenizer(lm, tokenizer)
    chosen = result.chosen
    preds = predict_at((model, tok), result.input_ids, chosen, answers=[result.labels[p] for p in chosen], k=k)
    return FillResult(list(result.input_ids), chosen, preds)


# --------------------------------------------------------------------------- pseudo-log-likelihood


@dataclass
class PseudoLikelihood:
    """Each token scored with itself masked and every other token visible (Salazar et al., 2020)."""

    positions: list[int]
    pieces: list[str]
    log_probs: list[float]
    ranks: list[int]
    top_pieces: list[str]
    top_probs: list[float]
    skipped: list[int] = field(default_factory=list)

    @property
    def surprisals(self) -> list[float]:
        """-ln p(actual token | rest), in nats: 0 = no surprise."""
        return [-lp for lp in self.log_probs]

    @property
    def total(self) -> float:
        """The pseudo-log-likelihood: the sum of the log-probabilities."""
        return float(sum(self.log_probs))

    @property
    def pseudo_perplexity(self) -> float:
        """exp(mean surprisal): as if the model hesitated between this many tokens at each place."""
        return math.exp(-self.total / len(self.log_probs))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"position": self.positions, "token": self.pieces,
                             "probability": [math.exp(v) for v in self.log_probs],
                             "surprisal (nats)": self.surprisals, "rank": self.ranks,
                             "model's guess": self.top_pieces, "guess probability": self.top_probs})


def pseudo_log_likelihood(lm: Any, enc: Encoded, *, batch_size: int = 32, progress: ProgressFn | None = None,
                          tokenizer: Any = None) -> PseudoLikelihood:
    """Mask each token of the text in turn and score the actual token (batched forward passes).

    Typed masks have no actual token and are skipped (listed in `skipped`). The
    pseudo-perplexity is exp(-PLL / n). `progress(fraction, message)` is called after each batch.
    """
    import torch

    model, tok = model_and_tokenizer(lm, tokenizer)
    _, mask_id = mask_token(tok)
    positions = [p for p in enc.content_positions if enc.ids[p] != mask_id]
    skipped = typed_masks(enc, tok)
    if not positions:
        raise ExplorerError("There is nothing to score: every token of the text is a blank.",
                            "Type a sentence without masks.")
    _check_vocab(model, enc.ids)
    vocab = int(model.config.vocab_size or len(tok))
    per_batch = max(1, min(batch_size, _LOGIT_BUDGET // max(1, len(enc.ids) * vocab)))
    base = torch.tensor(enc.ids)
    log_probs: list[float] = []
    ranks: list[int] = []
    top_ids: list[int] = []
    top_probs: list[float] = []
    for start in range(0, len(positions), per_batch):
        chunk = positions[start:start + per_batch]
        rows = torch.arange(len(chunk))
        cols = torch.tensor(chunk)
        batch = base.repeat(len(chunk), 1)
        batch[rows, cols] = mask_id
        logp = log_probs_at(model, batch, rows, cols)
        actual = logp[rows, base[cols]]
        log_probs += [float(v) for v in actual]
        ranks += [int(v) + 1 for v in (logp > actual[:, None]).sum(-1)]
        best = logp.max(-1)
        top_ids += [int(i) for i in best.indices]
        top_probs += [float(v) for v in best.values.exp()]
        if progress:
            done = start + len(chunk)
            progress(done / len(positions), f"Masked {done} of {len(positions)} tokens in turn…")
    return PseudoLikelihood(positions=positions, pieces=[enc.pieces[p] for p in positions], log_probs=log_probs,
                            ranks=ranks, top_pieces=[display_piece(tok, i) for i in top_ids], top_probs=top_probs,
                            skipped=skipped)
