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
position i of the whole text sees exactly what a pass over the first i+1 tokens sees.

Modules: `forward` (inputs and the forward cache), `prompt`, `distribution`, `sampling`,
`generation`, `teacher_forcing`; everything public is importable from `explorer.clm`.
"""

from __future__ import annotations

from explorer.clm.forward import *  # noqa: F401,F403
from explorer.clm.prompt import *  # noqa: F401,F403
from explorer.clm.distribution import *  # noqa: F401,F403
from explorer.clm.sampling import *  # noqa: F401,F403
from explorer.clm.generation import *  # noqa: F401,F403
from explorer.clm.teacher_forcing import *  # noqa: F401,F403
