"""Pseudo-log-likelihood ("Surprise per token") with the vocabulary head applied only at the scored
positions, against the same computation with the head over every position (the plain forward pass).

    python -m bench.pll_head [--model ssl-explorer-minilm-mlm] [--tokens 128] [--repeat 3]

Both alternate in one run on one torch thread (as in the app); the ratio is of the medians. The two
totals must agree (same numbers, less work).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import app_threads, interleaved, machine, median  # noqa: E402

TEXT = "The quick brown fox jumps over the lazy dog near the river bank while the sun sets slowly. "


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ssl-explorer-minilm-mlm")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    app_threads()
    import explorer
    from explorer import mlm
    from explorer.mlm import predictions as mlm_predictions

    lm = explorer.load("mlm", args.model)
    enc = mlm.encode_text(lm, TEXT * 20, max_tokens=args.tokens)
    head_at = mlm_predictions.encoder_and_head
    totals = {}

    def run(name: str, parts):
        def fn():
            mlm_predictions.encoder_and_head = parts
            try:
                totals[name] = mlm.pseudo_log_likelihood(lm, enc).total
            finally:
                mlm_predictions.encoder_and_head = head_at

        return fn

    times = interleaved(
        {
            "head at the scored positions": run("positions", head_at),
            "head everywhere (plain forward)": run("everywhere", lambda m: None),
        },
        repeat=args.repeat,
        warmup=1,
    )
    print(f"{machine()}; {lm.info.name}, {len(enc.ids)} tokens, {len(enc.content_positions)} scored")
    for name, ts in times.items():
        print(f"  {name:34s} median {median(ts):6.2f} s")
    a, b = (median(ts) for ts in times.values())
    print(f"  ratio {b / a:.2f}x; totals {totals['positions']:.4f} vs {totals['everywhere']:.4f}")


if __name__ == "__main__":
    main()
