"""Writing files atomically: a temporary file beside the target, then a rename over it.

Every file exafs-cn writes (dataset shards and labels, model files, caches, reports,
figures, results) goes through :func:`write_atomic`, so a killed run or a full disk leaves
the old file or none, never half of one. The temporary's name starts with ``.`` and holds
``.tmp`` (``Dataset.remove_stale_temporaries`` finds leftovers by that), and ends with the
target's suffix, because numpy and matplotlib choose a format (or add a suffix) by it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

#: Glob of the temporaries :func:`write_atomic` makes (for finding ones a killed run left).
TEMPORARY_GLOB = ".*.tmp*"


def write_atomic(path: Path | str, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it to ``path``.

    Parameters
    ----------
    path : Path or str
        The file to (re)place. Its folder must exist.
    write : callable
        Writes the content to the path it is given.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_atomic(folder / "a.txt", lambda tmp: tmp.write_text("done")).read_text()
    'done'
    >>> sorted(p.name for p in folder.iterdir())  # no temporary left behind
    ['a.txt']
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes files private; datasets and models are shared
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_new_atomic(path: Path | str, write: Callable[[Path], object]) -> Path:
    """Like :func:`write_atomic`, but never replaces a file: FileExistsError where ``path`` exists.

    The finished temporary is hard-linked to ``path`` (which fails if anything is there,
    even a file another process made a moment ago), then removed.

    Examples
    --------
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "mine.txt").write_text("a user's")
    >>> write_new_atomic(folder / "mine.txt", lambda tmp: tmp.write_text("ours"))
    Traceback (most recent call last):
    ...
    FileExistsError: ...
    >>> (folder / "mine.txt").read_text()
    "a user's"
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o644)
        write(tmp)
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(text: str, path: Path | str) -> Path:
    """Write ``text`` (UTF-8) atomically, creating the folder if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(obj: Mapping, path: Path | str) -> Path:
    """Write ``obj`` as indented, key-sorted JSON atomically, creating the folder if needed."""
    return write_text_atomic(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", path)
