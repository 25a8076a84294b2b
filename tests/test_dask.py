"""Dask: the same data from a LocalCluster as from the process pool; lost workers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from conftest import key_of, write_cif_folder
from threadpoolctl import threadpool_info, threadpool_limits

from exafs_cn.datagen._dataset import SITE_KEY, Dataset
from exafs_cn.datagen._simulate import simulate
from exafs_cn.features import featurize_many
from exafs_cn.learn._corpus import pair_spectra
from exafs_cn.parallel import SchedulerError, map_unordered

ARRAYS = ["energy", "mu", "k", "chi"]


def _sites(folder: Path) -> pd.DataFrame:
    sites = Dataset(folder).sites("fast").drop(columns=["feff_seconds"])
    return sites.sort_values(SITE_KEY).reset_index(drop=True)


def _assert_same_sites(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.drop(columns=ARRAYS), b.drop(columns=ARRAYS))
    for column in ARRAYS:
        for x, y in zip(a[column], b[column]):
            np.testing.assert_array_equal(x, y)


def test_local_cluster_gives_the_same_dataset_as_the_process_pool(references, tmp_path):
    source = write_cif_folder(tmp_path / "structures", references, ["Cu", "NiO", "ZnO", "Fe"])
    simulate(str(source), str(tmp_path / "pool"), workers=2, progress=False)
    report = simulate(str(source), str(tmp_path / "dask"), scheduler="local:2", progress=False)
    assert report.sites_run == 4 and report.failures_now == 0
    _assert_same_sites(_sites(tmp_path / "dask"), _sites(tmp_path / "pool"))
    pd.testing.assert_frame_equal(Dataset(tmp_path / "dask").labels(), Dataset(tmp_path / "pool").labels())


def test_local_cluster_featurizes_like_the_process_pool(data_slice):
    _, spectra = pair_spectra(Dataset(data_slice))
    spectra = spectra[:40]
    pool, _ = featurize_many(spectra, ("r", "k"), workers=2, chunk_size=8, progress=False)
    dask, errors = featurize_many(spectra, ("r", "k"), scheduler="local:2", chunk_size=8, progress=False)
    assert errors == [None] * len(spectra)
    for name in ("r", "k"):
        np.testing.assert_array_equal(dask[name], pool[name])


def _die_once(marker: str) -> int:
    """Kill this worker process the first time it runs (a real worker loss)."""
    path = Path(marker)
    if not path.exists():
        path.write_text("died once")
        os._exit(1)
    return 42


def _always_die(_: int) -> int:
    os._exit(1)


def _square(x: int) -> int:
    return x * x


def test_lost_worker_task_is_retried_then_recorded(tmp_path):
    marker = str(tmp_path / "marker")
    results = list(map_unordered(_die_once, [marker], scheduler="local:2", progress=False, retries=2))
    assert results == [42], "the task whose worker died was run again on another worker"

    items = [("ok", 3), ("die", 0), ("ok", 4)]

    outcome = list(
        map_unordered(
            _run_item, items, scheduler="local:2", progress=False, retries=1, on_error=lambda item, exc: ("lost", type(exc).__name__)
        )
    )
    assert sorted(map(str, outcome)) == sorted(map(str, [9, 16, ("lost", "KilledWorker")]))


def _run_item(item):
    kind, value = item
    return _always_die(value) if kind == "die" else _square(value)


def _blas_threads(_: int) -> int:
    """The most threads any loaded BLAS would use in this process."""
    return max(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")


def test_workers_run_blas_on_one_thread():
    """One worker per core already fills the cores: a worker's LAPACK calls (pre_edge's
    polynomial fits) must not start a thread per core on top, in the pool or on Dask."""
    with threadpool_limits(limits=4, user_api="blas"):
        assert _blas_threads(0) == 4
        assert set(map_unordered(_blas_threads, range(4), workers=2, progress=False)) == {1}
        assert set(map_unordered(_blas_threads, range(4), scheduler="local:2", progress=False)) == {1}


def test_bad_or_unreachable_scheduler_is_a_clear_error(tmp_path):
    with pytest.raises(SchedulerError, match="cannot reach"):
        list(map_unordered(_square, [1], scheduler="tcp://127.0.0.1:9", progress=False))
    out = tmp_path / "never"
    done = subprocess.run(
        [sys.executable, "-m", "exafs_cn", "simulate", "--limit", "1", "--out", str(out), "--scheduler", "local:x"],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "expected local:N" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists(), "nothing is written for a bad scheduler"


def test_worker_killed_mid_simulation_leaves_a_complete_dataset(references, tmp_path):
    """Kill a Dask worker process while it runs FEFF; the run and its resume still
    give exactly the data of an undisturbed run."""
    source = write_cif_folder(tmp_path / "structures", references, ["Cu", "NiO", "ZnO", "Fe", "Fe3O4", "NaZn13"])
    simulate(str(source), str(tmp_path / "pool"), workers=2, progress=False)
    expected = _sites(tmp_path / "pool")

    killed: list[int] = []

    def kill_a_worker_running_feff() -> None:
        me = psutil.Process()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for proc in me.children(recursive=True):
                try:
                    if proc.name().startswith("feff8l_"):
                        worker = proc.parent()
                        worker.kill()
                        killed.append(worker.pid)
                        return
                except psutil.Error:
                    continue
            time.sleep(0.01)

    killer = threading.Thread(target=kill_a_worker_running_feff)
    killer.start()
    simulate(str(source), str(tmp_path / "dask"), scheduler="local:2", shard_size=2, progress=False)
    killer.join()
    assert killed, "a worker was killed mid-run"
    simulate(str(source), str(tmp_path / "dask"), scheduler="local:2", progress=False)  # resume
    assert Dataset(tmp_path / "dask").failures("fast").empty
    _assert_same_sites(_sites(tmp_path / "dask"), expected)


def test_resume_retries_sites_lost_with_their_worker(references, tmp_path):
    """A 'worker' failure says nothing about the site: the next run tries it again,
    and the spectrum it gets supersedes the failure row."""
    source = write_cif_folder(tmp_path / "structures", references, ["Cu", "NiO"])
    out = tmp_path / "data"
    simulate(str(source), str(out), elements=["Ni"], workers=1, progress=False)  # labels + NiO only
    data = Dataset(out)
    cu, nio = key_of(out, "mp-30.cif"), key_of(out, "mp-19009.cif")
    lost = {"material_id": cu, "absorber": "Cu", "site_index": 0, "preset": "fast", "stage": "worker", "reason": "worker lost or task error: KilledWorker"}
    data.append_shard("fast", [], [lost])
    assert (cu, "Cu", 0) not in data.done_keys("fast")

    report = simulate(str(source), str(out), workers=1, progress=False)
    assert report.sites_run == 1 and report.failures_now == 0
    assert data.failures("fast").empty
    assert set(data.sites("fast")["material_id"]) == {cu, nio}
