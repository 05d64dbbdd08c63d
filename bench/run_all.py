"""Run every benchmark and write bench/REPORT.md (`make bench`).

    python -m bench.run_all [--quick] [--only core,latency,cold,training,load,wsload,soak,workshop,workshop_soak,alignment,vision,rlhf,attribution]
                            [--out bench/REPORT.md]

Each benchmark runs in its own process (so that one's models and threads never slow another)
and hands its figures back as JSON, kept in bench/out/results.json: a run of some benchmarks
(`--only`) updates theirs and the report keeps the others, dated. `--quick` gives each a tiny
budget (a smoke run, figures not meaningful). The live-training figure comes from
bench/training_speed.py, the training page's own benchmark. What is written by hand about a
section's figures lives in bench/notes/<section>.md (latency.md, workshop.md, ...) and is printed
after that section's tables.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import app_threads, machine  # noqa: E402

REPORT = ROOT / "bench" / "REPORT.md"
# Written by hand: the analysis behind a section's figures (bench/notes/<section>.md, e.g. latency.md),
# printed after that section's tables so that a new run of the benchmarks keeps it.
NOTES = ROOT / "bench" / "notes"
RESULTS = ROOT / "bench" / "out" / "results.json"  # the last figures of each benchmark (not in git)
TRAINING_SPEED = ROOT / "bench" / "training_speed.py"
BUDGETS = {  # name -> (full arguments, quick arguments)
    "core": (["--repeat", "15"], ["--repeat", "2"]),
    "latency": (["--n", "24", "--n-other", "8"], ["--n", "2", "--n-other", "1"]),
    "cold": ([], ["--no-cold", "--no-convert"]),
    "training": (["--steps", "100", "--repeat", "2"], ["--steps", "10", "--repeat", "1"]),
    "load": (["--levels", "5,10,20", "--duration", "30"], ["--levels", "2", "--duration", "8", "--trainers", "1"]),
    "wsload": (["--levels", "10,20,40", "--duration", "30"], ["--levels", "2", "--duration", "6", "--trainers", "1"]),
    "cloze": ([], ["--limit", "10"]),
    "grammar": ([], ["--limit", "16"]),
    "hidden": ([], ["--limit", "6"]),
    "memory": ([], []),
    "soak": (["--minutes", "20", "--n", "20"], ["--minutes", "1", "--n", "3", "--trainers", "1", "--warmup", "0.3"]),
    "workshop": (
        ["--workers", "1,2", "--levels", "30,60", "--duration", "30", "--kill", "30"],
        ["--workers", "1,2", "--levels", "4", "--duration", "6", "--trainers", "1", "--kill", "4"],
    ),
    "workshop_soak": (
        ["--workers", "2", "--levels", "20", "--duration", "1200"],
        ["--workers", "2", "--levels", "3", "--duration", "20", "--trainers", "1"],
    ),
    "alignment": ([], ["--seconds", "20", "--speed-rounds", "1"]),
    "vision": ([], ["--mae-seconds", "5", "--simclr-seconds", "5", "--clip-seconds", "5", "--dino-seconds", "5"]),
    "room": (["--n", "12", "--nav", "5"], ["--n", "2", "--nav", "1", "--repeat", "2"]),
    "span": ([], ["--limit", "4"]),
    "attribution": ([], ["--limit", "2", "--repeat", "1"]),
    "rlhf": (
        ["--speed-rounds", "3"],
        ["--seconds", "15", "--betas", "0.05", "--samples", "1", "--batching-rounds", "1"],
    ),
}
MODULES = {
    "core": "bench.core_calls",
    "latency": "bench.browser_latency",
    "cold": "bench.cold_start",
    "load": "bench.load",
    "wsload": "bench.ws_load",
    "cloze": "bench.cloze",
    "grammar": "bench.grammar",
    "hidden": "bench.hidden_word",
    "room": "bench.room_speed",
    "span": "bench.span_fill",
    "rlhf": "bench.rlhf",
    "attribution": "bench.attribution",
    "memory": "bench.memory",
    "soak": "bench.soak",
    "workshop": "bench.workshop",
    "workshop_soak": "bench.workshop",
    "alignment": "bench.alignment",
    "vision": "bench.vision",
}


def run(cmd: list[str], timeout: float) -> tuple[int, str]:
    """Run a benchmark, echoing its output as it comes; returns (exit code, output)."""
    print("$ " + " ".join(cmd[1:] if cmd[0] == sys.executable else cmd), flush=True)
    lines: list[str] = []
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
    )
    watchdog = threading.Timer(timeout, proc.kill)  # every benchmark stops by itself; this is a backstop
    watchdog.start()
    try:
        for line in proc.stdout:
            if "Loading weights" not in line and "Writing model shards" not in line:
                lines.append(line)
                print(line, end="", flush=True)
    finally:
        watchdog.cancel()
    code = proc.wait()
    if code < 0:
        lines.append(f"stopped after {timeout:.0f} s\n")
    return code, "".join(lines)


def run_module(name: str, args: list[str], timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "result.json"
        code, text = run([sys.executable, "-m", MODULES[name], *args, "--json", str(out)], timeout)
        result = json.loads(out.read_text()) if out.exists() else {}
    result.update({"exit_code": code, "command": f"python -m {MODULES[name]} {' '.join(args)}".strip()})
    if code and not result.get("error"):
        result["error"] = text.strip().splitlines()[-1] if text.strip() else f"exit code {code}"
    return result


def training_speed(args: list[str], timeout: float) -> dict:
    """The live-training page's loop vs the same loop without UI (bench/training_speed.py)."""
    if not TRAINING_SPEED.exists():
        return {"error": "bench/training_speed.py is not there yet: no live-training figure"}
    code, text = run([sys.executable, str(TRAINING_SPEED), *args], timeout)
    figures: dict = {}
    for key, pattern in {
        "ratio": r"ratio page[^:\n]*/ plain[^:\n]*:\s*([\d.]+)",
        "cpu_ratio": r"([\d.]+) by CPU time",
        "two_threads_steps_per_s": r"plain loop with 2 torch threads:\s+([\d.]+)",
    }.items():
        m = re.search(pattern, text)
        if m:
            figures[key] = float(m.group(1))
    for key, pattern in {
        "plain_steps_per_s": r"plain(?: loop \(no UI\):)?\s+([\d.]+) steps/s",
        "page_steps_per_s": r"page(?: loop \(UI callbacks\):)?\s+([\d.]+) steps/s",
    }.items():
        values = [float(v) for v in re.findall(pattern, text)]
        if values:
            figures[key] = statistics.median(values)
    setup = text.strip().splitlines()[0] if text.strip() else ""
    result = {
        "exit_code": code,
        "command": f"python bench/training_speed.py {' '.join(args)}".strip(),
        "setup": setup,
        **figures,
    }
    if code or "ratio" not in figures:
        result["error"] = text.strip().splitlines()[-1] if text.strip() else f"exit code {code}"
    return result


