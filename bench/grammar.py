"""Grammaticality benchmark: BLiMP-style minimal pairs scored by the models' own likelihoods.

    python -m bench.grammar                       # the offline masked LMs and the causal LM, side by side
    python -m bench.grammar --mlm bert-base-uncased --clm gpt2

`bench/minimal_pairs.tsv` holds 240 pairs written for the project (16 paradigms x 15; the published
BLiMP data is not available offline). A pair counts as right when the grammatical sentence scores
higher: a masked LM by its pseudo-log-likelihood (each token masked in turn, `explorer.mlm`), a
causal LM by its log-likelihood (the chain rule from the start token, `explorer.clm`).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import with_float32_products  # noqa: E402

PAIRS = Path(__file__).resolve().parent / "minimal_pairs.tsv"


@dataclass(frozen=True)
class Pair:
    paradigm: str
    good: str
    bad: str


def load_pairs(path: Path = PAIRS) -> list[Pair]:
    out = []
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            paradigm, good, bad = line.split("\t")
            out.append(Pair(paradigm, good, bad))
    return out


def mlm_score(lm, sentence: str) -> float:
    """Pseudo-log-likelihood of a sentence under a masked LM (nats)."""
    from explorer import mlm

    return mlm.pseudo_log_likelihood(lm, mlm.encode_text(lm, sentence)).total


def clm_score(lm, sentence: str) -> float:
    """Log-likelihood of a sentence under a causal LM, every token predicted from those before it (nats)."""
    from explorer import clm
    from explorer.tokens import encode

    ids = encode(lm.tokenizer, sentence, add_special_tokens=False).ids
    start = clm.start_token_id(lm.tokenizer)
    return float(clm.target_log_probs(lm, ([start] if start is not None else []) + list(ids)).sum())


def evaluate(score, pairs: list[Pair]) -> dict:
    rows = [{"paradigm": p.paradigm, "right": score(p.good) > score(p.bad)} for p in pairs]
    by = {}
    for r in rows:
        by.setdefault(r["paradigm"], []).append(r["right"])
    return {
        "accuracy": sum(r["right"] for r in rows) / len(rows),
        "n": len(rows),
        "by_paradigm": {k: sum(v) / len(v) for k, v in sorted(by.items())},
    }


def format_table(results: dict[str, dict]) -> str:
    names = list(results)
    lines = ["| paradigm | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    paradigms = list(next(iter(results.values()))["by_paradigm"])
    for p in paradigms:
        lines.append(f"| {p} | " + " | ".join(f"{results[n]['by_paradigm'][p]:.2f}" for n in names) + " |")
    lines.append("| **all** | " + " | ".join(f"**{results[n]['accuracy']:.3f}**" for n in names) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from explorer import ModelUnavailable, load
    from explorer.models.catalogue import DEFAULTS, PROJECT_MLM

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mlm", nargs="*", default=None, help="masked-LM ids (default: the offline ones)")
    ap.add_argument("--clm", nargs="*", default=None, help="causal-LM ids (default: the offline one)")
    ap.add_argument("--limit", type=int, default=0, help="the first N pairs only (a smoke run)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    pairs = load_pairs()[: args.limit or None]
    results: dict[str, dict] = {}
    for role, ids, score in (
        ("mlm", args.mlm or [DEFAULTS["mlm"], PROJECT_MLM], mlm_score),
        ("clm", args.clm or [DEFAULTS["clm"]], clm_score),
    ):
        for model_id in ids:
            try:
                lm, exact = with_float32_products(lambda: load(role, model_id))
            except ModelUnavailable as exc:
                print(f"{model_id}: not available ({exc})")
                continue
            for label, one in ((model_id, lm), (f"{model_id}, float32 products", exact)):
                if one is None:
                    continue
                res = evaluate(lambda s, lm=one: score(lm, s), pairs)
                results[f"{label} ({'PLL' if role == 'mlm' else 'log-likelihood'})"] = res
                print(f"{label}: {res['accuracy']:.3f} ({res['n']} pairs)", flush=True)
    table = format_table(results) if results else ""
    print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"models": results, "table": table, "n": len(pairs)}, indent=1))
    return 0 if results else 1


if __name__ == "__main__":
    raise SystemExit(main())
