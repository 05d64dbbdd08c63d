"""What a model trains on: language-model windows (masked or causal) and labelled sentences (SFT pairs:
`explorer.training.sft`)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch.nn import Module

from explorer.errors import ExplorerError
from explorer.mlm.masking import mask_tokens
from explorer.training.limits import MAX_SEQ_LEN
from explorer.training.loop import eval_mode, interrupt_points
from explorer.training.modelling import seeded
from explorer.wording import count


def token_ids(tokenizer: Any, text: str) -> list[int]:
    """All token ids of a long text, without special tokens (no length warnings)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return list(backend.encode(text, add_special_tokens=False).ids)
    return list(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


class TokenStream:
    """A text as one long run of token ids, split into a training part and a held-out tail."""

    def __init__(self, ids: Sequence[int], window: int, held_out: float = 0.1):
        n = len(ids)
        if n < 48:
            raise ExplorerError(
                f"The text is only {count(n, 'token')} long; at least 48 are needed to train and hold some out.",
                "Use a longer text.",
            )
        self.window = max(8, min(window, n // 4))
        n_val = max(int(n * held_out), self.window + 1)
        self.train = torch.tensor(ids[: n - n_val], dtype=torch.long)
        self.val = torch.tensor(ids[n - n_val :], dtype=torch.long)

    def sample(self, gen: torch.Generator, batch: int) -> torch.Tensor:
        starts = torch.randint(0, len(self.train) - self.window + 1, (batch,), generator=gen)
        return torch.stack([self.train[s : s + self.window] for s in starts.tolist()])

    def held_out(self, n: int) -> torch.Tensor:
        last = len(self.val) - self.window
        starts = sorted({round(i * last / max(1, n - 1)) for i in range(n)})
        return torch.stack([self.val[s : s + self.window] for s in starts])


def mask_batch(
    ids: torch.Tensor, tokenizer: Any, gen: torch.Generator, rate: float = 0.15
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's recipe (`explorer.mlm.mask_tokens`, the masked-LM page's) on each row of a batch, with the
    exact count: round(15 %) of the row's non-special tokens are targets (at least one); 80 % of them
    become [MASK], 10 % a random real token, 10 % stay. Each row's draws are seeded by one number drawn
    from `gen`, so the same generator state gives the same batch. Returns (input_ids, labels), the
    labels -100 everywhere but the targets."""
    seeds = torch.randint(0, 2**31 - 1, (ids.shape[0],), generator=gen).tolist()
    rows = [mask_tokens(row, tokenizer, rate, seed, exact=True) for row, seed in zip(ids.tolist(), seeds)]
    return (
        torch.tensor([r.input_ids for r in rows], dtype=torch.long),
        torch.tensor([r.labels for r in rows], dtype=torch.long),
    )


def with_specials(windows: torch.Tensor, tokenizer: Any) -> torch.Tensor:
    """Each window framed by the tokenizer's first and last special tokens ([CLS] ... [SEP], or BOS ... EOS)."""
    first = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    last = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    parts = []
    if first is not None:
        parts.append(torch.full((windows.shape[0], 1), first, dtype=torch.long))
    parts.append(windows)
    if last is not None:
        parts.append(torch.full((windows.shape[0], 1), last, dtype=torch.long))
    return torch.cat(parts, dim=1)


class LanguageModelTask:
    """Self-supervised batches from a text: next-token (``clm``) or masked-token (``mlm``) labels."""

    def __init__(self, objective: str, tokenizer: Any, text: str, *, batch: int, seq_len: int, eval_windows: int = 8):
        if objective not in ("clm", "mlm"):
            raise ExplorerError(f"Unknown objective '{objective}'.")
        if objective == "mlm" and tokenizer.mask_token_id is None:
            raise ExplorerError("This tokenizer has no mask token, so it cannot be trained as a masked LM.")
        self.objective, self.tokenizer, self.batch_size = objective, tokenizer, batch
        inner = seq_len - 2 if objective == "mlm" else seq_len
        self.stream = TokenStream(token_ids(tokenizer, text), inner)
        gen = torch.Generator().manual_seed(1234)  # the same held-out masks at every evaluation
        windows = self.stream.held_out(eval_windows)
        self.eval_set = [self._make(windows[i : i + batch], gen) for i in range(0, len(windows), max(1, batch))]

    def _make(self, windows: torch.Tensor, gen: torch.Generator) -> dict:
        if self.objective == "clm":
            return {"input_ids": windows, "labels": windows}
        inputs, labels = mask_batch(with_specials(windows, self.tokenizer), self.tokenizer, gen)
        return {"input_ids": inputs, "labels": labels}

    def batch(self, gen: torch.Generator) -> dict:
        return self._make(self.stream.sample(gen, self.batch_size), gen)

    @staticmethod
    def tokens(batch: dict) -> int:
        return int(batch["input_ids"].numel())

    def loss(self, model: Module, batch: dict) -> torch.Tensor:
        return masked_lm_loss(model, batch) if self.objective == "mlm" else model(**batch).loss

    def evaluate(self, model: Module, interrupt: Callable[[], None] | None = None) -> dict:
        return {"eval_loss": mean_loss(model, self.eval_set, interrupt, self.loss)}


def masked_lm_loss(model: Module, batch: dict) -> torch.Tensor:
    """Masked-LM loss computing vocabulary logits only at the masked positions (BERT-style models
    with ``bert`` + ``cls`` parts), which is several times cheaper than logits everywhere; the
    same value as ``model(**batch).loss``. Other models take the plain path."""
    base, head = getattr(model, "bert", None), getattr(model, "cls", None)
    if base is None or head is None:
        return model(**batch).loss
    labels = batch["labels"]
    hidden = base(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask")).last_hidden_state
    targets = labels != -100
    return torch.nn.functional.cross_entropy(head(hidden[targets]).float(), labels[targets])


def mean_loss(model: Module, batches: list[dict], interrupt, loss_fn=None) -> float:
    """The loss over held-out batches, weighted by their sizes, without gradients."""
    total, weight = 0.0, 0
    with torch.no_grad(), interrupt_points(model, interrupt):
        for b in batches:
            n = int((b["labels"] != -100).sum()) or 1
            total += float(loss_fn(model, b) if loss_fn else model(**b).loss) * n
            weight += n
    return total / max(1, weight)


def pad_rows(rows: list[list[int]], pad_id: int, label_rows: list[list[int]] | None = None) -> dict:
    """A batch of token rows padded to the longest (input_ids, attention_mask, and labels when given)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
        if label_rows is not None:
            labels[i, : len(r)] = torch.tensor(label_rows[i])
    out = {"input_ids": ids, "attention_mask": mask}
    if label_rows is not None:
        out["labels"] = labels
    return out


def split_indices(labels: Sequence[Any], held_out: float, seed: int) -> tuple[list[int], list[int]]:
    """Held-out split, stratified by label when labels repeat; at least one example on each side per label."""
    gen = torch.Generator().manual_seed(seed)
    by_label: dict[Any, list[int]] = {}
    for i, lab in enumerate(labels):
        by_label.setdefault(lab, []).append(i)
    train, test = [], []
    for idx in by_label.values():
        order = [idx[j] for j in torch.randperm(len(idx), generator=gen).tolist()]
        k = min(len(order) - 1, max(1, round(len(order) * held_out))) if len(order) > 1 else 0
        test += order[:k]
        train += order[k:]
    return sorted(train), sorted(test)


class EncoderClassifier(torch.nn.Module):
    """A sentence encoder with a linear classification head on its mean-pooled output."""

    def __init__(self, encoder: Module, n_labels: int, seed: int = 0):
        super().__init__()
        self.encoder = encoder
        self.dropout = torch.nn.Dropout(0.1)
        with seeded(seed):
            self.head = torch.nn.Linear(encoder.config.hidden_size, n_labels)

    def forward(self, input_ids, attention_mask, labels=None):
        from transformers.modeling_outputs import SequenceClassifierOutput

        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
        logits = self.head(self.dropout(pooled))
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


class ExampleTask:
    """A task made of separate examples (sentences, prompt-response pairs): training batches are
    random examples of the training split, padded; subclasses say how to `_make` a batch."""

    train_idx: list[int]
    batch_size: int

    def _make(self, idx: Sequence[int]) -> dict:
        raise NotImplementedError

    def batch(self, gen: torch.Generator) -> dict:
        pick = torch.randint(len(self.train_idx), (self.batch_size,), generator=gen).tolist()
        return self._make([self.train_idx[i] for i in pick])

    @staticmethod
    def tokens(batch: dict) -> int:
        return int(batch["attention_mask"].sum())


class ClassificationTask(ExampleTask):
    """Labelled sentences, a stratified held-out split, batches of padded token ids."""

    def __init__(
        self,
        tokenizer: Any,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        batch: int,
        seq_len: int,
        seed: int = 0,
        held_out: float = 0.2,
    ):
        self.tokenizer, self.batch_size = tokenizer, batch
        self.classes = sorted(set(labels))
        self.texts = list(texts)
        self.label_ids = [self.classes.index(lab) for lab in labels]
        self.ids = [tokenizer(t, truncation=True, max_length=seq_len)["input_ids"] for t in self.texts]
        self.train_idx, self.test_idx = split_indices(self.label_ids, held_out, seed)
        self.eval_set = [self._make(self.test_idx[i : i + 32]) for i in range(0, len(self.test_idx), 32)]

    def _make(self, idx: Sequence[int]) -> dict:
        out = pad_rows([self.ids[i] for i in idx], self.tokenizer.pad_token_id or 0)
        out["labels"] = torch.tensor([self.label_ids[i] for i in idx], dtype=torch.long)
        return out

    def predict(self, model: Module, texts: Sequence[str], interrupt=None) -> torch.Tensor:
        """Class probabilities for `texts` (rows) with the model in eval mode."""
        rows = [self.tokenizer(t, truncation=True, max_length=MAX_SEQ_LEN)["input_ids"] for t in texts]
        with eval_mode(model), torch.no_grad(), interrupt_points(model, interrupt):
            b = pad_rows(rows, self.tokenizer.pad_token_id or 0)
            return torch.softmax(model(**b).logits, dim=-1)

    def evaluate(self, model: Module, interrupt: Callable[[], None] | None = None) -> dict:
        total, correct, n = 0.0, 0, 0
        with torch.no_grad(), interrupt_points(model, interrupt):
            for b in self.eval_set:
                out = model(**b)
                total += float(out.loss) * len(b["labels"])
                correct += int((out.logits.argmax(-1) == b["labels"]).sum())
                n += len(b["labels"])
        return {"eval_loss": total / max(1, n), "accuracy": correct / max(1, n)}

    def held_out_table(self, model: Module):
        import pandas as pd

        texts = [self.texts[i] for i in self.test_idx]
        probs = self.predict(model, texts)
        pred = probs.argmax(-1).tolist()
        return pd.DataFrame(
            {
                "text": texts,
                "label": [self.classes[self.label_ids[i]] for i in self.test_idx],
                "predicted": [self.classes[p] for p in pred],
                "confidence": [round(float(probs[r, p]), 3) for r, p in enumerate(pred)],
                "correct": [self.label_ids[i] == p for i, p in zip(self.test_idx, pred)],
            }
        )
