"""torch and lightgbm are extras: without them their models are skipped in one line, never an ImportError."""

from __future__ import annotations

import importlib.util

import pytest
from typer.testing import CliRunner

from exafs_cn.cli import app
from exafs_cn.learn._models import MissingExtraError, make_model, missing_extra

HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.mark.skipif(HAS_TORCH, reason="torch is installed here; the Python 3.13 check of .ci/run runs this")
def test_without_torch_the_net_is_one_line_saying_how_to_install_it(data_slice, tmp_path):
    with pytest.raises(MissingExtraError, match=r"pip install 'exafs-cn\[nn\]'"):
        make_model("nn")
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--data",
            str(data_slice),
            "--models-dir",
            str(tmp_path / "m"),
            "--models",
            "nn",
            "--elements",
            "Ni",
            "--no-progress",
        ],
    )
    assert "nn: skipped: the nn model needs torch, which is not installed: pip install 'exafs-cn[nn]'" in result.stderr
    assert "Traceback" not in result.output and result.exit_code == 1  # nothing else was asked for: no model written


@pytest.mark.torch
def test_with_torch_the_net_is_built():
    assert missing_extra("nn") is None and make_model("nn") is not None


def test_models_without_an_extra_need_nothing_optional():
    assert all(missing_extra(name) is None for name in ("rf", "et", "bagging", "hgb"))
