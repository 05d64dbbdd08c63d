"""Speed a room feels: every chart interaction in Chromium against the plain model work it needs, and page
navigation on a warm server.

    python -m bench.room_speed [--n 12] [--nav 5] [--repeat 10] [--json FILE]

Three parts, in one run on one machine (one torch thread, as in the app):

1. **Plain model work** of each interaction: plain transformers on the same models and inputs, median of
   `--repeat` calls, interleaved (`bench.common.interleaved`):
   - masked-LM click: one pass of the benchmark sentence with one word hidden (`bench.core_calls`'s plain fill-mask);
   - causal-LM greedy step: one token read after the keys and values of the text before it (what a step
     needs), and, for reference, a whole pass over the text (what a step cost before the keys and values
     were kept);
   - masked-vs-causal click: the hidden word by both models in whole words, 1-3 pieces each way: the
     page's own call with every cache cleared (`predict_word`: its forward passes are nearly all of it), and,
     for reference, `bench.core_calls`'s plain transformers reading of the first piece only;
   - span-corruption seed change on the benchmark sentence (20 tokens, 2 spans: `bench.fixtures`): the span
     LM's greedy decoding of the target (the input read once, then one token a step), for the seeds Chromium
     types.
2. **Chromium** (`bench.browser_latency`): one participant, the forward caches off (every click does its model
   work), p50 of Enter/click -> chart drawn per interaction.
3. **Navigation**: a second server with its caches on, every page opened once first (a warm server), then
   `--nav` rounds of menu clicks through the pages; p50 per page of click -> page drawn.

Ratio = Chromium p50 / plain model work (goal <= 1.5 per chart interaction); navigation goal p50 <= 0.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import browser_latency, core_calls, scripted, web  # noqa: E402
from bench.common import app_threads, interleaved, machine, median, save_json  # noqa: E402
from bench.fixtures import SENTENCE, masked_lm  # noqa: E402

GOAL_RATIO = 1.5
GOAL_NAV_S = 0.5
NAV_PAGES = ["mlm", "clm", "compare", "span", "contrastive", "images", "attention", "training", "alignment", "models"]


def greedy_step_plain(c):
    """(one token after the kept keys and values of the text, a whole pass over the text), plain transformers."""
    import copy

    import torch

    from explorer import clm

    ids = clm.build_prompt(c.tokenizer, SENTENCE).ids
    with torch.inference_mode():
        kept = c.model(input_ids=torch.tensor([ids[:-1]]), use_cache=True).past_key_values

    def step():
        with torch.inference_mode():
            out = c.model(input_ids=torch.tensor([ids[-1:]]), past_key_values=copy.deepcopy(kept), use_cache=True)
            return int(out.logits[0, -1].argmax())

    def whole():
        with torch.inference_mode():
            return int(c.model(input_ids=torch.tensor([ids])).logits[0, -1].argmax())

    return step, whole


def span_fill_plain(s, seeds: list[int]):
    """The span LM's greedy decoding of each seed's target (its input read once with its keys and values
    kept, then one token a step, as many steps as the page's fill takes), averaged over the seeds Chromium
    types; returns the function and the mean number of passes (the input's, then one per token)."""
    import torch
    from transformers import DynamicCache

    from bench.fixtures import SENTENCE, SPAN_DENSITY, SPAN_MEAN_LENGTH
    from explorer.span import corrupt_spans

    tok = s.tokenizer
    cases = []
    for seed in seeds:
        c = corrupt_spans(tok, SENTENCE, noise_density=SPAN_DENSITY, mean_noise_span_length=SPAN_MEAN_LENGTH, seed=seed)
        ids = tok(c.input_text, return_tensors="pt")["input_ids"]
        steps = s.model.generate(input_ids=ids, max_new_tokens=2 * len(c.target_pieces) + 10).shape[1]
        cases.append((ids, steps))
    state = {"i": 0}

    def fill():
        ids, steps = cases[state["i"] % len(cases)]
        state["i"] += 1
        cache = DynamicCache()
        with torch.inference_mode():
            logits = s.model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1).logits[0, -1]
            for _ in range(steps - 1):
                nxt = logits.argmax().view(1, 1)
                logits = s.model(input_ids=nxt, past_key_values=cache, use_cache=True, logits_to_keep=1).logits[0, -1]
        return logits

    return fill, sum(n for _, n in cases) / len(cases)


def plain_work(m, c, s, repeat: int, seeds: list[int]) -> dict[str, dict]:
    fill_ex, fill_plain = core_calls.fill_mask_case(m)
    word_ex, word_plain = core_calls.compare_cases(m, c)[
        "compare: the hidden word, both models (whole words; plain: first piece)"
    ]
    step, whole = greedy_step_plain(c)
    span, passes = span_fill_plain(s, seeds)
    fns = {
        "mlm click": fill_plain,
        "clm greedy": step,
        "clm whole pass": whole,
        "compare click": word_ex,
        "compare first piece, plain": word_plain,
    }
    fns["span seed"] = span
    t = interleaved(fns, repeat=repeat, warmup=2)
    out = {name: {"ms": median(v) * 1000} for name, v in t.items()}
    out["span seed"]["passes"] = passes
    return out


async def navigation(rounds: int) -> dict[str, list[web.Interaction]]:
    """Menu clicks through the pages on a warm server (its caches on; each page opened once before)."""
    from playwright.async_api import async_playwright

    out: dict[str, list[web.Interaction]] = {p: [] for p in NAV_PAGES}
    with web.app_server() as server:
        async with async_playwright() as pw:
            browser = await web.launch(pw)
            try:
                _, page = await web.new_page(browser)
                await scripted.open_app(page, server.url)
                for name in NAV_PAGES:  # warm: models loaded, each page's first run done
                    await scripted.go(page, name)
                for _ in range(rounds):
                    for name in NAV_PAGES:
                        out[name].append(await scripted.go(page, name))
            finally:
                await browser.close()
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=12, help="timed chart interactions per page in Chromium")
    ap.add_argument("--nav", type=int, default=5, help="rounds of menu clicks through the pages")
    ap.add_argument("--repeat", type=int, default=10, help="timed calls of each plain computation")
    ap.add_argument("--json", type=Path, help="write the results to this file")
    args = ap.parse_args(argv)
    app_threads()
    from explorer import load

    m, c, s = masked_lm("default"), load("clm"), load("seq2seq")
    print(f"Machine: {machine()}")
    print(f"Models: masked LM {m.lm.info.name}, causal LM {c.info.name}, span LM {s.info.name}", flush=True)
    seeds = list(range(1, max(1, args.n) + 1))
    plain = plain_work(m.lm, c, s, args.repeat, seeds)
    for name, row in plain.items():
        print(f"  plain model work, {name:<16} {row['ms']:8.1f} ms", flush=True)
    pages = ["mlm", "clm", "compare", "span"]
    plans = {
        "mlm": browser_latency.mlm_plan(args.n),
        "clm": browser_latency.clm_plan(args.n),
        "compare": browser_latency.compare_plan(args.n),
        "span": browser_latency.span_plan(args.n),
    }
    raw = asyncio.run(browser_latency.measure(plans, None, None))
    summary = browser_latency.summarise(raw["interactions"]["app"], pages)
    rows = []
    for kind, work in (
        ("mlm click", "mlm click"),
        ("clm greedy", "clm greedy"),
        ("compare click", "compare click"),
        ("span seed", "span seed"),
    ):
        s = summary[kind]
        p50 = s["p50"] if s["n"] else None
        ratio = p50 / (plain[work]["ms"] / 1000) if p50 else None
        rows.append(
            {
                "interaction": kind,
                "p50_s": p50,
                "n": s["n"],
                "errors": s["errors"],
                "plain_ms": plain[work]["ms"],
                "ratio": ratio,
            }
        )
        print(
            f"  {kind:<14} Chromium p50 {p50 or float('nan'):.3f} s over {s['n']} ({s['errors']} errors); "
            f"plain model work {plain[work]['ms']:.1f} ms; ratio {ratio or float('nan'):.2f} (goal <= {GOAL_RATIO})",
            flush=True,
        )
    nav = asyncio.run(navigation(args.nav))
    nav_rows = []
    for name, got in nav.items():
        # a page's own message counts as drawn (the Models page says that t5-small cannot be fetched offline)
        drawn = [web.Interaction(i.kind, i.seconds, i.rerun_seconds, i.chart) for i in got if i.seconds is not None]
        s = web.summarise(drawn, [f"open {name}"])
        shown = sorted({i.error for i in got if i.seconds is not None and i.error})
        nav_rows.append(
            {
                "page": scripted.MENU[name],
                "p50_s": s["p50"] if s["n"] else None,
                "n": s["n"],
                "errors": len(got) - len(drawn),
                "messages": shown,
            }
        )
        print(
            f"  open {scripted.MENU[name]:<26} p50 {s['p50'] if s['n'] else float('nan'):.3f} s over {s['n']}",
            flush=True,
        )
    result = {
        "machine": machine(),
        "mlm_name": m.lm.info.name,
        "clm": c.info.name,
        "plain": plain,
        "rows": rows,
        "navigation": nav_rows,
        "goal_ratio": GOAL_RATIO,
        "goal_nav_s": GOAL_NAV_S,
        "server_rss_mb": raw["rss"]["app"],
    }
    save_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
