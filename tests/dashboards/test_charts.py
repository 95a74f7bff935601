"""The chart builders are pure: rows in, a plotly.js figure out. Each figure must be valid Plotly."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go
import pytest

from dashboards import charts
from observatory.assets import PLOTLY_BASIC_TRACES

T0 = datetime(2026, 11, 20, tzinfo=timezone.utc)


def valid(figure: dict[str, Any]) -> dict[str, Any]:
    go.Figure(figure)  # raises on anything plotly.js would not understand
    assert {trace.get("type", "scatter") for trace in figure["data"]} <= PLOTLY_BASIC_TRACES  # what the bundle draws
    return figure


def series(name: str, values: list[Any]) -> dict[str, Any]:
    return {"name": name, "points": [{"t": T0 + timedelta(hours=i), "value": v} for i, v in enumerate(values)]}


def test_time_series_and_bar_keep_their_shape() -> None:
    figure = valid(charts.time_series("Cost", [series("cost", [Decimal("0.5"), None, 2])], unit="usd", bars=True))
    assert figure["data"][0]["y"] == [0.5, None, 2.0] and figure["data"][0]["x"][0] == T0.replace(tzinfo=None).isoformat()  # wall clock of the active zone (UTC here)
    assert figure["layout"]["yaxis"]["tickprefix"] == "$" and figure["layout"]["title"]["text"] == "Cost"
    figure = valid(charts.bar("Models", ["a", "", "c"], [3, 2, 1], unit="count"))
    assert figure["data"][0]["y"] == ["c", "(none)", "a"]  # biggest on top


def test_stacked_keeps_the_largest_series_and_sums_the_rest_into_other() -> None:
    rows = [series(f"s{i}", [i, i, Decimal(i)]) for i in range(12)]
    figure = valid(charts.stacked("Cost by model", rows, unit="usd", limit=8))
    names = [t["name"] for t in figure["data"]]
    assert names == ["s11", "s10", "s9", "s8", "s7", "s6", "s5", "s4", "other"]
    assert figure["data"][-1]["y"] == [6.0, 6.0, 6.0]  # s0..s3
    total = sum(v for t in figure["data"] for v in t["y"])
    assert total == sum(range(12)) * 3  # the stack still adds up to the whole
    assert figure["layout"]["barmode"] == "stack" and all(t["type"] == "bar" for t in figure["data"])


def test_stacked_without_a_long_tail_has_no_other() -> None:
    figure = valid(charts.stacked("Cost", [series("a", [1, None]), series("b", [0, 3])], unit="usd", bars=False))
    assert [t["name"] for t in figure["data"]] == ["b", "a"]
    assert all(t["stackgroup"] == "one" for t in figure["data"])


def test_dual_axis_draws_the_line_on_a_right_hand_axis() -> None:
    figure = valid(charts.dual_axis("Thumbs", [series("up", [3, 0]), series("down", [1, 0])],
                                    series("down rate", [0.25, None]), bar_unit="count", line_unit="ratio",
                                    bar_title="ratings"))
    line = figure["data"][-1]
    assert line["yaxis"] == "y2" and line["y"] == [0.25, None]
    assert figure["layout"]["yaxis2"]["overlaying"] == "y" and figure["layout"]["yaxis2"]["tickformat"] == ".1%"
    assert figure["layout"]["yaxis"]["title"]["text"] == "ratings"
    assert "%" in line["hovertemplate"]


def test_histogram_labels_bins_by_their_edges() -> None:
    figure = valid(charts.histogram("Latency", [(200.0, 250.0, 3), (250.0, 300.0, 0), (1000.0, 1500.0, 1)]))
    assert figure["data"][0]["x"] == ["200 ms", "250 ms", "1.0 s"]
    assert figure["data"][0]["customdata"] == ["200 ms–250 ms", "250 ms–300 ms", "1.0 s–1.5 s"]
    assert figure["data"][0]["hovertemplate"].startswith("%{customdata}: %{y:,} calls")
    figure = valid(charts.histogram("Scores", [(0.0, 0.1, 2), (0.9, 1.0, 5)], unit="score", count_label="scored calls"))
    assert figure["data"][0]["customdata"] == ["0–0.1", "0.9–1"]
    assert figure["layout"]["yaxis"]["title"]["text"] == "scored calls"


def test_geometric_bins_have_round_edges_and_keep_every_count() -> None:
    values = [200 + 37 * i for i in range(40)] + [2500]
    bins = charts.geometric_bins(values, [1] * len(values))
    assert sum(c for _, _, c in bins) == 41 and 10 <= len(bins) <= 30
    assert bins[0][0] == 200 and bins[-1][1] == 2700
    assert all(hi == next_lo for (_, hi, _), (next_lo, _, _) in itertools.pairwise(bins))  # contiguous
    assert all(float(f"{lo:.2g}") == lo for lo, _, _ in bins)  # two significant digits at most


def test_geometric_bins_coarsen_a_long_tail() -> None:
    bins = charts.geometric_bins([0.5, 40.0, 900.0, 120_000.0], [5, 10, 20, 1])
    assert len(bins) <= 30 and sum(c for _, _, c in bins) == 36
    assert bins[0][0] <= 0.5 < bins[0][1] and bins[-1][0] <= 120_000 < bins[-1][1]


@pytest.mark.parametrize("values,counts,first,last,total", [
    ([0.0, 0.42, 1.0], [4, 1, 2], (0.0, 0.1, 4), (0.9, 1.0, 2), 7),  # 0..1 scores in tenths, 1 in the last
    ([0.0, 3.0, 17.0], [3, 2, 1], (0.0, 1.0, 3), (17.0, 18.0, 1), 6),  # counts: unit steps
    ([5.0], [9], (5.0, 6.0, 9), (5.0, 6.0, 9), 9),
])
def test_linear_bins(values: list[float], counts: list[int], first: tuple[float, float, int],
                     last: tuple[float, float, int], total: int) -> None:
    bins = charts.linear_bins(values, counts)
    assert bins[0] == pytest.approx(first) and bins[-1] == pytest.approx(last)
    assert sum(c for _, _, c in bins) == total and len(bins) <= 20
    valid(charts.histogram("Scores", bins, unit="score"))


def test_no_values_no_bins() -> None:
    assert charts.geometric_bins([], []) == [] and charts.linear_bins([], []) == []


def test_time_axes_are_in_the_viewers_zone() -> None:
    from datetime import datetime
    from datetime import timezone as dt_timezone
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    from dashboards import charts

    when = datetime(2026, 11, 22, 15, 0, tzinfo=dt_timezone.utc)
    with timezone.override(ZoneInfo("America/New_York")):
        fig = charts.time_series("t", [{"name": "a", "points": [{"t": when, "value": 1}]}], unit="count")
    assert fig["data"][0]["x"] == ["2026-11-22T10:00:00"]


def test_durations_follow_the_tiles_unit_on_the_axis_and_in_the_hover() -> None:
    figure = valid(charts.time_series("Latency", [series("p95", [420, 2500, None])], unit="ms",
                                      y_title="latency (ms)"))
    trace, axis = figure["data"][0], figure["layout"]["yaxis"]
    assert trace["y"] == [0.42, 2.5, None] and axis["ticksuffix"] == " s"  # the largest is above a second
    assert axis["title"]["text"] == "latency (s)"
    assert trace["customdata"] == ["420 ms", "2.5 s", "–"] and "%{customdata}" in trace["hovertemplate"]
    fast = valid(charts.time_series("Latency", [series("p50", [120, 640])], unit="ms"))
    assert fast["data"][0]["y"] == [120.0, 640.0] and fast["layout"]["yaxis"]["ticksuffix"] == " ms"
    slow = valid(charts.bar("Slowest", ["a", "b"], [90_000, 30_000], unit="ms"))
    assert slow["data"][0]["x"] == [0.5, 1.5] and slow["layout"]["xaxis"]["ticksuffix"] == " min"
    assert slow["data"][0]["customdata"] == ["30.0 s", "1.5 min"]


def test_cost_hovers_read_like_the_rest_of_the_ui() -> None:
    figure = valid(charts.time_series("Cost", [series("cost", [Decimal("12.345"), Decimal("0.000034"), 0])],
                                      unit="usd"))
    assert figure["data"][0]["customdata"] == ["$12.35", "$0.000034", "$0.00"]
    assert "%{customdata}" in figure["data"][0]["hovertemplate"] and ".6f" not in str(figure)
    bars = valid(charts.bar("Models", ["a", "b"], [Decimal("0.5"), Decimal("0.0123")], unit="usd"))
    assert bars["data"][0]["customdata"] == ["$0.012", "$0.50"]  # in the order drawn (biggest on top)


def test_a_value_standing_alone_gets_a_marker_a_line_would_not_draw() -> None:
    # A first call (or a sparse hour) between empty buckets: a line through one point draws nothing.
    figure = valid(charts.time_series("Latency", [series("p50", [None, None, 420.0, None])], unit="ms"))
    trace = figure["data"][0]
    assert trace["mode"] == "lines+markers" and trace["marker"]["size"] == [0, 0, 6, 0]
    figure = valid(charts.time_series("Latency", [series("p50", [1.0, 2.0, None, 3.0, 4.0])], unit="ms"))
    assert figure["data"][0]["mode"] == "lines" and "marker" not in figure["data"][0]
    figure = valid(charts.time_series("Latency", [series("p50", [1.0, None, 3.0])], unit="ms"))
    assert figure["data"][0]["marker"]["size"] == [6, 0, 6]


def test_small_counts_tick_whole_numbers() -> None:
    one_call = valid(charts.time_series("Calls", [series("calls", [0, 0, 1])], unit="count"))
    assert one_call["layout"]["yaxis"]["dtick"] == 1  # not 0.2, 0.4, ... ("200m calls")
    many = valid(charts.time_series("Calls", [series("calls", [0, 40, 100])], unit="count"))
    assert "dtick" not in many["layout"]["yaxis"]
    stacked = valid(charts.stacked("Calls", [series("a", [2, 3]), series("b", [2, 3])], unit="count"))
    assert "dtick" not in stacked["layout"]["yaxis"]  # the stack reaches 6
    assert valid(charts.bar("Models", ["a", "b"], [1, 2], unit="count"))["layout"]["xaxis"]["dtick"] == 1
    assert "dtick" not in valid(charts.bar("Cost", ["a"], [Decimal("0.5")], unit="usd"))["layout"]["xaxis"]
    assert valid(charts.histogram("Latency", [(100, 200, 1), (200, 400, 2)]))["layout"]["yaxis"]["dtick"] == 1
