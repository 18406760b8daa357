"""Inline SVG charts for `consents report`: no script, so they work under `default-src 'self'`
and in a mailed file. Each is an image with a text alternative (its title); the report puts
a table with the same numbers beside it."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

PALETTE = ("#2f6fb3", "#d9822b", "#3a9d5d", "#b04a7d", "#7a6bbf", "#8c8c3a")
WIDTH = 720


def _color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _framed(title: str, svg: list[str]) -> str:
    """The chart in a frame that scrolls sideways on a narrow screen, where the report's CSS
    keeps the chart at its own width, so that its labels stay legible (keyboard-scrollable:
    it takes focus, named by the chart's title)."""
    return (
        f'<div class="chart" tabindex="0" role="group" aria-label="{escape(title)}">'
        + "".join(svg)
        + "</div>"
    )


def bar_chart(title: str, rows: list[tuple[str, float]], percent: Callable[[float], str]) -> str:
    """Horizontal bars, one per (label, rate 0..1)."""
    row_height, label_width = 28, 180
    height = row_height * len(rows) + 10
    span = WIDTH - label_width - 70
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}">'
    ]
    for i, (label, rate) in enumerate(rows):
        y = 5 + i * row_height
        parts.append(f'<text x="0" y="{y + 17}">{escape(label)}</text>')
        parts.append(
            f'<rect x="{label_width}" y="{y + 4}" width="{span}" height="18" fill="#eee"/>'
        )
        parts.append(
            f'<rect x="{label_width}" y="{y + 4}" width="{rate * span:.1f}" height="18" '
            f'fill="{_color(i)}"/>'
        )
        parts.append(f'<text x="{label_width + span + 8}" y="{y + 17}">{percent(rate)}</text>')
    parts.append("</svg>")
    return _framed(title, parts)


def line_chart(
    title: str, labels: list[str], series: dict[str, list[float]], percent: Callable[[float], str]
) -> str:
    """One polyline per category across `labels` (weeks), rates 0..1 on the y axis."""
    height, left, bottom, top = 260, 44, 40, 10
    plot_w, plot_h = WIDTH - left - 40, height - bottom - top  # room for the last label
    step = plot_w / max(len(labels) - 1, 1)

    def xy(i: int, rate: float) -> str:
        return f"{left + i * step:.1f},{top + (1 - rate) * plot_h:.1f}"

    parts = [
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}">'
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        y = top + (1 - tick) * plot_h
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y}" y2="{y}" stroke="#ddd"/>')
        parts.append(f'<text x="0" y="{y + 4}">{percent(tick)}</text>')
    every = max(1, len(labels) // 8)  # at most ~8 week labels under the axis
    for i, label in enumerate(labels):
        if i % every == 0:
            x = left + i * step
            parts.append(
                f'<text x="{x:.1f}" y="{height - 12}" text-anchor="middle">{escape(label)}</text>'
            )
    for index, (name, rates) in enumerate(series.items()):
        points = " ".join(xy(i, rate) for i, rate in enumerate(rates))
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{_color(index)}" '
            f'stroke-width="2"><title>{escape(name)}</title></polyline>'
        )
        for i, rate in enumerate(rates):
            cx, cy = xy(i, rate).split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{_color(index)}"/>')
    parts.append("</svg>")
    return _framed(title, parts)


def legend(categories: list[str]) -> str:
    items = "".join(
        f'<span><i style="background:{_color(i)}"></i>{escape(c)}</span>'
        for i, c in enumerate(categories)
    )
    return f'<p class="legend">{items}</p>'


def stacked_bars(
    title: str, labels: list[str], series: dict[str, list[int]], number: Callable[[int], str]
) -> str:
    """One column per label (days or weeks), stacked by series (actions), counts on the y axis."""
    height, left, bottom, top = 260, 56, 40, 10
    plot_w, plot_h = WIDTH - left - 10, height - bottom - top
    peak = max((sum(values) for values in zip(*series.values(), strict=True)), default=0) or 1
    step = plot_w / max(len(labels), 1)
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}">'
    ]
    for tick in (0, 0.5, 1):
        y = top + (1 - tick) * plot_h
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y}" y2="{y}" stroke="#ddd"/>')
        parts.append(f'<text x="0" y="{y + 4}">{number(round(peak * tick))}</text>')
    for i in range(len(labels)):
        base = 0
        for index, values in enumerate(series.values()):
            if values[i]:
                y = top + (1 - (base + values[i]) / peak) * plot_h
                h, x, w = values[i] / peak * plot_h, left + i * step + 1, max(step - 2, 1)
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}"'
                    f' fill="{_color(index)}"/>'
                )
            base += values[i]
    every = max(1, len(labels) // 6)
    for i, label in enumerate(labels):
        if i % every == 0:
            x = left + (i + 0.5) * step
            parts.append(
                f'<text x="{x:.1f}" y="{height - 12}" text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return _framed(title, parts)
