"""Whole words, not pieces of words, for a masked LM and for a causal LM alike: which vocabulary
entries begin, continue or end a word for each tokenizer family and the candidates' bookkeeping
(`pieces`), and the words a model would put in a blank with their probabilities (`masked` for a masked LM,
`causal` for a causal LM).

The masked-LM page's whole-word masking and the masked-vs-causal comparison both use it, so it sits
above `explorer.mlm` and beside `explorer.clm`, below `explorer.comparisons`."""

from explorer.words.pieces import (
    AUTO,
    BEAM,
    MAX_PIECES,
    PieceClasses,
    WordCandidate,
    WordPredictions,
    piece_classes,
    starts_with_space,
    word_text,
)
from explorer.words.masked import WordBlank, fill_words, masked_word_candidates, masked_word_scores
from explorer.words.causal import causal_word_candidates, causal_word_scores

__all__ = [
    # pieces
    "AUTO",
    "BEAM",
    "MAX_PIECES",
    "PieceClasses",
    "WordCandidate",
    "WordPredictions",
    "piece_classes",
    "starts_with_space",
    "word_text",
    # masked
    "WordBlank",
    "fill_words",
    "masked_word_candidates",
    "masked_word_scores",
    # causal
    "causal_word_candidates",
    "causal_word_scores",
]
