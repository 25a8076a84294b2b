"""The errors exafs-cn raises on purpose, under one base class.

Every expected problem (bad input, a damaged or refused file, a missing dataset, an
unreachable scheduler) is an ``ExafsCnError`` whose message is one line naming what
is wrong and where; the command line prints it as such and exits non-zero, and a caller
can catch the base class instead of a list. Each subclass also derives from the builtin
it has always been (``ValueError`` for bad values, ``RuntimeError`` for failed runs), so
code that caught those still does.

Examples
--------
>>> from exafs_cn.exceptions import ExafsCnError
>>> from exafs_cn.measured.readers import SpectrumFileError
>>> issubclass(SpectrumFileError, ExafsCnError) and issubclass(SpectrumFileError, ValueError)
True
"""

from __future__ import annotations


class ExafsCnError(Exception):
    """Base of every error exafs-cn raises on purpose; its message is one line."""


def one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception as one line of at most ``limit`` characters, for the one-line errors."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:limit]


__all__ = ["ExafsCnError", "one_line"]
