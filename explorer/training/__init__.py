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
background); their public names are listed here, in that order. One file per method beside them
(`sft`, `dpo` with `pair_scores` (a pair's answers scored by a model), `reward`, `rloo` and `grpo` (RLHF's RL
step), `stages`, `alignment_runs`, `rlhf_runs`),
imported by the pages that use them.
"""

from explorer.training.limits import (
    AUTO,
    DEFAULT_MAX_TRAININGS,
    INTERRUPT_ABOVE_SECONDS,
    LARGE_MODEL_PARAMS,
    LAYER_CHOICES,
    MASK,
    MAX_BATCH,
    MAX_CLASSES,
    MAX_FIELD_CHARS,
    MAX_PROBES,
    MAX_ROWS,
    MAX_SEQ_LEN,
    MAX_STEPS,
    MAX_STEPS_LARGE,
    MAX_TEXT_CHARS,
    MAX_UPLOAD_BYTES,
    MIN_ROWS,
    MIN_TEXT_CHARS,
    MODES,
    SLOTS,
    SLOT_WAIT_SECONDS,
    ServerBusy,
    TrainingSlots,
    UPLOAD_WIDGET_MB,
    VOCAB_SIZE,
    busy_message,
    limits_text,
    max_trainings,
    training_slot,
    upload_limits,
)
from explorer.training.data import (
    CORPORA,
    CORPUS_DIR,
    Corpus,
    check_labels,
    corpus_text,
    decode_upload,
    labelled_examples,
    probe_lines,
    prompt_response_pairs,
    read_upload_csv,
    sentiment_examples,
    sft_examples,
    training_text,
)
from explorer.training.settings import Plan, plan
from explorer.training.modelling import (
    ARCHS,
    ModelSize,
    SIZES,
    corpus_tokenizer,
    count_trainable,
    private_copy,
    scratch_model,
    seeded,
    transformer_blocks,
)
from explorer.training.tasks import (
    ClassificationTask,
    EncoderClassifier,
    ExampleTask,
    LanguageModelTask,
    TokenStream,
    mask_batch,
    masked_lm_loss,
    mean_loss,
    pad_rows,
    split_indices,
    token_ids,
    with_specials,
)
from explorer.training.sft import SFTTask, chat_prompt_ids, has_token, label_table, sft_example
from explorer.training.loop import Trainer, eval_mode, interrupt_points, train
from explorer.training.predict import (
    before_after,
    continuation,
    fill_mask,
    generate,
    next_tokens,
    probe_outputs,
    reply,
    trained,
)
from explorer.training.runs import (
    Run,
    after_probes,
    classify_run,
    continue_run,
    eval_interval,
    new_run,
    scratch_run,
    sft_run,
    trainable_note,
)
from explorer.training.live import Stopped, pause_others, seen, start, stop, wait

__all__ = [
    # limits
    "AUTO",
    "DEFAULT_MAX_TRAININGS",
    "INTERRUPT_ABOVE_SECONDS",
    "LARGE_MODEL_PARAMS",
    "LAYER_CHOICES",
    "MASK",
    "MAX_BATCH",
    "MAX_CLASSES",
    "MAX_FIELD_CHARS",
    "MAX_PROBES",
    "MAX_ROWS",
    "MAX_SEQ_LEN",
    "MAX_STEPS",
    "MAX_STEPS_LARGE",
    "MAX_TEXT_CHARS",
    "MAX_UPLOAD_BYTES",
    "MIN_ROWS",
    "MIN_TEXT_CHARS",
    "MODES",
    "SLOTS",
    "SLOT_WAIT_SECONDS",
    "ServerBusy",
    "TrainingSlots",
    "UPLOAD_WIDGET_MB",
    "VOCAB_SIZE",
    "busy_message",
    "limits_text",
    "max_trainings",
    "training_slot",
    "upload_limits",
    # data
    "CORPORA",
    "CORPUS_DIR",
    "Corpus",
    "check_labels",
    "corpus_text",
    "decode_upload",
    "labelled_examples",
    "probe_lines",
    "prompt_response_pairs",
    "read_upload_csv",
    "sentiment_examples",
    "sft_examples",
    "training_text",
    # settings
    "Plan",
    "plan",
    # modelling
    "ARCHS",
    "ModelSize",
    "SIZES",
    "corpus_tokenizer",
    "count_trainable",
    "private_copy",
    "scratch_model",
    "seeded",
    "transformer_blocks",
    # tasks
    "ClassificationTask",
    "EncoderClassifier",
    "ExampleTask",
    "LanguageModelTask",
    "TokenStream",
    "mask_batch",
    "masked_lm_loss",
    "mean_loss",
    "pad_rows",
    "split_indices",
    "token_ids",
    "with_specials",
    # sft
    "SFTTask",
    "chat_prompt_ids",
    "has_token",
    "label_table",
    "sft_example",
    # loop
    "Trainer",
    "eval_mode",
    "interrupt_points",
    "train",
    # predict
    "before_after",
    "continuation",
    "fill_mask",
    "generate",
    "next_tokens",
    "probe_outputs",
    "reply",
    "trained",
    # runs
    "Run",
    "after_probes",
    "classify_run",
    "continue_run",
    "eval_interval",
    "new_run",
    "scratch_run",
    "sft_run",
    "trainable_note",
    # live
    "Stopped",
    "pause_others",
    "seen",
    "start",
    "stop",
    "wait",
]
