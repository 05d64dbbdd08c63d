"""Vision benchmarks: how fast the tiny ViT-MAE learns to fill in hidden digit patches, and how well a
linear probe reads digits from a SimCLR encoder trained for at most two minutes.

    .venv/bin/python -m bench.vision [--threads 2] [--mae-seconds 60] [--simclr-seconds 120] [--clip-seconds 120]
                                     [--dev] [--only mae|simclr|clip] [--json P]

Both trainings are the page's own runs (`explorer.vision.mae_run` / `simclr_run` with `vision_plan`'s
defaults, seed 0, the steps raised to the limit so that the clock decides), trained step by step
with `Trainer.step` in this process; the seconds are wall-clock seconds including the held-out
evaluations (evaluation every 25 steps here).

MAE goal: the held-out masked-patch loss (mean squared error of the hidden patches, 12 of 16
hidden, the same masks at every evaluation) falls by at least 50% from the untrained model's within
`--mae-seconds` (60). The loss of predicting the average training digit is printed next to it (a
model that beats it has learned more than the average).

SimCLR goal: after at most `--simclr-seconds` (120) of training, a logistic-regression probe on the
encoder's features fitted on 10 labelled training digits per class reaches held-out accuracy
>= 0.85 (mean over 5 draws of the labelled digits); the table also gives 5 and 20 labels per class,
the randomly initialised encoder of the same architecture (the run's starting point) and raw pixels.

CLIP goal: zero-shot accuracy on the held-out digits with one plain prompt per class ("the digit 7") >= 0.85
after at most `--clip-seconds` (120) of training (`explorer.vision.clip_run`: the small CNN against the locked
sentence encoder's captions); the accuracy with other prompts (a training template, a bare numeral, phrasings
never seen in training) is printed beside it.

Data: the digits' fixed split (`explorer.vision.data`: 70% train, 30% held out, stratified, seed 0).
Held-out digits are never used for SSL training or for fitting a probe. With `--dev`, the held-out
digits are left out altogether and the training digits are split again (80/20), and every figure is
on that development split.

Tuning (all on the development split, `--dev`, with `--mae-shape` / `--mae-lr` / `--simclr-*`): the
SimCLR settings (batch 128, τ = 0.2, lr 1e-3, the default augmentations) were picked from 30 s trials
of τ ∈ {0.1, 0.2, 0.5}, batch ∈ {128, 256} and lr ∈ {1e-3, 3e-3} (all within 0.02 of each other at
10 labels per class); the MAE shape from 60 s trials of each (`--dev --only mae --threads 1`: 16×16 with
4×4 patches ended at 0.50 of the average-image baseline's loss, 8×8 with 2×2 patches at 0.72). The MAE
lr (2e-3) and the probe's C (1) were not tuned.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.common import machine, save_json  # noqa: E402

EVAL_EVERY = 25
MAE_GOAL, PROBE_GOAL, PROBE_AT = 0.5, 0.85, 10


def _timed(run, seconds: float, stop=None) -> list[tuple[float, int, dict]]:
    """Train `run` until `seconds` have passed (or its steps are done); (seconds, step, record) per evaluation."""
    t = run.trainer
    t.eval_every = EVAL_EVERY
    curve = [(0.0, 0, t.history[0])]
    t0 = time.perf_counter()
    while t.step_count < run.target and time.perf_counter() - t0 < seconds:
        rec = t.step()
        if "eval_loss" in rec:
            curve.append((time.perf_counter() - t0, rec["step"], rec))
            if stop is not None and stop(rec):
                break
    if curve[-1][1] != t.step_count:  # the clock ran out between evaluations: measure where it ended
        with torch.no_grad():
            t.model.eval()
            rec = {"step": t.step_count, **t.task.evaluate(t.model)}
            t.model.train()
        t.history[-1].update(rec)
        curve.append((time.perf_counter() - t0, t.step_count, rec))
    return curve


def _sample(curve: list, n: int = 12) -> list:
    """About `n` evenly spaced points of a curve, always with its last."""
    k = max(1, len(curve) // n)
    return curve[::k] + ([curve[-1]] if (len(curve) - 1) % k else [])


def mae_bench(seconds: float, dev: bool, shape: str = "digits", lr: float | None = None, seed: int = 0) -> dict:
    from explorer import vision
    from explorer.training import MAX_STEPS
    from explorer.vision.mae_model import MAEShape

    s = MAEShape("digits8", 8, 2) if shape == "8x8" else shape
    run = vision.mae_run(vision.vision_plan("mae", steps=MAX_STEPS, lr=lr or "auto"), shape=s, seed=seed, dev=dev)
    curve = _timed(run, seconds)
    start = curve[0][2]["eval_loss"]
    reached = next((t for t, _, r in curve if r["eval_loss"] <= MAE_GOAL * start), None)
    final = curve[-1][2]["eval_loss"]
    beat = next((t for t, _, r in curve if r["eval_loss"] < run.extra["baseline_loss"]), None)
    return {
        "description": run.description,
        "lr": run.trainer.lr,
        "batch": run.trainer.task.batch_size,
        "start_loss": start,
        "final_loss": final,
        "fall": 1 - final / start,
        "baseline_loss": run.extra["baseline_loss"],
        "steps": run.step,
        "seconds": curve[-1][0],
        "seconds_to_goal": reached,
        "seconds_to_baseline": beat,
        "met": reached is not None and reached <= seconds,
        "curve": [(t, step, r["eval_loss"]) for t, step, r in curve],
    }


def simclr_bench(
    seconds: float, dev: bool, temperature: float, lr: float | None, batch: int | None, seed: int = 0, repeats: int = 5
) -> dict:
    from explorer import vision
    from explorer.training import MAX_STEPS

    p = vision.vision_plan("simclr", steps=MAX_STEPS, lr=lr or "auto", batch=batch or "auto")
    run = vision.simclr_run(p, temperature=temperature, seed=seed, dev=dev)
    curve = _timed(run, seconds)
    t0 = time.perf_counter()
    table = vision.compare_probes(run.model, vision.random_encoder(run), dev=dev, repeats=repeats)
    probe_seconds = time.perf_counter() - t0
    at = table[table["labels per class"] == PROBE_AT].set_index("features")["accuracy"]
    acc = float(at[vision.probe.SSL_NAME])
    return {
        "description": run.description,
        "lr": p.lr,
        "batch": p.batch,
        "temperature": temperature,
        "steps": run.step,
        "seconds": curve[-1][0],
        "probe_seconds": probe_seconds,
        "start_eval_loss": curve[0][2]["eval_loss"],
        "final_eval_loss": curve[-1][2]["eval_loss"],
        "accuracy_at_10": acc,
        "random_at_10": float(at[vision.probe.RANDOM_NAME]),
        "pixels_at_10": float(at[vision.probe.PIXELS_NAME]),
        "met": acc >= PROBE_GOAL and curve[-1][0] <= seconds + 1,
        "table": table.to_dict("records"),
        "wide": vision.wide(table).round(3).to_string(index=False),
        "curve": [(t, step, r["eval_loss"], r["accuracy"]) for t, step, r in curve],
    }


CLIP_GOAL = 0.85


def clip_bench(seconds: float, dev: bool, lr: float | None, batch: int | None, seed: int = 0) -> dict:
    import explorer
    from explorer import vision
    from explorer.training import MAX_STEPS
    from explorer.vision import clip

    encoder = explorer.load("encoder")
    p = vision.vision_plan("clip", steps=MAX_STEPS, lr=lr or "auto", batch=batch or "auto")
    t0 = time.perf_counter()
    run = vision.clip_run(p, encoder, seed=seed, dev=dev)
    setup = time.perf_counter() - t0
    curve = _timed(run, seconds)
    d = vision.digits()
    _, test = d.split(dev)
    zs = {}
    for name, texts in clip.prompt_sets().items():  # the page's phrasings, side by side
        r = clip.zero_shot(run.model, clip.text_features(encoder, texts), d.images[test], d.labels[test], texts)
        zs[name] = r.accuracy
    reached = next((t for t, _, r in curve if r["accuracy"] >= CLIP_GOAL), None)
    return {
        "description": run.description,
        "lr": p.lr,
        "batch": p.batch,
        "setup_seconds": setup,
        "steps": run.step,
        "seconds": curve[-1][0],
        "start_accuracy": curve[0][2]["accuracy"],
        "final_accuracy": curve[-1][2]["accuracy"],
        "seconds_to_goal": reached,
        "temperature": run.model.temperature(),
        "prompts": zs,
        "met": reached is not None and reached <= seconds + 1,
        "curve": [(t, step, r["eval_loss"], r["accuracy"]) for t, step, r in curve],
    }


DINO_GAIN = 0.05  # the probe at 10 labels per class over the random encoder
COLLAPSE_SHARE = 0.9


def dino_bench(seconds: float, dev: bool, lr: float | None, seed: int = 0, repeats: int = 5) -> dict:
    """The page's DINO run, then the same run with centering off and with sharpening off, `seconds` each."""
    from explorer import vision
    from explorer.training import MAX_STEPS
    from explorer.vision import dino

    out: dict = {"max_entropy": dino.max_entropy(), "runs": {}}
    for name, switches in (
        ("both", {}),
        ("no centering", {"centering": False}),
        ("no sharpening", {"sharpening": False}),
    ):
        p = vision.vision_plan("dino", steps=MAX_STEPS, lr=lr or "auto")
        run = vision.dino_run(p, seed=seed, dev=dev, **switches)
        curve = _timed(run, seconds)
        last = curve[-1][2]
        table = vision.compare_probes(
            run.model, vision.random_encoder(run), dev=dev, per_class=[PROBE_AT], repeats=repeats
        )
        acc = dict(zip(table["features"], table["accuracy"]))
        out["runs"][name] = {
            "description": run.description,
            "lr": p.lr,
            "batch": p.batch,
            "steps": run.step,
            "seconds": curve[-1][0],
            "accuracy_at_10": acc[vision.probe.SSL_NAME],
            "random_at_10": acc[vision.probe.RANDOM_NAME],
            "teacher_entropy": last["eval_teacher_entropy"],
            "top_share": last["eval_top_share"],
            "curve": [(t, step, r["accuracy"], r["eval_teacher_entropy"], r["eval_top_share"]) for t, step, r in curve],
        }
    both = out["runs"]["both"]
    out["met_probe"] = both["accuracy_at_10"] >= both["random_at_10"] + DINO_GAIN
    nc = out["runs"]["no centering"]
    out["met_collapse"] = nc["top_share"] > COLLAPSE_SHARE
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mae-seconds", type=float, default=60)
    ap.add_argument("--simclr-seconds", type=float, default=120)
    ap.add_argument("--dev", action="store_true", help="the development split (training digits only)")
    ap.add_argument("--only", choices=["mae", "simclr", "clip", "dino"])
    ap.add_argument("--dino-seconds", type=float, default=120)
    ap.add_argument("--dino-lr", type=float)
    ap.add_argument("--clip-seconds", type=float, default=120)
    ap.add_argument("--clip-lr", type=float)
    ap.add_argument("--clip-batch", type=int)
    ap.add_argument(
        "--mae-shape",
        choices=["digits", "8x8", "photos"],
        default="digits",
        help="digits 16×16 with 4×4 patches, 8×8 with 2×2, or the photographs' 32×32 crops",
    )
    ap.add_argument("--mae-lr", type=float)
    ap.add_argument("--simclr-temperature", type=float, default=0.2)
    ap.add_argument("--simclr-lr", type=float)
    ap.add_argument("--simclr-batch", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    split = "development" if args.dev else "held-out"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    result: dict = {"machine": machine(), "split": split, "load_at_start": load}
    print(f"{machine()}; load average at start {load:.1f}; {split} split")
    if args.only in (None, "mae"):
        m = mae_bench(args.mae_seconds, args.dev, args.mae_shape, args.mae_lr, args.seed)
        result["mae"] = m
        print(f"\nMAE: {m['description']}; lr {m['lr']:g}, batch {m['batch']}")
        for t, step, loss in _sample(m["curve"]):
            print(f"  {t:6.1f} s  step {step:5d}  {split} masked-patch loss {loss:.4f}")
        print(
            f"  {split} masked-patch loss {m['start_loss']:.4f} -> {m['final_loss']:.4f} ({m['fall']:.0%} lower) in "
            f"{m['seconds']:.0f} s, {m['steps']} steps ({m['steps'] / m['seconds']:.1f} steps/s); average-image baseline {m['baseline_loss']:.4f}"
        )
        goal = "never" if m["seconds_to_goal"] is None else f"{m['seconds_to_goal']:.1f} s"
        beat = "never" if m["seconds_to_baseline"] is None else f"{m['seconds_to_baseline']:.1f} s"
        print(
            f"  below the average-image baseline from {beat}; final loss = {m['final_loss'] / m['baseline_loss']:.2f} "
            "x the baseline"
        )
        print(f"  50% lower at {goal} (goal: within {args.mae_seconds:.0f} s): {'MET' if m['met'] else 'NOT MET'}")
    if args.only in (None, "simclr"):
        s = simclr_bench(
            args.simclr_seconds, args.dev, args.simclr_temperature, args.simclr_lr, args.simclr_batch, args.seed
        )
        result["simclr"] = s
        print(f"\nSimCLR: {s['description']}; lr {s['lr']:g}, batch {s['batch']}")
        for t, step, loss, acc in _sample(s["curve"]):
            print(f"  {t:6.1f} s  step {step:5d}  {split} InfoNCE {loss:.3f}  probe (10 per class, 1 draw) {acc:.3f}")
        print(
            f"  trained {s['seconds']:.0f} s ({s['steps']} steps, {s['steps'] / s['seconds']:.1f} steps/s); probe table ({split} accuracy, mean of 5 draws, "
            f"{s['probe_seconds']:.1f} s):"
        )
        print("    " + s["wide"].replace("\n", "\n    "))
        print(
            f"  10 labels per class: self-supervised {s['accuracy_at_10']:.3f}, random encoder {s['random_at_10']:.3f}, "
            f"raw pixels {s['pixels_at_10']:.3f} (goal: >= {PROBE_GOAL} within {args.simclr_seconds:.0f} s): "
            f"{'MET' if s['met'] else 'NOT MET'}"
        )
    if args.only in (None, "clip"):
        c = clip_bench(args.clip_seconds, args.dev, args.clip_lr, args.clip_batch, args.seed)
        result["clip"] = c
        print(
            f"\nCLIP: {c['description']}; lr {c['lr']:g}, batch {c['batch']}; captions read in {c['setup_seconds']:.1f} s"
        )
        for t, step, loss, acc in _sample(c["curve"]):
            print(f"  {t:6.1f} s  step {step:5d}  {split} CLIP loss {loss:.3f}  zero-shot accuracy {acc:.3f}")
        goal = "never" if c["seconds_to_goal"] is None else f"{c['seconds_to_goal']:.1f} s"
        print(
            f"  zero-shot {c['start_accuracy']:.3f} -> {c['final_accuracy']:.3f} in {c['seconds']:.0f} s ({c['steps']} "
            f"steps), temperature {c['temperature']:.3f}; {CLIP_GOAL} reached at {goal} (goal: within "
            f"{args.clip_seconds:.0f} s): {'MET' if c['met'] else 'NOT MET'}"
        )
        for name, acc in c["prompts"].items():
            print(f"    prompts like {name!r}: {acc:.3f}")
    if args.only in (None, "dino"):
        dn = dino_bench(args.dino_seconds, args.dev, args.dino_lr, args.seed)
        result["dino"] = dn
        print(f"\nDINO ({split}; ln K = {dn['max_entropy']:.2f}):")
        for name, r in dn["runs"].items():
            print(
                f"  {name}: {r['steps']} steps in {r['seconds']:.0f} s; probe (10 per class, 5 draws) {r['accuracy_at_10']:.3f} "
                f"(random encoder {r['random_at_10']:.3f}); teacher entropy {r['teacher_entropy']:.2f}, top share {r['top_share']:.2f}"
            )
        print(
            f"  probe >= random + {DINO_GAIN}: {'MET' if dn['met_probe'] else 'NOT MET'}; collapse with centering off "
            f"(top share > {COLLAPSE_SHARE}): {'MET' if dn['met_collapse'] else 'NOT MET'}"
        )
    save_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
