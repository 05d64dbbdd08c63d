"""The three stages of an assistant on one tiny model: pretraining from scratch → supervised
fine-tuning → alignment, by DPO or by RLHF (a reward model trained on the preference pairs, then RL). Each stage starts from the model the previous one left, on a copy of
its own (the earlier stage's model stays as it was, so its answers can be shown next to the new ones).

The lesson's data and settings are in `assets/examples/training.toml` (`[stages]`): the pretraining
text (facts and stories in simple English, no chat format), Pip the robot's prompt → response pairs,
the preference pairs (refuse harmful requests, answer ordinary questions), the prompts every stage is
measured on, and each stage's steps and learning rate (`[stages.dpo]`, `[stages.rlhf]`: the third stage's two
ways). After each stage `finish` records the probes'
answers and the figures of `stage_figures` (held-out perplexity; answers as Pip, in words, of the
preferred kind), measured on prompts no stage trained on.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from typing import Sequence

from explorer.errors import ExplorerError
from explorer.training.alignment_runs import dpo_run
from explorer.training.answers import vocabulary
from explorer.training.data import CORPUS_DIR, corpus_text
from explorer.training.predict import reply, trained
from explorer.training.preferences import PreferencePair, preference_pairs
from explorer.training.rlhf_runs import rlhf_run
from explorer.training.runs import Run, scratch_run, sft_run
from explorer.training.settings import Plan, plan
from explorer.training.stage_figures import CheckPrompt, StageFigures, check_prompts, measure

STAGES = ("pretrain", "sft", "dpo")  # the default; the third stage is one of ALIGNMENTS
ALIGNMENTS = ("dpo", "rlhf")
STAGE_NAMES = {
    "pretrain": "1. Pretraining (self-supervised)",
    "sft": "2. Supervised fine-tuning",
    "dpo": "3. Alignment (DPO)",
    "rlhf": "3. Alignment (RLHF)",
}
_MODES = {"pretrain": "scratch", "sft": "sft", "dpo": "dpo", "rlhf": "rlhf"}


def lesson() -> dict:
    """The lesson's settings and data files (`[stages]` of `assets/examples/training.toml`)."""
    from explorer import examples

    return examples.load("training")["stages"]


def stage_plan(stage: str, settings: dict | None = None, steps: int | None = None) -> Plan:
    """The steps, learning rate, batch and sequence length of `stage` (from the lesson's settings)."""
    s = (settings or lesson())[stage]
    return plan(
        _MODES[stage],
        steps=steps or int(s["steps"]),
        lr=float(s["lr"]),
        batch=int(s["batch"]),
        seq_len=int(s["seq_len"]),
        layers=s.get("layers", "all"),
    )


def sft_pairs(settings: dict | None = None) -> list[tuple[str, str]]:
    with open(CORPUS_DIR / (settings or lesson())["sft_pairs"], newline="", encoding="utf-8") as f:
        return [(r["prompt"], r["response"]) for r in csv.DictReader(f)]


def stage_preferences(settings: dict | None = None) -> list[PreferencePair]:
    pairs, _ = preference_pairs(
        (CORPUS_DIR / (settings or lesson())["preference_pairs"]).read_bytes(), "the lesson's preference pairs"
    )
    return pairs


def measured_prompts(settings: dict | None = None, split: str = "held-out") -> list[CheckPrompt]:
    """The prompts the figures are measured on: ``held-out`` (shown on the page) or ``dev`` (the
    settings were chosen on these). None of them is in any stage's training data."""
    return check_prompts(CORPUS_DIR / (settings or lesson())["check_prompts"], split)


