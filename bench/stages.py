"""The three stages on one model (Live training page): each stage's figures, with the lesson's default
settings (assets/examples/training.toml), on the development and the held-out prompts.

    .venv/bin/python -m bench.stages [--seeds 0,1,2] [--threads 1] [--json P]

For each seed, one tiny GPT is pretrained on the lesson's text, fine-tuned on Pip's pairs and aligned
with DPO, each stage to its default steps (as the page runs it: one torch thread), and measured after
each stage (`explorer.training.stage_figures`): held-out perplexity of the pretraining text; on the
prompts, the share of answers as Pip, in words, refused (harmful requests), answered (ordinary ones)
and answered right. Prompts: `assets/corpora/pip_probes.csv`, set ``dev`` (the settings were chosen
looking at these) and ``held-out`` (measured only with the chosen settings; the page shows these).
The page's seed is 0; seeds 1 and 2 show how much the figures move with the initialisation.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.common import machine, save_json  # noqa: E402


def run_seed(seed: int) -> dict:
    from explorer import training
    from explorer.training import stages
    from explorer.training.stage_figures import measure

    s = stages.lesson()
    pipe = stages.default_stages(seed=seed)
    dev = stages.measured_prompts(s, "dev")
    out: dict = {"seed": seed, "stages": {}}
    for stage in stages.STAGES:
        t0 = time.perf_counter()
        run = pipe.new_run(stage)
        pipe.runs[stage] = run
        training.train(run.trainer, run.target)
        seconds = time.perf_counter() - t0
        pipe.finish(stage)
        f_dev = measure(
            pipe.model_after(stage),
            pipe.text,
            dev,
            persona=s["persona"],
            seq_len=int(s["pretrain"]["seq_len"]),
            known=pipe.known,
        )
        out["stages"][stage] = {
            "seconds": seconds,
            "steps": run.step,
            "held-out": pipe.figures[stage].row(),
            "dev": f_dev.row(),
            "probes": dict(zip(pipe.probes, pipe.answers[stage])),
        }
    return out


def table(results: list[dict], split: str) -> list[str]:
    rows = [
        "| seed | stage | perplexity | as Pip | in words | harmful refused | ordinary answered | answered right |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for stage, f in r["stages"].items():
            x = f[split]
            rows.append(
                f"| {r['seed']} | {stage} | {x['held-out perplexity']:.2f} | {x['answers as Pip']:.0%} | "
                f"{x['answers in words']:.0%} | {x['harmful requests refused']:.0%} | "
                f"{x['ordinary questions answered']:.0%} | {x['answered right']:.0%} |"
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = [run_seed(int(s)) for s in args.seeds.split(",")]
    for split in ("held-out", "dev"):
        print(f"\n{split} prompts:\n" + "\n".join(table(results, split)))
    for r in results:
        secs = {k: round(v["seconds"], 1) for k, v in r["stages"].items()}
        print(f"\nseed {r['seed']}: seconds per stage {secs}, in all {sum(secs.values()):.0f} s")
    print(f"\n{machine()}; torch threads {args.threads}")
    if args.json:
        save_json(args.json, {"machine": machine(), "results": results})


if __name__ == "__main__":
    main()
