"""Server memory with the offline models loaded: the masked LM made from SmolLM2 against the MiniLM-MLM.

    python -m bench.memory [--json FILE]

Each configuration loads its models in a fresh process (the roles a server holds: causal LM, sentence
encoder, masked LM), runs one prediction of each, and reports the process's resident memory (RSS, from
/proc/self/status) and its proportional share (PSS, /proc/self/smaps_rollup). The SmolLM2 masked LM
shares every tensor of the causal LM, so it should cost only its low-rank updates.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CONFIGS = {
    "causal LM + encoder (no masked LM)": [],
    "+ MiniLM-MLM (the earlier default)": ["ssl-explorer-minilm-mlm"],
    "+ SmolLM2-MLM (the default)": ["ssl-explorer-smollm2-mlm"],
    "+ both masked LMs": ["ssl-explorer-minilm-mlm", "ssl-explorer-smollm2-mlm"],
    "+ SmolLM2-MLM + SmolLM2-Span (the three offline LMs on one SmolLM2)": [
        "ssl-explorer-smollm2-mlm",
        "ssl-explorer-smollm2-span",
    ],
}
SPAN_GOAL_MB = 80  # the span model over the causal LM and the masked LM


def _kb(field: str, path: str) -> int:
    for line in Path(path).read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def measure(mlm_ids: list[str]) -> dict:
    """In this process: load the models, predict once with each, return RSS and PSS in MB."""
    import torch

    from explorer import clm, load, mlm
    from explorer.contrastive.embeddings import embed

    torch.set_num_threads(1)
    c, e = load("clm"), load("encoder")
    clm.next_token_distribution(c, clm.build_prompt(c.tokenizer, "The capital of France is").ids)
    embed(e, ["A sentence."])
    for model_id in mlm_ids:
        if model_id == "ssl-explorer-smollm2-span":
            from explorer import span

            s = load("seq2seq", model_id)
            span.fill_with_seq2seq(s, span.corrupt_spans(s.tokenizer, "Paris is the capital of France.", seed=0))
            continue
        m = load("mlm", model_id)
        mlm.fill_mask(m, mlm.encode_text(m, "Paris is the [MASK] of France."), [])
    return {"rss_mb": _kb("VmRSS", "/proc/self/status") / 1024, "pss_mb": _kb("Pss", "/proc/self/smaps_rollup") / 1024}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--one", help=argparse.SUPPRESS)  # a child process: comma-separated masked-LM ids
    args = ap.parse_args(argv)
    if args.one is not None:
        print(json.dumps(measure([m for m in args.one.split(",") if m])))
        return 0
    rows = {}
    for name, ids in CONFIGS.items():
        out = subprocess.run(
            [sys.executable, "-m", "bench.memory", "--one", ",".join(ids)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rows[name] = json.loads(out.strip().splitlines()[-1])
        print(f"{name}: RSS {rows[name]['rss_mb']:.0f} MB, PSS {rows[name]['pss_mb']:.0f} MB", flush=True)
    base = rows["+ MiniLM-MLM (the earlier default)"]["rss_mb"]
    delta = rows["+ SmolLM2-MLM (the default)"]["rss_mb"] - base
    print(f"SmolLM2-MLM default vs MiniLM-MLM default: {delta:+.0f} MB of RSS", flush=True)
    three = next(v for k, v in rows.items() if "three offline LMs" in k)
    span_mb = three["rss_mb"] - rows["+ SmolLM2-MLM (the default)"]["rss_mb"]
    print(
        f"The span model over the causal LM and the masked LM: {span_mb:+.0f} MB (goal <= {SPAN_GOAL_MB})", flush=True
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        result = {"rows": rows, "delta_vs_old_default_mb": delta, "span_over_two_mb": span_mb}
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
