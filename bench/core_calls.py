"""Interaction cost of each page's core call against the plain transformers computation.

    python -m bench.core_calls [--repeat 30] [--mlm default|standin|tiny|ID] [--json FILE]

For each page, the explorer path (text in, what the page draws out: tokenization, the model, the
post-processing) is timed against the plain transformers code that computes the same figures on
the same model and input (tokenizer, forward pass, softmax/top-k). Both alternate in one run
(`bench.common.interleaved`), one torch thread as in the app; the ratio is of the medians (goal
<= 1.05). Cached calls (the process-wide forward caches) are timed with the caches cleared, and once
more with it warm.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import app_threads, interleaved, machine, median, save_json  # noqa: E402
from bench.fixtures import SENTENCE, SENTENCES, masked_lm, token_count  # noqa: E402

GOAL = 1.05
K = 10  # candidates shown, as on the pages
MASK_WORD = "beach"


def _topk_pieces(tokenizer, probs, k: int = K) -> list[str]:
    top = probs.topk(k)
    return tokenizer.convert_ids_to_tokens(top.indices.tolist())


def fill_mask_case(m) -> tuple[Callable, Callable]:
    import torch

    from explorer import mlm
    from explorer.forward_cache import clear_all as clear_cache

    model, tok = m.model, m.tokenizer
    pos = next(
        i for i, p in enumerate(mlm.encode_text(m, SENTENCE).pieces) if p.lstrip("␣").removeprefix("##") == MASK_WORD
    )

    def explorer():
        clear_cache()  # the model path, not the process-wide cache of predictions
        enc = mlm.encode_text(m, SENTENCE)
        return mlm.fill_mask(m, enc, [pos], k=K)

    def plain():
        ids = tok(SENTENCE, return_tensors="pt")["input_ids"]
        answer = int(ids[0, pos])
        ids[0, pos] = tok.mask_token_id
        with torch.inference_mode():
            logp = model(input_ids=ids).logits[0, pos].log_softmax(-1)
        return _topk_pieces(tok, logp), float(logp[answer])

    return explorer, plain


def next_token_case(c, cached: bool = False) -> tuple[Callable, Callable]:
    import torch

    from explorer import clm

    model, tok = c.model, c.tokenizer

    def explorer():
        if not cached:
            clm.clear_cache()
        prompt = clm.build_prompt(tok, SENTENCE)
        return clm.next_token_distribution(c, prompt.ids, top_n=K)

    def plain():
        ids = tok(SENTENCE, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            probs = model(input_ids=ids).logits[0, -1].softmax(-1)
        return _topk_pieces(tok, probs)

    return explorer, plain


def teacher_forcing_case(c) -> tuple[Callable, Callable]:
    import torch

    from explorer import clm
    from explorer.tokens import encode

    model, tok = c.model, c.tokenizer

    def explorer():
        clm.clear_cache()
        return clm.teacher_forcing(c, encode(tok, SENTENCE, max_tokens=clm.PROMPT_LIMIT))

    def plain():
        ids = tok(SENTENCE, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            logp = model(input_ids=ids).logits[0, :-1].log_softmax(-1)
        lp = logp.gather(1, ids[0, 1:, None])[:, 0]
        ranks = (logp > lp[:, None]).sum(-1) + 1
        best = logp.max(-1)
        entropy = -(logp.exp() * logp).sum(-1) / math.log(2)
        return tok.convert_ids_to_tokens(ids[0].tolist()), lp.exp(), ranks, best, entropy

    return explorer, plain


def compare_cases(m, c) -> dict[str, tuple[Callable, Callable]]:
    """The compare page per click (prepare, the hidden word both ways, every word, the attention
    masks), and each of its parts. The page predicts the hidden word in whole words (1-3 pieces each
    way, each piece read with the later ones hidden, times the probability that the word ends there);
    the plain side reads its first piece only, so that row is no like-for-like ratio: it shows what whole
    words cost over the one-pass readout."""
    import torch

    from explorer import clm
    from explorer.comparisons import masked_vs_causal as compare
    from explorer.comparisons import masks

    mtok, ctok = m.tokenizer, c.tokenizer
    comp = compare.prepare(m, c, SENTENCE)
    index = next(w.index for w in comp.words if w.text == MASK_WORD)
    words = [w.index for w in comp.words]
    mpos = {w: [p for p, x in enumerate(comp.mlm_map) if x == w] for w in words}
    cpos = {w: [p for p, x in enumerate(comp.clm_map) if x == w] for w in words}
    start = clm.start_token_id(ctok)
    mask_id = mtok.mask_token_id
    n_mask = compare_page_mask_tokens()

    def ex_word():
        clm.clear_cache()
        return compare.predict_word(comp, m, c, index, k=K)

    def ex_every():
        clm.clear_cache()
        return compare.score_words(comp, m, c)

    def ex_masks():
        return (
            masks.attention_pattern(m, comp.mlm_enc.ids[:n_mask]),
            masks.attention_pattern(c, comp.clm_ids[:n_mask]),
        )

    def ex_click():
        clm.clear_cache()
        cp = compare.prepare(m, c, SENTENCE)
        return (
            compare.predict_word(cp, m, c, index, k=K),
            compare.score_words(cp, m, c),
            masks.attention_pattern(m, cp.mlm_enc.ids[:n_mask]),
            masks.attention_pattern(c, cp.clm_ids[:n_mask]),
        )

    def pl_ids():
        m_ids = mtok(SENTENCE, return_tensors="pt")["input_ids"]
        c_ids = torch.tensor([[start] + ctok(SENTENCE, add_special_tokens=False)["input_ids"]])
        return m_ids, c_ids

    def pl_mlm_word(m_ids):
        x = m_ids.clone()
        x[0, mpos[index]] = mask_id
        logp = m.model(input_ids=x).logits[0, mpos[index]].log_softmax(-1)
        return _topk_pieces(mtok, logp[0]), float(logp.gather(1, m_ids[0, mpos[index], None]).sum())

    def pl_clm_all(c_ids):
        logp = c.model(input_ids=c_ids).logits[0].log_softmax(-1)
        first = cpos[index][0] - 1
        target = c_ids[0, 1:]
        lp = logp[:-1].gather(1, target[:, None])[:, 0]
        return _topk_pieces(ctok, logp[first]), {w: float(lp[[p - 1 for p in cpos[w]]].sum()) for w in words}

    def pl_mlm_every(m_ids):
        # each word's pieces hidden and read left to right (one row per piece, later pieces still hidden)
        rows = [(w, j) for w in words for j in range(len(mpos[w]))]
        batch = m_ids.repeat(len(rows), 1)
        for row, (w, j) in enumerate(rows):
            batch[row, mpos[w][j:]] = mask_id
        logits = m.model(input_ids=batch).logits
        out = dict.fromkeys(words, 0.0)
        for row, (w, j) in enumerate(rows):
            p = mpos[w][j]
            out[w] += float(logits[row, p].log_softmax(-1)[m_ids[0, p]])
        return out

    def pl_masks(m_ids, c_ids):
        a = m.model(input_ids=m_ids[:, :n_mask], output_attentions=True).attentions[0]
        b = c.model(input_ids=c_ids[:, :n_mask], output_attentions=True).attentions[0]
        return (a[0].amax(0) > 0).numpy(), (b[0].amax(0) > 0).numpy()

    def pl_word():
        m_ids, c_ids = pl_ids()
        with torch.inference_mode():
            return pl_mlm_word(m_ids), pl_clm_all(c_ids)

    def pl_every():
        m_ids, c_ids = pl_ids()
        with torch.inference_mode():
            return pl_mlm_every(m_ids), pl_clm_all(c_ids)

    def pl_mask_only():
        with torch.inference_mode():
            return pl_masks(*pl_ids())

    def pl_click():
        m_ids, c_ids = pl_ids()
        with torch.inference_mode():
            return pl_mlm_word(m_ids), pl_clm_all(c_ids), pl_mlm_every(m_ids), pl_masks(m_ids, c_ids)

    return {
        "compare page, one click (all of the below; whole words)": (ex_click, pl_click),
        "compare: the hidden word, both models (whole words; plain: first piece)": (ex_word, pl_word),
        "compare: every word, both models": (ex_every, pl_every),
        "compare: attention masks (layer 1)": (ex_masks, pl_mask_only),
    }


def compare_page_mask_tokens() -> int:
    """How many tokens the compare page's attention-mask matrices use."""
    import ast

    tree = ast.parse((ROOT / "pages" / "compare.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "MAX_MASK_TOKENS" for t in node.targets):
            return int(ast.literal_eval(node.value))
    return 24


def attention_case(c) -> tuple[Callable, Callable]:
    import numpy as np
    import torch

    from explorer.inside import attention

    model, tok = c.model, c.tokenizer

    def explorer():
        return attention.get_attentions(c, SENTENCE, max_tokens=64)

    def plain():
        ids = tok(SENTENCE, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            out = model(input_ids=ids, output_attentions=True)
        return np.stack([a[0].float().numpy() for a in out.attentions]), tok.convert_ids_to_tokens(ids[0].tolist())

    return explorer, plain


def embeddings_case(e) -> tuple[Callable, Callable]:
    import torch

    from explorer import contrastive

    model, tok = e.model, e.tokenizer

    def explorer():
        return contrastive.embed(e, SENTENCES)

    def plain():
        batch = tok(SENTENCES, padding=True, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"][..., None].float()
        vec = (hidden * mask).sum(1) / mask.sum(1)
        return torch.nn.functional.normalize(vec, dim=1).numpy()

    return explorer, plain


def measure(cases: dict[str, tuple[Callable, Callable]], repeat: int, warmup: int = 2) -> list[dict]:
    rows = []
    for name, (explorer, plain) in cases.items():
        t = interleaved({"explorer": explorer, "plain": plain}, repeat=repeat, warmup=warmup)
        ex, pl = median(t["explorer"]), median(t["plain"])
        row = {
            "name": name,
            "explorer_ms": ex * 1000,
            "plain_ms": pl * 1000,
            "ratio": ex / pl,
            "ratio_best": min(t["explorer"]) / min(t["plain"]),
            "goal": GOAL,
            "repeat": repeat,
        }
        rows.append(row)
        print(format_row(row), flush=True)
    return rows


def format_row(row: dict) -> str:
    mark = "ok" if row["ratio"] <= row["goal"] else "over"
    return (
        f"  {row['name']:<46} explorer {row['explorer_ms']:8.2f} ms   plain {row['plain_ms']:8.2f} ms   "
        f"ratio {row['ratio']:.2f} (best-of {row['ratio_best']:.2f}; goal <= {row['goal']:.2f}: {mark})"
    )


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30, help="timed calls of each function (interleaved)")
    ap.add_argument("--mlm", default="default", help="masked LM: default, standin, tiny, or an id/folder")
    ap.add_argument("--only", default="", help="comma-separated substrings: time only the matching calls")
    ap.add_argument("--json", type=Path, help="write the results to this file")
    args = ap.parse_args(argv)
    app_threads()

    from explorer import load

    m = masked_lm(args.mlm)
    c, e = load("clm"), load("encoder")
    print(f"Machine: {machine()}")
    print(f"Models: masked LM {m.lm.info.name} [{m.label}], causal LM {c.info.name}, encoder {e.info.name}")
    print(
        f"Input: {SENTENCE!r} ({token_count(m.lm.tokenizer)} masked-LM tokens, "
        f"{token_count(c.tokenizer)} causal-LM tokens); {args.repeat} interleaved calls each, median"
    )
    cases: dict[str, tuple[Callable, Callable]] = {
        "fill-mask (masked LM page)": fill_mask_case(m.lm),
        "next-token distribution (causal LM page)": next_token_case(c),
        "next-token distribution, cached forward": next_token_case(c, cached=True),
        "teacher-forcing strip (causal LM page)": teacher_forcing_case(c),
        **compare_cases(m.lm, c),
        "attention, all layers (inside the model)": attention_case(c),
        "embeddings, 6 sentences (contrastive page)": embeddings_case(e),
    }
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        cases = {k: v for k, v in cases.items() if any(w in k for w in wanted)}
    rows = measure(cases, args.repeat)
    result = {
        "machine": machine(),
        "mlm": m.label,
        "mlm_name": m.lm.info.name,
        "clm": c.info.name,
        "encoder": e.info.name,
        "input": SENTENCE,
        "mlm_tokens": token_count(m.lm.tokenizer),
        "clm_tokens": token_count(c.tokenizer),
        "rows": rows,
    }
    save_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
