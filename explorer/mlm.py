"""Masked language modelling, the cloze task: BERT's masking recipe, fill-in-the-blank
predictions and pseudo-log-likelihood.

Every function takes the model as a `LoadedModel` (`explorer.load`; tests build tiny ones);
text comes in as an `Encoded` (see `encode_text`, which wraps `explorer.tokens.encode` and
also turns a typed ``[MASK]`` / ``<mask>`` into the model's own mask token).

Positions are indices into `Encoded.ids` (special tokens such as ``[CLS]`` included), so
they line up with `Encoded.pieces`. Losses and surprisals are in nats (natural log), the
unit of the cross-entropy a masked LM is trained on.

The parts live in `explorer.mlm_input` (mask token, text, positions), `explorer.mlm_masking`
(BERT's recipe), `explorer.mlm_predictions` (fill-mask) and `explorer.pseudo_likelihood`; their
names are re-exported here.
"""

from explorer.mlm_input import (MASK_MARKERS, MAX_TOKENS, SUGGESTED_MLMS, encode_for_masking, encode_text,  # noqa: F401 - re-exported
                                expand_to_words, mask_token, maskable_positions, model_and_tokenizer,
                                positions_of_words, replace_mask_markers, typed_masks, update_word_selection)
from explorer.mlm_masking import (KEPT, MASKED, NO_LOSS, RANDOM, MaskingResult, mask_tokens,  # noqa: F401
                                  training_pair_frame)
from explorer.mlm_predictions import (FillResult, Prediction, _encoder_and_head, fill_mask,  # noqa: F401
                                      log_probs_at, masked_input, predict_at, predict_training_pair)
from explorer.pseudo_likelihood import (ProgressFn, PseudoLikelihood, pseudo_log_likelihood,  # noqa: F401
                                        pseudo_log_likelihood_batches)
