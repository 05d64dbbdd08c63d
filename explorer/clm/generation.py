"""Step-by-step generation: append a chosen token, undo, greedy, seeded sampling, N more."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import pandas as pd
import torch

from explorer.clm.distribution import TOP_N, NextToken, distribution_of, rank_of
from explorer.clm.forward import as_ids, next_token_logits, piece_text
from explorer.clm.prompt import Prompt
from explorer.clm.sampling import GREEDY, Settings, apply_sampling, draw
from explorer.errors import ExplorerError
from explorer.models.loaded import LoadedModel, model_parts
from explorer.tokens import Encoded, max_positions

MAX_NEW_TOKENS = 128  # tokens a step-by-step continuation may add


@dataclass
class Step:
    token_id: int
    piece: str
    model_prob: float  # the model's own probability for the token (temperature 1, nothing cut)
    prob: float  # its probability under the decoding settings in force when it was chosen
    rank: int  # its rank in the model's distribution (1 = most likely)
    how: str  # "picked", "greedy" or "sampled"


ProgressFn = Callable[[int, int, "Step"], None]


@dataclass
class Generation:
    """A continuation built one token at a time; holds ids only (pass the model to each call)."""

    prompt_ids: list[int]
    stop_ids: tuple[int, ...] = ()
    max_new_tokens: int = MAX_NEW_TOKENS
    steps: list[Step] = field(default_factory=list)
    # the logits after the text as it stands, for the model that read it: a step reads the distribution it
    # was chosen from once (the one shown before it), and the text's new distribution once
    last_logits: tuple[tuple, torch.Tensor] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def start(
        cls, lm: LoadedModel, prompt: Prompt | Encoded | Sequence[int], *, max_new_tokens: int = MAX_NEW_TOKENS
    ) -> "Generation":
        """A new continuation of `prompt`; stops at the model's end-of-text token(s)."""
        model, tokenizer = model_parts(lm)
        ids = prompt.ids if isinstance(prompt, Prompt) else as_ids(prompt)
        room = max(0, max_positions(model, tokenizer) - len(ids))
        return cls(ids, stop_token_ids(lm), min(max_new_tokens, room))

    @property
    def ids(self) -> list[int]:
        return self.prompt_ids + [s.token_id for s in self.steps]

    @property
    def new_ids(self) -> list[int]:
        return [s.token_id for s in self.steps]

    @property
    def finished(self) -> bool:
        """True once the model produced an end-of-text token."""
        return bool(self.steps) and self.steps[-1].token_id in self.stop_ids

    @property
    def full(self) -> bool:
        return len(self.steps) >= self.max_new_tokens

    def check_room(self) -> None:
        if self.finished:
            raise ExplorerError(
                "The model ended the text (it chose its end-of-text token).", "Undo the last step to continue."
            )
        if self.full:
            raise ExplorerError(
                f"The continuation has reached its limit of {self.max_new_tokens} new tokens.",
                "Undo some steps or reset.",
            )

    def logits(self, lm: LoadedModel) -> torch.Tensor:
        """The model's logits for the token after the text as it stands (`next_token_logits`), kept with the
        text until it changes."""
        model, _ = model_parts(lm)
        key = (id(model), tuple(self.ids))
        if self.last_logits is None or self.last_logits[0] != key:
            self.last_logits = (key, next_token_logits(lm, self.ids))
        return self.last_logits[1]

    def distribution(self, lm: LoadedModel, *, top_n: int = TOP_N) -> NextToken:
        _, tokenizer = model_parts(lm)
        return distribution_of(self.ids, self.logits(lm).numpy(), tokenizer, top_n=top_n)

    def append(self, lm: LoadedModel, token_id: int, *, settings: Settings | None = None, how: str = "picked") -> Step:
        """Append a chosen token, recording its probability (under `settings`, default temperature 1)."""
        self.check_room()
        _, tokenizer = model_parts(lm)
        token_id = int(token_id)
        logits = self.logits(lm)
        if not 0 <= token_id < logits.numel():
            raise ExplorerError(f"Token id {token_id} is outside this model's vocabulary.")
        s = settings or Settings()
        shaped = apply_sampling(logits, s.temperature, s.top_k, s.top_p)
        step = Step(
            token_id,
            piece_text(tokenizer, token_id),
            float(shaped.before[token_id]),
            float(shaped.after[token_id]),
            rank_of(shaped.before, token_id),
            how,
        )
        self.steps.append(step)
        return step

    def undo(self) -> Step | None:
        return self.steps.pop() if self.steps else None

    def reset(self) -> None:
        self.steps.clear()

    def greedy(self, lm: LoadedModel) -> Step:
        """Append the most likely token."""
        self.check_room()
        best = int(torch.argmax(self.logits(lm)))
        return self.append(lm, best, settings=GREEDY, how="greedy")

    def sample(self, lm: LoadedModel, settings: Settings, seed: int) -> Step:
        """Append a token drawn with `settings`, seeded by `seed` and the position (reproducible)."""
        self.check_room()
        if settings.greedy:
            return self.greedy(lm)
        shaped = apply_sampling(self.logits(lm), settings.temperature, settings.top_k, settings.top_p)
        token = draw(shaped.after, seed, len(self.ids))
        return self.append(lm, token, settings=settings, how="sampled")

    def generate(
        self,
        lm: LoadedModel,
        n: int,
        *,
        settings: Settings | None = None,
        seed: int = 0,
        progress: ProgressFn | None = None,
    ) -> list[Step]:
        """Append up to `n` tokens (greedy when `settings` is None or has temperature 0).

        Stops early at an end-of-text token or the length limit; `progress(done, n, step)` is called
        after each token.
        """
        self.check_room()
        n = max(0, min(int(n), self.max_new_tokens - len(self.steps)))
        out: list[Step] = []
        for i in range(n):
            if settings is None or settings.greedy:
                step = self.greedy(lm)
            else:
                step = self.sample(lm, settings, seed)
            out.append(step)
            if progress:
                progress(i + 1, n, step)
            if self.finished:
                break
        return out

    def text(self, tokenizer: Any, *, new_only: bool = False) -> str:
        return tokenizer.decode(
            self.new_ids if new_only else self.ids, skip_special_tokens=False, clean_up_tokenization_spaces=False
        )

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "step": i + 1,
                    "token": s.piece,
                    "id": s.token_id,
                    "how": s.how,
                    "model probability": s.model_prob,
                    "probability as chosen": s.prob,
                    "rank": s.rank,
                }
                for i, s in enumerate(self.steps)
            ],
            columns=["step", "token", "id", "how", "model probability", "probability as chosen", "rank"],
        )


def stop_token_ids(lm: LoadedModel) -> tuple[int, ...]:
    """End-of-text ids, as ``model.generate`` uses them (generation config, else the tokenizer's EOS)."""
    model, tokenizer = model_parts(lm)
    cfg = getattr(model, "generation_config", None)
    eos = getattr(cfg, "eos_token_id", None) if cfg is not None else None
    if eos is None:
        eos = getattr(model.config, "eos_token_id", None)
    if eos is None and tokenizer is not None:
        eos = getattr(tokenizer, "eos_token_id", None)
    if eos is None:
        return ()
    return tuple(int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos]))
