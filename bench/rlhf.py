"""RLHF's RL step (RLOO) with the Alignment page's settings: how far the reward of answers to held-out prompts
rises in a given time, what the KL leash does, and whether people's held-out preferences follow.

    .venv/bin/python -m bench.rlhf [--seconds 180] [--threads 2] [--betas 0.05,0] [--samples 4] [--dev]
                                   [--batching-rounds 5]

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


def rl_run(beta: float, seconds: float, samples: int, dev: bool, seed: int = 0) -> dict:
    import explorer
    from explorer import training
    from explorer.training import dpo
    from explorer.training.alignment_runs import rlhf_run
    from explorer.training.sft import chat_prompt_ids

    lm, encoder = explorer.load("clm"), explorer.load("encoder")
    p = training.plan("rlhf", n_params=lm.info.params)
    run = rlhf_run(lm, encoder, bundled_pairs(dev), p, beta=beta, seed=seed, bundled=not dev)
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
    while time.perf_counter() - t0 < seconds and run.trainer.step_count < run.max_steps:
        run.trainer.step()
    train_s = time.perf_counter() - t0
    after = _held_out(task, run.model, prompts, samples)
    people_after = dpo.preference_accuracy(people.scores(run.model, people.test_idx)["margin"])
    sd = statistics.pstdev(before["rewards"])
    return {
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


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--betas", default="0.05,0")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--dev", action="store_true")
    ap.add_argument("--batching-rounds", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = {"machine": machine(), "threads": args.threads, "split": "dev" if args.dev else "held-out", "runs": []}
    print(f"Machine: {out['machine']}; split {out['split']}", flush=True)
    if args.batching_rounds:
        out["batching"] = b = batching(args.batching_rounds)
        print(
            f"  sampling {b['k']} answers: batched {b['batched_s']:.2f} s, loop {b['loop_s']:.2f} s: {b['speedup']:.2f}×"
        )
    for beta in [float(x) for x in args.betas.split(",") if x.strip()]:
        r = rl_run(beta, args.seconds, args.samples, args.dev)
        out["runs"].append(r)
        print(
            f"  β = {beta:g}: {r['steps']} steps in {r['seconds']:.0f} s; held-out reward {r['before']['reward']:.2f} → "
            f"{r['after']['reward']:.2f} ({r['gain_sd']:+.2f} sd); KL k1 {r['after']['kl']:.1f}, k3 "
            f"{r['after']['kl_k3']:.1f}; length {r['before']['length']:.1f} → {r['after']['length']:.1f}; people "
            f"{r['people_before']:.0%} → {r['people_after']:.0%}",
            flush=True,
        )
    save_json(args.json, out)
    return out


if __name__ == "__main__":
    json.dumps(main())
