"""Token attribution (`explorer.inside.attribution`): its cost against a plain forward pass, and whether it
points at the tokens that matter (faithfulness).

    python -m bench.attribution                      # speed, then both sets
    python -m bench.attribution --sets dev --limit 10 --no-speed

**Speed** (interleaved, medians): on a sentence of about 20 masked-LM tokens, gradient × input and
Integrated Gradients (32 points, in batches of `STEP_BATCH`, against the same points one at a time) against
one plain forward pass of the same model (`model(input_ids)` under `torch.inference_mode()`, as the pages run
it), for the SmolLM2-MLM and the causal LM. Torch threads as the app uses them (`SSL_EXPLORER_THREADS`), and
with `--threads 2`.

**Faithfulness**: comprehensiveness (DeYoung et al. 2020, ERASER): delete the k tokens with the most credit
for the hidden word and see how far its probability falls, against deleting k tokens at random (the mean of
`RANDOM_DRAWS` draws); k = 1, 2, 3; for each method and both models. Deletion candidates are the tokens the
model can read (for the causal LM, those left of the blank). A method is faithful where its drop is larger
than random's. The sentences are the Masked vs causal page's (`bench/compare_dev.tsv`: looked at while the
view was built; `bench/compare_heldout.tsv`: scored only), each hiding a word early in the sentence, and two
sets written for this benchmark with the hidden word mostly late, so that a causal LM has tokens to its left
to delete (`bench/attribution_dev.tsv`, `bench/attribution_heldout.tsv`); the target is the hidden word.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import app_threads, interleaved, machine, median, save_json  # noqa: E402
from bench.hidden_word import load_items  # noqa: E402

SETS = {
    "dev": (ROOT / "bench" / "compare_dev.tsv", "development set: looked at while the view was built"),
    "heldout": (ROOT / "bench" / "compare_heldout.tsv", "held out: scored only, never looked at before"),
    "late_dev": (ROOT / "bench" / "attribution_dev.tsv", "development set, the hidden word late: written for this"),
    "late_heldout": (ROOT / "bench" / "attribution_heldout.tsv", "held out, the hidden word late: scored only"),
}
SPEED_TEXT = "The old fisherman walked slowly down to the harbour every morning to check on his small wooden boat."
KS = (1, 2, 3)
RANDOM_DRAWS = 5
GOALS = {"gradient_over_forward": 2.0, "ig_seconds": 3.0}


def speed(mlm_lm, clm_lm, repeat: int) -> dict:
    import torch

    from explorer import inside
    from explorer.inside import attribution
    from explorer.tokens import encode

    out = {"threads": torch.get_num_threads(), "rows": []}
    for lm in (mlm_lm, clm_lm):
        ids = list(encode(lm.tokenizer, SPEED_TEXT, add_special_tokens=True).ids)
        pos = len(ids) // 2
        target = (ids[pos],)
        if lm.info.role == "mlm":
            ids[pos] = lm.tokenizer.mask_token_id

        def forward():
            with torch.inference_mode():
                lm.model(input_ids=torch.tensor([ids]))

        def run(method, steps=32):
            return lambda: inside.attribute(lm, ids, pos, pos + 1, target, method=method, steps=steps)

        def unbatched():
            saved, attribution.STEP_BATCH = attribution.STEP_BATCH, 1
            try:
                run(inside.INTEGRATED)()
            finally:
                attribution.STEP_BATCH = saved

        fns = {
            "forward": forward,
            "gradient": run(inside.GRADIENT),
            "attention": run(inside.ATTENTION),
            "ig": run(inside.INTEGRATED),
            "ig_unbatched": unbatched,
        }
        t = interleaved(fns, repeat=repeat, warmup=1)
        m = {k: median(v) for k, v in t.items()}
        out["rows"].append(
            {
                "model": lm.info.name,
                "tokens": len(ids),
                "forward_ms": 1000 * m["forward"],
                "gradient_ms": 1000 * m["gradient"],
                "gradient_over_forward": m["gradient"] / m["forward"],
                "attention_ms": 1000 * m["attention"],
                "ig_s": m["ig"],
                "ig_unbatched_s": m["ig_unbatched"],
                "ig_over_forward": m["ig"] / m["forward"],
            }
        )
        print(out["rows"][-1], flush=True)
    return out


def _word_logp(lm, ids, start, end, target) -> float:
    from explorer.inside import readings

    q = readings.make_question(lm, ids, start, end, target)
    import torch

    with torch.inference_mode():
        return float(readings.score(lm.model, q, readings.embeddings(lm.model, q.context))[0])


def _delete(ids, start, end, drop):
    """ids without the context positions `drop` (indices into ids), and the blank's new span."""
    kept = [i for i in range(len(ids)) if i not in drop]
    new = [ids[i] for i in kept]
    shift = sum(1 for d in drop if d < start)
    return new, start - shift, end - shift


