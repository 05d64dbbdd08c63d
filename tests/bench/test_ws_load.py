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


def test_the_in_place_chart_name_is_the_apps():
    from explorer.ui import chart

    assert ws_load.IN_PLACE_CHART == chart.COMPONENT


def test_every_chart_action_of_the_mix_sees_its_charts():
    """One participant's round of the workshop mix against the real app (the default models): every action
    that draws a chart (masked-LM Enter and click, causal-LM Greedy, compare click, attention view) finds
    it, whether drawn by st.plotly_chart or in place. The masked-LM, causal-LM and compare charts are
    drawn in place: if the detection missed them, these actions would report "no chart in the run"."""
    import asyncio

    from bench import web

    async def round_of_the_mix(url: str) -> list:
        session, opened = await ws_load.open_app(url, 300)
        done = [opened]
        try:
            for action in ws_load.mix(0, None):
                done.append(await action(session))
        finally:
            await session.close()
        return done

    with web.app_server() as server:
        done = asyncio.run(round_of_the_mix(f"ws://127.0.0.1:{server.port}/_stcore/stream"))
    errors = [(d.kind, d.error) for d in done if d.error]
    assert not errors, errors
    drawing = [d for d in done if d.kind in ("mlm enter", "mlm click", "clm greedy", "compare click", "attention view")]
    assert len(drawing) == 9 and all(d.chart for d in drawing), [(d.kind, d.chart) for d in drawing]
