"""SSL Explorer: navigation only. Run with `make run`."""

from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

PagesManager.uses_pages_directory = False  # pages/ is used through st.navigation only (see serve.py)

ROOT = Path(__file__).resolve().parent

# (file, title, icon) in menu order; a page appears once its file exists.
PAGES = [
    ("pages/home.py", "Home", "🏠"),
    ("pages/lessons.py", "Lessons & quizzes", "🎓"),
    ("pages/masked_lm.py", "Masked LM (cloze)", "🎭"),
    ("pages/causal_lm.py", "Causal LM (next token)", "➡️"),
    ("pages/compare.py", "Masked vs causal", "⚖️"),
    ("pages/span_corruption.py", "Span corruption (T5)", "✂️"),
    ("pages/contrastive.py", "Contrastive embeddings", "🧲"),
    ("pages/images.py", "Images (MAE, SimCLR, CLIP, DINO)", "🖼️"),
    ("pages/attention.py", "Inside the model", "🔍"),
    ("pages/training.py", "Live training", "🏋️"),
    ("pages/alignment.py", "Alignment (preferences)", "🤝"),
    ("pages/models.py", "Models", "📦"),
]

st.set_page_config(page_title="SSL Explorer", page_icon="🧠", layout="wide")

nav = st.navigation(
    [st.Page(f, title=t, icon=i, default=(f == "pages/home.py")) for f, t, i in PAGES if (ROOT / f).exists()]
)
from explorer import ui  # noqa: E402 - after set_page_config

ui.presenter_from_link()  # presenter mode is in the URL: a reload or a link keeps it
st.sidebar.toggle(
    "Presenter mode", key="presenter", help="Large fonts, high-contrast charts and fewer controls, for a projector."
)

with ui.friendly_errors():  # an unexpected error: a message for the participant, the traceback in the log
    ui.keep_app_params()
    ui.remember_browser()  # runs and quiz score are kept per browser: a reload or a second tab finds them
    ui.apply_css()
    ui.rerun_after_reconnect()
    nav.run()
