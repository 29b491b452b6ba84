"""Work that runs beside the next steps of a deploy (a read that can wait for the boot, a stop that can
overlap the bookkeeping): started at once in a thread, its result or its error taken where it is needed."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")


class Background(Generic[T]):
    """``work()`` running in a thread from the moment this is made; :meth:`result` waits for it."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], T]) -> None:
        try:
            self._value = work()
        except BaseException as error:  # handed to whoever waits for the result
            self._error = error

    def result(self) -> T:
        """The work's value once it is done; its exception, raised here, when it failed."""
        while self._thread.is_alive():
            self._thread.join(0.2)  # short waits: Ctrl-C still reaches the main thread
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
