"""Contrastive learning on sentences: `embeddings` (pooling a sentence encoder's token vectors the way
the model was trained to be used: all-MiniLM-L6-v2 takes the mean over real tokens, then L2
normalisation, as sentence-transformers does; cosine similarity, PCA, neighbours), `augmentations`
(positives made by word dropout or by dropout in the encoder, SimCSE) and `info_nce` (the in-batch loss)."""

from explorer.contrastive.embeddings import (
    ASSETS,
    MAX_SENTENCES,
    MAX_TOKENS,
    NEIGHBOURS_FILE,
    POOLINGS,
    Embeddings,
    Pooling,
    Projection,
    clean_sentences,
    cosine_matrix,
    embed,
    encode_sentences,
    nearest,
    neighbour_sentences,
    pca_2d,
    pool,
    pooled_vectors,
    pooling_for,
    resolve_pooling,
    short_label,
)
from explorer.contrastive.augmentations import dropout_embed, word_dropout, word_dropout_views
from explorer.contrastive.info_nce import InfoNCE, info_nce, infonce_frame, parse_pairs

__all__ = [
    # embeddings
    "ASSETS",
    "MAX_SENTENCES",
    "MAX_TOKENS",
    "NEIGHBOURS_FILE",
    "POOLINGS",
    "Embeddings",
    "Pooling",
    "Projection",
    "clean_sentences",
    "cosine_matrix",
    "embed",
    "encode_sentences",
    "nearest",
    "neighbour_sentences",
    "pca_2d",
    "pool",
    "pooled_vectors",
    "pooling_for",
    "resolve_pooling",
    "short_label",
    # augmentations
    "dropout_embed",
    "word_dropout",
    "word_dropout_views",
    # info_nce
    "InfoNCE",
    "info_nce",
    "infonce_frame",
    "parse_pairs",
]
