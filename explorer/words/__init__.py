"""Whole words, not pieces of words, for a masked LM and for a causal LM alike: which vocabulary
entries begin, continue or end a word for each tokenizer family and the candidates' bookkeeping
(`pieces`), and the words a model would put in a blank with their probabilities (`candidates`).

The masked-LM page's whole-word masking and the masked-vs-causal comparison both use it, so it sits
above `explorer.mlm` and beside `explorer.clm`, below `explorer.comparisons`."""

from explorer.words.pieces import (AUTO, PieceClasses, WordCandidate, WordPredictions, piece_classes,
                                   starts_with_space, word_text)
from explorer.words.candidates import (BEAM, MAX_PIECES, WordBlank, causal_word_candidates, causal_word_scores,
                                       fill_words, masked_word_candidates, masked_word_scores)

__all__ = [
    # pieces
    "AUTO", "PieceClasses", "WordCandidate", "WordPredictions", "piece_classes", "starts_with_space", "word_text",
    # candidates
    "BEAM", "MAX_PIECES", "WordBlank", "causal_word_candidates", "causal_word_scores", "fill_words",
    "masked_word_candidates", "masked_word_scores",
]
