"""Reading a file that someone else made: a regular file of bounded size, or one line why not.

Every file exafs-cn reads that it did not write in the same run (a measured scan, a model
file, a models folder's calibration) is opened here. The checks are made on the open
descriptor, not on the name before opening, so a name swapped for a FIFO or a link to
``/dev/zero`` between a check and the read cannot slip through: a FIFO is opened without
blocking and refused, a device is refused, and nothing past ``max_bytes`` is read.

Examples
--------
>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> (folder / "a.json").write_text('{"exponent": 1.0}')
17
>>> read_regular(folder / "a.json", 1024)
b'{"exponent": 1.0}'
>>> read_regular(folder / "missing.json", 1024)
Traceback (most recent call last):
...
exafs_cn.exceptions.NotRegularFileError: no such file
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from exafs_cn.exceptions import NotRegularFileError


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words (``a pipe``, ``a folder``, ...)."""
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a pipe"),
        (stat.S_ISCHR, "a terminal or device"),
        (stat.S_ISBLK, "a disk"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a file")


def describe_size(size: int) -> str:
    """A size in the unit a person reads, exact enough that 64 MB + 1 byte is not "64 MB"."""
    if size < 2**20:
        return f"{size:,} bytes"
    if size % 2**20 == 0:
        return f"{size // 2**20} MB"
    mib = size / 2**20
    return f"{mib:.1f} MB ({size:,} bytes)" if mib < 1000 else f"{size / 2**30:.1f} GB"


def open_regular(path: Path | str, max_bytes: int, limit: str = "allowed") -> int:
    """An open read-only descriptor of ``path``, a regular file of at most ``max_bytes``.

    Raises NotRegularFileError with the reason (no such file, a pipe, a device, too large,
    permission denied); ``limit`` ends the too-large reason ("more than the 64 MB <limit>").
    The caller closes the descriptor.
    """
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise wait for one forever.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise NotRegularFileError("no such file", "missing") from None
    except IsADirectoryError:
        raise NotRegularFileError("is a folder, not a file", "folder") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket
            raise NotRegularFileError("not a regular file (a socket)", "special") from None
        raise NotRegularFileError(f"cannot read: {exc.strerror or exc}", "unreadable") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):  # Linux opens a folder read-only
            raise NotRegularFileError("is a folder, not a file", "folder")
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFileError(f"not a regular file ({file_kind(info.st_mode)})", "special")
        if info.st_size > max_bytes:
            raise NotRegularFileError(f"{describe_size(info.st_size)}, more than the {describe_size(max_bytes)} {limit}", "too large")
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: Path | str, max_bytes: int, limit: str = "allowed") -> bytes:
    """The bytes of ``path``, a regular file of at most ``max_bytes``; NotRegularFileError otherwise.

    Reads at most ``max_bytes + 1`` bytes whatever the file claims, so a file that grows
    while it is read is refused too.
    """
    fd = open_regular(path, max_bytes, limit)
    try:
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise NotRegularFileError(f"cannot read: {exc.strerror or exc}", "unreadable") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise NotRegularFileError(f"more than the {describe_size(max_bytes)} {limit}", "too large")
    return data


__all__ = ["NotRegularFileError", "describe_size", "file_kind", "open_regular", "read_regular"]
