"""Browser latency: Enter or click -> chart drawn, p50/p95 in Chromium, one participant.

    python -m bench.browser_latency [--n 24] [--pages mlm,clm,compare] [--mlm default|standin|tiny|ID] [--json FILE]

On the masked-LM page (goal: p50 <= 0.3 s) the benchmark sentence (20 tokens) is typed with a
blank and committed with Ctrl+Enter, and its words are clicked to mask them; on the causal-LM page
the prompt is committed and "Greedy" appends tokens; on the masked-vs-causal page words are
clicked. Each interaction is timed in the page, from the input event to the last change of a
chart once the app is idle (see `bench.web`). Unmasking clicks and resets are timed but not
counted in the chart figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Awaitable, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import scripted, web  # noqa: E402
from bench.common import app_threads, machine, save_json  # noqa: E402
from bench.fixtures import SENTENCE, WORDS, masked_lm, token_count  # noqa: E402

GOAL_P50 = 0.3
CHART_KINDS = {
    "mlm": ["mlm enter", "mlm click"],
    "clm": ["clm enter", "clm greedy"],
    "compare": ["compare enter", "compare click"],
    "span": ["span seed"],
}


Step = Callable[[object], Awaitable[web.Interaction]]


def mlm_plan(n: int) -> list[Step]:
    """A new text with a typed blank every fourth round; in every round a word is masked, then unmasked."""
    steps: list[Step] = []
    i = counted = 0
    while counted < n:
        if i % 4 == 0:
            text = scripted.BLANKED[(i // 4) % len(scripted.BLANKED)]
            steps.append(lambda page, t=text: scripted.mlm_text(page, t))
            counted += 1
        word = WORDS[i % len(WORDS)]
        steps.append(lambda page, w=word: scripted.mlm_click(page, w, masking=True))
        steps.append(lambda page, w=word: scripted.mlm_click(page, w, masking=False))
        counted += 1
        i += 1
    return steps


def clm_plan(n: int) -> list[Step]:
    """The sentence as the prompt, then Greedy (a new distribution each time), Reset every sixth step."""
    steps: list[Step] = [lambda page: scripted.clm_prompt(page, SENTENCE)]
    for i in range(1, max(1, n)):
        steps.append(lambda page: scripted.clm_button(page, "Greedy"))
        if i % 6 == 0:
            steps.append(lambda page: scripted.clm_button(page, "Reset"))
    return steps


# --compare-words pieces: a sentence whose clicked words are two pieces each for SmolLM2's tokenizer
TWO_PIECES = (
    "The children built a snowman in the garden and the mailman barked back at the dog.",
    ["snowman", "mailman", "barked"],
)


def compare_plan(n: int, sentence: str = SENTENCE, words: list[str] = WORDS) -> list[Step]:
    steps: list[Step] = [lambda page: scripted.compare_text(page, sentence)]
    steps += [lambda page, w=words[i % len(words)]: scripted.compare_word(page, w) for i in range(1, max(1, n))]
    return steps


def span_plan(n: int) -> list[Step]:
    """The span-corruption page on the benchmark's 20-token sentence, 2 spans (`bench.fixtures`), with seeds
    1, 2, ...: other spans each time (the sentence and span length are typed first, untimed)."""

    async def first(page):
        await scripted.span_setup(page)
        return await scripted.span_seed(page, 1)

    return [first] + [lambda page, s=i: scripted.span_seed(page, s) for i in range(2, max(1, n) + 1)]


async def open_page(page, name: str, folder: str | None) -> web.Interaction:
    opened = await scripted.go(page, name)
    if name in ("mlm", "compare"):
        await scripted.pick_model(page, "Masked LM", folder)
    return opened


async def measure(plans: dict[str, list[Step]], folder: str | None, versus: tuple | None) -> dict[str, list]:
    """Run the plans on the app (and, with `versus` = (environment, app folder), step by step in
    alternation on a second server started that way)."""
    from playwright.async_api import async_playwright

    # every click times the model path: the process-wide forward caches (explorer/forward_cache.py) would
    # answer this benchmark's repeated clicks from memory
    uncached = {"SSL_EXPLORER_FORWARD_CACHE": "0"}
    variants = {
        "app": (uncached, web.ROOT),
        **({"versus": ({**uncached, **(versus[0] or {})}, versus[1])} if versus else {}),
    }
    out: dict[str, list] = {v: [] for v in variants}
    with contextlib.ExitStack() as stack:
        servers = {v: stack.enter_context(web.app_server(env, root=root)) for v, (env, root) in variants.items()}
        async with async_playwright() as pw:
            browser = await web.launch(pw)
            try:
                pages = {}
                for v, server in servers.items():
                    _, pages[v] = await web.new_page(browser)
                    await scripted.open_app(pages[v], server.url)
                for name, steps in plans.items():
                    for v in variants:
                        out[v].append(await open_page(pages[v], name, folder))
                    for i, step in enumerate(steps):
                        for v in list(variants) if i % 2 == 0 else list(variants)[::-1]:
                            out[v].append(await step(pages[v]))
                rss = {v: server.rss_mb() for v, server in servers.items()}
            finally:
                await browser.close()
    return {"interactions": out, "rss": rss}


def summarise(interactions: list[web.Interaction], pages: list[str]) -> dict:
    summary = {name: web.summarise(interactions, CHART_KINDS[name]) for name in pages}
    for name in pages:
        for kind in CHART_KINDS[name]:
            summary[kind] = web.summarise(interactions, [kind])
    summary["other"] = {
        i.kind: web.summarise(interactions, [i.kind])
        for i in interactions
        if not any(i.kind in k for k in CHART_KINDS.values())
    }
    return summary


def fmt(s: dict) -> str:
    if not s["n"]:
        return f"no successful interaction ({s['errors']} errors: {'; '.join(s['error_examples'])})"
    err = f", {s['errors']} errors ({'; '.join(s['error_examples'])})" if s["errors"] else ""
    return f"p50 {s['p50']:.3f} s, p95 {s['p95']:.3f} s, max {s['max']:.3f} s over {s['n']}{err}"


def report(summary: dict, pages: list[str], indent: str = "  ") -> None:
    for name in pages:
        goal = (
            f" (goal p50 <= {GOAL_P50} s: {'ok' if summary[name]['n'] and summary[name]['p50'] <= GOAL_P50 else 'over'})"
            if name == "mlm"
            else ""
        )
        print(f"{indent}{scripted.MENU[name]:<24} Enter/click -> chart drawn: {fmt(summary[name])}{goal}")
        for kind in CHART_KINDS[name]:
            print(f"{indent}    {kind:<14} {fmt(summary[kind])}")
    for kind, s in summary["other"].items():
        print(f"{indent}    {kind:<14} {fmt(s)} (not a chart interaction)")


def parse_env(items: list[str]) -> dict | None:
    env = dict(item.split("=", 1) for item in items)
    return env or None


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=24, help="timed chart interactions on the masked-LM page")
    ap.add_argument("--n-other", type=int, default=12, help="timed chart interactions on each other page")
    ap.add_argument("--pages", default="mlm,clm,compare", help="pages to measure: mlm, clm, compare, span")
    ap.add_argument("--mlm", default="default", help="masked LM: default, standin, tiny, or an id/folder")
    ap.add_argument(
        "--versus",
        action="append",
        default=[],
        metavar="ENV=VALUE",
        help="also time a second server started with this environment variable (repeatable), "
        "interaction by interaction in alternation, e.g. STREAMLIT_RUNNER_POST_SCRIPT_GC=true",
    )
    ap.add_argument(
        "--versus-rev",
        metavar="REV",
        help="also time a second server whose --versus-paths are as "
        "they are at this git revision (e.g. HEAD), in alternation: a change against what it replaces",
    )
    ap.add_argument("--versus-paths", default="", help="comma-separated files for --versus-rev")
    ap.add_argument(
        "--compare-words",
        choices=["one-piece", "two-pieces"],
        default="one-piece",
        help="the masked-vs-causal page's clicks: the benchmark sentence's words (one piece each) or "
        "words of two pieces each (whole words cost more passes for them)",
    )
    ap.add_argument("--json", type=Path, help="write the results to this file")
    args = ap.parse_args(argv)
    app_threads()
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    env = parse_env(args.versus)
    paths = [p.strip() for p in args.versus_paths.split(",") if p.strip()]
    label = " ".join(args.versus + ([f"{', '.join(paths)} as at {args.versus_rev}"] if args.versus_rev else []))
    m = masked_lm(args.mlm)
    print(f"Machine: {machine()}")
    print(
        f"Masked LM: {m.lm.info.name} [{m.label}]; sentence of {token_count(m.lm.tokenizer) - 2} tokens "
        f"(+ [CLS]/[SEP]); headless Chromium on 127.0.0.1, one session per server",
        flush=True,
    )
    builders = {
        "mlm": lambda: mlm_plan(args.n),
        "clm": lambda: clm_plan(args.n_other),
        "compare": lambda: compare_plan(
            args.n_other, *((TWO_PIECES[0], TWO_PIECES[1]) if args.compare_words == "two-pieces" else ())
        ),
        "span": lambda: span_plan(args.n_other),
    }
    plans = {name: builders[name]() for name in pages}
    with contextlib.ExitStack() as stack:
        root = stack.enter_context(web.tree_at(args.versus_rev, paths)) if args.versus_rev else web.ROOT
        versus = (env, root) if (env or args.versus_rev) else None
        raw = asyncio.run(measure(plans, m.folder, versus))
    result = {
        "machine": machine(),
        "mlm": m.label,
        "mlm_name": m.lm.info.name,
        "goal_p50": GOAL_P50,
        "pages": pages,
        "versus": label or None,
        "variants": {},
    }
    for variant, interactions in raw["interactions"].items():
        summary = summarise(interactions, pages)
        summary["server_rss_mb"] = raw["rss"][variant]
        result["variants"][variant] = {"summary": summary, "interactions": [vars(i) for i in interactions]}
        if versus:
            print(f"  {'the app as it is' if variant == 'app' else 'with ' + label}:")
        report(summary, pages, "    " if versus else "  ")
    result["summary"] = result["variants"]["app"]["summary"]
    if versus:
        result["ratios"] = {}
        for name in pages:
            a, b = result["summary"][name]["p50"], result["variants"]["versus"]["summary"][name]["p50"]
            if a and b:
                result["ratios"][name] = b / a
                print(f"  {scripted.MENU[name]}: p50 with {label} / as it is = {b / a:.2f}")
    print("  server RSS at the end: " + ", ".join(f"{v} {r:.0f} MB" for v, r in raw["rss"].items()))
    save_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
