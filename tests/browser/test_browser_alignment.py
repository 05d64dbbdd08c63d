"""Real browser, the Alignment page: DPO on an uploaded CSV starts from the page, the reward and accuracy chart
grows while it trains, Stop keeps the progress, Reset forgets the copy (on a tiny model a participant points the
page at: the packaged SmolLM2's DPO in Chromium is tests/browser/test_browser_runs.py's); a bad CSV upload says what
is wrong and the page keeps working; the RLHF tab's run, started, stopped, resumed and reset."""

from __future__ import annotations

import csv
import re

import pytest
from playwright.sync_api import expect

from app import ROOT
from tests.browser import RequestLog, app_server, browser, choose_setting, wait_idle

pytestmark = pytest.mark.browser

STEPS = """() => {
    const plots = [...document.querySelectorAll('.js-plotly-plot')];
    for (const el of plots) {
        const t = (el.data || []).find(d => d.name === 'margin (train)');
        if (t) return t.x.length;
    }
    return 0;
}"""


@pytest.fixture(scope="module")
def server():
    with app_server() as url:
        yield url


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    wait_idle(page)


def _pick_folder(page, label: str, role: str, folder) -> None:
    """Choose a model folder in the sidebar, as a person would ("Other model id…", then the folder)."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_label(label, exact=True).click()
    page.get_by_role("option", name="Other model id…").click()
    wait_idle(page)
    box = sidebar.get_by_role("textbox", name=f"{role} id", exact=True)
    box.fill(str(folder))
    box.press("Enter")
    wait_idle(page)


def _small_csv(path, n: int = 10):
    """`n` of the bundled pairs, every kind among them, as a participant's upload: the reference model's
    log-probabilities are then computed for 10 pairs instead of 60 before the first step."""
    with (ROOT / "assets" / "corpora" / "preferences.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    picked = rows[:: len(rows) // n][:n]
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(picked)
    return len({r["kind"] for r in picked})


def test_dpo_chart_grows_stop_keeps_progress_reset_forgets(server, tmp_path, tiny_clm_dir):
    kinds = _small_csv(tmp_path / "ten-pairs.csv")
    assert kinds == 4
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 1100})
        log = RequestLog(page)
        page.goto(server + "/alignment")
        wait_idle(page)
        _pick_folder(page, "Causal LM", "Causal LM", tiny_clm_dir)
        expect(page.get_by_text("80 pairs from the bundled pairs", exact=False)).to_be_visible()
        page.get_by_text("Upload a CSV", exact=True).click()
        wait_idle(page)
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
            str(tmp_path / "ten-pairs.csv")
        )
        wait_idle(page)
        expect(page.get_by_text("10 pairs from ten-pairs.csv", exact=False)).to_be_visible()
        _tab(page, "Train with DPO")
        choose_setting(page, "Steps", "300")  # more than the test waits for: the run cannot end by itself
        page.get_by_role("button", name="Start DPO training").click()
        try:
            page.wait_for_function(f"() => ({STEPS})() >= 2", timeout=240_000)
        except Exception as exc:  # noqa: BLE001 - say what the page showed
            raise AssertionError(
                "the DPO chart did not grow: " + page.evaluate("document.body.innerText")[-1500:]
            ) from exc
        first = page.evaluate(STEPS)
        page.wait_for_function(f"() => ({STEPS})() > {first}", timeout=60_000)  # still growing
        expect(page.get_by_text(re.compile(r"Step \d+ of 300"))).to_be_visible()
        page.get_by_role("button", name="Stop", exact=True).click()
        resume = page.get_by_role("button", name=re.compile(r"^Resume \(step \d+ of 300\)"))
        expect(resume).to_be_visible(timeout=60_000)
        wait_idle(page)
        step = int(re.search(r"step (\d+) of", resume.inner_text()).group(1))
        assert step >= 3
        expect(page.get_by_text("Held-out preference accuracy:", exact=False)).to_be_visible(timeout=120_000)
        page.get_by_role("button", name="Reset", exact=True).click()
        wait_idle(page)
        expect(page.get_by_role("button", name="Start DPO training")).to_be_visible()
        expect(page.get_by_text("Reset: the trained copy is gone", exact=False)).to_be_visible()
        assert page.locator('[data-testid="stException"]').count() == 0
        assert not log.external


def test_a_bad_preference_csv_says_what_is_wrong(server, tmp_path):
    bad = tmp_path / "pairs.csv"
    bad.write_text("prompt,answer\nHello?,Hi.\n")
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(server + "/alignment")
        wait_idle(page)
        page.get_by_text("Upload a CSV", exact=True).click()
        wait_idle(page)
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(bad))
        wait_idle(page)
        expect(page.get_by_text(re.compile(r"chosen.*rejected|rejected.*chosen")).first).to_be_visible()
        assert page.locator('[data-testid="stException"]').count() == 0
        page.get_by_text("Bundled pairs", exact=True).click()
        wait_idle(page)
        expect(page.get_by_text("80 pairs from the bundled pairs", exact=False)).to_be_visible()


def test_the_home_page_links_to_the_alignment_page(server):
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(server + "/")
        wait_idle(page)
        link = page.locator('[data-testid="stMarkdownContainer"] a', has_text="Alignment").first
        href = link.get_attribute("href")
        assert href == "alignment", href
        page.goto(server + "/" + href)
        wait_idle(page)
        expect(page.get_by_role("heading", name="Alignment: learning from preferences")).to_be_visible()


RL_STEPS = """() => {
    for (const el of document.querySelectorAll('.js-plotly-plot')) {
        const t = (el.data || []).find(d => d.name === 'reward: sampled answers (train)');
        if (t) return t.x.length;
    }
    return 0;
}"""


def test_rlhf_chart_grows_stop_resume_reset(server, tiny_clm_dir, tiny_mlm_dir):
    """The RL step from the page, on tiny models a participant points the page at: the reward model is trained
    first (none was trained on the previous tab), then the reward curve grows; Stop, Resume, Reset."""
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 1100})
        log = RequestLog(page)
        page.goto(server + "/alignment")
        wait_idle(page)
        _pick_folder(page, "Causal LM", "Causal LM", tiny_clm_dir)
        _tab(page, "Reinforcement learning (RLHF)")
        _pick_folder(page, "Reward model's encoder", "Sentence encoder", tiny_mlm_dir)
        expect(page.get_by_text("Scored by a reward model trained on these pairs", exact=False)).to_be_visible()
        choose_setting(page, "Steps", "100")
        page.get_by_role("button", name="Start RL").click()
        try:
            page.wait_for_function(f"() => ({RL_STEPS})() >= 2", timeout=240_000)
        except Exception as exc:  # noqa: BLE001 - say what the page showed
            raise AssertionError(
                "the RL chart did not grow: " + page.evaluate("document.body.innerText")[-1500:]
            ) from exc
        first = page.evaluate(RL_STEPS)
        page.wait_for_function(f"() => ({RL_STEPS})() > {first}", timeout=60_000)
        page.get_by_role("button", name="Stop", exact=True).click()
        resume = page.get_by_role("button", name=re.compile(r"^Resume \(step \d+ of 100\)"))
        expect(resume).to_be_visible(timeout=60_000)
        wait_idle(page)
        step = int(re.search(r"step (\d+) of", resume.inner_text()).group(1))
        resume.click()
        page.wait_for_function(f"() => ({RL_STEPS})() > {step + 1}", timeout=120_000)  # it went on from there
        page.get_by_role("button", name="Stop", exact=True).click()
        expect(page.get_by_role("button", name=re.compile(r"^Resume"))).to_be_visible(timeout=60_000)
        wait_idle(page)
        expect(page.get_by_text("Held-out prompts: mean reward", exact=False)).to_be_visible(timeout=120_000)
        page.get_by_role("button", name="Reset", exact=True).click()
        wait_idle(page)
        expect(page.get_by_role("button", name="Start RL")).to_be_visible()
        assert page.locator('[data-testid="stException"]').count() == 0
        assert not log.external
