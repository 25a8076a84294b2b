"""``python -m exafs_cn`` and the ``exafs-cn`` script: the command line.

The heavy imports (pandas, pyarrow, Larch, pymatgen) happen inside :func:`main`, so a
Ctrl-C while they load ends in one line and status 130, not a traceback.
"""

import sys


def main() -> None:
    import os
    import warnings

    # Figures are files here, never windows: no display needed (a user's MPLBACKEND wins).
    os.environ.setdefault("MPLBACKEND", "Agg")

    # A warning is one line too ("exafs-cn: warning: ..."), not Python's two with a source line.
    warnings.formatwarning = lambda message, category, *args, **kwargs: f"exafs-cn: warning: {message}\n"
    try:
        from exafs_cn.cli import app

        app(prog_name="exafs-cn")
    except KeyboardInterrupt:
        _interrupted()
    except OSError as error:  # a full disk, a name too long, a folder that went away: one line naming the path
        where = error.filename if error.filename is not None else "exafs-cn"
        print(f"exafs-cn: error: {where}: {error.strerror or error}", file=sys.stderr)
        sys.exit(1)
    except Exception as error:
        # A Ctrl-C while a C extension initialises (spglib, numpy) comes out as an
        # ImportError("initialization failed") raised from the KeyboardInterrupt.
        if not _caused_by_interrupt(error):
            raise
        _interrupted()


def _caused_by_interrupt(error: BaseException) -> bool:
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def _interrupted() -> None:
    print("exafs-cn: interrupted", file=sys.stderr)
    sys.exit(130)


if __name__ == "__main__":
    main()
