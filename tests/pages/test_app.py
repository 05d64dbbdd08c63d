"""Every page renders through the real navigation with no exception (AppTest)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app import PAGES, ROOT

EXISTING = [f for f, _, _ in PAGES if (ROOT / f).exists()]


def run_page(page: str, timeout: float = 180) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.run()
    if page != "pages/home.py":
        at.switch_page(page)
        at.run()
    return at


@pytest.mark.parametrize("page", EXISTING)
def test_page_renders_without_exception(page):
    at = run_page(page)
    assert not at.exception, [e.value for e in at.exception]
    assert at.markdown or at.header or at.title


def test_home_lists_models_and_pages_without_loading_them():
    from explorer import models
    from explorer.models import cache as model_cache

    model_cache.SHARED.clear()  # a fresh server: Home must appear without loading a model
    at = run_page("pages/home.py")
    text = " ".join(m.value for m in at.markdown)
    assert "Self-supervised" in text and "Masked LM" in text
    assert model_cache.SHARED.loaded() == []
    df = at.table[0].value.reset_index()  # a plain table: text wraps, never cut
    clm = df[df["role"] == "Causal LM"].iloc[0]
    assert clm["model"] == models.SMOLLM2 and clm["source"] == "loads when a page first uses it"
    seq2seq = df[df["role"] == models.ROLE_NAMES["seq2seq"]].iloc[0]
    assert seq2seq["model"] == models.SMOLLM2_SPAN and seq2seq["source"] == "loads when a page first uses it"
    assert "None" not in df.to_string() and df.notna().all().all()  # the "None None None" row
    model_cache.SHARED.get("clm")  # loaded by another page: now described in full
    clm = run_page("pages/home.py").table[0].value.loc["Causal LM"]
    assert "134.5 M parameters, 94 MB on disk (4-bit GGUF), 30 layers" in clm["size"] and clm["source"] == "packaged"


def test_home_gives_each_offline_models_size_before_loading_it():
    """Home's size column was empty until a page had loaded the model."""
    from explorer import models
    from explorer.models import cache as model_cache

    model_cache.SHARED.clear()
    table = run_page("pages/home.py").table[0].value
    assert model_cache.SHARED.loaded() == []  # still described, not loaded
    for role in ("mlm", "clm", "encoder"):
        size = table.loc[models.ROLE_NAMES[role], "size"]
        lm = models.load(role)  # the real count, loaded apart from the app's shared models
        assert size.startswith(f"{lm.info.params_millions:.1f} M parameters, "), (role, size)
        assert " MB on disk" in size, (role, size)
    gguf = models.smollm2_gguf().stat().st_size
    assert f"{model_cache.mb(gguf)} on disk (4-bit GGUF)" in table.loc[models.ROLE_NAMES["clm"], "size"]
    assert table.loc[models.ROLE_NAMES["seq2seq"], "size"] == ""  # no offline model: nothing to weigh


def test_presenter_toggle_enlarges_fonts():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["presenter"] = True
    at.run()
    assert not at.exception
    assert at.toggle(key="presenter").value is True
    from explorer import ui

    assert ui.PRESENTER_CSS in ui.css(True) and ui.PRESENTER_CSS not in ui.css(False)
    assert ui.NO_ELLIPSIS_CSS in ui.css(False)  # whole labels in both modes (measured: test_browser_layout)


def test_inputs_survive_a_visit_to_another_page(app_page):
    """Streamlit forgets the values of widgets a run does not show; coming back to a page must
    show the participant's own text and choices again, not the page's defaults."""
    at = app_page("pages/masked_lm.py")
    text = "The old fisherman mended his nets on the beach."
    at.text_area(key="mlm_text").set_value(text).run()
    at.pills(key="mlm_masked").set_value([2, 4]).run()
    at.slider(key="mlm_k").set_value(5).run()
    at.switch_page("pages/causal_lm.py").run()
    assert "mlm_text" not in at.session_state  # what Streamlit does: the widget's value is gone
    at.switch_page("pages/masked_lm.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_area(key="mlm_text").value == text
    assert at.pills(key="mlm_masked").value == [2, 4]
    assert at.slider(key="mlm_k").value == 5


def test_an_error_becomes_a_message_and_its_traceback_goes_to_the_log(monkeypatch, caplog):
    """The error boundary (app.py runs every page inside it; the browser test checks it there): an
    unexpected error shows a plain message (no error text, no path); the log gets the traceback."""
    from explorer import ExplorerError, ui

    shown: list[str] = []
    monkeypatch.setattr(ui.st, "error", lambda text, **k: shown.append(text))
    monkeypatch.setattr(ui.st, "caption", lambda text, **k: shown.append(text))
    with caplog.at_level("ERROR", logger="ssl_explorer.pages"):
        with ui.friendly_errors():
            raise RuntimeError("injected failure reading /srv/secret/config.json")
        with ui.friendly_errors():
            raise ExplorerError("A message for the page.", "A hint.")
    assert shown[0].startswith("Something went wrong here (RuntimeError)") and "/srv/secret" not in " ".join(shown)
    assert shown[1:] == ["A message for the page.", "A hint."]
    logged = [r for r in caplog.records if r.name == "ssl_explorer.pages"]
    assert len(logged) == 1 and "/srv/secret" in str(logged[0].exc_info[1])  # the project's own error is not logged
