"""Causal language modelling: predict the next token from the tokens before it.

Everything here works on any causal LM (``AutoModelForCausalLM``) and its tokenizer. Functions
take the model as a `LoadedModel` (from `explorer.load("clm")`; tests build tiny ones), and token
ids either as an `Encoded`
(from `explorer.tokens.encode` or `build_prompt`) or as a plain list of ints.

- `build_prompt`: user text → the exact text and tokens the model sees (raw text or the
  model's chat template; an empty prompt starts from the start-of-text token).
- `next_token_distribution`: the model's probabilities for the next token, top candidates,
  the remaining mass ("other") and the entropy.
- `apply_sampling`: temperature, top-k and top-p applied to the logits (the same order and
  rules as ``model.generate``), with the distribution before and after, what was cut, and the
  renormalised probabilities.
- `Generation`: a step-by-step continuation (append a chosen token, undo, greedy, seeded
  sampling, generate N more).
- `teacher_forcing`: one forward pass scores every position's prediction of the actual next
  token at once: probability, surprisal, loss and perplexity, and the (context → target) pairs.

Forward passes are cached per model and token sequence (a small LRU), so reshaping a
distribution or undoing a step never recomputes the model. A teacher-forcing pass over a text
also fills the cache with the next-token logits of each of its prefixes: under the causal mask,
position i of the whole text sees exactly what a pass over the first i+1 tokens sees. A pass starts from
the kept keys and values of the text's beginning (`prefix`): a step that adds a token reads that token
only.

Modules: `prefix` (the kept readings), `forward` (inputs and the forward cache), `prompt`, `distribution`, `sampling`,
`generation`, `teacher_forcing`; their public names are listed here, in that order.
"""

from explorer.clm.prefix import STORE, PrefixStore, Reading, Rows
from explorer.clm.forward import (
    FORCED_PASSES,
    LAST_LOGITS,
    as_ids,
    check_ids,
    clear_cache,
    forward_count,
    next_token_logits,
    piece_text,
    vocab_size,
)
from explorer.clm.prompt import DOCUMENT_START, PROMPT_LIMIT, Prompt, build_prompt, has_chat_template, start_token_id
from explorer.clm.distribution import (
    TOP_N,
    Candidate,
    NextToken,
    entropy_bits,
    next_token_distribution,
    rank_of,
    softmax,
    top_candidates,
    top_order,
)
from explorer.clm.sampling import GREEDY, Sampled, Settings, apply_sampling, draw
from explorer.clm.generation import MAX_NEW_TOKENS, Generation, Step, stop_token_ids
from explorer.clm.teacher_forcing import TeacherForcing, from_start, target_log_probs, teacher_forcing

__all__ = [
    # prefix
    "STORE",
    "PrefixStore",
    "Reading",
    "Rows",
    # forward
    "FORCED_PASSES",
    "LAST_LOGITS",
    "as_ids",
    "check_ids",
    "clear_cache",
    "forward_count",
    "next_token_logits",
    "piece_text",
    "vocab_size",
    # prompt
    "DOCUMENT_START",
    "PROMPT_LIMIT",
    "Prompt",
    "build_prompt",
    "has_chat_template",
    "start_token_id",
    # distribution
    "TOP_N",
    "Candidate",
    "NextToken",
    "entropy_bits",
    "next_token_distribution",
    "rank_of",
    "softmax",
    "top_candidates",
    "top_order",
    # sampling
    "GREEDY",
    "Sampled",
    "Settings",
    "apply_sampling",
    "draw",
    # generation
    "MAX_NEW_TOKENS",
    "Generation",
    "Step",
    "stop_token_ids",
    # teacher_forcing
    "TeacherForcing",
    "from_start",
    "target_log_probs",
    "teacher_forcing",
]
