"""Larch made importable where the home folder is missing, unset or read-only.

``import larch`` makes ``$HOME/.local/share`` for any user but root, and fails with
"Permission denied" where it cannot (batch nodes, containers with a read-only or absent
home): every command would exit before its first answer. Where that folder neither exists
nor can be made, Larch is imported once with ``HOME`` pointing at a fresh temporary folder,
and ``HOME`` is put back at once; Larch keeps the paths it computed then, and nothing else
in the process sees the change.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def _share_usable() -> bool:
    """Whether ``~/.local/share`` exists, or the nearest folder above it that does can take it."""
    try:
        share = Path.home() / ".local" / "share"
    except (RuntimeError, KeyError, OSError):  # no HOME and no password-file entry
        return False
    try:
        if share.is_dir():
            return True
        existing = next(p for p in share.parents if p.exists())
        return existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)
    except (OSError, StopIteration):
        return False


def prepare_larch_home() -> None:
    """Import Larch's site configuration with a usable home where the real one is not (see module)."""
    if "larch" in sys.modules or os.name != "posix" or os.getuid() == 0 or _share_usable():
        return
    saved = {key: os.environ.get(key) for key in ("HOME", "SUDO_USER")}
    os.environ["HOME"] = tempfile.mkdtemp(prefix="exafs-cn-home-")
    # matplotlib (figures) would warn in two lines and make a folder of its own for its cache.
    os.environ.setdefault("MPLCONFIGDIR", os.environ["HOME"])
    os.environ.pop("SUDO_USER", None)  # Larch would take that user's home instead
    try:
        import larch.site_config  # noqa: F401 -- computes Larch's user folders from HOME, once
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


__all__ = ["prepare_larch_home"]
