"""Each benchmark runs on a tiny budget and reports its figures (never their values: speed is not tested)."""

from __future__ import annotations

import json
import math

import pytest

from bench import browser_latency, cold_start, core_calls, load, run_all

pytestmark = pytest.mark.slow


def number(x) -> bool:
    return isinstance(x, (int, float)) and not math.isnan(x)


def test_core_calls_time_each_call_against_plain_transformers(tmp_path):
    out = tmp_path / "core.json"
    result = core_calls.main(
        ["--repeat", "1", "--mlm", "tiny", "--only", "fill-mask,teacher,embeddings,one click", "--json", str(out)]
    )
    names = [row["name"] for row in result["rows"]]
    assert names == [
        "fill-mask (masked LM page)",
        "teacher-forcing strip (causal LM page)",
        "compare page, one click (all of the below; whole words)",
        "embeddings, 6 sentences (contrastive page)",
    ]
    for row in result["rows"]:
        assert number(row["explorer_ms"]) and number(row["plain_ms"]) and row["plain_ms"] > 0
        assert row["ratio"] == pytest.approx(row["explorer_ms"] / row["plain_ms"])
    assert out.exists() and "tiny" in result["mlm"]


def test_training_speed_reports_the_ratio():
    result = run_all.training_speed(["--steps", "10", "--repeat", "1"], timeout=600)
    assert "error" not in result, result.get("error")
    assert number(result["ratio"]) and number(result["plain_steps_per_s"]) and number(result["page_steps_per_s"])


@pytest.mark.browser
def test_training_speed_in_a_real_server_and_browser():
    result = run_all.training_speed(["--steps", "10", "--repeat", "1", "--server"], timeout=600)
    assert "error" not in result, result.get("error")
    assert number(result["ratio"]) and result["ratio"] > 0 and number(result["page_steps_per_s"])


@pytest.mark.browser
def test_browser_latency_times_masked_lm_interactions(tmp_path):
    result = browser_latency.main(["--n", "2", "--pages", "mlm", "--mlm", "tiny", "--json", str(tmp_path / "l.json")])
    s = result["summary"]["mlm"]
    assert s["n"] >= 2 and number(s["p50"]) and number(s["p95"]) and s["errors"] == 0
    assert {"mlm enter", "mlm click"} <= {i["kind"] for i in result["variants"]["app"]["interactions"]}


@pytest.mark.browser
def test_cold_start_with_cache():
    result = cold_start.main(["--no-cold", "--no-convert"])
    run = result["runs"]["with cache"]["runs"][0]
    assert number(run["first_prediction_s"]) and run["first_prediction_s"] > run["health_s"] > 0
    assert not run["error"]


@pytest.mark.browser
def test_load_level_reports_throughput_latency_and_memory():
    result = load.main(["--levels", "2", "--duration", "6", "--trainers", "1", "--mlm", "tiny", "--grace", "90"])
    lv = result["levels"][0]
    assert lv["sessions"] == 2 and lv["trainers"] == 1
    assert number(lv["throughput_per_s"]) and number(lv["rss_one_session_mb"]) and number(lv["rss_end_mb"])
    assert lv["rss_per_extra_session_mb"] == pytest.approx(lv["rss_end_mb"] - lv["rss_one_session_mb"])
    # how many trainings get going in a few seconds depends on the machine's load: only the figure is checked
    assert number(lv["server_cpu_cores"]) and isinstance(lv["training"]["runs"], int)


