"""Cloze benchmark: top-1 / top-5 accuracy of a masked LM on everyday English sentences.

    python -m bench.cloze                          # the offline masked LMs, SmolLM2 left-only, BERT if cached
    python -m bench.cloze bert-base-uncased        # any masked LM id or folder (needs it cached or online)
    python -m bench.cloze --show --sets heldout    # also print each sentence with the top-5 guesses

Three sets of everyday sentences written for this project (each has one [MASK] and a list of accepted
answers; categories grammar, common sense and simple facts): `bench/cloze_sentences.tsv`, the
benchmark; `bench/cloze_heldout.tsv`, held out from every choice; `bench/cloze_dev.tsv`, the
development set on which the masked LM's settings were chosen. "Left context only" reads the causal
LM's next-token distribution at the blank from the words before it: what a causal LM can do.
A guess counts when one of the k best tokens, lower-cased and stripped, is an accepted answer.
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

SENTENCES = Path(__file__).resolve().parent / "cloze_sentences.tsv"
MASK = "[MASK]"


@dataclass(frozen=True)
class ClozeItem:
    category: str
    sentence: str  # with one "[MASK]"
    answers: tuple[str, ...]

    @property
    def filled(self) -> str:
        """The sentence with the first accepted answer in place of the mask."""
        return self.sentence.replace(MASK, self.answers[0])


def load_items(path: Path = SENTENCES) -> list[ClozeItem]:
    items = []
    for line in Path(path).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        category, sentence, answers = line.split("\t")
        if sentence.count(MASK) != 1:
            raise ValueError(f"needs exactly one {MASK}: {sentence}")
        items.append(ClozeItem(category, sentence, tuple(a.strip().lower() for a in answers.split("|") if a.strip())))
    return items


def predict_topk(model, tokenizer, sentences: list[str], k: int = 5, batch_size: int = 64) -> list[list[str]]:
    """The k most likely tokens (decoded, lower-cased) at the mask of each sentence; special tokens excluded."""
    import torch

    mask_token = tokenizer.mask_token
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
    out: list[list[str]] = []
    for start in range(0, len(sentences), batch_size):
        chunk = [s.replace(MASK, mask_token) for s in sentences[start : start + batch_size]]
        enc = tokenizer(chunk, return_tensors="pt", padding=True)
        with torch.no_grad():
            logits = model(**enc).logits
        rows, cols = (enc["input_ids"] == tokenizer.mask_token_id).nonzero(as_tuple=True)
        picked = logits[rows, cols].clone()
        picked[:, special] = float("-inf")
        top = picked.topk(k, dim=-1).indices
        for ids in top.tolist():
            out.append([tokenizer.decode([i]).strip().lower() for i in ids])
    return out


def predict_topk_left(model, tokenizer, sentences: list[str], k: int = 5) -> list[list[str]]:
    """A causal LM's k most likely next tokens after the text left of the mask: the left context only."""
    import torch

    special = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
    out: list[list[str]] = []
    for s in sentences:
        left = s.split(MASK)[0].rstrip()
        ids = tokenizer(left, return_tensors="pt").input_ids if left else torch.tensor([[tokenizer.bos_token_id]])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, -1].clone()
        logits[special] = float("-inf")
        out.append([tokenizer.decode([i]).strip().lower() for i in logits.topk(k).indices.tolist()])
    return out


def evaluate(model, tokenizer, items: list[ClozeItem] | None = None, k: int = 5, left_only: bool = False) -> dict:
    """Accuracy overall and per category, plus the per-item guesses. With `left_only`, `model` is a
    causal LM read at the blank from the words before it (what a causal LM can do)."""
    items = load_items() if items is None else items
    predict = predict_topk_left if left_only else predict_topk
    guesses = predict(model, tokenizer, [it.sentence for it in items], k=k)
    rows = []
    for it, g in zip(items, guesses):
        rows.append(
            {
                "category": it.category,
                "sentence": it.sentence,
                "answers": list(it.answers),
                "guesses": g,
                "top1": g[0] in it.answers,
                "topk": any(x in it.answers for x in g),
            }
        )

    def score(sel: list[dict]) -> dict:
        n = len(sel)
        return {
            "n": n,
            "top1": sum(r["top1"] for r in sel) / n if n else 0.0,
            f"top{k}": sum(r["topk"] for r in sel) / n if n else 0.0,
        }

    cats = sorted({r["category"] for r in rows})
    return {
        "overall": score(rows),
        "by_category": {c: score([r for r in rows if r["category"] == c]) for c in cats},
        "items": rows,
        "k": k,
    }


