"""This process's terminal, for a command attached to it over SSH (``ssh -t``): its size, raw mode while
the command runs (restored however it ends), and the loop that forwards keystrokes to the command and its
output to the screen.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

CHUNK = 64 * 1024
DEFAULT_SIZE = (80, 24)
POLL_SECONDS = 0.2


def size(fd: int) -> tuple[int, int]:
    """(columns, rows) of the terminal at ``fd``; 80x24 when it is not one."""
    try:
        columns, rows = os.get_terminal_size(fd)
    except OSError:
        return DEFAULT_SIZE
    return (columns or DEFAULT_SIZE[0], rows or DEFAULT_SIZE[1])


def kind() -> str:
    """The terminal type the command is told (``TERM``), as ssh does."""
    return os.environ.get("TERM") or "xterm"


@contextlib.contextmanager
def raw(fd: int) -> Iterator[None]:
    """The terminal at ``fd`` in raw mode inside the block (every key, Ctrl-C included, goes to the command
    as a byte), and back in the mode it had afterwards, whatever ends the block. Not a terminal: as is."""
    if not os.isatty(fd):
        yield
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def resizes() -> Iterator[threading.Event]:
    """An event set each time the terminal's size changes (SIGWINCH) inside the block; the handler only
    sets it, so nothing is sent from inside a signal handler. Outside the main thread: never set."""
    changed = threading.Event()
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGWINCH"):
        yield changed
        return

    def handler(signum: int, frame: Any) -> None:
        changed.set()

    previous = signal.signal(signal.SIGWINCH, handler)
    try:
        yield changed
    finally:
        signal.signal(signal.SIGWINCH, previous)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def pump(channel: Any, stdin_fd: int, stdout_fd: int, resize: Callable[[], None] | None = None) -> None:
    """Forward what is typed on ``stdin_fd`` to the paramiko ``channel`` and what the command prints to
    ``stdout_fd``, until the command's output ends (its end of file). ``resize`` is called in this loop
    (never in a signal handler) when the terminal's size changed."""
    with resizes() as changed:
        typing = True
        while True:
            watched: list[Any] = [channel, stdin_fd] if typing else [channel]
            ready = select.select(watched, [], [], POLL_SECONDS)[0]
            while channel.recv_ready():
                write_all(stdout_fd, channel.recv(CHUNK))
            while channel.recv_stderr_ready():
                write_all(stdout_fd, channel.recv_stderr(CHUNK))
            if typing and stdin_fd in ready:
                typed = os.read(stdin_fd, CHUNK)
                if typed:
                    channel.sendall(typed)
                else:  # the input ended (not a terminal): the command reads its end of file
                    channel.shutdown_write()
                    typing = False
            if changed.is_set() and resize is not None:
                changed.clear()
                resize()
            if (channel.eof_received or channel.closed) and not (
                channel.recv_ready() or channel.recv_stderr_ready()
            ):
                return
