"""The report's charts: server-side SVG drawn by pygal, inlined in the page.

pygal escapes every text it writes (titles, labels, legends) through its XML
serializer. Its SVG carries a ``<script>`` with its configuration for its
tooltip library, which the page does not load (no network): the script is
taken out before serializing, so the charts run no code at all and the
page's Content-Security-Policy can allow only the page's own script.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

import pygal
from markupsafe import Markup
from pygal.style import Style

from daemon.cli.auditreport.facts import MODES, AuditFacts, reason_label

# Readable on paper as on screen; one colour per series, stable order.
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
_LOOK = {
    "background": "white",
    "plot_background": "white",
    "foreground": "#222",
    "foreground_strong": "#000",
    "foreground_subtle": "#666",
    "font_family": "system-ui, sans-serif",
}
_STYLE = Style(**_LOOK, colors=_COLOURS)
# A closure is a thick bar from closed to reopened.
_TIMELINE_STYLE = Style(**_LOOK, colors=_COLOURS, stroke_width="10", stroke_width_hover="12")


def _without_scripts(root: Any) -> Any:
    """pygal's xml_filters hook: drop its configuration script (see the module's docstring)."""
    for parent in list(root.iter()):
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    return root


def _config(*, style: Style = _STYLE, **options: Any) -> pygal.Config:
    settings: dict[str, Any] = {
        "js": [],
        "disable_xml_declaration": True,
        "width": 900,
        "height": 440,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 2,
        "truncate_legend": -1,
        "explicit_size": False,
    }
    return pygal.Config(style=style, **{**settings, **options})


def _svg(chart: Any) -> Markup:
    chart.add_xml_filter(_without_scripts)
    # pygal's output is XML it escaped itself; Markup keeps Jinja from escaping it twice.
    return Markup(chart.render(is_unicode=True))  # noqa: S704


def _stacked_by_day(
    facts: AuditFacts, series: Mapping[str, Sequence[int]], *, title: str, labels: Mapping[str, str]
) -> Markup:
    chart = pygal.StackedBar(
        _config(title=title, y_title="decisions", no_data_text="no decisions", margin_bottom=40)
    )
    chart.x_labels = [day.isoformat() for day in facts.days]
    for key, counts in series.items():
        # None, not 0: no empty bar segment (and no tooltip) for a day without any
        chart.add(labels.get(key, key), [count or None for count in counts])
    return _svg(chart)


def reasons_by_day(facts: AuditFacts) -> Markup:
    series = facts.per_day("reason_id")
    return _stacked_by_day(
        facts,
        series,
        title="Decisions per day by reason",
        labels={key: reason_label(int(key)) for key in series},
    )


def modes_by_day(facts: AuditFacts) -> Markup:
    found = facts.per_day("mode")
    series = {mode: found[mode] for mode in MODES if mode in found}
    return _stacked_by_day(
        facts,
        series,
        title="Decisions per day: live and dry-run",
        labels={"live": "live (sent to Dükkango)", "dry_run": "dry-run (nothing sent)"},
    )


def _moment_format(facts: AuditFacts, end: datetime) -> Callable[[datetime], str]:
    """Seconds on a short timeline (a demo, a test), minutes with the day on a long one."""
    first = min((span.closed_at for span in facts.closures), default=end)
    pattern = "%H:%M:%S" if end - first < timedelta(hours=2) else "%m-%d %H:%M"
    return lambda moment: moment.strftime(pattern)


def closures_timeline(facts: AuditFacts, *, zone: tzinfo, now: datetime) -> Markup:
    """Each closure a bar from closed to reopened (or the end of the window), one row each."""
    end = facts.until or now
    restaurants = sorted({span.restaurant for span in facts.closures})
    rows = {name: index + 1 for index, name in enumerate(restaurants)}
    chart = pygal.DateTimeLine(
        _config(
            style=_TIMELINE_STYLE,
            title="Closures",
            height=200 + 40 * len(restaurants),
            x_title=f"time ({facts.timezone})",
            no_data_text="no closures",
            show_dots=True,
            dots_size=4,
            show_y_guides=False,
            x_label_rotation=20,
            x_value_formatter=_moment_format(facts, end),
            range=(0, len(restaurants) + 1),
            y_labels=[{"label": name, "value": row} for name, row in rows.items()],
            show_legend=False,
        )
    )
    for span in facts.closures:
        row = rows[span.restaurant]
        closed = span.closed_at.astimezone(zone).replace(tzinfo=None)
        opened = (span.reopened_at or end).astimezone(zone).replace(tzinfo=None)
        state = "reopened" if span.reopened_at else "still closed"
        chart.add(
            f"{span.restaurant}: {span.rule}, {span.minutes:g} min ({state})",
            [(closed, row), (opened, row)],
        )
    return _svg(chart)
