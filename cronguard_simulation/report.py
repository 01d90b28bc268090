"""``cronguard simulate --report FILE.html``: the simulation's timeline as one self-contained page.

One section per simulated job: a lane per execution on a time axis shared by the job's
executions, coloured by what the guard decided, with the ECS tasks the execution ran drawn
inside it (start → stop, exit code), a legend and the guarantee checks. The page is built from
the same rows the console table prints and needs nothing from the network: inline CSS and
inline SVG, no script, no font to fetch. The same run data always gives the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from cronguard_simulation.scenario import CATCH_UP_STEP, Result, Row, TaskSpan


@dataclass(frozen=True)
class Kind:
    """How the report draws one kind of decision."""

    label: str
    colour: str
    meaning: str


# Every decision a lane can show, in the legend's order: the CSS classes (``lane-<key>``), the
# colours and the legend all come from here.
KINDS: dict[str, Kind] = {
    "ran": Kind("ran", "#2e7d32", "claimed the slot and ran the ECS task"),
    "duplicate": Kind("duplicate", "#757575", "skipped: the slot already ran or runs"),
    "overlap": Kind("overlap", "#ef6c00", "skipped: another slot's run still ran"),
    "late": Kind("late", "#6a1b9a", "skipped: the trigger came after the starting deadline"),
    "paused": Kind("paused", "#1565c0", "skipped: the job is paused"),
    "caught-up": Kind("missed → caught up", "#00838f", "a missed slot, started by catch-up"),
}
SKIP_KINDS = ("duplicate", "overlap", "late", "paused")  # the guard's skip reasons

WIDTH = 1200  # the SVG's width in CSS pixels; the chart is the part between the two columns
LABEL_WIDTH = 250  # execution name, slot and step, left of the chart
OUTCOME_WIDTH = 420  # decision and outcome, right of the chart
CHART_LEFT = LABEL_WIDTH + 10
CHART_WIDTH = WIDTH - LABEL_WIDTH - OUTCOME_WIDTH - 30
LANE_HEIGHT = 48
CHAR_WIDTH = 6.5  # about one character of the 12 px labels, to keep a label inside the chart
AXIS_HEIGHT = 30
MIN_BAR = 6.0  # a skip takes milliseconds: still a visible mark
TICK_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)


class ReportError(ValueError):
    """The run data cannot be drawn (names the execution and what is wrong)."""


def kind_of(row: Row) -> str:
    """The KINDS key of a timeline row: what its execution's guard decided."""
    if row.decision == "run":
        return "caught-up" if row.step == CATCH_UP_STEP else "ran"
    if row.decision == "skip" and row.reason in SKIP_KINDS:
        return row.reason
    raise ReportError(
        f"execution {row.execution}: no lane colour for decision {row.decision!r} "
        f"(reason {row.reason!r}); add it to cronguard_simulation.report.KINDS"
    )


