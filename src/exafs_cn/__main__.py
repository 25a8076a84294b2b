"""``python -m exafs_cn`` runs the command line."""

from exafs_cn.cli import app

app(prog_name="exafs-cn")
