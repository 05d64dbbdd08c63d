"""What a participant does on each page, as timed browser interactions (Playwright, async).

Each function performs one interaction (a click or a key press) and returns a
`bench.web.Interaction`; pages are reached through the app's own menu, as a person would.
"""

from __future__ import annotations

import re

from bench.fixtures import SENTENCE, SPAN_MEAN_LENGTH
from bench.web import Interaction, describe, timed, wait_idle
from tests.browser import CHARTS

MENU = {
    "mlm": "Masked LM (cloze)",
    "clm": "Causal LM (next token)",
    "compare": "Masked vs causal",
    "span": "Span corruption (T5)",
    "contrastive": "Contrastive embeddings",
    "images": "Images (MAE, SimCLR, CLIP, DINO)",
    "attention": "Inside the model",
    "training": "Live training",
    "alignment": "Alignment (preferences)",
    "lessons": "Lessons & quizzes",
    "models": "Models",
}
# The benchmark sentence with one word left blank: typed into the masked-LM page, each one draws a chart.
BLANKED = [SENTENCE.replace(w, "[MASK]", 1) for w in ("slowly", "wet", "along", "looking")]
CHART = f":is({CHARTS})"


async def open_app(page, url: str, timeout_s: float = 180) -> None:
    await page.goto(url, timeout=timeout_s * 1000)
    await wait_idle(page, timeout_s)


async def go(page, key: str, timeout_s: float = 180, chart: bool = False) -> Interaction:
    """Open a page from the menu; timed to its charts drawn (with `chart`, waits for one)."""
    link = page.locator('[data-testid="stSidebarNav"]').get_by_text(MENU[key], exact=True)
    return await timed(page, f"open {key}", link.click, timeout_s=timeout_s, chart=chart)


async def pick_model(page, role_label: str, folder: str | None) -> None:
    """Choose a model folder in the sidebar ("Other model id…"); nothing to do for the app's default."""
    if not folder:
        return
    sidebar = page.locator('[data-testid="stSidebar"]')
    await sidebar.get_by_label(role_label, exact=True).click()
    await page.get_by_role("option", name="Other model id…").click()
    await wait_idle(page)
    box = sidebar.get_by_placeholder("e.g. bert-base-uncased or /path/to/folder")
    await box.fill(folder)
    await box.press("Enter")
    await wait_idle(page)


async def _commit(box, text: str, keys: str):
    await box.fill(text)

    async def press():
        await box.press(keys)

    return press


async def _no_chart_check(page) -> str:
    return "" if await page.locator(CHART).count() else "no chart on the page"


# --------------------------------------------------------------------------- masked LM


async def mlm_text(page, text: str) -> Interaction:
    """Type a text with a blank and press Ctrl+Enter: the blank's prediction chart is drawn."""
    box = page.get_by_role("textbox", name="Text", exact=True)
    return await timed(
        page, "mlm enter", await _commit(box, text, "Control+Enter"), check=lambda: _no_chart_check(page), chart=True
    )


async def mlm_click(page, word: str, masking: bool) -> Interaction:
    """Click a token to mask it (its chart is drawn) or to unmask it."""
    # a byte-level token carries its space, shown as ␣ (SmolLM2); a WordPiece token does not
    pill = page.locator('[data-testid="stButtonGroup"]').first.get_by_role(
        "button", name=re.compile(rf"^␣?{re.escape(word)}$")
    )

    async def check() -> str:
        shown = await page.locator(CHART).filter(has_text=re.compile(rf"answer “␣?{re.escape(word)}”")).count()
        return "" if bool(shown) == masking else f"the chart for '{word}' is {'missing' if masking else 'still there'}"

    return await timed(page, "mlm click" if masking else "mlm unmask", pill.click, check=check, chart=masking)


# --------------------------------------------------------------------------- causal LM


async def clm_prompt(page, text: str) -> Interaction:
    box = page.get_by_role("textbox", name="Prompt", exact=True)
    return await timed(
        page, "clm enter", await _commit(box, text, "Control+Enter"), check=lambda: _no_chart_check(page), chart=True
    )


