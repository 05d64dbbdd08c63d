"""The websocket load test runs real sessions on a tiny budget and reports its figures (never their values)."""

from __future__ import annotations

import math

import pytest

from bench import ws_load

pytestmark = pytest.mark.slow


def number(x) -> bool:
    return isinstance(x, (int, float)) and not math.isnan(x)


def test_ws_load_level_runs_pages_and_trains(tmp_path):
    out = tmp_path / "ws.json"
    result = ws_load.main(
        ["--levels", "2", "--duration", "6", "--trainers", "1", "--mlm", "tiny", "--grace", "90", "--json", str(out)]
    )
    lv = result["levels"][0]
    assert lv["sessions"] == 2 and lv["trainers"] == 1
    assert lv["actions"] >= 1 and lv["latency"]["n"] >= 1
    assert number(lv["latency"]["p50"]) and number(lv["latency"]["p95"])
    assert number(lv["rss_one_session_mb"]) and number(lv["rss_end_mb"]) and number(lv["rss_peak_mb"])
    assert lv["rss_per_extra_session_mb"] == pytest.approx(lv["rss_end_mb"] - lv["rss_one_session_mb"])
    assert number(lv["server_cpu_cores"]) and number(lv["client_cpu_cores"])
    assert lv["training"]["steps"] >= 1 and lv["training"]["runs"] >= 1
    assert not lv["warm_up_errors"]
    assert out.exists() and "tiny" in result["mlm"]
