"""The Masked vs causal page's readout on sentences written for it: is the hidden word recovered?

    python -m bench.hidden_word                    # the development and held-out sets
    python -m bench.hidden_word --sets heldout --show

Each sentence hides one word that the words to its RIGHT decide. The page's own function
(`explorer.comparisons.masked_vs_causal.predict_word`: whole words on both sides) is called, and two rates are counted:

- **masked top-1**: the masked LM's top word is the hidden word (the page says "Recovered");
- **masked above causal**: the hidden word ranks higher on the masked side than on the causal side
  (at equal ranks, a higher probability; where a side ranks it below every word it found, its rank is
  unknown and the word's probability on each side decides).

`bench/compare_dev.tsv` is the development set: the whole-word settings (beam, pieces, the word's end)
were chosen on it. `bench/compare_heldout.tsv` was written at the same time and is only scored.
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
    "dev": (ROOT / "bench" / "compare_dev.tsv", "development set: the whole-word settings were chosen on it"),
    "heldout": (ROOT / "bench" / "compare_heldout.tsv", "held out: never used to choose or tune anything"),
}
GOALS = {"masked_top1": 0.80, "masked_above_causal": 0.90}


def load_items(path: Path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            sentence, word = line.split("\t")
            out.append((sentence, word))
    return out


def evaluate(mlm_lm, clm_lm, items: list[tuple[str, str]], show: bool = False) -> dict:
    from explorer.comparisons import masked_vs_causal as compare
    from explorer.comparisons.sentence import word_index

    rows = []
    started = time.perf_counter()
    for sentence, word in items:
        comp = compare.prepare(mlm_lm, clm_lm, sentence)
        left, right = compare.predict_word(comp, mlm_lm, clm_lm, word_index(comp.text, word), k=8)
        m_rank, c_rank = left.words.answer_rank, right.words.answer_rank
        if m_rank and c_rank:
            above = m_rank < c_rank or (m_rank == c_rank and left.word_prob > right.word_prob)
        else:  # a rank below every word found is unknown: the word's probability on each side decides
            above = left.word_prob > right.word_prob
        rows.append(
            {
                "sentence": sentence,
                "word": word,
                "pieces": left.n_pieces,
                "masked_rank": left.words.answer_rank,
                "causal_rank": right.words.answer_rank,
                "masked_top": left.words.candidates[0].word,
                "causal_top": right.words.candidates[0].word,
                "masked_top1": bool(left.recovered),
                "above": bool(above),
            }
        )
        if show:
            r = rows[-1]
            print(
                f"  {'+' if r['masked_top1'] else '-'}{'>' if above else ' '} {word:12s} masked #{r['masked_rank']} "
                f"(top {r['masked_top']}), causal #{r['causal_rank']} (top {r['causal_top']})",
                flush=True,
            )
    n = len(rows)
    multi = [r for r in rows if r["pieces"] > 1]
    return {
        "n": n,
        "masked_top1": sum(r["masked_top1"] for r in rows) / n,
        "masked_above_causal": sum(r["above"] for r in rows) / n,
        "causal_top1": sum(r["causal_rank"] == 1 for r in rows) / n,
        "multi_piece": {
            "n": len(multi),
            "masked_top1": sum(r["masked_top1"] for r in multi) / len(multi) if multi else None,
        },
        "seconds_per_sentence": (time.perf_counter() - started) / n,
        "items": rows,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default=",".join(SETS), help="comma-separated: " + ", ".join(SETS))
    ap.add_argument("--limit", type=int, default=0, help="first N sentences of each set only (a smoke run)")
    ap.add_argument("--show", action="store_true", help="print each sentence's outcome")
    ap.add_argument("--json", type=Path, help="write the results to this file")
    args = ap.parse_args(argv)
    import torch

    from explorer import load

    torch.set_num_threads(1)
    mlm_lm, clm_lm = load("mlm"), load("clm")
    results: dict = {"masked_lm": mlm_lm.info.name, "causal_lm": clm_lm.info.name, "goals": GOALS, "sets": {}}
    for name in [s for s in args.sets.split(",") if s]:
        path, role = SETS[name]
        items = load_items(path)[: args.limit or None]
        print(f"{name}: {len(items)} sentences ({role})", flush=True)
        res = evaluate(mlm_lm, clm_lm, items, show=args.show)
        res.update(file=str(path.relative_to(ROOT)), role=role)
        results["sets"][name] = res
        print(
            f"{name}: masked top-1 {res['masked_top1']:.2f}, masked above causal {res['masked_above_causal']:.2f}, "
            f"causal top-1 {res['causal_top1']:.2f} ({res['seconds_per_sentence']:.1f} s a sentence)",
            flush=True,
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
