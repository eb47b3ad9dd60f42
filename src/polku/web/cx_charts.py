"""ECharts options of the CX pages: estimates with their intervals, score distributions, monthly values.

Presentation only, like ``polku.web.charts``: each function returns a JSON-ready option that
``static/polku.js`` hands to ECharts, and every chart sits beside a table with the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from polku.web.charts import PALETTE

ESTIMATE: Final = PALETTE[0]
FEW: Final = "#64748b"  # estimates resting on fewer answers than min_n
TARGET: Final = PALETTE[1]
LABEL_CHARS: Final = 30
NPS_COLOURS: Final = {"detractor": "#b91c1c", "passive": "#a16207", "promoter": "#047857"}


@dataclass(frozen=True)
class Dot:
    """One row of a dot plot: a label, the estimate, its interval, n, and an optional target."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0
    few: bool = False
    target: float | None = None


def _frame(title: str) -> dict[str, Any]:
    return {
        "aria": {"enabled": True},
        "color": list(PALETTE),
        "animation": False,
        "textStyle": {"fontFamily": "system-ui, sans-serif", "color": "#1e293b"},
        "title": {"show": False, "text": title},
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 2)


def dot_plot(title: str, dots: Sequence[Dot], *, low: float, high: float, unit: str = "",
             zero: bool = False) -> dict[str, Any]:
    """Estimates as dots with their confidence intervals as whiskers (and targets as diamonds), one row each.

    The axis spans the measure's whole range (``low`` to ``high``), so rows of one chart compare.
    Dots from fewer answers than needed are grey; ``zero`` draws a dashed line at 0 (no effect).
    """
    labels = [short(d.label) for d in dots]
    whiskers = []
    points = []
    for d, name in zip(dots, labels, strict=True):
        if d.value is None:
            whiskers.append("-")
            continue
        lo = d.low if d.low is not None else d.value
        hi = d.high if d.high is not None else d.value
        whiskers.append([_round(lo), _round(d.value), _round(d.value), _round(d.value), _round(hi)])
        points.append({"value": [_round(d.value), name, d.n], "itemStyle": {"color": FEW if d.few else ESTIMATE}})
    targets = [{"value": [d.target, name]} for d, name in zip(dots, labels, strict=True) if d.target is not None]
    series: list[dict[str, Any]] = [
        {"type": "boxplot", "name": "interval", "layout": "horizontal", "boxWidth": [2, 10],
         "itemStyle": {"color": "#eff6ff", "borderColor": ESTIMATE, "borderWidth": 2}, "data": whiskers,
         "tooltip": {"show": False},
         **({"markLine": {"symbol": "none", "silent": True, "lineStyle": {"color": "#475569", "type": "dashed"},
                          "label": {"formatter": "no effect", "position": "end"}, "data": [{"xAxis": 0}]}} if zero else {})},
        {"type": "scatter", "name": "measured", "symbolSize": 13, "data": points,
         "tooltip": {"formatter": "{b}"}},
    ]
    if targets:
        series.append({"type": "scatter", "name": "target", "symbol": "diamond", "symbolSize": 15, "data": targets,
                       "itemStyle": {"color": TARGET}})
    return _frame(title) | {
        "tooltip": {"trigger": "item"},
        "legend": {"top": 0, "data": ["measured", *(["target"] if targets else [])]},
        "grid": {"left": label_room(labels), "right": 24, "top": 30, "bottom": 28},
        "xAxis": {"type": "value", "min": low, "max": high, "axisLabel": {"formatter": "{value}" + unit}},
        "yAxis": {"type": "category", "data": labels, "inverse": True},
        "series": series,
    }


