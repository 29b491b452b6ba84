"""Docker's build stream read as steps, on streams recorded from this machine's docker (tests/images/streams)
and on small made-up ones for what a recording cannot show (split lines, pulls, a stream cut short)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from build_stream_support import Message, Ticks, recorded

from shipflow.images.stream import (
    BuildStreamReader,
    StepFinished,
    StepOutcome,
    StepOutput,
    StepStarted,
    docker_lines,
    read_build_stream,
)

pytestmark = pytest.mark.unit


def outcomes(messages: list[Message]) -> list[tuple[int, str]]:
    return [(step.number, step.outcome.value) for step in read_build_stream(messages, Ticks()).steps]


def test_a_fully_cached_build_has_every_step_from_the_cache() -> None:
    log = read_build_stream(recorded("cached"), Ticks())
    assert [step.number for step in log.steps] == list(range(1, 11))
    assert all(step.total == 10 for step in log.steps)
    assert {step.outcome for step in log.steps} == {StepOutcome.CACHED}
    # The ARG before FROM and FROM are never cacheable: they do not count towards the cache use.
    assert [step.cacheable for step in log.steps[:3]] == [False, False, True]
    assert (log.cacheable_steps, log.cached_steps) == (8, 8)
    assert log.steps[1].instruction == "FROM ${BASE_IMAGE}"
    assert log.image_id.startswith("sha256:") and len(log.image_id) == 71
    assert log.error == "" and log.failed_step is None
    assert all(step.output == () for step in log.steps)


def test_a_build_that_runs_keeps_each_steps_own_output_and_none_of_dockers_bookkeeping() -> None:
    log = read_build_stream(recorded("ran"), Ticks())
    # A new sha: the steps before ENV SHIPFLOW_SHA come from the cache, that one and the rest run.
    expected = [(n, "cached") for n in range(1, 6)] + [(n, "ran") for n in range(6, 11)]
    assert outcomes(recorded("ran")) == expected
    assert (log.cacheable_steps, log.cached_steps) == (8, 3)
    run = log.steps[6]
    assert run.instruction.startswith("RUN printf 'building %s\\n'")
    assert len(run.output) == 2
    assert run.output[0].startswith("building ") and run.output[1] == "app.txt"
    others = [step.output for step in log.steps if step is not run]
    assert others == [()] * 9  # "Running in", "Removing intermediate container", " ---> <id>" are docker's
    assert log.steps[-1].instruction.startswith("LABEL shipflow.app=")
    assert log.image_id.startswith("sha256:")


def test_a_failing_run_is_the_failed_step_with_its_output_and_dockers_error() -> None:
    log = read_build_stream(recorded("failed"), Ticks())
    assert outcomes(recorded("failed")) == [(1, "cached"), (2, "cached"), (3, "cached"), (4, "cached"),
                                            (5, "failed")]  # fmt: skip
    failed = log.failed_step
    assert failed is not None
    assert failed.instruction == "RUN echo boom-output && exit 3"
    assert failed.output == ("boom-output",)
    assert log.error == "The command '/bin/sh -c echo boom-output && exit 3' returned a non-zero code: 3"
    assert log.image_id == ""


def test_step_times_come_from_the_clock_given() -> None:
    now = [100.0]
    reader = BuildStreamReader(lambda: now[0])
    reader.feed({"stream": "Step 1/2 : FROM base"})
    reader.feed({"stream": "\n"})
    now[0] = 100.25
    reader.feed({"stream": "Step 2/2 : RUN make\n"})
    now[0] = 103.5
    reader.feed({"stream": "compiled\n"})
    now[0] = 104.0
    reader.feed({"aux": {"ID": "sha256:" + "b" * 64}})
    log = reader.finish()
    assert [step.seconds for step in log.steps] == [0.25, 3.75]
    assert log.steps[1].output == ("compiled",)


def test_events_say_what_started_printed_and_finished() -> None:
    reader = BuildStreamReader(Ticks())
    assert reader.feed({"stream": "Step 1/2 : FROM base"}) == []  # the line is not complete yet
    [started] = reader.feed({"stream": "\n"})
    assert isinstance(started, StepStarted) and started.step.instruction == "FROM base"
    reader.feed({"stream": "Step 2/2 : RUN make\n"})
    [printed] = reader.feed({"stream": "compiling x\n"})
    assert isinstance(printed, StepOutput) and printed.line == "compiling x"
    assert reader.running is not None and reader.running.last_output == "compiling x"
    [finished] = reader.feed({"aux": {"ID": "sha256:c"}})
    assert isinstance(finished, StepFinished) and finished.step.outcome is StepOutcome.RAN
    assert reader.running is None


def messages(*texts: str) -> Iterator[Message]:
    return ({"stream": text} for text in texts)


def test_a_line_split_across_messages_is_one_line_and_dockers_next_message_ends_an_unfinished_one() -> None:
    log = read_build_stream(
        messages(
            "Step 1/1 : RUN work\n",
            " ---> Running in 0123456789ab\n",
            "half a ",
            "line\r\nno newline at the end",
            "Removing intermediate container 0123456789ab\n",
            " ---> 0123456789ab\n",
        ),
        Ticks(),
    )
    assert log.steps[0].output == ("half a line", "no newline at the end")


def test_a_from_that_pulls_ran_and_shows_the_pull_without_its_progress_bars() -> None:
    log = read_build_stream(
        [
            {"stream": "Step 1/1 : FROM python:3.11\n"},
            {"status": "Pulling from library/python", "id": "3.11"},
            {"status": "Downloading", "id": "a1", "progress": "[==>   ]", "progressDetail": {"current": 1}},
            {"status": "Pull complete", "id": "a1", "progressDetail": {}},
            {"stream": " ---> 0123456789ab\n"},
        ],
        Ticks(),
    )
    [step] = log.steps
    assert step.outcome is StepOutcome.RAN and not step.cacheable
    assert step.output == ("3.11: Pulling from library/python", "a1: Pull complete")


def test_a_stream_cut_short_fails_the_step_that_was_running() -> None:
    reader = BuildStreamReader(Ticks())
    for message in messages("Step 1/2 : FROM base\n", "Step 2/2 : RUN make\n", "partial output\n"):
        reader.feed(message)
    log = reader.abort("connection reset")
    assert log.error == "connection reset"
    assert log.failed_step is not None and log.failed_step.output == ("partial output",)


def test_docker_lines_are_what_docker_build_prints() -> None:
    shown = [line for message in recorded("ran") for line in docker_lines(message)]
    assert shown[0] == "Step 1/10 : ARG BASE_IMAGE"
    assert " ---> Using cache" in shown and "app.txt" in shown
    assert shown[-1].startswith("Successfully tagged ")
    assert docker_lines({"status": "Pulling", "id": "3.11"}) == ["Pulling 3.11"]
    assert docker_lines({"aux": {"ID": "x"}}) == []
