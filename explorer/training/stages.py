"""The three stages of an assistant on one tiny model: pretraining from scratch → supervised
fine-tuning → alignment (DPO). Each stage starts from the model the previous one left, on a copy of
its own (the earlier stage's model stays as it was, so its answers can be shown next to the new ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from explorer.errors import ExplorerError
from explorer.training.alignment_runs import dpo_run
from explorer.training.predict import reply, trained
from explorer.training.preferences import PreferencePair
from explorer.training.runs import Run, scratch_run, sft_run
from explorer.training.settings import Plan, plan

STAGES = ("pretrain", "sft", "dpo")
STAGE_NAMES = {"pretrain": "1. Pretraining (self-supervised)", "sft": "2. Supervised fine-tuning",
               "dpo": "3. Alignment (DPO)"}
_MODES = {"pretrain": "scratch", "sft": "sft", "dpo": "dpo"}
DEFAULT_STEPS = {"pretrain": 400, "sft": 150, "dpo": 100}
_LR = {"pretrain": 2e-3, "sft": 1e-3, "dpo": 1e-4}  # DPO higher than 1e-4 unlearns the tiny model's language


@dataclass
class ThreeStages:
    """One tiny GPT carried through the three stages; `runs` holds each stage's run (and so its loss
    history), `answers` what the model replies to the probes after each stage."""

    size: str
    text: str
    sft_pairs: list[tuple[str, str]]
    preference_pairs: list[PreferencePair]
    probes: list[str]
    seed: int = 0
    corpus_name: str = "corpus"
    runs: dict[str, Run] = field(default_factory=dict)
    answers: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.probes:
            raise ExplorerError("Write at least one probe prompt, one per line.")

    @property
    def next_stage(self) -> str | None:
        """The first stage not finished yet (a stage is finished once its answers are recorded)."""
        return next((s for s in STAGES if s not in self.answers), None)

    def plan(self, stage: str, steps: int | None = None) -> Plan:
        return plan(_MODES[stage], steps=steps or DEFAULT_STEPS[stage], lr=_LR[stage],
                    batch=8 if stage != "pretrain" else 16, seq_len=128 if stage != "pretrain" else 64)

    def new_run(self, stage: str, steps: int | None = None) -> Run:
        """The run of `stage`, from the model the stage before it left."""
        if stage != self.next_stage:
            raise ExplorerError(f"The next stage is {STAGE_NAMES.get(self.next_stage or '', 'none: all are done')}.")
        p = self.plan(stage, steps)
        if stage == "pretrain":
            return scratch_run("gpt", self.size, self.text, p, seed=self.seed, corpus_name=self.corpus_name)
        before = self.model_after(STAGES[STAGES.index(stage) - 1])
        if stage == "sft":
            return sft_run(before, self.sft_pairs, p, seed=self.seed, data_name="prompt-response pairs")
        return dpo_run(before, self.preference_pairs, p, beta=0.1, seed=self.seed, data_name="preference pairs")

    def model_after(self, stage: str):
        """The model as `stage` left it, as a `LoadedModel`."""
        run = self.runs.get(stage)
        if run is None:
            raise ExplorerError(f"{STAGE_NAMES[stage]} has not run yet.")
        return trained(run.model, run.tokenizer, name=f"the model after {STAGE_NAMES[stage].lower()}")

    def finish(self, stage: str) -> None:
        """Record the probes' answers after `stage` (its run done or stopped); the next stage can start."""
        if stage not in self.runs:
            raise ExplorerError(f"{STAGE_NAMES[stage]} has not run yet.")
        lm = self.model_after(stage)
        self.answers[stage] = [reply(lm, q) for q in self.probes]

    def table(self):
        """Probe by probe: the answer after each finished stage."""
        import pandas as pd

        return pd.DataFrame({"probe": self.probes, **{STAGE_NAMES[s]: self.answers[s] for s in STAGES
                                                        if s in self.answers}})


def three_stages(size: str, text: str, sft_pairs: Sequence[tuple[str, str]], preference_pairs: Sequence[PreferencePair],
                 probes: Sequence[str], *, seed: int = 0, corpus_name: str = "corpus") -> ThreeStages:
    return ThreeStages(size, text, list(sft_pairs), list(preference_pairs), list(probes), seed, corpus_name)