@dataclass
class ThreeStages:
    """One tiny GPT carried through the three stages; `runs` holds each stage's run (and so its loss
    history), `answers` what the model replies to the probes after each stage, `figures` what it does
    on the measured prompts."""

    size: str
    text: str
    sft_pairs: list[tuple[str, str]]
    preference_pairs: list[PreferencePair]
    probes: list[str]
    seed: int = 0
    corpus_name: str = "corpus"
    settings: dict = field(default_factory=lesson)
    prompts: list[CheckPrompt] = field(default_factory=list)  # measured after each stage
    alignment: str = "dpo"  # the third stage: "dpo" or "rlhf"
    runs: dict[str, Run] = field(default_factory=dict)
    answers: dict[str, list[str]] = field(default_factory=dict)
    figures: dict[str, StageFigures] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.alignment not in ALIGNMENTS:
            raise ExplorerError(f"Unknown alignment '{self.alignment}'.", "Pick DPO or RLHF.")
        if not self.probes:
            raise ExplorerError("Write at least one probe prompt, one per line.")
        # the words the model has been taught, by any stage: an answer made of these is "in words"
        self.known = vocabulary(
            " ".join(
                [self.text]
                + [r for _, r in self.sft_pairs]
                + [p.chosen + " " + p.rejected for p in self.preference_pairs]
            )
        )

    @property
    def stages(self) -> tuple[str, str, str]:
        return ("pretrain", "sft", self.alignment)

    @property
    def next_stage(self) -> str | None:
        """The first stage not finished yet (a stage is finished once its answers are recorded)."""
        return next((s for s in self.stages if s not in self.answers), None)

    def plan(self, stage: str, steps: int | None = None) -> Plan:
        return stage_plan(stage, self.settings, steps)

    def new_run(self, stage: str, steps: int | None = None, encoder=None) -> Run:
        """The run of `stage`, from the model the stage before it left (RLHF's reward model: `encoder` with a
        scalar head, trained on the preference pairs once per process)."""
        if stage != self.next_stage:
            raise ExplorerError(f"The next stage is {STAGE_NAMES.get(self.next_stage or '', 'none: all are done')}.")
        p = self.plan(stage, steps)
        if stage == "pretrain":
            return scratch_run("gpt", self.size, self.text, p, seed=self.seed, corpus_name=self.corpus_name)
        before = self.model_after(self.stages[self.stages.index(stage) - 1])
        if stage == "sft":
            return sft_run(before, self.sft_pairs, p, seed=self.seed, data_name="Pip's prompt-response pairs")
        if stage == "rlhf":
            r = self.settings["rlhf"]
            return rlhf_run(
                before,
                encoder,
                self.preference_pairs,
                p,
                beta=float(r["beta"]),
                k=int(r["k"]),
                seed=self.seed,
                data_name="the preference pairs (refuse harmful requests, answer the rest)",
                method=r.get("method", "rloo"),
            )
        d = self.settings["dpo"]
        return dpo_run(
            before,
            self.preference_pairs,
            p,
            beta=float(d["beta"]),
            seed=self.seed,
            data_name="preference pairs (refuse harmful requests, answer the rest)",
            nll_weight=float(d.get("nll_weight", 0.0)),
        )

    def model_after(self, stage: str):
        """The model as `stage` left it, as a `LoadedModel`."""
        run = self.runs.get(stage)
        if run is None:
            raise ExplorerError(f"{STAGE_NAMES[stage]} has not run yet.")
        return trained(run.model, run.tokenizer, name=f"the model after {STAGE_NAMES[stage].lower()}")

    def finish(self, stage: str) -> None:
        """Record the probes' answers and the figures after `stage` (its run done or stopped); the next
        stage can start."""
        if stage not in self.runs:
            raise ExplorerError(f"{STAGE_NAMES[stage]} has not run yet.")
        lm = self.model_after(stage)
        if self.prompts:
            self.figures[stage] = measure(
                lm,
                self.text,
                self.prompts,
                persona=self.settings["persona"],
                seq_len=int(self.settings["pretrain"]["seq_len"]),
                known=self.known,
            )
        self.answers[stage] = [reply(lm, q) for q in self.probes]

    def table(self):
        """Probe by probe: the answer after each finished stage."""
        import pandas as pd

        return pd.DataFrame(
            {"probe": self.probes, **{STAGE_NAMES[s]: self.answers[s] for s in self.stages if s in self.answers}}
        )

    def figures_table(self):
        """Stage by stage: held-out perplexity and the shares of answers as Pip, in words, of the preferred kind."""
        import pandas as pd

        rows = [{"stage": STAGE_NAMES[s], **self.figures[s].row()} for s in self.stages if s in self.figures]
        return pd.DataFrame(rows)


def three_stages(
    size: str,
    text: str,
    sft_pairs: Sequence[tuple[str, str]],
    preference_pairs: Sequence[PreferencePair],
    probes: Sequence[str],
    *,
    seed: int = 0,
    corpus_name: str = "corpus",
    settings: dict | None = None,
    prompts: Sequence[CheckPrompt] = (),
    alignment: str = "dpo",
) -> ThreeStages:
    return ThreeStages(
        size,
        text,
        list(sft_pairs),
        list(preference_pairs),
        list(probes),
        seed,
        corpus_name,
        settings or lesson(),
        list(prompts),
        alignment=alignment,
    )


def default_stages(
    *,
    seed: int | None = None,
    probes: Sequence[str] | None = None,
    size: str | None = None,
    corpus: str | None = None,
    alignment: str = "dpo",
) -> ThreeStages:
    """The lesson as the page runs it by default (settings, data and measured prompts of training.toml)."""
    from explorer.training.data import CORPORA

    s = lesson()
    corpus = corpus or s["corpus"]
    return three_stages(
        size or s["size"],
        corpus_text(corpus),
        sft_pairs(s),
        stage_preferences(s),
        list(probes if probes is not None else s["probes"]),
        seed=s["seed"] if seed is None else seed,
        corpus_name=CORPORA[corpus].title,
        settings=s,
        prompts=measured_prompts(s),
        alignment=alignment,
    )
