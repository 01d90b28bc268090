"""The simulation report's renderer on hand-built timeline rows: every decision kind gets its
lane, colour and label; text is escaped; the same data gives the same page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from cronguard_simulation.report import KINDS, ReportError, kind_of, render
from cronguard_simulation.scenario import CATCH_UP_STEP, Check, Result, Row, TaskSpan

T0 = datetime(2026, 12, 2, 8, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def row(
    step: str,
    execution: str,
    decision: str,
    reason: str,
    began: float,
    ended: float,
    *tasks: TaskSpan,
    outcome: str = "SUCCEEDED",
) -> Row:
    return Row(
        step,
        execution,
        "2026-12-02T03:00:00Z",
        decision,
        reason,
        tasks[-1].task if tasks else "-",
        outcome,
        started_at=at(began),
        stopped_at=at(ended),
        tasks=tasks,
    )


ROWS = [
    row("burst", "burst-1", "run", "claimed", 0.0, 3.4, TaskSpan("aaaa1111", at(0.2), at(3.2), 0)),
    row("burst", "burst-2", "skip", "duplicate", 0.1, 0.3),
    row("next slot", "next-slot-0", "skip", "overlap", 1.0, 1.2),
    row("late trigger", "late-0", "skip", "late", 4.0, 4.1),
    row("paused", "paused-0", "skip", "paused", 5.0, 5.1),
    row(
        CATCH_UP_STEP,
        "catch-up-0",
        "run",
        "claimed",
        6.0,
        9.0,
        TaskSpan("bbbb2222", at(6.1), at(6.6), 3),
        TaskSpan("cccc3333", at(7.7), at(8.8), 0),
    ),
]
CHECKS = [
    Check("once per slot", True, "1 task(s), 1 run(s) of 2 triggers"),
    Check("no stuck lock <script>", False, 'lease still held & "quoted"'),
]


class Dom(HTMLParser):
    """Elements with their classes and attributes, and the text in each lane."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def with_class(self, name: str) -> list[dict[str, str]]:
        return [attrs for _, attrs in self.elements if name in attrs.get("class", "").split()]


def parse(page: str) -> Dom:
    dom = Dom()
    dom.feed(page)
    return dom


def test_every_decision_kind_has_its_own_lane_colour_and_legend_entry() -> None:
    page = render([Result("nightly", ROWS, CHECKS)], title="cronguard simulation: dev")
    dom = parse(page)
    lanes = dom.with_class("lane")
    assert [lane["data-decision"] for lane in lanes] == [
        "ran",
        "duplicate",
        "overlap",
        "late",
        "paused",
        "caught-up",
    ]
    assert [lane["data-execution"] for lane in lanes] == [r.execution for r in ROWS]
    assert [attrs["data-decision"] for attrs in dom.with_class("legend-item")[:6]] == list(KINDS)
    colours = {kind.colour for kind in KINDS.values()}
    assert len(colours) == len(KINDS)
    for key, kind in KINDS.items():
        assert f".lane-{key} .execution{{fill:{kind.colour}33;stroke:{kind.colour}}}" in page
    assert "missed → caught up" in "".join(dom.text)


def test_each_task_is_drawn_inside_its_execution_with_its_exit_code() -> None:
    dom = parse(render([Result("nightly", ROWS, CHECKS)], title="t"))
    spans = dom.with_class("task-span")
    assert [(s["data-task"], s["data-exit-code"]) for s in spans] == [
        ("aaaa1111", "exit 0"),
        ("bbbb2222", "exit 3"),
        ("cccc3333", "exit 0"),
    ]
    executions = dom.with_class("execution")
    tasks = dom.with_class("task")
    assert [t["class"] for t in tasks] == ["task", "task nonzero", "task"]
    for task, lane in zip(tasks, [executions[0], executions[5], executions[5]], strict=True):
        left, width = float(task["x"]), float(task["width"])
        assert float(lane["x"]) <= left
        assert left + width <= float(lane["x"]) + float(lane["width"]) + 0.1
    # the axis is shared: the catch-up run (6 s .. 9 s) ends where the chart ends
    first, last = executions[0], executions[5]
    assert float(last["x"]) + float(last["width"]) > float(first["x"]) + 2 * float(first["width"])
    text = "".join(dom.text)
    assert "task bbbb2222 · exit 3, task cccc3333 · exit 0" in text


def test_labels_checks_and_every_text_escaped() -> None:
    page = render(
        [Result("nightly", ROWS, CHECKS)],
        title="cronguard <simulation>",
        details={"nightly": "cron(0 3 * * ? *) (Asia/Tokyo) & forbid"},
    )
    assert "<script>" not in page
    assert (
        "✘</span> no stuck lock &lt;script&gt; — lease still held &amp; &quot;quoted&quot;" in page
    )
    assert "✔</span> once per slot — 1 task(s)" in page
    assert "cron(0 3 * * ? *) (Asia/Tokyo) &amp; forbid" in page
    dom = parse(page)
    assert [c["class"] for c in dom.with_class("check")] == ["check ok", "check failed"]
    assert [v["class"] for v in dom.with_class("verdict")] == ["verdict failed"] * 2
    text = "".join(dom.text)
    assert "slot 2026-12-02T03:00:00Z · next slot" in text
    assert "overlap (skipped)" in text
    assert "missed → caught up (claimed)" in text
    # nothing is fetched: no script, no external reference
    assert not re.search(r"<script|<link|@import|url\(|https?://(?!www\.w3\.org/2000/svg)", page)


def test_one_section_per_job_and_the_same_data_gives_the_same_page() -> None:
    results = [Result("a", ROWS[:2], CHECKS[:1]), Result("b", ROWS[2:], CHECKS[:1])]
    page = render(results, title="t")
    assert page == render(results, title="t")
    dom = parse(page)
    assert [s["data-job"] for s in dom.with_class("job")] == ["a", "b"]
    assert len(dom.with_class("timeline")) == 2
    assert [v["class"] for v in dom.with_class("verdict")] == ["verdict held"] * 3


def test_a_decision_without_a_colour_is_refused_by_name() -> None:
    unknown = row("burst", "burst-9", "skip", "sideways", 0.0, 0.1)
    with pytest.raises(ReportError, match=r"execution burst-9: .*'skip' \(reason 'sideways'\)"):
        kind_of(unknown)
    with pytest.raises(ReportError, match="burst-9"):
        render([Result("a", [unknown], [])], title="t")


def test_an_unfinished_execution_is_refused_by_name() -> None:
    running = Row("burst", "burst-3", "2026-12-02T03:00:00Z", "run", "claimed", "-", "RUNNING")
    with pytest.raises(ReportError, match=r"job a, execution burst-3: no start or stop time"):
        render([Result("a", [running], [])], title="t")
