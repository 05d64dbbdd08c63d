"""Live training: watch a language model learn, on a CPU, in seconds to minutes.

Four kinds of run, all on a private copy of the model (the shared, cached model is never
changed):

- ``scratch``: a tiny GPT (causal) or BERT (masked) built from a chosen size, with a small
  tokenizer trained on the corpus, so the loss starts near ln(vocabulary size);
- ``continue``: more masked-LM or causal-LM training of a pretrained model on the user's text;
- ``classify``: a classification head on the sentence encoder, with held-out accuracy;
- ``sft``: supervised fine-tuning of the causal LM on prompt-response pairs, the prompt
  tokens labelled -100 so that only the response counts in the loss.

A `Trainer` runs one optimisation step at a time; `train()` loops with a progress callback
(called after every step) and a stop callback. An ``interrupt`` callable, if given, is called
between transformer blocks during a step, so a caller can abandon a long step within a fraction
of a second (the weights then stay as they were after the last finished step). `start()` trains
a `Run` in its own thread (`live`), so the page that shows it stays responsive; `stop()` ends it.

Server safety: `limits.SLOTS` limits how many trainings run at once in this process
(``SSL_EXPLORER_MAX_TRAININGS``, default 2); steps, sequence length, batch size and uploads
are bounded (`limits`), and uploads are checked before use (`data`).

Modules: `limits`, `data` (corpora, uploads), `settings` (the `auto` choices), `modelling` (tiny
models, tokenizers, private copies), `tasks` (what a model trains on), `loop` (`Trainer`,
`train`), `predict` (what a model says), `runs` (the four kinds of `Run`), `live` (training in the
background). Everything public is importable from `explorer.training`.
"""

from __future__ import annotations

from explorer.training.limits import *  # noqa: F401,F403
from explorer.training.data import *  # noqa: F401,F403
from explorer.training.settings import *  # noqa: F401,F403
from explorer.training.modelling import *  # noqa: F401,F403
from explorer.training.tasks import *  # noqa: F401,F403
from explorer.training.sft import *  # noqa: F401,F403
from explorer.training.loop import *  # noqa: F401,F403
from explorer.training.predict import *  # noqa: F401,F403
from explorer.training.runs import *  # noqa: F401,F403

from explorer.training.tasks import _with_specials  # noqa: F401
from explorer.training.live import Stopped, pause_others, seen, start, stop, wait  # noqa: F401
