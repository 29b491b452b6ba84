"""What a command attached to the user's terminal over SSH relies on: the terminal's size, raw mode that is
always undone, and the lines of a remote command's output handed on as they arrive."""

from __future__ import annotations

import contextlib
import os
import termios
from collections.abc import Iterator

import pytest

from shipflow.hosts import terminal
from shipflow.hosts.ssh import LineSplitter

pytestmark = pytest.mark.unit


@contextlib.contextmanager
def a_terminal() -> Iterator[int]:
    """The user's side of a new pseudo-terminal (its other side closed afterwards)."""
    control, user = os.openpty()
    try:
        yield user
    finally:
        os.close(user)
        os.close(control)


def test_raw_mode_is_on_inside_and_the_terminal_is_as_before_afterwards_even_after_an_error() -> None:
    with a_terminal() as fd:
        before = termios.tcgetattr(fd)
        with pytest.raises(RuntimeError), terminal.raw(fd):
            local_flags = termios.tcgetattr(fd)[3]
            assert not local_flags & termios.ICANON and not local_flags & termios.ECHO
            assert not local_flags & termios.ISIG  # Ctrl-C is a byte for the command, not a signal here
            raise RuntimeError("the connection broke")
        assert termios.tcgetattr(fd) == before


def test_raw_mode_leaves_what_is_not_a_terminal_alone() -> None:
    read_end, write_end = os.pipe()
    try:
        with terminal.raw(read_end):
            pass
    finally:
        os.close(read_end)
        os.close(write_end)


def test_the_size_is_the_terminal_s_and_80x24_without_one() -> None:
    import fcntl
    import struct

    with a_terminal() as fd:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 132, 0, 0))
        assert terminal.size(fd) == (132, 40)
    read_end, write_end = os.pipe()
    try:
        assert terminal.size(read_end) == (80, 24)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_lines_are_handed_on_as_they_complete_and_a_last_partial_line_at_the_end() -> None:
    seen: list[str] = []
    lines = LineSplitter(seen.append)
    lines.feed(b"2026-12-01T10:00:00Z first\n2026-12-01T10:00:01Z sec")
    assert seen == ["2026-12-01T10:00:00Z first"]
    lines.feed(b"ond\n")
    assert seen[-1] == "2026-12-01T10:00:01Z second"
    lines.feed("caf\u00e9 ".encode()[:4])  # a character cut between two reads
    lines.feed("caf\u00e9 ".encode()[4:] + b"no newline")
    lines.end()
    assert seen[-1] == "caf\u00e9 no newline"


def test_a_server_terminal_s_line_ends_are_plain_newlines() -> None:
    seen: list[str] = []
    lines = LineSplitter(seen.append, terminal=True)
    lines.feed(b"one\r\ntwo\r\n")
    assert seen == ["one", "two"]
    assert lines.text(b"one\r\ntwo\r\n") == "one\ntwo\n"