# --------------------------------------------------------------------------- report


def _f(x, spec: str = ".2f", unit: str = "") -> str:
    return "—" if x is None or x != x else f"{x:{spec}}{unit}"


def _head(title: str, r: dict) -> list[str]:
    """A section's heading, and the reason when its benchmark did not complete."""
    return [f"## {title}", "", *([f"*Did not complete: {r['error']}*", ""] if r.get("error") else [])]


def core_section(r: dict) -> list[str]:
    out = _head("1. Core calls against plain transformers (goal <= 1.05x)", r)
    if r.get("rows"):
        out += [
            f"Masked LM: {r['mlm_name']} ({r['mlm']}); causal LM: {r['clm']}; encoder: {r['encoder']}. "
            f"Input: the benchmark sentence ({r['mlm_tokens']} masked-LM tokens, {r['clm_tokens']} causal-LM "
            f"tokens). Each call alternates with its plain equivalent ({r['rows'][0]['repeat']} times each); "
            "ratio of the medians, and of the best times. Cached calls are timed with the cache cleared "
            "unless the row says otherwise.",
            "",
            "| page call | explorer (ms) | plain transformers (ms) | ratio | ratio of best | goal |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for row in r["rows"]:
            ok = "ok" if row["ratio"] <= row["goal"] else "**over**"
            out.append(
                f"| {row['name']} | {row['explorer_ms']:.1f} | {row['plain_ms']:.1f} | {row['ratio']:.2f} | "
                f"{row['ratio_best']:.2f} | {ok} |"
            )
    return out + [""]


def latency_section(r: dict) -> list[str]:
    from bench.browser_latency import CHART_KINDS
    from bench.scripted import MENU

    out = _head("2. Browser latency: Enter or click -> chart drawn (goal p50 <= 0.3 s on the masked-LM page)", r)
    summary = r.get("summary")
    if summary:
        out += [
            f"Headless Chromium, one participant, timed in the page from the input event to the last change "
            f"of a chart once the app is idle. Masked LM: {r['mlm_name']} ({r['mlm']}); sentence of 20 tokens.",
            "",
            "| page | interaction | n | p50 (s) | p95 (s) | errors |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for page in r["pages"]:
            for kind in [page, *CHART_KINDS[page]]:
                s = summary[kind]
                label = "all chart interactions" if kind == page else kind
                out.append(
                    f"| {MENU[page]} | {label} | {s['n']} | {_f(s['p50'], '.3f')} | {_f(s['p95'], '.3f')} | "
                    f"{s['errors']} |"
                )
        if r.get("ratios"):
            out += [
                "",
                f"Same run, in alternation, against a second server with {r['versus']}: p50 ratio "
                + ", ".join(f"{MENU[k]} {v:.2f}x" for k, v in r["ratios"].items())
                + ".",
            ]
    return out + [""]


def cold_section(r: dict) -> list[str]:
    out = _head("3. Cold start: server start -> first prediction on screen", r)
    if r.get("runs"):
        out += [
            "A fresh server each time; Chromium opens the home page (which loads the three default models) "
            "and then the causal-LM page from the menu; the clock stops when its next-token chart is drawn.",
            "",
            "| start | first prediction (s) | server healthy (s) | home page ready (s) | server RSS (MB) |",
            "|---|---:|---:|---:|---:|",
        ]
        for kind, k in r["runs"].items():
            first = k["runs"][0]
            out.append(
                f"| {kind} (median of {len(k['runs'])}) | {_f(k['median_s'], '.1f')} | "
                f"{first['health_s']:.1f} | {first['home_s']:.1f} | {first['rss_mb']:.0f} |"
            )
        if r.get("conversion"):
            out += [
                "",
                f"GGUF -> safetensors conversion alone (fresh process, empty cache): "
                f"{r['conversion']['convert_s']:.1f} s.",
            ]
    return out + [""]


def training_section(r: dict) -> list[str]:
    out = _head("4. Live training: a run started from the page against the same loop without UI (goal >= 0.9x)", r)
    if "ratio" in r:
        out += [
            f"{r['setup']}.",
            "",
            "| loop | steps/s |",
            "|---|---:|",
            f"| plain loop, no UI | {_f(r.get('plain_steps_per_s'), '.1f')} |",
            f"| started from the page (its own thread; the page redrawn every 0.5 s meanwhile) | "
            f"{_f(r.get('page_steps_per_s'), '.1f')} |",
            f"| plain loop, 2 torch threads | {_f(r.get('two_threads_steps_per_s'), '.1f')} |",
            "",
            f"Ratio page / plain: **{r['ratio']:.2f}** by wall clock"
            + (f", {r['cpu_ratio']:.2f} by CPU time" if "cpu_ratio" in r else "")
            + f" ({'ok' if r['ratio'] >= 0.9 else 'under the goal'}).",
        ]
    return out + [""]


def load_section(r: dict, *, websocket: bool = False) -> list[str]:
    title = (
        "6. Load without browsers: N sessions over Streamlit's websocket protocol"
        if websocket
        else "5. Load: N participants in browsers at once"
    ) + " (goal <= 50 MB of server memory per extra session)"
    out = _head(title, r)
    who = "websocket clients" if websocket else "browsers"
    if r.get("levels"):
        out += [
            (
                f"Each level: a fresh server, N sessions for {r['duration_s']:.0f} s, each a client that sends the "
                "server what a browser tab sends (page openings, widget changes, the live view's reruns every "
                "0.5 s) and draws nothing, so the server gets the machine: "
                if websocket
                else f"Each level: a fresh server, N headless Chromium contexts for {r['duration_s']:.0f} s; "
            )
            + f"{r['trainers']} of them train a tiny GPT on the live-training page, the others repeat a mix "
            f"(masked-LM text and clicks, causal-LM greedy steps, masked-vs-causal words, attention views) with "
            f"pauses of ~{r['think_s']:g} s. The {who} run on the same machine as the server."
            + (
                " Latency: request sent -> script run finished (the browser's drawing is not included)."
                if websocket
                else ""
            ),
            "",
            "| N | actions/s | p50 (s) | p95 (s) | errors | RSS, 1 session (MB) | RSS at the end (MB) | peak (MB) "
            f"| per extra session (MB): end / peak | training steps/s per session | CPU cores: server / {who} |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for lv in r["levels"]:
            lat = lv["latency"]
            by_peak = (lv["rss_peak_mb"] - lv["rss_one_session_mb"]) / max(1, lv["sessions"] - 1)
            clients = lv.get("client_cpu_cores" if websocket else "browser_cpu_cores", float("nan"))
            out.append(
                f"| {lv['sessions']} | {lv['throughput_per_s']:.2f} | {_f(lat['p50'])} | {_f(lat['p95'])} | "
                f"{lv['errors']} | {lv['rss_one_session_mb']:.0f} | {lv['rss_end_mb']:.0f} | "
                f"{lv['rss_peak_mb']:.0f} | {lv['rss_per_extra_session_mb']:.1f} / {by_peak:.1f} | "
                f"{lv['training']['steps_per_s']:.1f} | {lv.get('server_cpu_cores', float('nan')):.2f} / "
                f"{clients:.2f} |"
            )
        for lv in r["levels"]:
            if not lv["actions"]:
                out += [
                    "",
                    f"N = {lv['sessions']}: no action ended within the {r['duration_s']:.0f} s: opening the app "
                    f"took {_f(lv['open_app']['p50'], '.0f')} s (p50) with every {who[:-1]} starting at once.",
                ]
        examples = sorted({e for lv in r["levels"] for e in lv["latency"]["error_examples"] + lv["training"]["errors"]})
        if examples:
            out += ["", "Errors seen: " + "; ".join(examples[:5]) + "."]
    return out + [""]


# the bundled MiniLM-MLM's figures when it was the default (kept as the baseline the new default replaced)
OLD_DEFAULT = "ssl-explorer-minilm-mlm"


def cloze_section(r: dict) -> list[str]:
    out = _head(
        "7. Cloze: top-1 / top-5 on everyday sentences (goal on the benchmark: top-5 >= 0.85, top-1 >= 0.55)", r
    )
    sets, models = r.get("sets", {}), r.get("models", {})
    if models:
        out += ["A guess counts when one of the 5 best tokens is an accepted answer. Which set is which:", ""]
        out += [f"- **{n}** (`{s['file']}`, {s['n']} sentences): {s['role']}." for n, s in sets.items()]
        out += ["", "| model | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
        served = r.get("served_products", {})
        for name, per in models.items():
            label = (
                f"{name} (the old default, baseline)"
                if name == OLD_DEFAULT
                else f"{name} (as served here: bfloat16 products)"
                if served.get(name) == "bfloat16"
                else name
            )
            cells = [f"{per[n]['overall']['top1']:.2f} / {per[n]['overall']['top5']:.2f}" for n in sets]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        for name, why in r.get("unavailable", {}).items():
            out.append(f"| {name} | not available here: {why.splitlines()[0][:120]} |" + " |" * (len(sets) - 1))
        for name, a in r.get("products_agreement", {}).items():
            out += [
                "",
                f"{name} as served here multiplies its blocks in bfloat16 (`explorer.models.made.bfloat16`); against its "
                f"float32 products on the {a['n']} development blanks: mean KL {a['mean_kl']:.1e} nats (largest "
                f"{a['max_kl']:.1e}), largest change of a top-10 probability {a['max_prob_change']:.3f}, the same "
                f"top-1 token on {a['same_top1']:.0%} and the same top-5 set on {a['same_top5']:.0%} of them.",
            ]
    return out + [""]


def grammar_section(r: dict) -> list[str]:
    out = _head("8. Grammaticality: BLiMP-style minimal pairs by likelihood", r)
    if r.get("table"):
        out += [
            f"{r['n']} minimal pairs written for the project (`bench/minimal_pairs.tsv`, 16 paradigms); a pair is "
            "right when the grammatical sentence scores higher: masked LMs by pseudo-log-likelihood, the causal "
            "LM by its log-likelihood.",
            "",
            r["table"],
        ]
    return out + [""]


def hidden_section(r: dict) -> list[str]:
    out = _head(
        "15. Masked vs causal: the hidden word recovered, whole words (goal: masked top-1 >= 0.80, above the "
        "causal side >= 0.90)",
        r,
    )
    if r.get("sets"):
        out += [
            f"The page's own readout (`explorer.comparisons.masked_vs_causal.predict_word`, whole words on both sides) on sentences "
            f"written for it, each hiding a word that the words to its right decide. Masked LM: {r['masked_lm']}; "
            f"causal LM: {r['causal_lm']}.",
            "",
        ]
        out += [f"- **{n}** (`{s['file']}`, {s['n']} sentences): {s['role']}." for n, s in r["sets"].items()]
        out += [
            "",
            "| set | masked top-1 | masked above causal | causal top-1 | words of 2+ pieces: masked top-1 | "
            "s a sentence |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for n, s in r["sets"].items():
            multi = s["multi_piece"]
            m = f"{multi['masked_top1']:.2f} (of {multi['n']})" if multi["n"] else "—"
            out.append(
                f"| {n} | {s['masked_top1']:.2f} | {s['masked_above_causal']:.2f} | {s['causal_top1']:.2f} | {m} | "
                f"{s['seconds_per_sentence']:.1f} |"
            )
    return out + [""]


def span_section(r: dict) -> list[str]:
    out = _head(
        "18. Span corruption reconstructed offline: one model, three masks (goal: the span LM's exact spans on "
        "held-out sentences >= 0.6 and >= the masked LM told the lengths)",
        r,
    )
    if r.get("sets"):
        build = r.get("build") or {}
        out += [
            f"Span LM: {r['span_lm']} ({build.get('step', '?')} training steps, {build.get('minutes', '?')} min); "
            f"masked LM: {r['masked_lm']}; causal LM: {r['causal_lm']}. Each sentence corrupted with T5's noise "
            "(density 0.15, mean span 3, SmolLM2's tokens, seed = line number). The span LM writes the target "
            "itself and is never told a span's length; the masked LM gets as many masks as the span has tokens; "
            "the causal LM continues the words before each span for as many tokens (no right-hand context).",
            "",
        ]
        out += [f"- **{n}** (`{s['file']}`, {s['n']} sentences): {s['role']}." for n, s in r["sets"].items()]
        out += [
            "",
            "| set | reader | exact spans | token accuracy | spans | s a sentence |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for n, s in r["sets"].items():
            for reader, x in s["readers"].items():
                out.append(
                    f"| {n} | {reader} | {x['exact']:.2f} | {x['token_accuracy']:.2f} | {x['spans']} | "
                    f"{x['s_per_sentence']:.2f} |"
                )
    return out + [""]


def rlhf_section(r: dict) -> list[str]:
    out = _head(
        "19. RLHF's RL step (RLOO) with the page's settings (goals: held-out reward +1 reward-model sd within "
        "180 s on 2 cores, the KL under the page's bound; reward hacking measurable with β = 0; k answers "
        "sampled in one batch faster than a loop)",
        r,
    )
    b = r.get("batching")
    if b:
        out += [
            f"Sampling {b['k']} answers of {b['max_new_tokens']} tokens to one prompt: one batch (the prompt read "
            f"once, its keys and values shared) {b['batched_s']:.2f} s, a loop of single samples {b['loop_s']:.2f} s: "
            f"{b['speedup']:.2f}x.",
            "",
        ]
    if r.get("runs"):
        x = r["runs"][0]
        out += [
            f"Split: {r['split']} (the held-out prompts are those of the pairs the split holds out, never trained "
            f"on by the reward model or the policy). {x['held_out_prompts']} prompts x {x['samples_per_prompt']} "
            f"sampled answers before and after; k = {x['k']}, lr {x['lr']:g}, top {x['layers']} blocks learn.",
            "",
            "| β | steps | seconds | held-out reward before -> after | gain (reward sd) | KL k1 / k3 (nats per "
            "answer) | answer length | people's held-out pairs |",
            "|---:|---:|---:|---|---:|---|---|---|",
        ]
        for x in r["runs"]:
            out.append(
                f"| {x['beta']:g} | {x['steps']} | {x['seconds']:.0f} | {x['before']['reward']:.2f} -> "
                f"{x['after']['reward']:.2f} | {x['gain_sd']:+.2f} | {x['after']['kl']:.1f} / {x['after']['kl_k3']:.1f} "
                f"| {x['before']['length']:.1f} -> {x['after']['length']:.1f} | {x['people_before']:.0%} -> "
                f"{x['people_after']:.0%} |"
            )
    sp = r.get("speed")
    if sp:
        out += [
            "",
            f"The RLHF tab's run against the same loop with no UI ({sp['steps']} steps, median of {sp['rounds']} "
            f"alternating rounds, each in a fresh process): page / plain {sp['ratio_wall']:.2f} by wall clock, "
            f"{sp['ratio_cpu']:.2f} by CPU time (goal >= 0.90).",
        ]
    return out + [""]


def memory_section(r: dict) -> list[str]:
    out = _head("9. Server memory with the offline models (goal: SmolLM2-MLM <= +150 MB over the earlier default)", r)
    if r.get("rows"):
        out += [
            "Each row: a fresh process loads the models and predicts once with each.",
            "",
            "| models loaded | RSS (MB) | PSS (MB) |",
            "|---|---:|---:|",
        ]
        out += [f"| {name} | {v['rss_mb']:.0f} | {v['pss_mb']:.0f} |" for name, v in r["rows"].items()]
        out += [
            "",
            f"SmolLM2-MLM as the default instead of the MiniLM-MLM: {r['delta_vs_old_default_mb']:+.0f} MB "
            "of RSS (it shares every tensor of the causal LM).",
        ]
        if "span_over_two_mb" in r:
            out.append(
                f"The span model (SmolLM2-Span) over the causal LM and the SmolLM2-MLM: {r['span_over_two_mb']:+.0f} MB "
                "of RSS (goal <= +80 MB; it too shares every tensor of the causal LM)."
            )
    return out + [""]


def soak_section(r: dict) -> list[str]:
    out = _head("10. Soak: a shared server for 20 minutes (goal: memory growth <= 10 % after warm-up, 0 errors)", r)
    if r.get("actions"):
        lat = r.get("latency", {})
        out += [
            f"{r['n']} participants over Streamlit's websocket protocol for {r['minutes']:g} minutes: "
            f"{r['actions']:,} actions (p50 {lat.get('p50', float('nan')):.2f} s), {r['tabs_opened']} tabs "
            f"closed and reopened, {r['training_runs']} training runs started and stopped, {r['uploads']} "
            f"corpus uploads; {r['errors']} errors.",
            "",
            f"Server memory {r['rss_base_mb']:,.0f} MB after the {r['warmup_min']:g}-minute warm-up, "
            f"{r['rss_end_mb']:,.0f} MB at the end ({r['growth']:+.1%}), peak {r['rss_peak_mb']:,.0f} MB; "
            f"sessions held {r['sessions_at_end']} with every tab open, {r['sessions_after_close']} after "
            "they closed.",
        ]
    return out + [""]


WORKSHOP_TITLE = (
    "11. Workshop scale: several workers behind nginx (goals: N = 30 p95 <= 1.0 s with 2 workers and "
    ">= 1.5x the actions/s of 1; N = 60 no errors, p95 <= 3 s; <= 300 MB PSS per extra worker; a killed "
    "worker's sessions back within 10 s, the others without errors)"
)
SOAK_TITLE = (
    "12. Soak through nginx: 2 workers for 20 minutes at N = 20 (goal: memory growth <= 10 % after warm-up, 0 errors)"
)


def workshop_section(r: dict, title: str = WORKSHOP_TITLE) -> list[str]:
    from bench.workshop import soak_summary

    out = _head(title, r)
    runs = r.get("runs") or []
    if runs:
        out += [
            "The websocket mix of section 6 through nginx (`serve.py --workers W --proxy`), 2 participants "
            "training; server CPU counts the supervisor, the workers and nginx; PSS (proportional set size) "
            "adds up across processes that share pages, so 'all' is what the machine really holds.",
            "",
            "| workers | N | actions/s | p50 (s) | p95 (s) | errors | sessions per worker | server CPU (cores) | "
            "CPU ms per action | PSS after warm-up, all (MB) | PSS at the end (MB) |",
            "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
        ]
        for x in runs:
            tag = " (a worker killed)" if "kill" in x else ""
            out.append(
                f"| {x['workers']}{tag} | {x['sessions']} | {x['throughput_per_s']:.1f} | {x['latency']['p50']:.2f} | "
                f"{x['latency']['p95']:.2f} | {x['errors']} | {'/'.join(map(str, x['sessions_per_worker'].values()))} | "
                f"{x['server_cpu_cores']:.2f} | {x['cpu_ms_per_action']:.0f} | "
                f"{x['memory_warm']['total_pss_mb']:.0f} | {x['memory_end']['total_pss_mb']:.0f} |"
            )
        by = {(x["workers"], x["sessions"]): x for x in runs if "kill" not in x}
        for n in sorted({x["sessions"] for x in runs}):
            if (1, n) in by and (2, n) in by:
                one, two = by[(1, n)], by[(2, n)]
                out.append(
                    f"\nN = {n}: 2 workers give {two['throughput_per_s'] / one['throughput_per_s']:.2f}x the "
                    f"actions/s of 1; PSS per extra worker "
                    f"{two['memory_warm']['total_pss_mb'] - one['memory_warm']['total_pss_mb']:.0f} MB."
                )
        for x in runs:
            if "kill" in x:
                k = x["kill"]
                out.append(
                    f"\nA worker killed (SIGKILL) {k['at_s']:.0f} s into the N = {x['sessions']} run with "
                    f"{k['sessions_on_killed']} sessions: errors of the other worker's sessions {k['errors_elsewhere']}; "
                    f"{k['reconnects']} reconnections ({k['failed_reconnects']} failed), back in p50 "
                    f"{k['reconnect_s']['p50'] or 0:.1f} s, at most {k['reconnect_s']['max'] or 0:.1f} s (goal <= 10 s)."
                )
            soak = soak_summary(x.get("pss_samples", []))
            if soak is not None:
                out.append(
                    f"\nSoak, {x['duration_s'] / 60:.0f} minutes at N = {x['sessions']} with {x['workers']} workers: "
                    f"{x['actions']:,} actions, {x['errors']} errors; PSS in all {soak['base']:,.0f} MB after 3 minutes, "
                    f"{soak['end']:,.0f} MB at the end ({soak['growth']:+.1%}; goal <= +10 %), peak "
                    f"{soak['peak']:,.0f} MB."
                )
    return out + [""]


def alignment_section(r: dict) -> list[str]:
    out = _head(
        "13. Alignment: DPO of SmolLM2 on the bundled preference pairs (goals: held-out preference accuracy "
        ">= 0.8 within 180 s on 2 cores; a run from the page >= 0.9x the steps/s of the loop with no UI)",
        r,
    )
    a = r.get("accuracy")
    if a:
        p = a["plan"]
        reached = a.get("seconds_to_0.8")
        out += [
            f"The page's own settings (top {p['layers']} blocks learn, lr {p['lr']:g}, batch {p['batch']} pairs, "
            f"β {p['beta']:g}), seed 0: {a['train_pairs']} pairs trained on, {a['held_out_pairs']} held out "
            "(never trained on, and nothing was tuned on them: the settings were checked on a development split "
            "of the training pairs, `python -m bench.alignment --dev`). A held-out pair counts when its chosen "
            "answer gets the higher implicit reward; ties count half, so it starts at 0.5.",
            "",
            "| seconds | step | held-out accuracy | training accuracy |",
            "|---:|---:|---:|---:|",
        ]
        out += [f"| {t:.0f} | {step} | {acc:.2f} | {tr:.2f} |" for t, step, acc, tr in a["curve"]]
        out += [
            "",
            f"Setup (loading, the reference's log-probabilities of every answer) {a['setup_seconds']:.0f} s; "
            f"held-out accuracy {a['start_accuracy']:.2f} -> {a['final_accuracy']:.2f} in {a['seconds']:.0f} s; "
            + ("never reached 0.8" if reached is None else f"0.8 reached after {reached:.0f} s")
            + f" ({'ok' if reached is not None and reached <= 180 else 'under the goal'}).",
        ]
    sp = r.get("speed")
    if sp:
        out += [
            "",
            f"Speed: {sp['steps']} DPO steps started from the page (AppTest, its live view rerun every 0.5 s) "
            f"against the same run with no UI, each in a fresh process, {sp['rounds']} rounds alternating: "
            f"page / plain **{sp['ratio_wall']:.2f}** by wall clock, {sp['ratio_cpu']:.2f} by CPU time "
            f"({'ok' if sp['ratio_wall'] >= 0.9 else 'under the goal'}).",
        ]
    return out + [""]


def vision_section(r: dict) -> list[str]:
    out = _head(
        "14. Images: MAE, SimCLR, CLIP and DINO on the digits (goals: held-out masked-patch loss -50 % within "
        "60 s; linear probe >= 0.85 with 10 labels per class after <= 2 min of SimCLR; CLIP zero-shot >= 0.85 "
        "with one plain prompt per class after <= 2 min; DINO's probe >= the random encoder + 0.05 after <= 2 "
        "min, and collapse with centering off)",
        r,
    )
    m, s = r.get("mae"), r.get("simclr")
    if m:
        out += [
            f"MAE: {m['description']}; seed 0, 2 threads. Held-out loss on the hidden patches {m['start_loss']:.4f} -> "
            f"{m['final_loss']:.4f} ({m['fall']:.0%} lower) in {m['seconds']:.0f} s ({m['steps']} steps); half of it "
            f"gone after {m['seconds_to_goal']:.1f} s; the average training digit scores {m['baseline_loss']:.4f}, "
            + (
                "beaten after " + format(m["seconds_to_baseline"], ".0f") + " s"
                if m.get("seconds_to_baseline") is not None
                else "not beaten"
            )
            + f" ({'ok' if m['met'] else 'under the goal'}).",
            "",
        ]
    if s:
        out += [
            f"SimCLR: {s['description']}; {s['steps']} steps in {s['seconds']:.0f} s. Held-out accuracy of a "
            "linear probe (mean of 5 draws of the labelled training digits; held-out digits never used to train "
            "the encoder or fit a probe):",
            "",
            "| features | "
            + " | ".join(f"{n} labels per class" for n in sorted({t["labels per class"] for t in s["table"]}))
            + " |",
            "|---|" + "---:|" * len({t["labels per class"] for t in s["table"]}),
        ]
        for name in dict.fromkeys(t["features"] for t in s["table"]):
            cells = [f"{t['accuracy']:.3f}" for t in s["table"] if t["features"] == name]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out += ["", f"At 10 labels per class: {s['accuracy_at_10']:.3f} ({'ok' if s['met'] else 'under the goal'})."]
    c = r.get("clip")
    if c:
        reached = "never" if c["seconds_to_goal"] is None else f"after {c['seconds_to_goal']:.1f} s"
        out += [
            "",
            f"CLIP: {c['description']}; lr {c['lr']:g}, batch {c['batch']}; {c['steps']} steps in {c['seconds']:.0f} s. "
            f'Zero-shot accuracy on the held-out digits with one plain prompt per class ("the digit 7"): '
            f"{c['start_accuracy']:.3f} -> {c['final_accuracy']:.3f}; 0.85 reached {reached} "
            f"({'ok' if c['met'] else 'under the goal'}); the learnt temperature {c['temperature']:.3f}. The same "
            "model with other ways of writing the ten prompts (named by the prompt for 7):",
            "",
            "| prompts like | zero-shot accuracy |",
            "|---|---:|",
            *[f"| {name} | {acc:.3f} |" for name, acc in c["prompts"].items()],
        ]
    dn = r.get("dino")
    if dn:
        out += [
            "",
            f"DINO: {dn['runs']['both']['description']}; lr {dn['runs']['both']['lr']:g}, batch "
            f"{dn['runs']['both']['batch']}; the same seed and clock for each switch. Probe: 10 labels per class, mean "
            f"of 5 draws, held-out digits; collapse signs on held-out views (ln K = {dn['max_entropy']:.2f}):",
            "",
            "| run | steps | probe | random encoder | teacher entropy | top dimension's share |",
            "|---|---:|---:|---:|---:|---:|",
            *[
                f"| {name} | {x['steps']} | {x['accuracy_at_10']:.3f} | {x['random_at_10']:.3f} | "
                f"{x['teacher_entropy']:.2f} | {x['top_share']:.2f} |"
                for name, x in dn["runs"].items()
            ],
            "",
            f"Probe >= random + 0.05: {'ok' if dn['met_probe'] else 'under the goal'}; one dimension over 90% with "
            f"centering off: {'ok' if dn['met_collapse'] else 'not seen'}.",
        ]
    return out + [""]


def room_section(r: dict) -> list[str]:
    out = _head(
        "16. Speed a room feels: each chart interaction against its plain model work (goals: Chromium p50 <= "
        "1.5x the plain model work; page navigation p50 <= 0.5 s on a warm server)",
        r,
    )
    if r.get("rows"):
        plain = r["plain"]
        out += [
            f"One participant in headless Chromium, the forward caches off (every click does its model work); the "
            f"plain model work is plain transformers on the same models and inputs in the same run ({r['mlm_name']}, "
            f"{r['clm']}). A greedy step's plain work is one token read after the kept keys and values of the text "
            f"before it; a whole pass over the text took {plain['clm whole pass']['ms']:.0f} ms. A compare click's is "
            f"the page's own whole-word call with every cache cleared (nearly all forward passes; plain transformers "
            f"reading the first piece only: {plain.get('compare first piece, plain', {}).get('ms', 0):.0f} ms). "
            f"A seed change's is the span LM writing the new target: {plain['span seed']['passes']:.1f} passes on "
            "average (its input once, then one token a step with the input's keys and values kept).",
            "",
            "| interaction | Chromium p50 (s) | n | errors | plain model work (ms) | ratio |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for row in r["rows"]:
            p50 = f"{row['p50_s']:.3f}" if row["p50_s"] else "—"
            ratio = f"{row['ratio']:.2f}" if row["ratio"] else "—"
            out.append(
                f"| {row['interaction']} | {p50} | {row['n']} | {row['errors']} | {row['plain_ms']:.0f} | {ratio} |"
            )
        out += [
            "",
            "Page navigation on a warm server (caches on, every page opened once before): menu click -> page drawn.",
            "",
        ]
        out += ["| page | p50 (s) | n | failed | shown on the page |", "|---|---:|---:|---:|---|"]
        for row in r["navigation"]:
            p50 = f"{row['p50_s']:.3f}" if row["p50_s"] else "—"
            shown = "; ".join(
                m.removeprefix("error shown:").strip() or "an error message" for m in row.get("messages", [])
            )
            shown = shown or "—"
            out.append(f"| {row['page']} | {p50} | {row['n']} | {row.get('errors', 0)} | {shown} |")
    return out + [""]


def attribution_section(r: dict) -> list[str]:
    out = _head(
        "20. Token attribution (Why?): cost and faithfulness (goals: gradient × input <= 2x one forward pass; "
        "Integrated Gradients, 32 points, <= 3 s on the masked LM; deleting the most-credited tokens lowers the "
        "word's probability more than deleting random ones)",
        r,
    )
    speed = r.get("speed")
    if speed:
        out += [
            f"`explorer.inside.attribute` on a sentence of about 20 tokens, one token hidden, with "
            f"{speed['threads']} torch thread(s) (the cache off); each method alternates with one plain forward "
            "pass of the same model (`model(input_ids)` in inference mode, as the pages run it); medians.",
            "",
            "| model | tokens | forward (ms) | gradient × input (ms) | ratio | attention × gradient (ms) | "
            "Integrated Gradients, 32 points (s) | the same points one at a time (s) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in speed["rows"]:
            out.append(
                f"| {row['model']} | {row['tokens']} | {row['forward_ms']:.0f} | {row['gradient_ms']:.0f} | "
                f"{row['gradient_over_forward']:.2f}x | {row['attention_ms']:.0f} | {row['ig_s']:.2f} | "
                f"{row['ig_unbatched_s']:.2f} |"
            )
        for extra in r.get("speed_more", []):
            out += ["", f"With {extra['threads']} torch threads:", ""]
            for row in extra["rows"]:
                out.append(
                    f"- {row['model']}: gradient × input {row['gradient_over_forward']:.2f}x a forward pass "
                    f"({row['gradient_ms']:.0f} ms), Integrated Gradients {row['ig_s']:.2f} s "
                    f"({row['ig_unbatched_s']:.2f} s one point at a time)"
                )
        out.append("")
    if r.get("sets"):
        out += [
            "Comprehensiveness (ERASER): the hidden word's probability with the whole text, minus with the k "
            "most-credited tokens deleted (mean over sentences; higher: the method found tokens that matter), "
            "against k tokens deleted at random (mean of 5 draws). The sentences and hidden words are the Masked "
            "vs causal page's sets; deletion candidates are the tokens each model can read.",
            "",
        ]
        out += [f"- **{n}** (`{s['file']}`, {s['n']} sentences): {s['role']}." for n, s in r["sets"].items()]
        out += [
            "",
            "| set | model | sentences scored | method | k = 1 | k = 2 | k = 3 |",
            "|---|---|---:|---|---:|---:|---:|",
        ]
        names = {"mlm": "masked LM", "clm": "causal LM"}
        for n, s in r["sets"].items():
            for kind, methods in s["drops"].items():
                for method, by_k in methods.items():
                    cells = " | ".join(_f(by_k.get(k, by_k.get(str(k))), ".3f") for k in (1, 2, 3))
                    scored = s.get("counts", {}).get(kind, "—")
                    out.append(f"| {n} | {names.get(kind, kind)} | {scored} | {method} | {cells} |")
    return out + [""]


SECTIONS = {
    "core": core_section,
    "latency": latency_section,
    "cold": cold_section,
    "training": training_section,
    "load": load_section,
    "wsload": lambda r: load_section(r, websocket=True),
    "cloze": cloze_section,
    "grammar": grammar_section,
    "memory": memory_section,
    "soak": soak_section,
    "workshop": workshop_section,
    "workshop_soak": lambda r: workshop_section(r, SOAK_TITLE),
    "alignment": alignment_section,
    "vision": vision_section,
    "hidden": hidden_section,
    "room": room_section,
    "span": span_section,
    "rlhf": rlhf_section,
    "attribution": attribution_section,
}


NOTE_MARK = "<!-- notes/{}.md -->"  # where a section's hand-written notes begin (invisible in the rendered report)


def _without_notes(section: str, note: str) -> str:
    """A kept section without the notes an earlier report printed after its figures: from its notes mark on,
    or (a report written before the marks) from the first line of its notes on."""
    mark = re.search(r"(?m)^<!-- notes/[\w-]+\.md -->$", section)
    if mark:
        return section[: mark.start()]
    first = note.splitlines()[0] if note else ""
    at = section.find(first) if first else -1
    return section[:at] if at > 0 else section


def _sections_of(report: str) -> dict[str, str]:
    """A report's sections by heading line (each with its text up to the next heading)."""
    parts = re.split(r"(?m)^(?=## )", report)
    return {part.split("\n", 1)[0]: part.rstrip("\n") for part in parts if part.startswith("## ")}


def write_report(
    results: dict,
    path: Path,
    *,
    quick: bool,
    started: str,
    load_before: tuple,
    load_after: tuple,
    notes: Path = NOTES,
    previous: str = "",
) -> str:
    """The report from `results`; a benchmark with no figures there keeps its section of the `previous`
    report as it was (so that a run of some benchmarks on a machine without bench/out loses nothing)."""
    # the 1-minute load average at the end of each benchmark (else before and after this run)
    # (not counting the load tests, which load the machine themselves)
    loads = [
        r["load_average"]
        for name, r in results.items()
        if "load_average" in r and name not in ("load", "wsload", "workshop", "workshop_soak")
    ] or [load_before[0], load_after[0]]
    lines = [
        "# Performance",
        "",
        f"Generated by `make bench` (`python -m bench.run_all{' --quick' if quick else ''}`) on {started}.",
        "",
        f"**Machine:** {machine()}. Load average (1 min) between {min(loads):.1f} and {max(loads):.1f} during "
        f"the benchmarks, on {os.cpu_count()} cores"
        + (
            ": the machine was busy with other work, so absolute times are pessimistic; ratios are measured "
            "in the same run, interleaved."
            if max(loads) > (os.cpu_count() or 1)
            else "."
        ),
        "",
    ]
    earlier = _sections_of(previous)
    kept = {
        name: earlier[heading]
        for name, section in SECTIONS.items()
        if name not in results and (heading := section({})[0]) in earlier
    }
    if kept:
        lines += [
            "Sections of benchmarks not run this time are kept from the earlier report, each with the date "
            "it was measured (on the machine of that run: the notes of a section say which where it matters; the "
            "machine above is this run's).",
            "",
        ]
    if quick:
        lines += ["*Quick run: tiny budgets to check that every benchmark works; the figures mean little.*", ""]
    for name, section in SECTIONS.items():
        note = notes / f"{name}.md"
        written = note.read_text().strip() if note.is_file() else ""
        if name in kept:  # its figures as they were, and its notes as they are now
            text = _without_notes(kept[name], written)
            part = text.split("\n")
            if not any(line.startswith(("*Measured", "*Kept")) for line in part):
                part[2:2] = ["*Kept from the earlier report: not measured in this run.*", ""]
            lines += ["\n".join(part).rstrip("\n"), ""]
            if written:
                lines += [NOTE_MARK.format(name), written, ""]
        if name in results:
            part = section(results[name])
            r = results[name]
            if r.get("measured"):  # every section dated, so that a later run keeps it as it is
                part.insert(
                    2,
                    f"*Measured {r['measured']} (load average {r.get('load_average', 0):.1f})"
                    + (", in an earlier run" if r["measured"] != started else "")
                    + ".*\n",
                )
            lines += part
            if written:
                lines += [NOTE_MARK.format(name), written, ""]
    known = {section({})[0] for section in SECTIONS.values()}
    for heading, text in earlier.items():  # a section no benchmark here writes (measured by hand): kept as it is
        if heading not in known and heading != "## Commands":
            lines += [text, ""]
    lines += ["## Commands", ""]
    commands = [f"- `{r['command']}`" for r in results.values() if r.get("command")]
    # the commands behind the kept sections and the sections measured by hand (e.g. `make image`) too
    old = [line for line in earlier.get("## Commands", "").splitlines() if line.startswith("- `")]
    commands = list(dict.fromkeys(old + commands))
    lines += commands
    lines += ["", "Details of each benchmark: the docstring at the top of its script in `bench/`.", ""]
    text = "\n".join(lines)
    path.write_text(text)
    return text


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny budgets: check that everything runs")
    ap.add_argument("--only", default=",".join(BUDGETS), help="comma-separated: " + ", ".join(BUDGETS))
    ap.add_argument("--mlm", default="default", help="masked LM: default, standin, tiny, or an id/folder")
    ap.add_argument(
        "--versus-rev", help="browser latency also against these files at this git revision (see bench.browser_latency)"
    )
    ap.add_argument("--versus-paths", default="")
    ap.add_argument("--timeout", type=float, default=1500, help="seconds allowed for each benchmark")
    ap.add_argument("--out", type=Path, default=REPORT)
    ap.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        help="figures kept between runs: a run of some "
        "benchmarks (--only) updates theirs and the report keeps the others, with their dates",
    )
    args = ap.parse_args(argv)
    app_threads()
    chosen = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(chosen) - set(BUDGETS)
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    load_before = os.getloadavg()
    kept = json.loads(args.results.read_text()) if args.results.exists() else {}
    results: dict = {k: v for k, v in kept.items() if k in BUDGETS and bool(v.get("quick")) == args.quick}
    for name in chosen:
        budget = list(BUDGETS[name][1 if args.quick else 0])
        if name in ("core", "latency", "load", "wsload"):
            budget += ["--mlm", args.mlm]
        if name == "latency" and args.versus_rev:
            budget += ["--versus-rev", args.versus_rev, "--versus-paths", args.versus_paths]
        t0 = time.perf_counter()
        results[name] = (
            training_speed(budget, args.timeout) if name == "training" else run_module(name, budget, args.timeout)
        )
        results[name].update(
            seconds=time.perf_counter() - t0, quick=args.quick, measured=started, load_average=os.getloadavg()[0]
        )
        print(f"({name}: {results[name]['seconds']:.0f} s)\n", flush=True)
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(results, indent=1, default=str))
    results = {name: results[name] for name in BUDGETS if name in results}
    if not chosen and results:  # the report alone, from the kept figures: dated by the latest of them
        started = max(r.get("measured", started) for r in results.values())
    write_report(
        results,
        args.out,
        quick=args.quick,
        started=started,
        load_before=load_before,
        load_after=os.getloadavg(),
        previous=args.out.read_text() if args.out.is_file() else "",
    )
    print(f"Wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return results


if __name__ == "__main__":
    main()
