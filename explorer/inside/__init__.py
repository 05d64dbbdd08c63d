"""A model's internals: its attention weights (`attention`), summaries of them (`summaries`: head scores,
the grid of heads), bertviz's head and model views drawn offline (`bertviz`), layer-by-layer
predictions (`lens`, the logit lens), and which input tokens a prediction owes most to (`attribution`,
through Captum; what it explains: `readings`; attention × gradient: `rollout`).

Each module keeps its own limits (`attention.DEFAULT_MAX_TOKENS`, `lens.MAX_TOKENS`, ...)."""

from explorer.inside.attention import AttentionPart, Attentions, Tokens, get_attentions
from explorer.inside.summaries import (
    Filtered,
    aggregate,
    check_grid,
    default_grid_layers,
    evenly_spaced,
    grid_cells,
    head_scores,
    hide_special,
    top_heads,
)
from explorer.inside.bertviz import (
    bertviz_height,
    bertviz_html,
    bertviz_weights,
    check_bertviz,
    default_bertviz_layers,
    parse_bertviz_params,
    standalone_page,
)
from explorer.inside.attribution import (
    ATTENTION,
    BLANK,
    DEFAULT_STEPS,
    GRADIENT,
    INTEGRATED,
    MAX_STEPS,
    METHOD_NOTES,
    METHODS,
    Attribution,
    attribute,
)
from explorer.inside.readings import Question, Reading, make_question, score, word_readings
from explorer.inside.rollout import rollout, state_row
from explorer.inside.lens import LensResult, default_position, logit_lens, prepare_text, unsupported

__all__ = [
    # attention
    "AttentionPart",
    "Attentions",
    "Tokens",
    "get_attentions",
    # summaries
    "Filtered",
    "aggregate",
    "check_grid",
    "default_grid_layers",
    "evenly_spaced",
    "grid_cells",
    "head_scores",
    "hide_special",
    "top_heads",
    # bertviz
    "bertviz_height",
    "bertviz_html",
    "bertviz_weights",
    "check_bertviz",
    "default_bertviz_layers",
    "parse_bertviz_params",
    "standalone_page",
    # lens
    "LensResult",
    "default_position",
    "logit_lens",
    "prepare_text",
    "unsupported",
    # attribution
    "ATTENTION",
    "BLANK",
    "DEFAULT_STEPS",
    "GRADIENT",
    "INTEGRATED",
    "MAX_STEPS",
    "METHOD_NOTES",
    "METHODS",
    "Attribution",
    "attribute",
    "Question",
    "Reading",
    "make_question",
    "score",
    "word_readings",
    "rollout",
    "state_row",
]
