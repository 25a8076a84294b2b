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
        print("exafs-cn: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
