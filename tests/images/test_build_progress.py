"""What a build shows while it runs, on recorded docker streams: a line per step (consecutive cached steps on
one line), the failing step's output, docker's whole stream with verbose, a progress line only on a
terminal; and the base image script's output kept until it fails."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from build_stream_support import Ticks, recorded

from shipflow.images.base_script import run_base_script
from shipflow.images.build import BuildError, BuildResult, build_image, built_line
from shipflow.images.plan import BuildPlan
from shipflow.images.progress import (
    BuildOutput,
    cached_run_line,
    cut,
    follow,
    indented_output,
    is_terminal,
    keywords,
    step_line,
)
from shipflow.images.stream import BuildStep, StepOutcome, docker_lines, read_build_stream

pytestmark = pytest.mark.unit


def collected(verbose: bool = False, width: int = 100) -> tuple[list[str], BuildOutput]:
    lines: list[str] = []
    return lines, BuildOutput(lines.append, verbose=verbose, width=width)


def step(number: int, instruction: str, outcome: StepOutcome = StepOutcome.CACHED) -> BuildStep:
    return BuildStep(number, 22, instruction, outcome, 0.0)


def test_a_step_line_names_the_step_its_outcome_time_and_instruction_cut_to_the_width() -> None:
    assert step_line(step(3, "COPY pyproject.toml .")) == "  step  3/22  cached  0.00s  COPY pyproject.toml ."
    ran = BuildStep(17, 22, "RUN pip install " + "x " * 100, StepOutcome.RAN, 1.214)
    line = step_line(ran, width=60)
    assert line.startswith("  step 17/22  ran     1.21s  RUN pip install x x")
    assert len(line) == 60 and line.endswith("…")
    assert cut("abcdef", 4) == "abc…" and cut("abc", 4) == "abc"
    assert step_line(step(1, "ENV A=1 \\\n    B=2")).endswith("  ENV A=1 \\ B=2")


def test_consecutive_cached_steps_are_one_line_naming_their_numbers_and_instructions() -> None:
    steps = [step(1, "ARG BASE_IMAGE"), step(2, "FROM x"), *(step(n, f"COPY {n} .") for n in range(3, 7))]
    assert keywords(steps) == "ARG, FROM, COPY x4"
    assert cached_run_line(steps) == "  steps 1-6/22  cached  0.00s  ARG, FROM, COPY x4"
    assert cached_run_line(steps[:1]) == step_line(steps[0])


def test_an_unchanged_build_is_one_line_of_cached_steps() -> None:
    lines, output = collected()
    log = follow(recorded("cached"), output, Ticks())
    listed = "ARG, FROM, WORKDIR, COPY, ARG, ENV, RUN, CMD, LABEL x2"
    assert lines == [f"  steps 1-10/10  cached  10.00s  {listed}"]
    assert log.cached_steps == log.cacheable_steps == 8


def test_a_build_that_runs_shows_each_step_that_ran_with_its_time() -> None:
    lines, output = collected(width=72)
    follow(recorded("ran"), output, Ticks())
    assert lines[0] == "  steps 1-5/10  cached  5.00s  ARG, FROM, WORKDIR, COPY, ARG"
    assert lines[1] == "  step  6/10  ran     1.00s  ENV SHIPFLOW_SHA=${SHIPFLOW_SHA}"
    assert lines[2].startswith("  step  7/10  ran     1.00s  RUN printf 'building %s\\n'")
    assert len(lines[2]) == 72
    assert [line[:17] for line in lines[3:]] == [f"  step {n:>2}/10  ran" for n in range(8, 11)]
    assert not any("app.txt" in line or "building" in line.split("RUN")[0] for line in lines)


def test_a_failing_step_shows_its_own_output_without_verbose() -> None:
    lines, output = collected()
    log = follow(recorded("failed"), output, Ticks())
    assert lines == [
        "  steps 1-4/8  cached  4.00s  ARG, FROM, WORKDIR, COPY",
        "  step 5/8  failed  1.00s  RUN echo boom-output && exit 3",
        "    | boom-output",
    ]
    assert "non-zero code: 3" in log.error


def test_verbose_shows_dockers_whole_stream() -> None:
    lines, output = collected(verbose=True)
    follow(recorded("ran"), output, Ticks())
    assert lines == [line for message in recorded("ran") for line in docker_lines(message)]
    assert "Step 7/10 : RUN printf 'building %s\\n' \"$SHIPFLOW_SHA\" && ls -A /srv && sleep 1" in lines


def test_a_long_failed_output_shows_its_last_lines() -> None:
    assert indented_output([]) == ["    | (it printed nothing)"]
    shown = indented_output([f"line {n}" for n in range(250)], limit=200)
    assert shown[0] == "    | (50 earlier lines left out; --verbose shows them)"
    assert shown[1] == "    | line 50" and shown[-1] == "    | line 249" and len(shown) == 201


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_masked_progress_line_redrawn_in_place_and_cleared_at_the_end() -> None:
    terminal = FakeTerminal()
    lines: list[str] = []

    def line(text: str) -> None:
        terminal.write(text + "\n")
        lines.append(text)

    output = BuildOutput(line, terminal=terminal, mask=lambda text: text.replace("SHIPFLOW", "****"))
    follow(recorded("ran"), output, Ticks())
    drawn = terminal.getvalue()
    assert "\r  step  7/10  running" in drawn and "\x1b[K" in drawn
    assert "running" in drawn and "ENV ****_SHA" in drawn  # the redrawn line goes through the mask
    assert drawn.endswith("ran     2.00s  LABEL shipflow.app=shipflow-recorded-813a30\n")  # no progress left
    assert len(lines) == 6


def test_no_progress_line_without_a_terminal_or_in_ci() -> None:
    terminal = FakeTerminal()
    assert is_terminal(terminal, {"TERM": "xterm"})
    assert not is_terminal(terminal, {"TERM": "xterm", "CI": "true"})
    assert not is_terminal(terminal, {"TERM": "dumb"})
    assert not is_terminal(io.StringIO(), {})
    assert BuildOutput(print, terminal=terminal, verbose=True).live_line() is None


# --- the build function with a client that replays a recorded stream ------------------------------------


class ReplayingApi:
    """The part of the docker SDK's APIClient ``build_image`` uses, replaying a recorded stream."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.tagged: list[tuple[str, str, str]] = []

    def build(self, **options: Any) -> list[dict[str, Any]]:
        return [dict(message) for message in recorded(self.stream)]

    def inspect_image(self, reference: str) -> dict[str, Any]:
        return {"Id": reference, "Size": 181_043_200}

    def tag(self, image: str, repository: str, tag: str, force: bool) -> None:
        self.tagged.append((image, repository, tag))


