"""RLHF's RL step (RLOO) with the Alignment page's settings: how far the reward of answers to held-out prompts
rises in a given time, what the KL leash does, and whether people's held-out preferences follow.

    .venv/bin/python -m bench.rlhf [--seconds 180 | --steps N] [--threads 2] [--betas 0.1,0] [--samples 4] [--dev]
                                   [--methods rloo,grpo] [--batching-rounds 5]

For each β: `rlhf_run` exactly as the page makes it (the packaged SmolLM2, `training.plan("rlhf")`: the top 4
blocks learn; k answers per prompt; the reward model the page trains on the bundled pairs when a participant
has not trained one), trained for `--seconds` of wall time including the run's own evaluations. Before and
after, every held-out prompt (the prompts of the pairs the split holds out: never trained on, by the reward
model or the policy) gets `--samples` sampled answers with fixed seeds, scored by the reward model; the gain is
stated in standard deviations of the reward of the reference's answers. Also after: the KL to the reference
(k1 and k3, nats per answer), the answers' length, and people's held-out pairs (the share whose chosen answer
the policy raised more than the rejected one, relative to the reference: the "people" signal that reward
hacking lowers). With `--dev` the held-out pairs are left out and the training pairs are split again (the
development split the settings are chosen on).

Speed (`--speed-rounds`): the RLHF tab's run through AppTest (the page rerun every REDRAW_SECONDS while the run
trains in its thread) against `training.train` on the same run with no UI, each in a fresh process, alternating;
the median ratio (the reward model and the reference's scores are made first in both, and not timed).

Batching: k answers to one prompt in one batch (`reward.sample_ids`, keys and values kept) against a loop of k
single samples, the median ratio of `--batching-rounds`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.alignment import bundled_pairs  # noqa: E402
from bench.common import machine, save_json  # noqa: E402
from bench.page_speed import alignment_page_loop, page_against_plain  # noqa: E402


def _held_out(task, model, prompts, samples: int) -> dict:
    rewards, kl, kl3, length = [], [], [], []
    for j, prompt in enumerate(prompts):
        s = task.score(model, prompt, task.sample(model, prompt, samples, 1000 + 7919 * j))
        rewards += s["rewards"].tolist()
        kl += s["kl"].tolist()
        kl3 += s["kl_k3"].tolist()
        length += s["length"].tolist()
    mean = statistics.mean
    return {"rewards": rewards, "reward": mean(rewards), "kl": mean(kl), "kl_k3": mean(kl3), "length": mean(length)}


def rl_run(
    beta: float, seconds: float, samples: int, dev: bool, seed: int = 0, method: str = "rloo", steps: int = 0
) -> dict:
    import explorer
    from explorer import training
    from explorer.training import dpo
    from explorer.training.rlhf_runs import rlhf_run
    from explorer.training.sft import chat_prompt_ids

    lm, encoder = explorer.load("clm"), explorer.load("encoder")
    p = training.plan("rlhf", n_params=lm.info.params)
    run = rlhf_run(lm, encoder, bundled_pairs(dev), p, beta=beta, seed=seed, bundled=not dev, method=method)
    t = time.perf_counter()
    run.prepare(lambda text, f: None, lambda: None)
    prepare_s = time.perf_counter() - t
    task = run.trainer.task
    people = task.people
    prompts = list(dict.fromkeys(people.pairs[i].prompt for i in people.test_idx))
    for prompt in prompts:
        task.ids.setdefault(prompt, chat_prompt_ids(lm.tokenizer, prompt))
    before = _held_out(task, lm.model, prompts, samples)
    people_before = dpo.preference_accuracy(people.scores(run.model, people.test_idx)["margin"])
    t0 = time.perf_counter()
    run.trainer.begin()
    limit = min(steps, run.max_steps) if steps else run.max_steps
    while (steps or time.perf_counter() - t0 < seconds) and run.trainer.step_count < limit:
        run.trainer.step()
    train_s = time.perf_counter() - t0
    after = _held_out(task, run.model, prompts, samples)
    people_after = dpo.preference_accuracy(people.scores(run.model, people.test_idx)["margin"])
    sd = statistics.pstdev(before["rewards"])
    return {
        "method": method,
        "beta": beta,
        "k": task.k,
        "lr": p.lr,
        "layers": p.layers,
        "steps": run.trainer.step_count,
        "seconds": train_s,
        "prepare_seconds": prepare_s,
        "held_out_prompts": len(prompts),
        "samples_per_prompt": samples,
        "reward_sd": sd,
        "before": {k: v for k, v in before.items() if k != "rewards"},
        "after": {k: v for k, v in after.items() if k != "rewards"},
        "gain_sd": (after["reward"] - before["reward"]) / sd if sd else float("nan"),
        "people_before": people_before,
        "people_after": people_after,
        "history": [{k: v for k, v in h.items() if isinstance(v, (int, float))} for h in run.trainer.history],
        "probes": task.answers(run.model, prompts[:4], seed=seed),
    }


def batching(rounds: int, k: int = 4, tokens: int = 16) -> dict:
    import explorer
    from explorer.training.reward import sample_ids
    from explorer.training.sft import chat_prompt_ids

    lm = explorer.load("clm")
    ids = chat_prompt_ids(lm.tokenizer, "Give me a tip for learning to cook.")
    times = {"batched": [], "loop": []}
    for r in range(rounds + 1):
        for name in ("batched", "loop") if r % 2 == 0 else ("loop", "batched"):
            gen = torch.Generator().manual_seed(r)
            t = time.perf_counter()
            if name == "batched":
                sample_ids(lm.model, lm.tokenizer, ids, k, gen=gen, max_new_tokens=tokens, top_k=50)
            else:
                for _ in range(k):
                    sample_ids(lm.model, lm.tokenizer, ids, 1, gen=gen, max_new_tokens=tokens, top_k=50)
            if r:  # the first round warms up
                times[name].append(time.perf_counter() - t)
    b, loop = statistics.median(times["batched"]), statistics.median(times["loop"])
    return {"k": k, "max_new_tokens": tokens, "batched_s": b, "loop_s": loop, "speedup": loop / b}


def page_loop(steps: int) -> tuple[float, float]:
    """The RLHF tab's run through AppTest (the reward model and the reference's scores made first, not timed)."""
    return alignment_page_loop(
        "Reinforcement learning (RLHF)", {"align_rl_steps": steps}, "align_rl_start", "align_rl_run", steps
    )


def plain_loop(steps: int) -> tuple[float, float]:
    """The same run as the page makes it (its β, k, probes, plan), trained with no UI."""
    import explorer
    from explorer import training
    from explorer.training import preferences
    from explorer.training.rlhf_runs import rlhf_run
    from explorer.ui.rlhf_view import PAGE_BETA

    lm, encoder = explorer.load("clm"), explorer.load("encoder")
    p = training.plan("rlhf", steps=steps, n_params=lm.info.params)
    probes = preferences.dpo_defaults()["probes"]
    run = rlhf_run(lm, encoder, preferences.bundled_pairs(), p, beta=PAGE_BETA, seed=0, probes=probes, bundled=True)
    run.prepare(lambda text, f: None, lambda: None)
    t0, c0 = time.perf_counter(), time.process_time()
    training.train(run.trainer, steps)
    return steps / (time.perf_counter() - t0), steps / (time.process_time() - c0)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--betas", default="0.1,0", help="the page's β (0.1) and no leash")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--dev", action="store_true")
    ap.add_argument("--methods", default="rloo", help="rloo, grpo or both (each run with every β)")
    ap.add_argument("--steps", type=int, default=0, help="a fixed number of steps instead of --seconds")
    ap.add_argument("--batching-rounds", type=int, default=5)
    ap.add_argument("--speed-rounds", type=int, default=0, help="page against plain loop, alternating rounds")
    ap.add_argument("--speed-steps", type=int, default=10, help="one of the page's step choices")
    ap.add_argument("--only", choices=["page", "plain"], help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if args.only:
        torch.set_num_threads(1)  # as the page's training thread
        print(json.dumps(page_loop(args.speed_steps) if args.only == "page" else plain_loop(args.speed_steps)))
        return {}
    torch.set_num_threads(args.threads)
    out = {"machine": machine(), "threads": args.threads, "split": "dev" if args.dev else "held-out", "runs": []}
    print(f"Machine: {out['machine']}; split {out['split']}", flush=True)
    if args.batching_rounds:
        out["batching"] = b = batching(args.batching_rounds)
        print(
            f"  sampling {b['k']} answers: batched {b['batched_s']:.2f} s, loop {b['loop_s']:.2f} s: {b['speedup']:.2f}×"
        )
    betas = [float(x) for x in args.betas.split(",") if x.strip()]
    for method, beta in [(m.strip(), b) for m in args.methods.split(",") if m.strip() for b in betas]:
        r = rl_run(beta, args.seconds, args.samples, args.dev, method=method, steps=args.steps)
        out["runs"].append(r)
        print(
            f"  {method.upper()}, β = {beta:g}: {r['steps']} steps in {r['seconds']:.0f} s; held-out reward {r['before']['reward']:.2f} → "
            f"{r['after']['reward']:.2f} ({r['gain_sd']:+.2f} sd); KL k1 {r['after']['kl']:.1f}, k3 "
            f"{r['after']['kl_k3']:.1f}; length {r['before']['length']:.1f} → {r['after']['length']:.1f}; people "
            f"{r['people_before']:.0%} → {r['people_after']:.0%}",
            flush=True,
        )
    if args.speed_rounds:
        out["speed"] = sp = page_against_plain("bench.rlhf", args.speed_rounds, args.speed_steps)
        print(
            f"  page / plain RL loop, median of {sp['rounds']}: {sp['ratio_wall']:.2f} wall, {sp['ratio_cpu']:.2f} CPU "
            "(goal >= 0.90)"
        )
    save_json(args.json, out)
    return out


if __name__ == "__main__":
    json.dumps(main())
