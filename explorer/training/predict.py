"""What a (trained) model says: fill-ins, next tokens, continuations and replies for probes."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch.nn import Module

from explorer.errors import ExplorerError
from explorer.mlm.input import encode_for_masking, typed_masks
from explorer.mlm.predictions import fill_mask as mlm_fill_mask
from explorer.models.loaded import LoadedModel, describe, model_parts
from explorer.tokens import clean_text, display_piece, encode, max_positions
from explorer.training.limits import MASK, MAX_FIELD_CHARS, MAX_SEQ_LEN
from explorer.training.loop import eval_mode
from explorer.training.sft import chat_prompt_ids


def _logits(model: Module, ids: list[int]) -> torch.Tensor:
    with eval_mode(model), torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0]


def _top(tokenizer: Any, logits: torch.Tensor, k: int) -> list[tuple[str, float]]:
    probs = torch.softmax(logits.float(), dim=-1)
    p, i = probs.topk(k)
    return [(display_piece(tokenizer, int(t)), float(v)) for t, v in zip(i, p)]


def trained(model: Module, tokenizer: Any, name: str = "the model in training") -> LoadedModel:
    """A `LoadedModel` for a model a run trains (its private copy, or a new one), so that the helpers
    below take a model the one way the core takes one."""
    return LoadedModel(
        model, tokenizer, describe(model, tokenizer, model_id=name, role="training", name=name, source="training run")
    )


def fill_mask(lm: LoadedModel, sentence: str, k: int = 5) -> list[tuple[str, float]]:
    """Top-k fillers (piece, probability) for the first [MASK] of a probe sentence: the masked-LM page's
    fill-mask (`explorer.mlm.fill_mask`, every typed mask predicted in one pass), with dropout off."""
    model, tokenizer = model_parts(lm)
    if MASK not in sentence:
        raise ExplorerError(
            f"The probe '{sentence[:60]}' has no {MASK}.", f"Write {MASK} where a word should be filled in."
        )
    enc = encode_for_masking(tokenizer, sentence, max_tokens=MAX_SEQ_LEN, what="probe sentence")
    if not typed_masks(enc, tokenizer):
        raise ExplorerError(f"The {MASK} of '{sentence[:60]}' was cut off by the length limit.", "Shorten the probe.")
    with eval_mode(model):
        first = mlm_fill_mask(lm, enc, k=k).predictions[0]
    return list(zip(first.top_pieces, first.top_probs))


def next_tokens(lm: LoadedModel, prompt: str, k: int = 5) -> list[tuple[str, float]]:
    model, tokenizer = model_parts(lm)
    enc = encode(tokenizer, prompt, max_tokens=MAX_SEQ_LEN, what="prompt")
    return _top(tokenizer, _logits(model, enc.ids)[-1], k)


def generate(
    lm: LoadedModel,
    ids: list[int],
    *,
    max_new_tokens: int = 30,
    temperature: float = 0.0,
    seed: int = 0,
    stop_ids: Sequence[int] = (),
) -> str:
    """Continue `ids` (greedy at temperature 0, else sampled from a seeded generator); returns the new text."""
    model, tokenizer = model_parts(lm)
    gen = torch.Generator().manual_seed(seed)
    limit = max_positions(model, tokenizer)
    out: list[int] = []
    past = None
    step_ids = torch.tensor([ids[-limit:]])
    with eval_mode(model), torch.no_grad():
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


def continuation(
    lm: LoadedModel, prompt: str, *, max_new_tokens: int = 20, temperature: float = 0.0, seed: int = 0
) -> str:
    tokenizer = model_parts(lm)[1]
    enc = encode(tokenizer, prompt, max_tokens=MAX_SEQ_LEN, what="prompt")
    return generate(
        lm,
        enc.ids,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        seed=seed,
        stop_ids=[t for t in (tokenizer.eos_token_id,) if t is not None],
    )


def reply(lm: LoadedModel, prompt: str, max_new_tokens: int = 40) -> str:
    """The model's (greedy) answer to a chat prompt."""
    tokenizer = model_parts(lm)[1]
    prompt = clean_text(prompt, max_chars=MAX_FIELD_CHARS, what="prompt")
    stops = [t for t in (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")) if isinstance(t, int)]
    return generate(lm, chat_prompt_ids(tokenizer, prompt), max_new_tokens=max_new_tokens, stop_ids=stops).strip()


def probe_outputs(
    lm: LoadedModel, probes: Sequence[str], objective: str, *, sample: bool = False, seed: int = 0
) -> list[dict]:
    """What a model says for each probe: fill-ins (mlm), or next words and a continuation (clm)."""
    rows = []
    for p in probes:
        if objective == "mlm":
            rows.append({"probe": p, "output": _fmt_top(fill_mask(lm, p))})
        else:
            rows.append(
                {
                    "probe": p,
                    "next": _fmt_top(next_tokens(lm, p)),
                    "output": continuation(lm, p, temperature=0.8 if sample else 0.0, seed=seed),
                }
            )
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
