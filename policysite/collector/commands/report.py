"""`consents report`: one self-contained HTML file with inline SVG charts.

No scripts, fonts or external assets: the file can be mailed or archived as evidence and opens
offline. It is not part of the public site, so an inline <style> is fine here.
"""

from __future__ import annotations

from html import escape

from policysite.collector.commands.stats import Stats, Tally

PALETTE = ("#2f6fb3", "#d9822b", "#3a9d5d", "#b04a7d", "#7a6bbf", "#8c8c3a")
WIDTH = 720

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 760px; margin: 2rem auto;
       padding: 0 1rem; color: #1d1d1f; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { padding: .2rem .6rem; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font: 12px system-ui, sans-serif; fill: #1d1d1f; }
.legend span { display: inline-block; margin-right: 1rem; }
.legend i { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; }
@media print { h2 { break-after: avoid; } svg, table { break-inside: avoid; } }
"""


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def bar_chart(title: str, rows: list[tuple[str, float]]) -> str:
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
        parts.append(f'<text x="{label_width + span + 8}" y="{y + 17}">{_percent(rate)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(title: str, labels: list[str], series: dict[str, list[float]]) -> str:
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
        parts.append(f'<text x="0" y="{y + 4}">{tick * 100:.0f}%</text>')
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
    return "".join(parts)


def _legend(categories: list[str]) -> str:
    items = "".join(
        f'<span><i style="background:{_color(i)}"></i>{escape(c)}</span>'
        for i, c in enumerate(categories)
    )
    return f'<p class="legend">{items}</p>'


def _table(name: str, groups: dict[str, Tally], categories: list[str]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in categories)
    rows = "".join(
        f"<tr><td>{escape(key)}</td><td>{t.decisions}</td>"
        + "".join(f"<td>{_percent(t.rate(c))}</td>" for c in categories)
        + "</tr>"
        for key, t in groups.items()
    )
    return (
        f"<table><thead><tr><th>{escape(name)}</th><th>decisions</th>{head}</tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def render_report(stats: Stats, *, source: str = "") -> str:
    """Given computed stats, return the whole HTML document."""
    cats = stats.categories
    body = [f"<h1>Consent report</h1><p>{stats.total} decision(s)"]
    if stats.total:
        body[0] += f", {escape(stats.first or '')} … {escape(stats.last or '')} (UTC)"
    body[0] += f"{', from ' + escape(source) if source else ''}.</p>"
    if stats.total:
        actions = ", ".join(
            f"{escape(a)} {n} ({_percent(n / stats.total)})" for a, n in stats.actions.most_common()
        )
        body += [
            f"<p>Actions: {actions}.</p>",
            "<h2>Acceptance rate per category</h2>",
            bar_chart("Acceptance rate per category", [(c, stats.overall.rate(c)) for c in cats]),
            "<h2>Acceptance rate per ISO week</h2>",
            _legend(cats),
            line_chart(
                "Acceptance rate per ISO week",
                list(stats.weeks),
                {c: [t.rate(c) for t in stats.weeks.values()] for c in cats},
            ),
            _table("week", stats.weeks, cats),
            "<h2>Acceptance rate per policy version</h2>",
        ]
        for version, tally in stats.versions.items():
            body.append(f"<h3>{escape(version)}</h3>")
            body.append(
                bar_chart(f"Acceptance rate for {version}", [(c, tally.rate(c)) for c in cats])
            )
        body.append(_table("version", stats.versions, cats))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Consent report</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
