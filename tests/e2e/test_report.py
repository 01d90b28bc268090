"""`cronguard simulate --report`: the page of a real simulation (the synthesized state machines,
the real guard, scripted ECS tasks), opened in headless Chromium from Debian's packages; its
screenshot is a real picture with the lanes' colours in it and its rendered DOM has one lane
per execution, labelled and coloured by the guard's decision."""

from __future__ import annotations

import re
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cronguard.cli import app, main
from cronguard.config import Environment
from cronguard_simulation.report import KINDS
from tests.unit.test_report_render import parse

CHROMIUM = Path("/usr/bin/chromium")
HEADLESS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
JOB = "retry-job"  # forbid with job_retries 1: every lane kind the scenario makes, 2-task lanes
BURST = 8
EXECUTION = re.compile(
    r"\b(?:(?:burst|next-slot|late-duplicate|failing-run|retried-run|late-delivery|paused|resumed)"
    r"-\d{6}-\d+|catch-up-\d{8}T\d{6}Z|backfill-\d{8}T\d{4}Z-\d{8}T\d{12}Z)\b"
)


def chromium(page: Path, profile: Path, *args: str) -> str:
    """Run Debian's headless Chromium on the page with a new empty profile; its stdout."""
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: `make setup` installs Debian's chromium package "
        "(apt-get install -y --no-install-recommends chromium)"
    )
    done = subprocess.run(
        [str(CHROMIUM), *HEADLESS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def simulated(
    synthesized: tuple[Environment, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """`cronguard simulate --job retry-job --report …` on the e2e environment: the page and
    what the command printed."""
    environment, assembly = synthesized
    page = tmp_path_factory.mktemp("report") / "out" / "simulation.html"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            f"--env={environment.name}",
            f"--assembly={assembly}",
            f"--job={JOB}",
            f"--burst={BURST}",
            f"--report={page}",
        ],
        env={"COLUMNS": "250", "CRONGUARD_CONFIG": str(assembly.parent / "config")},
    )
    assert result.exit_code == 0, result.output
    assert f"▶ report: {page}" in result.output
    return page, result.output


def test_the_rendered_page_has_one_labelled_lane_per_execution(
    simulated: tuple[Path, str], tmp_path: Path
) -> None:
    page, printed = simulated
    dom = parse(chromium(page, tmp_path / "profile", "--dump-dom"))
    lanes = dom.with_class("lane")
    executions = sorted(set(EXECUTION.findall(printed)))
    # burst, next slot, late duplicate, failing, retried, overridden (a person's backfill),
    # catch up, late delivery, paused, resumed
    assert len(executions) == BURST + 9
    assert sorted(lane["data-execution"] for lane in lanes) == executions
    assert [s["data-job"] for s in dom.with_class("job")] == [JOB]

    decisions = {lane["data-execution"]: lane["data-decision"] for lane in lanes}
    burst = [decisions[name] for name in executions if name.startswith("burst-")]
    assert sorted(burst) == ["duplicate"] * (BURST - 1) + ["ran"]
    by_step = {
        name.rsplit("-", 1 if name.startswith("catch-up-") else 2)[0]: decisions[name]
        for name in executions
        if not name.startswith("burst-")
    }
    assert by_step == {
        "next-slot": "overlap",
        "late-duplicate": "duplicate",
        "failing-run": "ran",
        "retried-run": "ran",
        "backfill": "ran",
        "catch-up": "caught-up",
        "late-delivery": "duplicate",
        "paused": "paused",
        "resumed": "ran",
    }
    # the ECS tasks inside the lanes: one for the burst's run, two for each retried run, one
    # for the overridden run, one for the caught-up slot and one for the run after the resume
    assert [s["data-exit-code"] for s in dom.with_class("task-span")] == [
        "exit 0",
        "exit 3",
        "exit 3",
        "exit 3",
        "exit 0",
        "exit 0",
        "exit 0",
        "exit 0",
    ]
    text = "".join(dom.text)
    for name in executions:
        assert name in text
    assert "FAILED · ledger FAILED (exit 3, 1 retry)" in text
    assert "SUCCEEDED · ledger SUCCEEDED (exit 0, 1 retry)" in text
    assert "overlap (skipped)" in text
    slots = {lane["data-execution"].rsplit("-", 2)[0]: lane["data-slot"] for lane in lanes}
    assert slots["late-duplicate"] == slots["burst"] != slots["next-slot"]  # a duplicate's slot
    assert f"slot {slots['burst']} · late duplicate" in text
    assert slots["burst"] in printed
    # the guarantee checks, as the console printed them
    checks = dom.with_class("check")
    assert len(checks) == printed.count("✔") == text.count("✔") > 0
    assert all(check["class"] == "check ok" for check in checks)
    assert "all guarantees held" in text


def test_the_screenshot_shows_the_lanes_in_their_colours(
    simulated: tuple[Path, str], tmp_path: Path
) -> None:
    page, _ = simulated
    screenshot = tmp_path / "simulation.png"
    chromium(page, tmp_path / "profile", f"--screenshot={screenshot}", "--window-size=1280,1200")
    width, height, pixels = decode_png(screenshot.read_bytes())
    assert (width, height) == (1280, 1200)
    assert len(set(pixels)) > 50  # text, lanes, bars: not a blank page
    # Each pixel as the letter of the decision whose execution-bar fill it has (the kind's
    # colour at 20 % over the lane), else ".": a bar's inside is a block of its letter, which
    # anti-aliased text and strokes never make, and the legend's swatches are the full colour.
    letters = dict(zip(KINDS, "abcdefghij", strict=False))
    fills = {
        key: blend(hex_colour(kind.colour), 0x33 / 255, (0xFA, 0xFA, 0xFA))
        for key, kind in KINDS.items()
    }
    letter_of = {
        pixel: next((letters[key] for key, fill in fills.items() if near(pixel, fill)), ".")
        for pixel in set(pixels)
    }
    rows = [
        "".join(letter_of[pixel] for pixel in pixels[y * width : (y + 1) * width])
        for y in range(height)
    ]
    drawn = {key: has_block(rows, letters[key]) for key in KINDS}
    # every kind but late: the scenario has no late trigger
    assert drawn == {key: key != "late" for key in KINDS}


def has_block(rows: list[str], letter: str, width: int = 2, height: int = 14) -> bool:
    """Whether `width` × `height` pixels in a row all have the letter."""
    needle = letter * width
    for y in range(len(rows) - height + 1):
        x = rows[y].find(needle)
        while x != -1:
            if all(rows[y + below][x : x + width] == needle for below in range(1, height)):
                return True
            x = rows[y].find(needle, x + 1)
    return False


def hex_colour(text: str) -> tuple[int, int, int]:
    return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)


def blend(
    colour: tuple[int, int, int], alpha: float, under: tuple[int, int, int]
) -> tuple[int, int, int]:
    r, g, b = (round(alpha * c + (1 - alpha) * u) for c, u in zip(colour, under, strict=True))
    return r, g, b


def near(pixel: tuple[int, int, int], colour: tuple[int, int, int]) -> bool:
    return all(abs(p - c) <= 3 for p, c in zip(pixel, colour, strict=True))


def decode_png(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and RGB pixels of an 8-bit RGB or RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, chunks, header = 8, [], b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour_type in (2, 6), (depth, colour_type)
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    previous = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        method, row = line[0], bytearray(line[1:])  # the row's filter
        if method == 2:  # "up", most of Chromium's rows: one pass
            row = bytearray((a + b) & 0xFF for a, b in zip(row, previous, strict=True))
        for i in range(stride if method in (1, 3, 4) else 0):
            left = row[i - channels] if i >= channels else 0
            up, up_left = previous[i], previous[i - channels] if i >= channels else 0
            if method == 1:
                row[i] = (row[i] + left) & 0xFF
            elif method == 3:
                row[i] = (row[i] + (left + up) // 2) & 0xFF
            elif method == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                row[i] = (row[i] + predictor) & 0xFF
        pixels.extend((row[x], row[x + 1], row[x + 2]) for x in range(0, stride, channels))
        previous = row
    return width, height, pixels


def test_a_report_path_that_is_a_directory_is_refused_before_deploying(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["simulate", f"--report={tmp_path}"])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.err == (
        f"error: Invalid value for '--report': file '{tmp_path}' is a directory. "
        "(see cronguard simulate --help)\n"
    )
    assert "deploying" not in captured.out