def render(
    results: Sequence[Result], *, title: str, details: Mapping[str, str] | None = None
) -> str:
    """The page for the results of one `simulate` (one section per job). `details` maps a
    job's name to the line shown under its heading (schedule, time zone, concurrency)."""
    details = details or {}
    sections = "\n".join(_section(result, details.get(result.job, "")) for result in results)
    held = all(result.ok for result in results)
    verdict = "all guarantees held" if held else "a guarantee failed"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>
{_style()}
</style>
</head>
<body>
<header>
<h1>{escape(title)}</h1>
<p class="verdict {"held" if held else "failed"}">{escape(verdict)}</p>
{_legend()}
</header>
{sections}
</body>
</html>
"""


def _style() -> str:
    kinds = "\n".join(
        f".lane-{key} .execution{{fill:{kind.colour}33;stroke:{kind.colour}}}\n"
        f".lane-{key} .task{{fill:{kind.colour}}}\n"
        f".swatch-{key}{{background:{kind.colour}}}"
        for key, kind in KINDS.items()
    )
    return f"""body{{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:#212121;
background:#fff;margin:24px}}
h1{{font-size:20px;margin:0 0 4px}}
h2{{font-size:17px;margin:28px 0 2px}}
.details{{color:#555;margin:0 0 8px}}
.verdict.held{{color:#2e7d32}}
.verdict.failed{{color:#c62828;font-weight:600}}
.legend{{display:flex;flex-wrap:wrap;gap:6px 18px;list-style:none;padding:0;margin:8px 0}}
.swatch{{display:inline-block;width:14px;height:14px;border-radius:3px;margin-right:6px;
vertical-align:-2px}}
svg.timeline{{display:block;max-width:100%;height:auto}}
svg text{{font:12px system-ui,-apple-system,"Segoe UI",sans-serif;fill:#212121}}
svg .name{{font-weight:600}}
svg .muted{{fill:#616161}}
svg .axis line,svg .grid{{stroke:#bdbdbd}}
svg .lane-bg{{fill:#fafafa}}
svg .execution{{stroke-width:1}}
svg .task{{fill-opacity:.85}}
svg .task-label{{font-size:11px;fill:#424242}}
svg .task.nonzero{{stroke:#c62828;stroke-width:2}}
svg .outcome.failed{{fill:#c62828}}
.checks{{list-style:none;padding:0;margin:8px 0}}
.check.ok .mark{{color:#2e7d32}}
.check.failed .mark{{color:#c62828}}
{kinds}"""


def _legend() -> str:
    items = "\n".join(
        f'<li class="legend-item" data-decision="{key}"><span class="swatch swatch-{key}">'
        f"</span><strong>{escape(kind.label)}</strong> — {escape(kind.meaning)}</li>"
        for key, kind in KINDS.items()
    )
    return (
        f'<ul class="legend">\n{items}\n<li class="legend-item">a darker bar inside a lane: '
        "its ECS task, from start to stop, with the exit code</li>\n</ul>"
    )


@dataclass(frozen=True)
class _Axis:
    """Seconds since the first execution started → x in the SVG."""

    start: datetime
    seconds: float

    def x(self, moment: datetime) -> float:
        offset = (moment - self.start).total_seconds()
        return CHART_LEFT + CHART_WIDTH * offset / self.seconds

    def span(self, began: datetime, ended: datetime) -> tuple[float, float]:
        x = self.x(began)
        return x, max(MIN_BAR, self.x(ended) - x)


def _axis(result: Result) -> _Axis:
    moments: list[datetime] = []
    for row in result.rows:
        if row.started_at is None or row.stopped_at is None:
            raise ReportError(
                f"job {result.job}, execution {row.execution}: no start or stop time "
                "(the report needs finished executions)"
            )
        moments += [row.started_at, row.stopped_at]
        for task in row.tasks:
            moments += [task.started_at, task.stopped_at or row.stopped_at]
    if not moments:
        raise ReportError(f"job {result.job}: no executions to draw")
    start = min(moments)
    seconds = max((max(moments) - start).total_seconds(), 0.001)
    return _Axis(start, seconds)


def _section(result: Result, detail: str) -> str:
    axis = _axis(result)
    lanes = "\n".join(_lane(index, row, axis) for index, row in enumerate(result.rows))
    height = AXIS_HEIGHT + LANE_HEIGHT * len(result.rows) + 8
    checks = "\n".join(
        f'<li class="check {"ok" if check.ok else "failed"}"><span class="mark">'
        f"{'✔' if check.ok else '✘'}</span> {escape(check.guarantee)} — "
        f"{escape(check.detail)}</li>"
        for check in result.checks
    )
    verdict = "all guarantees held" if result.ok else "a guarantee failed"
    return f"""<section class="job" data-job="{escape(result.job)}">
<h2>{escape(result.job)}</h2>
<p class="details">{escape(detail)}</p>
<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" \
viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(f"timeline of {result.job}")}">
{_ticks(axis, height)}
{lanes}
</svg>
<ul class="checks">
{checks}
</ul>
<p class="verdict {"held" if result.ok else "failed"}">{escape(verdict)}</p>
</section>"""


def _ticks(axis: _Axis, height: int) -> str:
    step = next((s for s in TICK_STEPS if axis.seconds / s <= 10), TICK_STEPS[-1])
    marks = []
    for n in range(math.floor(axis.seconds / step) + 1):
        x = CHART_LEFT + CHART_WIDTH * n * step / axis.seconds
        label = f"+{n * step:g} s"
        marks.append(
            f'<line class="grid" x1="{x:.1f}" y1="{AXIS_HEIGHT - 6}" x2="{x:.1f}" '
            f'y2="{height - 4}"/><text x="{x:.1f}" y="{AXIS_HEIGHT - 10}" '
            f'text-anchor="middle" class="muted">{label}</text>'
        )
    began = axis.start.strftime("%H:%M:%S.") + f"{axis.start.microsecond // 1000:03d}Z"
    return (
        f'<g class="axis"><text x="4" y="{AXIS_HEIGHT - 10}" class="muted">'
        f"time since {escape(began)}</text>\n" + "\n".join(marks) + "</g>"
    )


def _lane(index: int, row: Row, axis: _Axis) -> str:
    key = kind_of(row)
    kind = KINDS[key]
    top = AXIS_HEIGHT + index * LANE_HEIGHT
    assert row.started_at is not None and row.stopped_at is not None  # checked by _axis
    x, width = axis.span(row.started_at, row.stopped_at)
    spans = [_task(task, row.stopped_at, top, axis) for task in row.tasks]
    failed = "" if row.outcome.startswith("SUCCEEDED") else " failed"
    summary = f"{row.step}: {row.execution}, slot {row.slot}, {kind.label} ({row.reason})"
    return f"""<g class="lane lane-{key}" data-execution="{escape(row.execution)}" \
data-slot="{escape(row.slot)}" data-decision="{key}">
<title>{escape(f"{summary}, {row.outcome}")}</title>
<rect class="lane-bg" x="0" y="{top + 1}" width="{WIDTH}" height="{LANE_HEIGHT - 2}"/>
<text class="name" x="4" y="{top + 16}">{escape(row.execution)}</text>
<text class="slot muted" x="4" y="{top + 32}">slot {escape(row.slot)} · {escape(row.step)}</text>
<rect class="execution" x="{x:.1f}" y="{top + 5}" width="{width:.1f}" height="22" rx="3"/>
{"".join(span for span, _ in spans)}
{_task_labels([label for _, label in spans], axis, row, top)}
<text class="decision" x="{WIDTH - OUTCOME_WIDTH}" y="{top + 16}">{escape(kind.label)} \
<tspan class="muted">({escape(row.reason if row.decision == "run" else "skipped")})</tspan></text>
<text class="outcome{failed}" x="{WIDTH - OUTCOME_WIDTH}" y="{top + 32}">\
{escape(row.outcome)}</text>
</g>"""


def _task(task: TaskSpan, execution_stopped: datetime, top: int, axis: _Axis) -> tuple[str, str]:
    """A task's bar inside its execution's lane, and its label."""
    x, width = axis.span(task.started_at, task.stopped_at or execution_stopped)
    code = "running" if task.exit_code is None else f"exit {task.exit_code}"
    nonzero = " nonzero" if task.exit_code not in (0, None) else ""
    label = f"task {task.task} · {code}"
    bar = (
        f'<g class="task-span" data-task="{escape(task.task)}" data-exit-code="{escape(code)}">'
        f"<title>{escape(label)}</title>"
        f'<rect class="task{nonzero}" x="{x:.1f}" y="{top + 9}" width="{width:.1f}" '
        f'height="14" rx="2"/></g>'
    )
    return bar, label


def _task_labels(labels: list[str], axis: _Axis, row: Row, top: int) -> str:
    """One line under the bars naming the lane's tasks, from where the first one started
    (moved left so it stays inside the chart)."""
    if not labels:
        return ""
    text = ", ".join(labels)
    x = axis.x(row.tasks[0].started_at)
    x = max(CHART_LEFT, min(x, CHART_LEFT + CHART_WIDTH - CHAR_WIDTH * len(text)))
    return f'<text class="task-label" x="{x:.1f}" y="{top + 41}">{escape(text)}</text>'
