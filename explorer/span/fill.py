"""Filling corrupted spans back in: with a seq2seq model (T5 writes each sentinel's tokens), or,
offline, with a masked LM given k ``[MASK]`` tokens per sentinel. The masked LM is an
approximation: it must be told how many tokens each gap holds; T5 is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from explorer.errors import ExplorerError
from explorer.forward_cache import ForwardCache, is_frozen
from explorer.models.loaded import LoadedModel
from explorer.span.corruption import Corruption
from explorer.span.sentinels import PROPER_MODELS, SENTINEL_RE, sentinel_ids, split_target, target_text_of
from explorer.tokens import display_pieces, encode, model_max_tokens

if TYPE_CHECKING:
    from torch.nn import Module


@dataclass
class SpanFill:
    number: int
    original: str
    predicted: str
    tokens: list[str]
    probs: list[float]  # per predicted token (empty for generation without scores)

    @property
    def exact(self) -> bool:
        return self.predicted.strip().lower() == self.original.strip().lower()


@dataclass
class Fill:
    """Predicted spans put back into the corrupted input."""

    method: str  # "seq2seq" or "masked LM (approximation)"
    model_name: str
    approximate: bool
    spans: list[SpanFill]
    filled_text: str
    target_text: str
    note: str = ""


def _fill_input(input_text: str, predictions: dict[int, str]) -> str:
    return SENTINEL_RE.sub(lambda m: predictions.get(int(m.group(1)), m.group(0)), input_text)


def _with_masks(text: str, counts: dict[int, int], mask: str) -> tuple[str, list[tuple[int, int]]]:
    """`text` with each sentinel replaced by its count of `mask` tokens, and where those masks lie."""
    parts, ours, end = [], [], 0
    for m in SENTINEL_RE.finditer(text):
        parts.append(text[end : m.start()] + " ")
        start = sum(map(len, parts))
        blank = " ".join([mask] * counts[int(m.group(1))])
        parts.append(blank + " ")
        ours.append((start, start + len(blank)))
        end = m.end()
    parts.append(text[end:])
    full = "".join(parts)
    lead = len(full) - len(full.lstrip())  # the text is stripped before it is tokenized
    return full.strip(), [(a - lead, b - lead) for a, b in ours]


_FILLED = ForwardCache(32)  # (masked text's ids, the gaps' positions, iterative) -> each gap's token and probability


def _probs_at(model: Module, ids, positions: list[int]):
    """The masked LM's probabilities at `positions` of one text (the vocabulary head only there where the
    model can: `logits_at`)."""
    import torch

    mask = torch.ones_like(ids)
    if hasattr(model, "logits_at"):
        rows = torch.zeros(len(positions), dtype=torch.long)
        logits = model.logits_at(ids, rows, torch.tensor(positions, dtype=torch.long), attention_mask=mask)
    else:
        logits = model(input_ids=ids, attention_mask=mask).logits[0, positions]
    return torch.softmax(logits.float(), dim=-1)


def _fill_masks(model: Module, tok, ids: list[int], mask_positions: list[int], iterative: bool) -> dict:
    """Position -> (token id, probability) of each gap's [MASK]: the most confident one first and the text
    read again (`iterative`), or all of them from one reading."""
    import torch

    batch = torch.tensor([list(ids)])
    banned = torch.tensor(sorted(set(tok.all_special_ids or [])), dtype=torch.long)
    chosen: dict[int, tuple[int, float]] = {}
    todo = list(mask_positions)
    with torch.inference_mode():
        while todo:
            probs = _probs_at(model, batch, todo)
            if len(banned):
                probs[:, banned] = 0.0
            best_p, best_id = probs.max(dim=-1)
            if iterative:
                k = int(best_p.argmax())
                picks = [(todo[k], int(best_id[k]), float(best_p[k]))]
            else:
                picks = [(p, int(i), float(q)) for p, i, q in zip(todo, best_id, best_p)]
            for pos, tid, p in picks:
                batch[0, pos] = tid
                chosen[pos] = (tid, p)
                todo.remove(pos)
    return chosen


def fill_with_mlm(
    lm: LoadedModel, corruption: Corruption, *, tokens_per_span: int | None = None, iterative: bool = True
) -> Fill:
    """Approximate T5's span filling with a masked LM: each sentinel becomes k [MASK] tokens.

    ``tokens_per_span=None`` uses each span's true length in the masked LM's own tokens (a hint
    T5 never gets). ``iterative`` fills the most confident [MASK] first and predicts again
    (one forward pass per [MASK]); otherwise all are filled in one pass.
    """

    model, tok = lm.model, lm.tokenizer
    if tok.mask_token is None or tok.mask_token_id is None:
        raise ExplorerError(f"{lm.info.name} has no [MASK] token, so it cannot fill gaps.")
    counts = {}
    for sp in corruption.spans:
        if tokens_per_span is None:
            own = tok(sp.text, add_special_tokens=False)["input_ids"] if sp.text else []
            counts[sp.number] = max(1, len(own))
        else:
            counts[sp.number] = max(1, int(tokens_per_span))
    masked_text, ours = _with_masks(corruption.input_text, counts, tok.mask_token)
    limit = model_max_tokens(tok, model)
    enc = encode(tok, masked_text, max_tokens=limit, what="sentence")
    # only the masks put in for the gaps: a [MASK] the text itself holds is left as it is
    mask_positions = [
        i
        for i, (t, (a, b)) in enumerate(zip(enc.ids, enc.offsets))  # (a mask may take the
        if t == tok.mask_token_id and any(a < hi and b > lo for lo, hi in ours)
    ]  # space before it)
    expected = sum(counts.values())
    if len(mask_positions) != expected:
        raise ExplorerError(
            f"With {expected} [MASK] tokens for its gaps the text is longer than the "
            f"{limit} tokens this masked LM reads, so the last gaps were cut off.",
            "Use a shorter text, or fewer or shorter spans.",
        )
    owner: list[int] = []
    for sp in corruption.spans:
        owner += [sp.number] * counts[sp.number]
    key = (tuple(enc.ids), tuple(mask_positions), bool(iterative))
    compute = lambda: _fill_masks(model, tok, enc.ids, mask_positions, iterative)  # noqa: E731
    chosen = _FILLED.get(model, key, compute) if is_frozen(model) else compute()
    fills, predictions = [], {}
    for sp in corruption.spans:
        positions = [p for p, o in zip(mask_positions, owner) if o == sp.number]
        span_ids = [chosen[p][0] for p in positions]
        predicted = tok.decode(span_ids, skip_special_tokens=True).strip()
        predictions[sp.number] = predicted
        fills.append(
            SpanFill(sp.number, sp.text, predicted, display_pieces(tok, span_ids), [chosen[p][1] for p in positions])
        )
    how = (
        "the true length of each span"
        if tokens_per_span is None
        else f"{int(tokens_per_span)} [MASK] token{'s' if int(tokens_per_span) != 1 else ''} per span"
    )
    note = (
        f"Approximation: {lm.info.name} is a masked LM, not T5. Each sentinel was replaced by {how} and "
        f"filled {'one [MASK] at a time, most confident first' if iterative else 'in a single pass'}. "
        f"T5 is never told how long a span is; a seq2seq model such as {PROPER_MODELS} does this properly."
    )
    return Fill(
        method="masked LM (approximation)",
        model_name=lm.info.name,
        approximate=True,
        spans=fills,
        filled_text=_fill_input(corruption.input_text, predictions),
        target_text=target_text_of([predictions[sp.number] for sp in corruption.spans]),
        note=note,
    )


def parse_generated(
    ids: Sequence[int], sentinels: dict[int, int], stop_ids: Sequence[int] = ()
) -> dict[int, list[int]]:
    """Sentinel number → generated token ids after it (up to the next sentinel or a stop id)."""
    stop = set(int(s) for s in stop_ids)
    cut: list[int] = []
    for i in ids:
        if int(i) in stop:
            break
        cut.append(int(i))
    return split_target(cut, lambda i: sentinels.get(int(i)))


def _span_probs(kept: list[tuple[int, float]], sentinels: dict[int, int], stop: Sequence[int]) -> dict[int, list]:
    """Sentinel number → the probability of each token generated after it (as `parse_generated` splits)."""
    cut = []
    for i, p in kept:
        if i in set(stop):
            break
        cut.append((i, p))
    return {n: [p for _, p in items] for n, items in split_target(cut, lambda it: sentinels.get(it[0])).items()}


def fill_with_seq2seq(lm: LoadedModel, corruption: Corruption, *, max_new_tokens: int | None = None) -> Fill:
    """Fill the spans the way T5 was trained to: generate the target (greedy) and put it back."""
    import torch

    model, tok = lm.model, lm.tokenizer
    sentinels = sentinel_ids(tok)
    if len(sentinels) <= len(corruption.spans):
        raise ExplorerError(
            f"{lm.info.name} has no sentinel tokens (<extra_id_0>, …), so it cannot fill spans.",
            f"Use a T5 model such as {PROPER_MODELS}.",
        )
    enc = encode(tok, corruption.input_text, max_tokens=model_max_tokens(tok, model), what="sentence")
    budget = max_new_tokens or (2 * len(corruption.target_pieces) + 10)
    ids = torch.tensor([enc.ids])
    with torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=budget,
            do_sample=False,
            num_beams=1,
            return_dict_in_generate=True,
            output_scores=True,
        )
    generated = [int(i) for i in out.sequences[0].tolist()]
    lead = len(generated) - len(out.scores)  # a seq2seq model's decoder start token has no score
    probs = [1.0] * lead + [float(torch.softmax(s[0].float(), -1)[t]) for s, t in zip(out.scores, generated[lead:])]
    start = getattr(model.config, "decoder_start_token_id", None)
    if generated and start is not None and generated[0] == start:
        generated, probs = generated[1:], probs[1:]
    stop = [i for i in (tok.eos_token_id, getattr(model.config, "eos_token_id", None)) if isinstance(i, int)]
    pad = tok.pad_token_id
    kept = [(i, p) for i, p in zip(generated, probs) if i != pad or i in stop]
    spans_ids = parse_generated([i for i, _ in kept], sentinels, stop)
    spans_probs = _span_probs(kept, sentinels, stop)
    fills, predictions, missing = [], {}, []
    for sp in corruption.spans:
        span_ids = spans_ids.get(sp.number)
        if span_ids is None:
            missing.append(sp.sentinel)
            span_ids = []
        predicted = tok.decode(span_ids, skip_special_tokens=True).strip()
        predictions[sp.number] = predicted
        fills.append(
            SpanFill(sp.number, sp.text, predicted, display_pieces(tok, span_ids), spans_probs.get(sp.number, []))
        )
    target = tok.decode([i for i in generated if i != pad and i not in stop], skip_special_tokens=False)
    note = f"{lm.info.name} generated the target (greedy decoding); its spans were put back into the input."
    if missing:
        note += f" It produced nothing for {', '.join(missing)}."
    return Fill(
        method="seq2seq",
        model_name=lm.info.name,
        approximate=False,
        spans=fills,
        filled_text=_fill_input(corruption.input_text, predictions),
        target_text=target.strip(),
        note=note,
    )
