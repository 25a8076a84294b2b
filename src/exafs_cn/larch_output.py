"""What Larch prints while it works for us, caught per thread without taking stdout from anyone.

Larch's readers print warnings ("nans seen") and its path code reads ``sys.stdout.encoding``;
``--json`` promises JSON alone on stdout, and a notebook's captured stdout may have no
encoding. ``contextlib.redirect_stdout`` swaps ``sys.stdout`` for the whole process, so two
threads predicting at once restore each other's stand-ins and leave ``sys.stdout``
replaced. Here one router takes ``sys.stdout``'s place while any thread captures: writes
from a capturing thread go to that thread's buffer, everyone else's to the stdout that was
there before, and the last capture to end puts that stdout back.

Examples
--------
>>> import sys
>>> before = sys.stdout
>>> with captured() as lines:
...     print("  NOTE: nans seen!!")
>>> lines()
('NOTE: nans seen!!',)
>>> sys.stdout is before
True
"""

from __future__ import annotations

import contextlib
import io
import sys
import threading
from collections.abc import Callable, Iterator


class _Buffer(io.StringIO):
    """A stand-in with an encoding: Larch's ``bytes2str`` asks ``sys.stdout`` for one."""

    encoding = "utf-8"


class _Router(io.TextIOBase):
    """``sys.stdout`` while some thread captures: each capturing thread's writes to its buffer."""

    def __init__(self, original):
        self.original = original
        self.buffers: dict[int, _Buffer] = {}

    def _target(self):
        return self.buffers.get(threading.get_ident()) or self.original

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target(), "encoding", None) or "utf-8"

    def write(self, text: str) -> int:
        target = self._target()
        return target.write(text) if target is not None else len(text)

    def flush(self) -> None:
        target = self._target()
        if target is not None:
            target.flush()

    def writable(self) -> bool:
        return True


_lock = threading.Lock()
_router: _Router | None = None


@contextlib.contextmanager
def captured() -> Iterator[Callable[[], tuple[str, ...]]]:
    """Catch what this thread prints inside the block; yields a function giving its lines
    (stripped, non-empty, at most 120 characters each) once the block has ended."""
    global _router
    buffer = _Buffer()
    ident = threading.get_ident()
    outer: _Buffer | None = None
    lines: list[str] = []
    try:
        # Registered inside the try: a Ctrl-C landing between the registration and the block
        # must still reach the finally below, or this thread's prints would stay captured.
        with _lock:
            if _router is None:
                _router = _Router(sys.stdout)
                sys.stdout = _router
            outer = _router.buffers.get(ident)  # a capture inside a capture: restored after
            _router.buffers[ident] = buffer
        yield lambda: tuple(lines)
    finally:
        with _lock:
            router = _router
            if router is not None and router.buffers.get(ident) is buffer:
                if outer is not None:
                    router.buffers[ident] = outer
                else:
                    del router.buffers[ident]
            if router is not None and not router.buffers:
                if sys.stdout is router:  # someone else may have replaced it since: theirs stays
                    sys.stdout = router.original
                _router = None
        lines.extend(line.strip()[:120] for line in buffer.getvalue().splitlines() if line.strip())


__all__ = ["captured"]
