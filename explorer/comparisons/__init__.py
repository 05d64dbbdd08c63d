"""Across objectives: a sentence as words (`sentence`), the same sentence read by a masked LM and a causal LM (`masked_vs_causal`: the
hidden word from both sides and from the left, in whole words; `masks`: what each attends to), and the three
pre-training objectives side by side (`objectives`: masked LM, next-token prediction, span corruption), and
why each model predicts the hidden word (`why`: both models' token attributions, word by word).

Limits and patterns such as `masked_vs_causal.MAX_TOKENS` stay in their module."""

from explorer.comparisons.sentence import BLANK, Word, same_vocabulary, split_words, token_words, word_index
from explorer.comparisons.objectives import ObjectiveView, compare_objectives, objectives_frame
from explorer.comparisons.masked_vs_causal import (
    Comparison,
    PieceView,
    Side,
    blank_index,
    piece_predictions,
    predict_word,
    prepare,
    score_words,
)
from explorer.comparisons.why import WordCredit, explain_word
from explorer.comparisons.masks import attention_pattern, attention_patterns, sees_right_context

__all__ = [
    # sentence
    "BLANK",
    "Word",
    "same_vocabulary",
    "split_words",
    "token_words",
    "word_index",
    # objectives
    "ObjectiveView",
    "compare_objectives",
    "objectives_frame",
    # masked_vs_causal
    "Comparison",
    "PieceView",
    "Side",
    "blank_index",
    "piece_predictions",
    "predict_word",
    "prepare",
    "score_words",
    # why
    "WordCredit",
    "explain_word",
    # masks
    "attention_pattern",
    "attention_patterns",
    "sees_right_context",
]