async def clm_button(page, name: str) -> Interaction:
    """Greedy (append the most likely token: a new distribution is drawn), Undo or Reset."""
    button = page.get_by_role("button", name=name, exact=True)
    return await timed(page, f"clm {name.lower()}", button.click, chart=name == "Greedy")


# --------------------------------------------------------------------------- masked vs causal


async def compare_text(page, text: str) -> Interaction:
    box = page.get_by_role("textbox", name=re.compile(r"^Sentence"))
    return await timed(
        page, "compare enter", await _commit(box, text, "Enter"), check=lambda: _no_chart_check(page), chart=True
    )


async def compare_word(page, word: str) -> Interaction:
    """Hide another word: both models' bars are redrawn."""
    group = page.get_by_role("radiogroup", name="Word to hide (click one)")
    return await timed(page, "compare click", group.get_by_role("radio", name=word, exact=True).click, chart=True)


# --------------------------------------------------------------------------- span corruption


async def _filled_check(page) -> str:
    return "" if await page.get_by_text("Predicted target:").count() else "no filled spans on the page"


async def span_setup(page) -> None:
    """The benchmark's sentence and mean span length typed into the Span page (not timed): 20 tokens, 2 spans."""
    box = page.get_by_label("Sentence", exact=True)
    await box.fill(SENTENCE)
    await box.press("Control+Enter")
    await wait_idle(page)
    slider = page.get_by_role("slider", name="Mean span length")
    for _ in range(int(round((3.0 - SPAN_MEAN_LENGTH) / 0.5))):  # from the page's 3.0, in its steps of 0.5
        await slider.press("ArrowLeft")
        await wait_idle(page)


async def span_seed(page, seed: int) -> Interaction:
    """Type another seed (Enter): other spans are dropped and filled back in, at the top of the page (timed to
    the page settled; the charts further down are drawn when scrolled to)."""
    box = page.get_by_role("spinbutton", name="Seed", exact=True)
    return await timed(page, "span seed", await _commit(box, str(seed), "Enter"), check=lambda: _filled_check(page))


# --------------------------------------------------------------------------- inside the model


async def attention_view(page, view: str) -> Interaction:
    """Switch between the heatmap and all heads (cached attentions, a new chart)."""
    label = page.locator('[data-testid="stRadio"]').get_by_text(view, exact=True)
    return await timed(page, "attention view", label.click, chart=True)


# --------------------------------------------------------------------------- live training


STEP_RE = re.compile(r"Step (\d+) of (\d+)")


async def training_steps(page) -> int:
    text = (
        await page.locator('[data-testid="stProgress"]').first.inner_text()
        if await page.locator('[data-testid="stProgress"]').count()
        else ""
    )
    m = STEP_RE.search(text)
    return int(m.group(1)) if m else 0


async def train_until(page, deadline_at: float, loop_time) -> dict:
    """Press Start (then "Train N more steps") until `deadline_at` (loop clock); Stop at the end.

    Returns the steps done and the seconds spent training (from the page's own progress bar)."""
    steps = runs = 0
    seconds = 0.0
    errors: list[str] = []
    while loop_time() < deadline_at:
        start = page.get_by_role(
            "button", name=re.compile(r"^(Start training|Start a new run|Train \d+ more steps|Resume)")
        )
        try:
            await start.click(timeout=30_000)
        except Exception as exc:  # noqa: BLE001
            errors.append(describe(exc))
            break
        t0, s0 = loop_time(), await training_steps(page)
        runs += 1
        await wait_idle(page, 60)  # the run trains in its own thread; Stop is enabled while it does
        stop = page.get_by_role("button", name="Stop", exact=True)
        while loop_time() < deadline_at:
            await page.wait_for_timeout(500)
            if not await stop.is_enabled():
                break
        else:
            if await stop.is_enabled():
                await stop.click(timeout=10_000)
            await wait_idle(page, 60)
        steps += max(0, await training_steps(page) - s0)
        seconds += loop_time() - t0
        if await page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count():
            errors.append("an error message is shown")
            break
    return {"steps": steps, "seconds": seconds, "runs": runs, "errors": errors}