def readable_positions(lm, kind: str, ids, start: int, end: int) -> list[int]:
    """The positions a deletion may take: every token of the text but the blank and the special tokens; for
    the causal LM only those left of the blank (it never reads the others)."""
    special = set(lm.tokenizer.all_special_ids)
    readable = [i for i in range(len(ids)) if not start <= i < end and ids[i] not in special]
    return [i for i in readable if i < start] if kind == "clm" else readable


def faithfulness(mlm_lm, clm_lm, items, show: bool = False) -> dict:
    from explorer import comparisons as C
    from explorer import inside
    from explorer.comparisons.sentence import word_index, word_span

    rng = random.Random(0)
    drops = {(kind, m, k): [] for kind in ("mlm", "clm") for m in (*inside.METHODS, "random") for k in KS}
    n_done, started = 0, time.perf_counter()
    counts = {"mlm": 0, "clm": 0}  # sentences scored per model: those with more readable tokens than the largest k
    for sentence, word in items:
        comp = C.prepare(mlm_lm, clm_lm, sentence)
        index = word_index(comp.text, word)
        for lm, kind in ((mlm_lm, "mlm"), (clm_lm, "clm")):
            ids, mapping = (comp.mlm_enc.ids, comp.mlm_map) if kind == "mlm" else (comp.clm_ids, comp.clm_map)
            start, end = word_span(mapping, index)
            target = tuple(ids[start:end])
            full = math.exp(_word_logp(lm, ids, start, end, target))
            readable = readable_positions(lm, kind, ids, start, end)
            if len(readable) < max(KS) + 1:
                continue
            counts[kind] += 1
            for method in inside.METHODS:
                att = inside.attribute(lm, ids, start, end, target, method=method)
                ctx_scores = att.scores[: att.blank] + att.scores[att.blank + 1 :]
                positions = list(range(start)) + list(range(end, len(ids)))
                credit = {p: s for p, s in zip(positions, ctx_scores) if s is not None}
                ranked = sorted(readable, key=lambda p: -credit.get(p, 0.0))
                for k in KS:
                    new, s2, e2 = _delete(ids, start, end, set(ranked[:k]))
                    drops[(kind, method, k)].append(full - math.exp(_word_logp(lm, new, s2, e2, target)))
            for k in KS:
                draws = []
                for _ in range(RANDOM_DRAWS):
                    new, s2, e2 = _delete(ids, start, end, set(rng.sample(readable, k)))
                    draws.append(full - math.exp(_word_logp(lm, new, s2, e2, target)))
                drops[(kind, "random", k)].append(sum(draws) / len(draws))
        n_done += 1
        if show:
            print(f"  {n_done}/{len(items)} {word}", flush=True)
    table = {}
    for (kind, method, k), values in drops.items():
        table.setdefault(kind, {}).setdefault(method, {})[k] = sum(values) / len(values) if values else None
    return {
        "n": n_done,
        "counts": counts,
        "drops": table,
        "seconds_per_sentence": (time.perf_counter() - started) / max(1, n_done),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default=",".join(SETS), help="comma-separated: " + ", ".join(SETS))
    ap.add_argument("--limit", type=int, default=0, help="first N sentences of each set only (a smoke run)")
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds of the speed test")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: as the app)")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--show", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    import os

    import torch

    from explorer import load

    saved = os.environ.get("SSL_EXPLORER_FORWARD_CACHE")
    os.environ["SSL_EXPLORER_FORWARD_CACHE"] = "0"  # every call computes: timings of the work itself
    try:
        app_threads()
        if args.threads:
            torch.set_num_threads(args.threads)
        mlm_lm, clm_lm = load("mlm"), load("clm")
        results: dict = {"machine": machine(), "masked_lm": mlm_lm.info.name, "causal_lm": clm_lm.info.name}
        results["goals"] = GOALS
        if not args.no_speed:
            results["speed"] = speed(mlm_lm, clm_lm, args.repeat)
        results["sets"] = {}
        for name in [s for s in args.sets.split(",") if s]:
            path, role = SETS[name]
            items = load_items(path)[: args.limit or None]
            print(f"{name}: {len(items)} sentences ({role})", flush=True)
            res = faithfulness(mlm_lm, clm_lm, items, show=args.show)
            res.update(file=str(path.relative_to(ROOT)), role=role)
            results["sets"][name] = res
            print(name, res["drops"], flush=True)
    finally:
        os.environ.pop("SSL_EXPLORER_FORWARD_CACHE") if saved is None else os.environ.update(
            {"SSL_EXPLORER_FORWARD_CACHE": saved}
        )
    results["load_average"] = os.getloadavg()[0]
    save_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