def test_report_has_the_machine_and_every_section(tmp_path):
    results = {
        "core": {
            "mlm": "tiny",
            "mlm_name": "m",
            "clm": "c",
            "encoder": "e",
            "mlm_tokens": 22,
            "clm_tokens": 20,
            "command": "python -m bench.core_calls",
            "rows": [
                {
                    "name": "fill-mask",
                    "explorer_ms": 10.0,
                    "plain_ms": 9.5,
                    "ratio": 10 / 9.5,
                    "ratio_best": 1.0,
                    "goal": 1.05,
                    "repeat": 3,
                }
            ],
        },
        "training": {"error": "bench/training_speed.py is not there yet: no live-training figure"},
        "load": {"levels": [], "error": "exit code 1", "command": "python -m bench.load"},
    }
    path = tmp_path / "REPORT.md"
    text = run_all.write_report(
        results, path, quick=True, started="2026-01-01 00:00", load_before=(9.0, 8.0, 7.0), load_after=(1.0, 1.0, 1.0)
    )
    assert path.read_text() == text
    assert "**Machine:**" in text and "cores" in text and "busy" in text
    assert "| fill-mask | 10.0 | 9.5 | 1.05 |" in text
    assert "Did not complete: bench/training_speed.py is not there yet" in text
    assert "`python -m bench.core_calls`" in text