def agreement(a, b, tokenizer, items: list[ClozeItem]) -> dict:
    """How two readings of one masked LM (e.g. its float32 and bfloat16 products) compare at the blank of
    each sentence: mean KL(a || b) in nats, the largest change of a probability in a's top 10, and the
    share of blanks with the same top-1 token and the same top-5 set."""
    import torch

    from explorer.mlm.predictions import log_probs_at

    kl, dp, same1, same5 = [], [], 0, 0
    for it in items:
        ids = tokenizer(it.sentence.replace(MASK, tokenizer.mask_token))["input_ids"]
        at = (torch.tensor([ids]), torch.zeros(1, dtype=torch.long), torch.tensor([ids.index(tokenizer.mask_token_id)]))
        pa, pb = log_probs_at(a, *at)[0], log_probs_at(b, *at)[0]
        kl.append(float((pa.exp() * (pa - pb)).sum()))
        top = pa.topk(10).indices
        dp.append(float((pa[top].exp() - pb[top].exp()).abs().max()))
        same1 += int(pa.argmax() == pb.argmax())
        same5 += int(set(pa.topk(5).indices.tolist()) == set(pb.topk(5).indices.tolist()))
    n = len(items)
    return {
        "n": n,
        "mean_kl": sum(kl) / n,
        "max_kl": max(kl),
        "max_prob_change": max(dp),
        "same_top1": same1 / n,
        "same_top5": same5 / n,
    }


def format_report(name: str, result: dict) -> str:
    k = result["k"]
    o = result["overall"]
    lines = [f"{name}: top-1 {o['top1']:.3f}  top-{k} {o[f'top{k}']:.3f}  ({o['n']} sentences)"]
    for c, s in result["by_category"].items():
        lines.append(f"  {c:<8} top-1 {s['top1']:.3f}  top-{k} {s[f'top{k}']:.3f}  ({s['n']})")
    return "\n".join(lines)


SETS = {  # name -> (file, what it is for)
    "main": (SENTENCES, "the benchmark (202 sentences); no setting of the default masked LM was chosen on it"),
    "heldout": (SENTENCES.parent / "cloze_heldout.tsv", "held out: never used to train, tune or choose anything"),
    "dev": (SENTENCES.parent / "cloze_dev.tsv", "development set: the masked LM's settings were chosen on it"),
}
LEFT_ONLY = "SmolLM2-135M-Instruct, left context only"
BASELINE = "bert-base-uncased"  # scored where it is in the local cache (never downloaded here)


def main(argv: list[str] | None = None) -> int:
    import os

    from explorer import ModelUnavailable, load
    from explorer.models.catalogue import DEFAULTS, PROJECT_MLM

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "models", nargs="*", help=f"masked-LM ids or folders (default: the offline ones, and {BASELINE} where cached)"
    )
    ap.add_argument("--sets", default=",".join(SETS), help="comma-separated: " + ", ".join(SETS))
    ap.add_argument("--no-left-only", action="store_true", help="skip the causal LM's left-context reading")
    ap.add_argument("--limit", type=int, default=0, help="first N sentences of each set only (a smoke run)")
    ap.add_argument("--show", action="store_true", help="print each sentence with its guesses")
    ap.add_argument("--json", type=Path, help="write the results to this file")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    sets = {n: load_items(SETS[n][0])[: args.limit or None] for n in args.sets.split(",") if n}
    ids = args.models or [DEFAULTS["mlm"], PROJECT_MLM, BASELINE]
    results: dict = {
        "sets": {
            n: {"file": str(SETS[n][0].relative_to(ROOT)), "n": len(items), "role": SETS[n][1]}
            for n, items in sets.items()
        },
        "models": {},
        "unavailable": {},
    }
    runs = [(m, "mlm") for m in ids] + ([] if args.no_left_only else [(LEFT_ONLY, "clm")])
    for model_id, role in runs:
        offline_only = model_id == BASELINE and not args.models
        saved = os.environ.get("HF_HUB_OFFLINE")
        if offline_only:
            os.environ["HF_HUB_OFFLINE"] = "1"  # the baseline only where it is already cached
        try:
            lm, exact = with_float32_products(lambda: load(role, None if role == "clm" else model_id))
        except ModelUnavailable as exc:
            print(f"{model_id}: not available ({exc})")
            results["unavailable"][model_id] = str(exc)
            continue
        finally:
            if offline_only:
                os.environ.pop("HF_HUB_OFFLINE", None) if saved is None else os.environ.update(HF_HUB_OFFLINE=saved)
        name = model_id or lm.info.model_id
        for label, one in ((name, lm), (f"{name}, float32 products", exact)):
            if one is None:
                continue
            if exact is not None and label == name:
                results.setdefault("served_products", {})[name] = "bfloat16"
                if "dev" in sets:  # how far the bfloat16 products move the predictions: development blanks only
                    agree = agreement(exact.model, lm.model, lm.tokenizer, sets["dev"])
                    results.setdefault("products_agreement", {})[name] = agree
                    print(
                        f"{name}, bfloat16 against float32 products on the {agree['n']} development blanks: "
                        f"mean KL {agree['mean_kl']:.1e} nats (largest {agree['max_kl']:.1e}), largest change of "
                        f"a top-10 probability {agree['max_prob_change']:.3f}, same top-1 {agree['same_top1']:.0%}, "
                        f"same top-5 set {agree['same_top5']:.0%}",
                        flush=True,
                    )
            results["models"][label] = {}
            for set_name, items in sets.items():
                res = evaluate(one.model, one.tokenizer, items, left_only=role == "clm")
                results["models"][label][set_name] = {"overall": res["overall"], "by_category": res["by_category"]}
                print(format_report(f"{label} [{set_name}]", res), flush=True)
                if args.show:
                    for r in res["items"]:
                        mark = "+" if r["top1"] else ("~" if r["topk"] else "-")
                        print(f"   {mark} {r['sentence']}  ->  {', '.join(r['guesses'])}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if results["models"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
