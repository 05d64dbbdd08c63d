"""The app's style sheet: token pills, whole labels, uploads, and presenter mode's projector layout."""

from __future__ import annotations

# Presenter mode is a layout for a 1280x720 projector, not a font scale: the main area's text, metrics and
# token pills grow (charts grow through their own `large=`), columns too narrow for that text wrap onto
# rows of their own, and the sidebar (the teacher's controls, not what the room reads) keeps its size.
PRESENTER_CSS = """
        [data-testid="stMain"] p, [data-testid="stMain"] li, [data-testid="stMain"] td,
        [data-testid="stMain"] th, [data-testid="stMain"] label, [data-testid="stMain"] input,
        [data-testid="stMain"] textarea, [data-testid="stMain"] [data-baseweb="select"] {
            font-size: 1.3rem !important; color: #000 !important; }
        [data-testid="stMain"] h1 { font-size: 2.4rem !important; }
        [data-testid="stMain"] h2 { font-size: 1.9rem !important; }
        [data-testid="stMain"] h3 { font-size: 1.55rem !important; }
        [data-testid="stMain"] [data-testid="stMetricValue"], [data-testid="stMain"] [data-testid="stMetricValue"] p,
        [data-testid="stMain"] [data-testid="stMetricValue"] div { font-size: 2.4rem !important; }
        [data-testid="stMain"] [data-testid="stMetricLabel"] p { font-size: 1.15rem !important; }
        [data-testid="stMain"] [data-testid="stMetricDelta"] p, [data-testid="stMain"] [data-testid="stMetricDelta"] div {
            font-size: 1.15rem !important; }
        [data-testid="stMain"] [data-testid="stCaptionContainer"], [data-testid="stMain"] [data-testid="stCaptionContainer"] p {
            color: #222 !important; font-size: 1.1rem !important; }
        [data-testid="stMain"] .tok { border: 2px solid #000 !important; font-size: 1.3rem; }
        [data-testid="stAppViewContainer"] { background: #fff; }
        [data-testid="stMain"] .block-container { padding: 1rem 1.5rem 2rem 1.5rem; max-width: 100%; }
        /* a column narrower than about 12 characters of this text goes onto a row of its own */
        [data-testid="stMain"] [data-testid="stHorizontalBlock"] { flex-wrap: wrap; row-gap: 0.6rem; }
        [data-testid="stMain"] [data-testid="stColumn"] { min-width: min(13rem, 100%); }
        [data-testid="stMain"] [data-testid="stColumn"]:has(> div > div > [data-testid="stButton"]),
        [data-testid="stMain"] [data-testid="stColumn"]:has([data-testid="stNumberInput"]) { min-width: min(8.5rem, 100%); }
        [data-testid="stMain"] [data-testid="stSliderThumbValue"] { font-size: 1.1rem; top: -1.9rem; }
        [data-testid="stMain"] [data-testid="stSliderTickBarMin"], [data-testid="stMain"] [data-testid="stSliderTickBarMax"] {
            font-size: 1rem; }
"""


# Whole labels in both modes: a label, button, metric or menu entry wraps onto a second line instead of
# ending in an ellipsis (words are not broken).
NO_ELLIPSIS_CSS = """
        [data-testid="stWidgetLabel"] *, [data-testid="stMetricLabel"] *, [data-testid="stMetricValue"] *,
        [data-testid="stMetricValue"], [data-testid="stSidebarNav"] a *, [role="tab"] *,
        [data-testid="stMain"] button *, [data-testid="stCheckbox"] label * {
            white-space: normal !important; text-overflow: clip !important; overflow: visible !important;
            overflow-wrap: normal !important; word-break: normal !important; }
        [data-testid="stMain"] button { height: auto; min-height: 2.5rem; }
        /* every tab's name in view: tabs that do not fit one row go onto a second, none scrolled away or cut */
        [role="tablist"] { flex-wrap: wrap; height: auto !important; row-gap: 0.2rem; }
        [role="tab"] { height: auto !important; min-height: 2.5rem; }
        [data-testid="stMarkdownContainer"] table { display: block; max-width: 100%; overflow-x: auto; }
        /* the first screen is for the result: less space above the title, titles and headings a size smaller */
        [data-testid="stMain"] .block-container { padding-top: 2.2rem; }
        [data-testid="stMain"] h1 { font-size: 2.15rem; padding: 0.5rem 0 0.6rem 0; }
        [data-testid="stMain"] h2 { font-size: 1.6rem; padding: 0.6rem 0 0.4rem 0; }
        [data-testid="stMain"] h3 { font-size: 1.3rem; padding: 0.4rem 0 0.3rem 0; }
        [data-testid="stMetricValue"] { line-height: 1.15; }
"""


# A file the browser refuses (over the uploader's size limit) shows its reason only to screen readers and
# in a tooltip; shown under the file's name instead, in the error colour, without hovering.
UPLOAD_ERROR_CSS = """
        [data-testid="stFileChip"][aria-invalid="true"] { flex-wrap: wrap; height: auto; }
        [data-testid="stFileChip"][aria-invalid="true"] span[role="alert"] { position: static !important;
            width: 100% !important; height: auto !important; clip: auto !important; clip-path: none !important;
            overflow: visible !important; white-space: normal !important; margin: 2px 0 0 0 !important;
            color: #b00020; font-size: 0.9rem; font-weight: 600; }
"""


def css(big: bool) -> str:
    """The app's style sheet; `big` is presenter mode (large text in the main area, high contrast)."""
    return f"""<style>
        .tok {{ display:inline-block; padding:2px 6px; margin:2px; border-radius:6px; border:1px solid #b8c4d6;
               font-family: ui-monospace, monospace; background:#f7f9fc; color:#111; }}
        .tok.special {{ color:#666; background:#eee; }}
        .tok.masked {{ background:#ffd34d; border-color:#b38600; font-weight:700; }}
        .strip span {{ display:inline-block; padding:3px 5px; margin:1px; border-radius:4px; color:#000; }}
        {UPLOAD_ERROR_CSS}
        {NO_ELLIPSIS_CSS}
        {PRESENTER_CSS if big else ""}
        </style>"""