def test_cloze_grammar_and_memory_sections(tmp_path):
    from bench import cloze, grammar

    out = tmp_path / "cloze.json"
    assert cloze.main(["--sets", "heldout", "--limit", "12", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["models"]) >= {"ssl-explorer-smollm2-mlm", "ssl-explorer-minilm-mlm", cloze.LEFT_ONLY}
    assert res["sets"]["heldout"]["n"] == 12 and "held out" in res["sets"]["heldout"]["role"]
    out2 = tmp_path / "grammar.json"
    assert grammar.main(["--limit", "16", "--json", str(out2)]) == 0
    g = json.loads(out2.read_text())
    assert g["n"] == 16 and all(0 <= m["accuracy"] <= 1 for m in g["models"].values())
    text = run_all.write_report(
        {
            "cloze": res,
            "grammar": g,
            "memory": {"rows": {"a": {"rss_mb": 1.0, "pss_mb": 1.0}}, "delta_vs_old_default_mb": -5.0},
        },
        tmp_path / "R.md",
        quick=True,
        started="2026-01-01 00:00",
        load_before=(1, 1, 1),
        load_after=(1, 1, 1),
    )
    assert "the old default, baseline" in text and "held out" in text and "| **all** |" in text
    assert "-5 MB" in text


def test_the_report_has_the_soak_section(tmp_path):
    soak = {
        "n": 20,
        "minutes": 20,
        "actions": 5152,
        "latency": {"p50": 3.4},
        "tabs_opened": 108,
        "training_runs": 145,
        "uploads": 72,
        "errors": 0,
        "rss_base_mb": 1325.0,
        "rss_end_mb": 1361.0,
        "growth": 0.027,
        "rss_peak_mb": 1447.0,
        "sessions_at_end": 20,
        "sessions_after_close": 0,
        "warmup_min": 3,
        "command": "python -m bench.soak --minutes 20 --n 20",
    }
    text = run_all.write_report(
        {"soak": soak},
        tmp_path / "R.md",
        quick=False,
        started="2026-01-01 00:00",
        load_before=(1, 1, 1),
        load_after=(1, 1, 1),
    )
    assert "## 10. Soak" in text and "5,152 actions" in text and "(+2.7%)" in text and "0 after they closed" in text
    assert "`python -m bench.soak --minutes 20 --n 20`" in text
    assert run_all.MODULES["soak"] == "bench.soak" and "soak" in run_all.BUDGETS


def test_the_report_has_the_workshop_sections(tmp_path):
    from bench.workshop import soak_growth

    def run(workers, n, tps, kill=None, samples=()):
        mem = {"total_pss_mb": 1180.0 + 190 * (workers - 1)}
        r = {
            "workers": workers,
            "sessions": n,
            "throughput_per_s": tps,
            "latency": {"p50": 0.2, "p95": 0.9},
            "errors": 0,
            "sessions_per_worker": {9001: n // workers} if workers == 1 else {9001: n // 2, 9002: n // 2},
            "server_cpu_cores": 1.8,
            "cpu_ms_per_action": 85.0,
            "memory_warm": mem,
            "memory_end": {"total_pss_mb": 1600.0},
            "duration_s": 1200.0,
            "actions": 9000,
            "pss_samples": list(samples),
        }
        if kill:
            r["kill"] = kill
        return r

    kill = {
        "at_s": 15.0,
        "sessions_on_killed": 15,
        "errors_elsewhere": 0,
        "reconnects": 15,
        "failed_reconnects": 0,
        "reconnect_s": {"p50": 1.5, "max": 2.0},
    }
    results = {
        "workshop": {
            "runs": [run(1, 30, 11.0), run(2, 30, 22.0), run(2, 30, 16.0, kill)],
            "command": "python -m bench.workshop",
        },
        "workshop_soak": {"runs": [run(2, 20, 12.0, samples=[(0, 1300.0), (180, 1500.0), (1200, 1530.0)])]},
    }
    text = run_all.write_report(
        results, tmp_path / "R.md", quick=False, started="2026-01-01 00:00", load_before=(1, 1, 1), load_after=(1, 1, 1)
    )
    assert "## 11. Workshop scale" in text and "## 12. Soak through nginx" in text
    assert "| 2 (a worker killed) | 30 |" in text and "2 workers give 2.00x the actions/s of 1" in text
    assert "PSS per extra worker 190 MB" in text and "at most 2.0 s (goal <= 10 s)" in text
    assert "(+2.0%; goal <= +10 %)" in text
    assert soak_growth([(0, 1.0), (100, 2.0)]) is None  # too short for a warm-up and a soak


def test_the_report_has_the_alignment_section(tmp_path):
    acc = {
        "plan": {"steps": 150, "lr": 5e-5, "batch": 4, "layers": 4, "beta": 0.1},
        "train_pairs": 48,
        "held_out_pairs": 12,
        "setup_seconds": 27.0,
        "start_accuracy": 0.5,
        "final_accuracy": 0.92,
        "seconds": 180.0,
        "seconds_to_0.8": 55.0,
        "curve": [(0.0, 0, 0.5, 0.5), (55.0, 20, 0.83, 0.9)],
    }
    slow = {**acc, "seconds_to_0.8": None}
    results = {
        "alignment": {
            "accuracy": acc,
            "speed": {"steps": 30, "rounds": 3, "ratio_wall": 0.97, "ratio_cpu": 0.95, "all_wall": [0.97]},
            "command": "python -m bench.alignment",
        }
    }
    text = run_all.write_report(
        results, tmp_path / "R.md", quick=False, started="2026-01-01 00:00", load_before=(1, 1, 1), load_after=(1, 1, 1)
    )
    assert "## 13. Alignment" in text and "| 55 | 20 | 0.83 | 0.90 |" in text
    assert "0.8 reached after 55 s (ok)" in text and "page / plain **0.97**" in text and "(ok)." in text
    assert "48 pairs trained on, 12 held out" in text and "`python -m bench.alignment`" in text
    text = run_all.write_report(
        {"alignment": {"accuracy": slow}},
        tmp_path / "R.md",
        quick=False,
        started="2026-01-01 00:00",
        load_before=(1, 1, 1),
        load_after=(1, 1, 1),
    )
    assert "never reached 0.8 (under the goal)" in text
    assert run_all.MODULES["alignment"] == "bench.alignment" and "alignment" in run_all.BUDGETS


def test_the_report_has_the_vision_section(tmp_path):
    table = [
        {"features": f, "labels per class": n, "accuracy": a}
        for n in (5, 10)
        for f, a in (("self-supervised encoder", 0.9 + n / 100), ("raw pixels", 0.8))
    ]
    r = {
        "mae": {
            "description": "a tiny ViT-MAE",
            "start_loss": 0.2,
            "final_loss": 0.02,
            "fall": 0.9,
            "seconds": 60.0,
            "steps": 1800,
            "seconds_to_goal": 0.7,
            "baseline_loss": 0.04,
            "seconds_to_baseline": 25.0,
            "met": True,
        },
        "simclr": {
            "description": "SimCLR of a small CNN",
            "steps": 2000,
            "seconds": 67.0,
            "table": table,
            "accuracy_at_10": 0.96,
            "met": True,
        },
        "clip": {
            "description": "CLIP of a small CNN",
            "lr": 0.003,
            "batch": 128,
            "steps": 600,
            "seconds": 9.0,
            "start_accuracy": 0.1,
            "final_accuracy": 0.99,
            "seconds_to_goal": 0.4,
            "temperature": 0.08,
            "met": True,
            "prompts": {"the digit 7": 0.99, "the number after six": 0.1},
        },
        "dino": {
            "max_entropy": 4.16,
            "met_probe": True,
            "met_collapse": True,
            "runs": {
                name: {
                    "description": "DINO of a small CNN",
                    "lr": 0.001,
                    "batch": 128,
                    "steps": 3000,
                    "accuracy_at_10": acc,
                    "random_at_10": 0.88,
                    "teacher_entropy": ent,
                    "top_share": share,
                }
                for name, acc, ent, share in (
                    ("both", 0.97, 0.1, 0.1),
                    ("no centering", 0.87, 0.0, 1.0),
                    ("no sharpening", 0.88, 4.16, 0.2),
                )
            },
        },
    }
    text = run_all.write_report(
        {"vision": r},
        tmp_path / "R.md",
        quick=False,
        started="2026-01-01 00:00",
        load_before=(1, 1, 1),
        load_after=(1, 1, 1),
    )
    assert "## 14. Images" in text and "(90% lower)" in text and "beaten after 25 s (ok)" in text
    assert "| self-supervised encoder | 0.950 | 1.000 |" in text and "| raw pixels | 0.800 | 0.800 |" in text
    assert "At 10 labels per class: 0.960 (ok)." in text and run_all.MODULES["vision"] == "bench.vision"
    assert "0.100 -> 0.990; 0.85 reached after 0.4 s (ok)" in text and "| the number after six | 0.100 |" in text
    assert "| no centering | 3000 | 0.870 | 0.880 | 0.00 | 1.00 |" in text and "centering off: ok" in text


def test_hand_written_notes_follow_their_section_and_survive_a_new_report(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "core.md").write_text("Why the fill-mask costs what it costs.\n")
    (notes / "soak.md").write_text("A soak note.\n")  # no soak results in this run: not printed
    core = {
        "mlm": "tiny",
        "mlm_name": "m",
        "clm": "c",
        "encoder": "e",
        "mlm_tokens": 22,
        "clm_tokens": 20,
        "rows": [
            {
                "name": "fill-mask",
                "explorer_ms": 10.0,
                "plain_ms": 9.5,
                "ratio": 10 / 9.5,
                "ratio_best": 1.0,
                "goal": 1.05,
                "repeat": 3,
            }
        ],
    }
    text = run_all.write_report(
        {"core": core, "training": {"error": "not run"}},
        tmp_path / "R.md",
        quick=True,
        started="2026-01-01 00:00",
        load_before=(1, 1, 1),
        load_after=(1, 1, 1),
        notes=notes,
    )
    assert text.index("| fill-mask | 10.0") < text.index("Why the fill-mask costs") < text.index("## 4.")
    assert "A soak note" not in text
    # the report in the repository holds every note kept in bench/notes, each in its own section
    report = run_all.REPORT.read_text()
    for note in run_all.NOTES.glob("*.md"):
        assert note.read_text().strip() in report, note.name


def test_a_run_of_some_benchmarks_keeps_the_other_sections_of_the_report(tmp_path):
    # no figures kept from earlier runs (bench/out is not in git): the sections come from the report itself
    previous = run_all.REPORT.read_text()
    core = {
        "mlm": "tiny",
        "mlm_name": "m",
        "clm": "c",
        "encoder": "e",
        "mlm_tokens": 22,
        "clm_tokens": 20,
        "command": "python -m bench.core_calls --repeat 1",
        "rows": [
            {
                "name": "fill-mask",
                "explorer_ms": 10.0,
                "plain_ms": 9.5,
                "ratio": 10 / 9.5,
                "ratio_best": 1.0,
                "goal": 1.05,
                "repeat": 3,
            }
        ],
    }
    text = run_all.write_report(
        {"core": core},
        tmp_path / "R.md",
        quick=False,
        started="2026-01-01 00:00",
        load_before=(1, 1, 1),
        load_after=(1, 1, 1),
        previous=previous,
    )
    old, new = run_all._sections_of(previous), run_all._sections_of(text)
    assert "| fill-mask | 10.0 | 9.5 | 1.05 |" in new["## 1. Core calls against plain transformers (goal <= 1.05x)"]
    assert new.keys() == old.keys()
    for heading in old:
        if not heading.startswith(("## 1.", "## Commands")):
            assert new[heading] == old[heading], heading
    assert "`python -m bench.core_calls --repeat 1`" in new["## Commands"] and "`python -m bench.vision`" in text
    # nothing at all to go on: the report has the machine and no sections
    assert "## 2." not in run_all.write_report(
        {}, tmp_path / "E.md", quick=False, started="2026-01-01 00:00", load_before=(1, 1, 1), load_after=(1, 1, 1)
    )
    # a kept section that carries no date of its own is marked as kept
    heading = run_all.vision_section({})[0]
    text = run_all.write_report(
        {},
        tmp_path / "V.md",
        quick=False,
        started="2026-01-01 00:00",
        load_before=(1, 1, 1),
        load_after=(1, 1, 1),
        previous=f"# Performance\n\n{heading}\n\nSome figures.\n",
    )
    assert f"{heading}\n\n*Kept from the earlier report: not measured in this run.*\n\nSome figures." in text
    assert "kept from the earlier report, each with the date" in text


def test_a_kept_section_gets_its_notes_as_they_are_now(tmp_path):
    """A section not measured in a run keeps its figures; its hand-written notes are the notes file's current
    text, not the text an earlier report printed (a changed note was left out of the report)."""
    from bench import run_all

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "cloze.md").write_text("First line of the note.\n\nAn old paragraph.\n")
    heading = run_all.SECTIONS["cloze"]({})[0]
    old = f"# Performance\n\n{heading}\n\n*Measured 2026-01-01.*\n\n| a |\n\nFirst line of the note.\n\nAn old paragraph.\n"
    out = tmp_path / "REPORT.md"
    run_all.write_report(
        {}, out, quick=False, started="x", load_before=(0, 0, 0), load_after=(0, 0, 0), notes=notes, previous=old
    )
    (notes / "cloze.md").write_text("First line of the note.\n\nA new paragraph.\n")
    again = run_all.write_report(
        {},
        out,
        quick=False,
        started="x",
        load_before=(0, 0, 0),
        load_after=(0, 0, 0),
        notes=notes,
        previous=out.read_text(),
    )
    assert "| a |" in again and "A new paragraph." in again and "An old paragraph." not in again
    assert again.count("First line of the note.") == 1


def test_a_section_no_benchmark_writes_is_kept_before_the_commands(tmp_path):
    previous = (
        "# Performance\n\n## 1. Core calls against plain transformers (goal <= 1.05x)\n\nold figures\n\n"
        "## 17. Container image: built and run for real\n\nMeasured by hand: 1.2 GB.\n\n"
        "## Commands\n\n- `make image`\n"
    )
    text = run_all.write_report(
        {},
        tmp_path / "R.md",
        quick=False,
        started="2026-01-01 00:00",
        load_before=(1, 1, 1),
        load_after=(1, 1, 1),
        previous=previous,
    )
    assert "## 17. Container image: built and run for real\n\nMeasured by hand: 1.2 GB." in text
    assert text.index("## 17.") < text.index("## Commands") and "- `make image`" in text
    assert "old figures" in text


def test_the_report_has_the_room_speed_section(tmp_path):
    assert run_all.MODULES["room"] == "bench.room_speed" and "room" in run_all.BUDGETS
    plain = {k: {"ms": 100.0} for k in ("mlm click", "clm greedy", "clm whole pass", "compare click", "span seed")}
    plain["span seed"]["passes"] = 9.5
    rows = [
        {"interaction": "clm greedy", "p50_s": 0.12, "n": 12, "errors": 0, "plain_ms": 60.0, "ratio": 2.0},
        {"interaction": "span seed", "p50_s": None, "n": 0, "errors": 12, "plain_ms": 900.0, "ratio": None},
    ]
    nav = [
        {
            "page": "Masked LM (cloze)",
            "p50_s": 0.21,
            "n": 5,
            "errors": 0,
            "messages": ["error shown: offline", "error shown: "],
        }
    ]
    result = {"plain": plain, "rows": rows, "navigation": nav, "mlm_name": "m", "clm": "c", "measured": "2026-01-01"}
    text = run_all.write_report(
        {"room": result},
        tmp_path / "R.md",
        quick=False,
        started="2026-01-01",
        load_before=(1, 1, 1),
        load_after=(1, 1, 1),
    )
    assert "## 16. Speed a room feels" in text and "| clm greedy | 0.120 | 12 | 0 | 60 | 2.00 |" in text
    assert "| span seed | — | 0 | 12 | 900 | — |" in text and "9.5 passes" in text
    assert "| Masked LM (cloze) | 0.210 | 5 | 0 | offline; an error message |" in text


def test_the_report_has_the_rlhf_section(tmp_path):
    run = {
        "beta": 0.05,
        "k": 4,
        "lr": 1e-3,
        "layers": 4,
        "steps": 22,
        "seconds": 181.0,
        "held_out_prompts": 16,
        "samples_per_prompt": 4,
        "before": {"reward": -0.5, "kl": 0.0, "kl_k3": 0.0, "length": 23.0},
        "after": {"reward": 3.1, "kl": 12.3, "kl_k3": 10.1, "length": 21.0},
        "gain_sd": 1.04,
        "people_before": 0.5,
        "people_after": 0.69,
    }
    result = {
        "split": "held-out",
        "runs": [run],
        "batching": {"k": 4, "max_new_tokens": 16, "batched_s": 3.2, "loop_s": 7.0, "speedup": 2.19},
    }
    text = run_all.write_report(
        {"rlhf": result},
        tmp_path / "R.md",
        quick=False,
        started="2026-01-01 00:00",
        load_before=(1, 1, 1),
        load_after=(1, 1, 1),
    )
    assert "## 19. RLHF's RL step (RLOO)" in text and "2.19x" in text
    assert "| 0.05 | 22 | 181 | -0.50 -> 3.10 | +1.04 | 12.3 / 10.1 | 23.0 -> 21.0 | 50% -> 69% |" in text
    assert run_all.MODULES["rlhf"] == "bench.rlhf" and "rlhf" in run_all.BUDGETS


def test_attribution_measures_cost_and_faithfulness(tmp_path):
    from bench import attribution

    out = tmp_path / "a.json"
    attribution.main(
        ["--sets", "dev", "--limit", "2", "--repeat", "1", "--json", str(out)]
    )  # the first: "dog", from "The" alone
    result = json.loads(out.read_text())
    for row in result["speed"]["rows"]:
        assert number(row["forward_ms"]) and number(row["ig_s"]) and row["gradient_over_forward"] > 0
    drops = result["sets"]["dev"]["drops"]
    assert set(drops) == {"mlm", "clm"} and set(drops["mlm"]) == {*attribution_methods(), "random"}
    assert all(number(v) for kind in drops.values() for by_k in kind.values() for v in by_k.values())
    text = run_all.write_report(
        {"attribution": result},
        tmp_path / "R.md",
        quick=False,
        started="2026-01-01 00:00",
        load_before=(1, 1, 1),
        load_after=(1, 1, 1),
    )
    assert "## 20. Token attribution (Why?)" in text and "| dev | masked LM | 2 | Integrated Gradients |" in text


def attribution_methods():
    from explorer import inside

    return set(inside.METHODS)
