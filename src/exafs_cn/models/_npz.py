"""Plain-array files beside the models (``.npz``): written atomically, read as files someone else may have made."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from exafs_cn.exceptions import ReferencesFileError
from exafs_cn.regular_files import NotRegularFileError, read_regular


def read_npz(path: Path, max_bytes: int, what: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file at ``path``: a regular file of at most ``max_bytes``, read
    with ``allow_pickle=False`` (an object array is refused, never unpickled).

    Raises
    ------
    ReferencesFileError
        One line: ``<path>: unusable <what> (<reason>)``.
    """
    try:
        raw = read_regular(path, max_bytes)
        with np.load(io.BytesIO(raw), allow_pickle=False) as stored:
            return {name: np.asarray(stored[name]) for name in stored.files}
    except (NotRegularFileError, OSError, ValueError, TypeError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise ReferencesFileError(f"{path}: unusable {what} ({' '.join(str(exc).split())[:100]})") from None


def write_npz(path: Path, arrays: dict[str, np.ndarray], compressed: bool = False) -> Path:
    """Write ``arrays`` to ``path`` atomically (``numpy.savez``, or ``savez_compressed``)."""
    from exafs_cn.atomic import write_atomic

    def write(tmp: Path) -> None:
        buffer = io.BytesIO()
        (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
        tmp.write_bytes(buffer.getvalue())

    return write_atomic(path, write)


__all__ = ["read_npz", "write_npz"]