def short(text: str, limit: int = LABEL_CHARS) -> str:
    """A category label cut to ``limit`` characters (the table beside the chart has it whole)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def label_room(labels: Sequence[str]) -> int:
    """Pixels left of the plot for the longest category label (about 7 px a character at 12 px)."""
    return 16 + 7 * max((len(x) for x in labels), default=4)


def height_for(rows: int) -> int:
    """Pixels a dot plot of ``rows`` rows needs (the chart's element gets this height)."""
    return 70 + 34 * max(rows, 1)


def distribution(title: str, measure: str, counts: Mapping[int, int]) -> dict[str, Any]:
    """Answers per score value, as bars; NPS bars are coloured as detractors, passives and promoters."""
    values = sorted(counts)

    def colour(score: int) -> str:
        if measure != "nps":
            return ESTIMATE
        return NPS_COLOURS["detractor" if score <= 6 else "passive" if score <= 8 else "promoter"]

    return _frame(title) | {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "grid": {"left": 8, "right": 16, "top": 16, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": [str(v) for v in values], "name": "score", "nameLocation": "center",
                  "nameGap": 26},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"type": "bar", "name": "answers", "label": {"show": True, "position": "top"},
                    "data": [{"value": counts[v], "itemStyle": {"color": colour(v)}} for v in values]}],
    }


def monthly(title: str, months: Sequence[str], series: Mapping[str, Sequence[float | None]],
            targets: Mapping[str, float] | None = None) -> dict[str, Any]:
    """One line per series over calendar months (gaps where a month has no answers), targets dashed."""
    lines: list[dict[str, Any]] = [
        {"type": "line", "name": name, "data": [_round(v) for v in values], "connectNulls": False, "symbolSize": 7}
        for name, values in series.items()
    ]
    for i, (name, value) in enumerate((targets or {}).items()):
        lines[i]["markLine"] = {"symbol": "none", "silent": True, "data": [{"yAxis": value, "name": f"target of {name}"}],
                                "lineStyle": {"type": "dashed"},
                                "label": {"formatter": f"target {value:g}", "position": "insideEndTop"}}
    return _frame(title) | {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "type": "scroll"},
        "grid": {"left": 8, "right": 24, "top": 36, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": list(months)},
        "yAxis": {"type": "value", "scale": True},
        "series": lines,
    }


def components(title: str, names: Sequence[str], scores: Sequence[float]) -> dict[str, Any]:
    """Health components as horizontal bars on 0-100, red under 40 and green over 70, with the typical 50 marked."""
    def colour(score: float) -> str:
        return "#b91c1c" if score < 40 else "#047857" if score > 70 else "#475569"

    return _frame(title) | {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "grid": {"left": 8, "right": 40, "top": 8, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "value", "min": 0, "max": 100},
        "yAxis": {"type": "category", "data": list(names), "inverse": True},
        "series": [{"type": "bar", "name": "score",
                    "data": [{"value": round(s, 1), "itemStyle": {"color": colour(s)}} for s in scores],
                    "label": {"show": True, "position": "right"},
                    "markLine": {"symbol": "none", "silent": True, "lineStyle": {"type": "dashed", "color": "#475569"},
                                 "label": {"formatter": "typical"}, "data": [{"xAxis": 50}]}}],
    }


def topic_volumes(title: str, labels: Sequence[str], volumes: Sequence[int],
                  sentiments: Sequence[float | None]) -> dict[str, Any]:
    """Comments per topic as horizontal bars, coloured by the topic's mean sentiment (red negative, green positive)."""
    def colour(mean: float | None) -> str:
        if mean is None:
            return "#475569"
        return "#b91c1c" if mean < -0.2 else "#047857" if mean > 0.2 else "#a16207"

    names = [short(x) for x in labels]
    return _frame(title) | {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "grid": {"left": label_room(names), "right": 40, "top": 8, "bottom": 24},
        "xAxis": {"type": "value", "minInterval": 1},
        "yAxis": {"type": "category", "data": names, "inverse": True},
        "series": [{"type": "bar", "name": "comments", "label": {"show": True, "position": "right"},
                    "data": [{"value": v, "itemStyle": {"color": colour(m)}}
                             for v, m in zip(volumes, sentiments, strict=True)]}],
    }
