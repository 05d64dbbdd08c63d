"""Alignment benchmarks: how fast DPO on the bundled preference pairs moves held-out preference
accuracy from chance, and the Alignment page's DPO loop against the same loop with no UI.

    .venv/bin/python -m bench.alignment [--seconds 180] [--threads 2] [--dev] [--speed-rounds 3]

Accuracy: the page's own settings (`training.plan("dpo")` for SmolLM2: the top 4 blocks learn, β 0.1),
seeded, on the split the page makes (seed 0: 80% of the pairs to train on, 20% held out, never
trained on). Held-out accuracy is the share of held-out pairs whose chosen answer gets the higher
implicit reward (a tie counts half, so it starts at 0.5). With `--dev` the held-out pairs are left out
altogether and the training pairs are split again (the development split the settings were chosen
on); the report gives the held-out figure.

Speed: the DPO tab of the page through AppTest (the whole page rerun every REDRAW_SECONDS while the
run trains in its thread, as a browser's timer reruns its live view) against `training.train` on
the same run with no UI; each measurement in a fresh process, alternating; the median ratio.
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

import torch  # noqa: E402

from bench.common import machine, save_json  # noqa: E402
from bench.page_speed import alignment_page_loop, page_against_plain  # noqa: E402


def bundled_pairs(dev: bool):
    """The bundled preference pairs, or with `dev` the training pairs of the page's split (seed 0) alone."""
    from explorer.training import pair_scores, preferences

    pairs = preferences.bundled_pairs()
    if not dev:
        return pairs
    train, _ = pair_scores.split_pairs(len(pairs), 0.2, 0)
    return [pairs[i] for i in train]


def accuracy_run(
    seconds: float,
    threads: int,
    dev: bool,
    steps: int | None = None,
    lr: float | None = None,
    beta: float = 0.1,
    layers: str | None = None,
) -> dict:
    """Train DPO until `seconds` have passed (or the plan's steps are done); held-out accuracy over time."""
    import explorer
    from explorer import training
    from explorer.training.alignment_runs import dpo_run

    torch.set_num_threads(threads)
    lm = explorer.load("clm")
    p = training.plan(
        "dpo",
        steps=steps or training.AUTO,
        lr=lr or training.AUTO,
        layers=layers or training.AUTO,
        n_params=lm.info.params,
    )
    t0 = time.perf_counter()
    run = dpo_run(lm, bundled_pairs(dev), p, beta=beta, seed=0)
    trainer = run.trainer
    trainer.eval_every = 10
    setup = time.perf_counter() - t0
    curve = [(0.0, 0, trainer.history[0]["accuracy"], trainer.history[0]["train_accuracy"])]
    t0 = time.perf_counter()
    while trainer.step_count < p.steps and time.perf_counter() - t0 < seconds:
        rec = trainer.step()
        if "accuracy" in rec:
            curve.append((time.perf_counter() - t0, rec["step"], rec["accuracy"], rec["train_accuracy"]))
    reached = next((t for t, _, acc, _ in curve if acc >= 0.8), None)
    return {
        "pairs": len(trainer.task.pairs),
        "train_pairs": len(trainer.task.train_idx),
        "held_out_pairs": len(trainer.task.test_idx),
        "split": "dev" if dev else "held-out",
        "plan": {"steps": p.steps, "lr": p.lr, "batch": p.batch, "layers": p.layers, "beta": beta},
        "setup_seconds": setup,
        "steps": trainer.step_count,
        "seconds": time.perf_counter() - t0,
        "start_accuracy": curve[0][2],
        "final_accuracy": curve[-1][2],
        "best_accuracy": max(c[2] for c in curve),
        "final_train_accuracy": curve[-1][3],
        "seconds_to_0.8": reached,
        "curve": curve,
    }


def page_loop(steps: int) -> tuple[float, float]:
    return alignment_page_loop("Train with DPO", {"align_steps": steps}, "align_dpo_start", "align_dpo_run", steps)


def plain_loop(steps: int) -> tuple[float, float]:
    import explorer
    from explorer import training
    from explorer.training import preferences
    from explorer.training.alignment_runs import dpo_run

    lm = explorer.load("clm")
    p = training.plan("dpo", steps=steps, n_params=lm.info.params)
    probes = preferences.dpo_defaults()["probes"]
    run = dpo_run(lm, preferences.bundled_pairs(), p, beta=0.1, seed=0, probes=probes)
    t0, c0 = time.perf_counter(), time.process_time()
    training.train(run.trainer, steps)
    return steps / (time.perf_counter() - t0), steps / (time.process_time() - c0)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dev", action="store_true", help="the development split (training pairs only)")
    ap.add_argument("--lr", type=float)
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--layers")
    ap.add_argument("--speed-rounds", type=int, default=3)
    ap.add_argument("--speed-steps", type=int, default=20, help="one of the page's step choices")
    ap.add_argument("--only", choices=["page", "plain"], help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if args.only:
        torch.set_num_threads(1)  # as the page's training thread
        print(json.dumps(page_loop(args.speed_steps) if args.only == "page" else plain_loop(args.speed_steps)))
        return {}
    result = {"machine": machine()}
    acc = accuracy_run(args.seconds, args.threads, args.dev, lr=args.lr, beta=args.beta, layers=args.layers)
    result["accuracy"] = acc
    print(
        f"{machine()}; DPO of SmolLM2 on the bundled pairs ({acc['train_pairs']} train, {acc['held_out_pairs']} "
        f"{acc['split']}), {args.threads} threads, plan {acc['plan']}"
    )
    for t, step, a, ta in acc["curve"]:
        print(f"  {t:6.1f} s  step {step:4d}  {acc['split']} accuracy {a:.2f}  train accuracy {ta:.2f}")
    print(
        f"  setup {acc['setup_seconds']:.1f} s; {acc['split']} accuracy {acc['start_accuracy']:.2f} -> "
        f"{acc['final_accuracy']:.2f} in {acc['seconds']:.0f} s ({acc['steps']} steps); reached 0.8 at "
        f"{'never' if acc['seconds_to_0.8'] is None else format(acc['seconds_to_0.8'], '.0f') + ' s'} (goal: within 180 s)"
    )
    if args.speed_rounds:
        result["speed"] = sp = page_against_plain("bench.alignment", args.speed_rounds, args.speed_steps)
        print(
            f"  page / plain DPO loop, median of {sp['rounds']}: {sp['ratio_wall']:.2f} wall, "
            f"{sp['ratio_cpu']:.2f} CPU (goal >= 0.90)"
        )
    save_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
