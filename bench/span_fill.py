"""Span corruption reconstructed: how many dropped spans each model writes back exactly.

    python -m bench.span_fill                       # the development and held-out sets
    python -m bench.span_fill --sets heldout --show

Each sentence is corrupted with T5's noise (density 0.15, mean span length 3, on SmolLM2's tokens) with
the seed of its line number. Three readers fill the spans:

- **span LM**: the offline span-corruption model (SmolLM2 as a prefix LM, `explorer.models.made.prefix_lm`)
  writes the target itself, greedy, as the Span corruption page does (`explorer.span.fill.fill_with_seq2seq`);
  it is never told how long a span is;
- **masked LM, told the lengths**: the page's earlier approximation (`fill_with_mlm`): each sentinel
  becomes as many ``<mask>`` as the span has tokens, filled most confident first;
- **causal LM, left only, told the lengths**: SmolLM2 continues the text before each span (earlier spans
  put back as they were) for as many tokens as the span has, greedy: no right-hand context.

A span counts as exact when its text matches (case and surrounding spaces aside); token accuracy compares
the span's tokens position by position. `bench/span_dev.tsv` is the development set (the build's
settings and steps were chosen on it); `bench/span_heldout.tsv` is only scored.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SETS = {
    "dev": (ROOT / "bench" / "span_dev.tsv", "development set: the build's settings and steps were chosen on it"),
    "heldout": (ROOT / "bench" / "span_heldout.tsv", "held out: never used to choose or tune anything"),
}
READERS = ("span LM", "masked LM, told the lengths", "causal LM, left only, told the lengths")
GOAL_EXACT = 0.6


def sentences(path: Path) -> list[str]:
    return [s for s in path.read_text(encoding="utf-8").splitlines() if s.strip() and not s.startswith("#")]


def left_only(clm, c) -> list[str]:
    """The causal LM's greedy continuation of the text before each span, as long as the span (in tokens)."""
    import torch

    tok, out = clm.tokenizer, []
    for sp in c.spans:
        before = c.text[: sp.char_start].rstrip()
        ids = tok(before, add_special_tokens=False).input_ids or [tok.bos_token_id or 0]
        with torch.no_grad():
            gen = clm.model.generate(
                input_ids=torch.tensor([ids]), max_new_tokens=len(sp.ids), do_sample=False, num_beams=1
            )
        out.append(tok.decode(gen[0, len(ids) :], skip_special_tokens=True).strip())
    return out


def score(pairs: list[tuple[str, str]], tok) -> dict:
    exact = sum(a.strip().lower() == b.strip().lower() for a, b in pairs)
    right = total = 0
    for want, have in pairs:
        w = tok(" " + want.strip(), add_special_tokens=False).input_ids
        h = tok(" " + have.strip(), add_special_tokens=False).input_ids
        total += len(w)
        right += sum(1 for a, b in zip(w, h) if a == b)
    return {"exact": exact / max(len(pairs), 1), "token_accuracy": right / max(total, 1), "spans": len(pairs)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="dev,heldout")
    ap.add_argument("--limit", type=int, default=0, help="first N sentences of each set (0: all)")
    ap.add_argument("--show", action="store_true", help="print every span and what each reader wrote")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    from bench.common import app_threads, machine
    from explorer import load
    from explorer.models.catalogue import SMOLLM2_SPAN
    from explorer.span import fill as span_fill
    from explorer.span.corruption import corrupt_spans

    app_threads()
    span_lm, mlm, clm = load("seq2seq", SMOLLM2_SPAN), load("mlm"), load("clm")
    out = {"machine": machine(), "span_lm": span_lm.info.name, "masked_lm": mlm.info.name, "causal_lm": clm.info.name}
    out["build"] = span_lm.extra.get("build", {})
    out["sets"] = {}
    for name in args.sets.split(","):
        path, role = SETS[name]
        items = sentences(path)[: args.limit or None]
        got = {r: [] for r in READERS}
        seconds = {r: 0.0 for r in READERS}
        for seed, text in enumerate(items):
            c = corrupt_spans(span_lm.tokenizer, text, seed=seed)
            originals = [sp.text for sp in c.spans]
            t = time.perf_counter()
            written = [f.predicted for f in span_fill.fill_with_seq2seq(span_lm, c).spans]
            seconds[READERS[0]] += time.perf_counter() - t
            t = time.perf_counter()
            masked = [f.predicted for f in span_fill.fill_with_mlm(mlm, c).spans]
            seconds[READERS[1]] += time.perf_counter() - t
            t = time.perf_counter()
            left = left_only(clm, c)
            seconds[READERS[2]] += time.perf_counter() - t
            for r, fills in zip(READERS, (written, masked, left)):
                got[r] += list(zip(originals, fills))
            if args.show:
                print(f"{seed:3d} {c.input_text}")
                for i, o in enumerate(originals):
                    print(f"      {o!r:24} span LM {written[i]!r:24} masked {masked[i]!r:24} left {left[i]!r}")
        rows = {
            r: {**score(got[r], span_lm.tokenizer), "s_per_sentence": seconds[r] / max(len(items), 1)} for r in READERS
        }
        out["sets"][name] = {"file": str(path.relative_to(ROOT)), "role": role, "n": len(items), "readers": rows}
        for r in READERS:
            x = rows[r]
            print(
                f"{name:8} {r:42} exact {x['exact']:.2f}  token accuracy {x['token_accuracy']:.2f}  "
                f"({x['spans']} spans, {x['s_per_sentence']:.2f} s a sentence)",
                flush=True,
            )
    out["goal_exact"] = GOAL_EXACT
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
