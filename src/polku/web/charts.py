"""ECharts options for the dashboard's charts, built from view data (presentation only).

Each function returns a JSON-ready option object; ``static/polku.js`` hands it to
ECharts unchanged. Every chart sits next to a table holding the same numbers, which is
also what screen readers and the CSV export use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Final

# Colours with at least 3:1 contrast against white (WCAG non-text contrast), one per series.
PALETTE: Final[tuple[str, ...]] = (
    "#1f5fa8", "#c2410c", "#047857", "#7c3aed", "#b91c1c", "#0e7490", "#a16207", "#be185d",
    "#4d7c0f", "#475569", "#9333ea",
)
STAGE_COLOURS: Final[dict[str, str]] = {
    "visitor": "#64748b", "suspect": "#0e7490", "prospect": "#1f5fa8",
    "lead": "#7c3aed", "opportunity": "#c2410c", "customer": "#047857",
}


def _base(title: str) -> dict[str, Any]:
    return {
        "aria": {"enabled": True},
        "color": list(PALETTE),
        "animation": False,
        "textStyle": {"fontFamily": "system-ui, sans-serif", "color": "#1e293b"},
        "title": {"show": False, "text": title},
        "tooltip": {},
    }


def funnel(title: str, rows: Sequence[Mapping[str, Any]], value: str = "reached") -> dict[str, Any]:
    """A funnel of lifecycle stages in their order (not sorted by size)."""
    return _base(title) | {
        "tooltip": {"trigger": "item", "formatter": "{b}: {c}"},
        "series": [{
            "type": "funnel", "sort": "none", "gap": 2, "minSize": "22%", "left": "5%", "width": "90%",
            "label": {"show": True, "position": "inside", "formatter": "{b}: {c}", "color": "#ffffff"},
            "data": [
                {"name": r["stage"], "value": r[value], "itemStyle": {"color": STAGE_COLOURS.get(r["stage"], PALETTE[0])}}
                for r in rows
            ],
        }],
    }


def weekly_lines(title: str, weeks: Sequence[date], series: Mapping[str, Sequence[int]]) -> dict[str, Any]:
    """One line per series over weeks."""
    return _base(title) | {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 40, "right": 16, "top": 36, "bottom": 28, "containLabel": True},
        "xAxis": {"type": "category", "data": [w.isoformat() for w in weeks]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [
            {"type": "line", "name": name, "data": list(values), "showSymbol": False,
             **({"itemStyle": {"color": STAGE_COLOURS[name]}} if name in STAGE_COLOURS else {})}
            for name, values in series.items()
        ],
    }


def bars(title: str, labels: Sequence[str], values: Sequence[float], *, horizontal: bool = True) -> dict[str, Any]:
    """One bar per label (horizontal by default, so long labels stay readable)."""
    category = {"type": "category", "data": list(labels), "inverse": horizontal}
    value_axis = {"type": "value"}
    return _base(title) | {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "grid": {"left": 8, "right": 24, "top": 8, "bottom": 8, "containLabel": True},
        "xAxis": value_axis if horizontal else category,
        "yAxis": category if horizontal else value_axis,
        "series": [{"type": "bar", "data": list(values), "label": {"show": True, "position": "right" if horizontal else "top"}}],
    }


def stacked_weekly(title: str, rows: Sequence[Mapping[str, Any]], *, key: str = "channel", value: str = "events") -> dict[str, Any]:
    """Stacked bars per week, one stack part per ``key`` (e.g. touchpoints per week by channel)."""
    weeks = sorted({r["week"] for r in rows})
    names = sorted({r[key] for r in rows})
    index = {w: i for i, w in enumerate(weeks)}
    data = {n: [0] * len(weeks) for n in names}
    for r in rows:
        data[r[key]][index[r["week"]]] += r[value]
    return _base(title) | {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"top": 0, "type": "scroll"},
        "grid": {"left": 40, "right": 16, "top": 36, "bottom": 28, "containLabel": True},
        "xAxis": {"type": "category", "data": [w.isoformat() for w in weeks]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"type": "bar", "stack": "all", "name": n, "data": data[n]} for n in names],
    }


def grouped_bars(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]]) -> dict[str, Any]:
    """Vertical bars grouped by label, one bar per series (e.g. sent, opened, clicked per journey step)."""
    return _base(title) | {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"top": 0, "type": "scroll"},
        "grid": {"left": 40, "right": 16, "top": 36, "bottom": 28, "containLabel": True},
        "xAxis": {"type": "category", "data": list(labels), "axisLabel": {"interval": 0}},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"type": "bar", "name": name, "data": list(values)} for name, values in series.items()],
    }


def interval(title: str, label: str, estimate: float, low: float, high: float, unit: str = "") -> dict[str, Any]:
    """One estimate with its confidence interval as a horizontal whisker, and a line at zero."""
    widest = max(abs(low), abs(high), abs(estimate), 1e-9) * 1.1
    step = next((s for s in (0.5, 1, 2, 5, 10, 20, 25, 50) if widest <= 5 * s), 100)
    span = step * math.ceil(widest / step)  # a round axis end, the same on both sides of zero
    return _base(title) | {
        "tooltip": {"trigger": "item"},
        "grid": {"left": 8, "right": 24, "top": 16, "bottom": 28, "containLabel": True},
        "xAxis": {"type": "value", "min": -span, "max": span, "interval": step,
                  "axisLabel": {"formatter": "{value}" + unit}},
        "yAxis": {"type": "category", "data": [label]},
        "series": [
            {"type": "boxplot", "name": "interval", "layout": "horizontal", "boxWidth": [4, 18],
             "itemStyle": {"color": "#eff6ff", "borderColor": PALETTE[0], "borderWidth": 2},
             "data": [[low, estimate, estimate, estimate, high]],
             "markLine": {"symbol": "none", "silent": True, "lineStyle": {"color": "#475569", "type": "dashed"},
                          "label": {"formatter": "no effect"}, "data": [{"xAxis": 0}]}},
            {"type": "scatter", "name": "estimate", "symbolSize": 14, "data": [[estimate, label]],
             "itemStyle": {"color": PALETTE[1]}},
        ],
    }