class ReplayingClient:
    def __init__(self, stream: str) -> None:
        self.api = ReplayingApi(stream)


PLAN = BuildPlan(
    image="app",
    release="abc",
    version="0.0.0+abc",
    tags=("app:abc", "app:latest"),
    labels={},
    build_args={},
    dockerfile="Dockerfile",
    context=".",
)


def test_build_image_counts_the_cache_use_tags_and_reads_the_size() -> None:
    lines, output = collected()
    client = ReplayingClient("cached")
    result = build_image(client, PLAN, io.BytesIO(), output)
    assert result.fully_cached and (result.steps, result.cached_steps) == (8, 8)
    assert result.size == 181_043_200
    assert client.api.tagged == [(result.image_id, "app", "latest")]
    assert len(lines) == 1


def test_build_image_raises_dockers_error_after_showing_the_failing_steps_output() -> None:
    lines, output = collected()
    with pytest.raises(BuildError, match=r"docker build failed: The command .* returned a non-zero code: 3"):
        build_image(ReplayingClient("failed"), PLAN, io.BytesIO(), output)
    assert lines[-1] == "    | boom-output"


def test_the_built_line_names_the_image_id_its_size_the_cache_use_and_every_tag() -> None:
    result = BuildResult("sha256:" + "a" * 64, ("app:abc", "app:latest"), 2.04, 4, 4, 181_043_200)
    assert built_line(result, "staging") == (
        f"built {'a' * 12} (181.0 MB) for staging in 2.0s, every step from cache; tagged app:abc, app:latest"
    )
    partly = BuildResult("sha256:" + "b" * 64, ("app:abc",), 9.0, 8, 3, 0)
    assert "3/8 steps from cache" in built_line(partly, "development")


def test_recorded_streams_replay_to_the_same_log_every_time() -> None:
    first = read_build_stream(recorded("failed"), Ticks())
    assert first == read_build_stream(recorded("failed"), Ticks())


# --- the base image's builder script -------------------------------------------------------------------


def script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "build-base.sh"
    path.write_text("set -eu\n" + body)
    return ["bash", str(path)]


def test_the_base_script_shows_its_own_lines_and_keeps_debootstraps_until_it_fails(tmp_path: Path) -> None:
    lines, output = collected()
    ok = script(tmp_path, "echo 'base image: building b:1' >&2\necho 'I: Retrieving' >&2\necho b:1\n")
    assert run_base_script(ok, tmp_path, output) == 0
    assert lines == ["  base image: building b:1"]

    lines.clear()
    bad = script(
        tmp_path,
        "echo 'base image: building b:1'\necho 'E: no debs' >&2\necho 'base image: error: x'\nexit 4\n",
    )
    assert run_base_script(bad, tmp_path, output) == 4
    assert lines == ["  base image: building b:1", "    | E: no debs", "    | base image: error: x"]


def test_the_base_script_writes_straight_through_when_verbose(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    lines, output = collected(verbose=True)
    assert run_base_script(script(tmp_path, "echo 'I: Retrieving Packages' >&2\n"), tmp_path, output) == 0
    assert lines == [] and "I: Retrieving Packages" in capfd.readouterr().err
