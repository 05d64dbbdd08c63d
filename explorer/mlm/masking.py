"""BERT's masking recipe: 15 % of the tokens chosen, of which 80 % become ``[MASK]``, 10 % a random
token and 10 % stay unchanged; the labels keep the original tokens there and ignore the rest.

The one implementation: the masked-LM page draws it on a text (`Encoded`), the training code
(`explorer.training.tasks`) on each row of token ids of a batch."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import pandas as pd

from explorer.errors import ExplorerError
from explorer.mlm.input import mask_token
from explorer.tokens import Encoded, display_piece

NO_LOSS = -100  # label value the loss ignores (PyTorch's CrossEntropyLoss ignore_index)
MASKED, RANDOM, KEPT = "[MASK]", "random token", "unchanged"  # what became of a chosen position
_UNUSED = re.compile(r"^(\[unused\d+\]|<unused\d+>|\[unk\]|<unk>)$", re.IGNORECASE)


@dataclass
class MaskingResult:
    """One training example made by BERT's recipe from a text.

    `labels` hold the original id where a position was chosen and `NO_LOSS` (-100) elsewhere;
    `actions` say what became of each position: "" (not chosen), `MASKED`, `RANDOM` or `KEPT`.
    """

    original_ids: list[int]
    input_ids: list[int]
    labels: list[int]
    actions: list[str]
    candidates: list[int]
    rate: float
    seed: int
    whole_word: bool = False
    input_pieces: list[str] = field(default_factory=list)

    @property
    def chosen(self) -> list[int]:
        return [p for p, a in enumerate(self.actions) if a]

    def counts(self) -> dict[str, int]:
        return {a: sum(1 for x in self.actions if x == a) for a in (MASKED, RANDOM, KEPT)}


def _random_token(rng: random.Random, tokenizer: Any, vocab_size: int, special_ids: set[int]) -> int:
    """A random vocabulary entry that is a real token (no special, unknown or unused slots)."""
    for _ in range(1000):
        i = rng.randrange(vocab_size)
        if i in special_ids:
            continue
        tok = tokenizer.convert_ids_to_tokens(i)
        if tok and not _UNUSED.match(tok):
            return i
    return rng.randrange(vocab_size)


def mask_tokens(
    tokens: Encoded | Sequence[int],
    tokenizer: Any,
    rate: float = 0.15,
    seed: int = 0,
    *,
    whole_word: bool = False,
    exact: bool = True,
    mask_share: float = 0.8,
    random_share: float = 0.1,
    vocab_size: int | None = None,
) -> MaskingResult:
    """BERT's masking recipe on one text, or one row of token ids.

    `tokens` is an `Encoded` text or a row of ids (e.g. a training window framed by ``[CLS]`` and
    ``[SEP]``; each piece is then its own word). Chooses `rate` of its tokens (special tokens,
    ``[UNK]`` and typed masks are never chosen: their label would mean nothing). With `exact` (the
    original BERT data script) exactly ``round(rate × n)`` tokens are chosen (halves rounded up), at
    least one; otherwise each token is chosen by an
    independent coin flip (Hugging Face's ``DataCollatorForLanguageModeling``), so short texts
    may get none. `whole_word` chooses whole words (all their pieces) instead of single pieces.
    Each chosen position then becomes ``[MASK]`` (80 %), a random token (10 %) or stays
    unchanged (10 %); its label is the original token; a random token is a real vocabulary entry
    (no special, unknown or unused slot). All draws come from ``random.Random(seed)``, in this order:
    the choice, then one draw per chosen position (left to right) for what it becomes, plus the
    random token's. Same `seed`, same result.
    """
    if not 0.0 <= rate <= 1.0:
        raise ExplorerError(f"The masking rate must be between 0 and 1 (got {rate}).")
    if mask_share < 0 or random_share < 0 or mask_share + random_share > 1:
        raise ExplorerError("The [MASK] and random-token shares must be non-negative and add up to at most 1.")
    _, mask_id = mask_token(tokenizer)
    special_ids = set(tokenizer.all_special_ids or [])
    if isinstance(tokens, Encoded):
        ids, content, word_ids = list(tokens.ids), tokens.content_positions, list(tokens.word_ids)
    else:
        ids = [int(i) for i in tokens]
        content, word_ids = range(len(ids)), [None] * len(ids)
    candidates = [p for p in content if ids[p] not in special_ids]
    if not candidates:
        raise ExplorerError(
            "This text has no token that can be masked (only special or unknown tokens).", "Type a few ordinary words."
        )
    rng = random.Random(seed)
    if whole_word:
        by_word: dict[Any, list[int]] = {}
        for p in candidates:
            by_word.setdefault(word_ids[p] if word_ids[p] is not None else ("pos", p), []).append(p)
        units = list(by_word.values())
    else:
        units = [[p] for p in candidates]
    chosen: list[int] = []
    if exact:
        target = max(1, int(len(candidates) * rate + 0.5)) if rate > 0 else 0
        order = units[:]
        rng.shuffle(order)
        for unit in order:
            if len(chosen) >= target:
                break
            if len(chosen) + len(unit) > target:
                continue
            chosen.extend(unit)
        if target and not chosen:  # every word is longer than the target: take one whole word
            chosen.extend(order[0])
    else:
        for unit in units:
            if rng.random() < rate:
                chosen.extend(unit)
    input_ids = list(ids)
    labels = [NO_LOSS] * len(ids)
    actions = [""] * len(ids)
    size = vocab_size or len(tokenizer)
    for p in sorted(chosen):
        labels[p] = ids[p]
        draw = rng.random()
        if draw < mask_share:
            actions[p], input_ids[p] = MASKED, mask_id
        elif draw < mask_share + random_share:
            actions[p], input_ids[p] = RANDOM, _random_token(rng, tokenizer, size, special_ids)
        else:
            actions[p] = KEPT
    return MaskingResult(
        ids,
        input_ids,
        labels,
        actions,
        candidates,
        rate,
        seed,
        whole_word,
        input_pieces=[display_piece(tokenizer, i) for i in input_ids],
    )


def training_pair_frame(result: MaskingResult, tokenizer: Any) -> pd.DataFrame:
    """The (input ids, labels) pair as a table, one row per position."""
    rows = []
    for p, (orig, inp, lab, act) in enumerate(
        zip(result.original_ids, result.input_ids, result.labels, result.actions)
    ):
        rows.append(
            {
                "position": p,
                "text token": display_piece(tokenizer, orig),
                "chosen": "yes" if act else "",
                "became": act,
                "input id": inp,
                "input token": display_piece(tokenizer, inp),
                "label": lab,
                "label token": display_piece(tokenizer, lab) if lab != NO_LOSS else "(no loss)",
            }
        )
    return pd.DataFrame(rows)
