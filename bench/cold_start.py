"""Cold start: server start -> first prediction on screen, with and without the converted model cache.

    python -m bench.cold_start [--repeat 1] [--no-cold] [--no-convert] [--json FILE]

Each run starts a fresh `streamlit run app.py`, opens the app in Chromium, goes to the causal-LM
page from the menu (its default model is the packaged SmolLM2) and stops the clock when the
next-token chart is drawn. "With cache" uses the converted model already on this machine (the
default SSL_EXPLORER_CACHE); "without" points SSL_EXPLORER_CACHE at an empty folder, so the page
converts the packaged GGUF first (its progress bar shows). The GGUF conversion alone is timed in
a fresh Python process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import scripted, web  # noqa: E402
from bench.common import app_threads, machine, median, save_json  # noqa: E402

CONVERT = """
import time
t0 = time.perf_counter()
from explorer.models.made.gguf_cache import convert_smollm2
t1 = time.perf_counter()
convert_smollm2()
print(f"{t1 - t0:.3f} {time.perf_counter() - t1:.3f}")
"""


async def first_prediction(env: dict | None, timeout_s: float) -> dict:
    """Seconds from server start to health, to the home page and to the causal-LM chart drawn."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await web.launch(pw)  # before the clock starts
        server = web.Server(env).start()
        try:
            health = server.wait_healthy(timeout_s)
            _, page = await web.new_page(browser)
            await scripted.open_app(page, server.url, timeout_s)
            home = time.perf_counter() - server.started
            opened = await scripted.go(page, "clm", timeout_s=timeout_s, chart=True)  # in the page: click -> chart
            total = home + (opened.seconds or float("nan"))
            return {
                "health_s": health,
                "home_s": home,
                "first_prediction_s": total,
                "error": opened.error,
                "rss_mb": server.rss_mb(),
            }
        finally:
            server.stop()
            await browser.close()


def conversion_seconds() -> dict:
    """The GGUF -> safetensors conversion alone, in a fresh process with an empty cache."""
    with web.temp_cache() as cache:
        env = {**os.environ, "SSL_EXPLORER_CACHE": cache}
        out = subprocess.run(
            [sys.executable, "-c", CONVERT], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        imports, convert = (float(x) for x in out.stdout.split()[-2:])
    return {"import_s": imports, "convert_s": convert}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="cold starts of each kind")
    ap.add_argument("--no-cold", action="store_true", help="skip the start without the converted cache")
    ap.add_argument("--no-convert", action="store_true", help="skip timing the conversion alone")
    ap.add_argument("--timeout", type=float, default=300, help="seconds allowed for one start")
    ap.add_argument("--json", type=Path, help="write the results to this file")
    args = ap.parse_args(argv)
    app_threads()
    from explorer.models.made.gguf_cache import convert_smollm2

    convert_smollm2()  # the "with cache" runs need it
    print(f"Machine: {machine()}")
    print(
        "Server start -> causal-LM page's first next-token chart drawn in Chromium (fresh server each time)", flush=True
    )
    result: dict = {"machine": machine(), "runs": {}}
    kinds = {"with cache": False} if args.no_cold else {"with cache": False, "without cache": True}
    for kind, empty in kinds.items():
        runs = []
        for _ in range(args.repeat):
            with web.temp_cache() as folder:
                env = {"SSL_EXPLORER_CACHE": folder} if empty else None
                runs.append(asyncio.run(first_prediction(env, args.timeout)))
            r = runs[-1]
            print(
                f"  {kind:<14} first prediction {r['first_prediction_s']:6.1f} s  (server healthy "
                f"{r['health_s']:.1f} s, home page {r['home_s']:.1f} s; server RSS {r['rss_mb']:.0f} MB)"
                + (f"  error: {r['error']}" if r["error"] else ""),
                flush=True,
            )
        result["runs"][kind] = {"runs": runs, "median_s": median([r["first_prediction_s"] for r in runs])}
    if not args.no_convert:
        conv = conversion_seconds()
        result["conversion"] = conv
        print(
            f"  GGUF conversion alone: {conv['convert_s']:.1f} s (fresh process, empty cache; "
            f"+{conv['import_s']:.1f} s of imports)"
        )
    save_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
