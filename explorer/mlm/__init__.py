"""Masked language modelling, the cloze task: BERT's masking recipe, fill-in-the-blank
predictions and pseudo-log-likelihood.

Every function takes the model as a `LoadedModel` (`explorer.load`; tests build tiny ones);
text comes in as an `Encoded` (see `encode_text`, which wraps `explorer.tokens.encode` and
also turns a typed ``[MASK]`` / ``<mask>`` into the model's own mask token).

Positions are indices into `Encoded.ids` (special tokens such as ``[CLS]`` included), so
they line up with `Encoded.pieces`. Losses and surprisals are in nats (natural log), the
unit of the cross-entropy a masked LM is trained on.

Modules: `input` (mask token, text, positions), `masking` (BERT's 80/10/10 recipe, the one the
training code uses too), `predictions` (fill-mask) and `pseudo_likelihood`; their public names are
listed here.
"""

from explorer.mlm.input import (
    MASK_MARKERS,
    MAX_TOKENS,
    SUGGESTED_MLMS,
    check_vocab,
    encode_for_masking,
    encode_text,
    expand_to_words,
    mask_token,
    maskable_positions,
    positions_of_words,
    replace_mask_markers,
    typed_masks,
    update_word_selection,
)
from explorer.mlm.masking import KEPT, MASKED, NO_LOSS, RANDOM, MaskingResult, mask_tokens, training_pair_frame
from explorer.mlm.predictions import (
    FillResult,
    Prediction,
    encoder_and_head,
    fill_mask,
    log_probs_at,
    masked_input,
    predict_at,
    predict_training_pair,
    prediction_passes,
)
from explorer.mlm.pseudo_likelihood import (
    ProgressFn,
    PseudoLikelihood,
    masked_word_log_probs,
    pseudo_log_likelihood,
    pseudo_log_likelihood_batches,
)

__all__ = [
    # input
    "MASK_MARKERS",
    "MAX_TOKENS",
    "SUGGESTED_MLMS",
    "check_vocab",
    "encode_for_masking",
    "encode_text",
    "expand_to_words",
    "mask_token",
    "maskable_positions",
    "positions_of_words",
    "replace_mask_markers",
    "typed_masks",
    "update_word_selection",
    # masking
    "KEPT",
    "MASKED",
    "NO_LOSS",
    "RANDOM",
    "MaskingResult",
    "mask_tokens",
    "training_pair_frame",
    # predictions
    "FillResult",
    "Prediction",
    "encoder_and_head",
    "fill_mask",
    "log_probs_at",
    "masked_input",
    "predict_at",
    "predict_training_pair",
    "prediction_passes",
    # pseudo_likelihood
    "ProgressFn",
    "PseudoLikelihood",
    "masked_word_log_probs",
    "pseudo_log_likelihood",
    "pseudo_log_likelihood_batches",
]
