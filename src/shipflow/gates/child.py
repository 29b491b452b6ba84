"""A gate's child process (pytest, Locust): its output, stdout and stderr in order, handed on line by line
as it comes, so that a long run shows its progress and every line can pass through the mask."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path


def run_streaming(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], on_line: Callable[[str], None]
) -> int:
    """Run ``argv``, every line of its output (stdout and stderr, in order) passed to ``on_line``; its
    exit code."""
    with subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
    ) as child:
        assert child.stdout is not None  # noqa: S101  # nosec B101 - stdout=PIPE gives one
        for line in child.stdout:
            on_line(line.rstrip("\n"))
        return child.wait()
