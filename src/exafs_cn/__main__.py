"""``python -m exafs_cn`` and the ``exafs-cn`` script: the command line.

The heavy imports (pandas, pyarrow, Larch, pymatgen) happen inside :func:`main`, so a
Ctrl-C while they load ends in one line and status 130, not a traceback.
"""

import sys


def main() -> None:
    try:
        from exafs_cn.cli import app

        app(prog_name="exafs-cn")
    except KeyboardInterrupt:
        _interrupted()
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
