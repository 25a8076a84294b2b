"""Whole runs: bad inputs are recorded and skipped, a killed run resumes to the same data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from conftest import names, write_cif_folder

from exafs_cn.datagen._dataset import SITE_KEY, Dataset
from exafs_cn.datagen._simulate import simulate

CLI = [sys.executable, "-m", "exafs_cn"]


def test_bad_inputs_are_recorded_and_the_run_goes_on(troublesome_folder, tmp_path):
    out = tmp_path / "data"
    report = simulate(str(troublesome_folder), str(out), elements=["Cu", "Ni"], workers=2, progress=False)
    data = Dataset(out)

    name = names(out)  # results are keyed by content; the file names are kept in provenance
    sites = data.sites("fast")
    assert sorted(zip(sites["material_id"].map(name), sites["absorber"])) == [("mp-19009.cif", "Ni"), ("mp-30.cif", "Cu")]
    assert dict(zip(sites["absorber"], sites["cn"])) == {"Cu": 12, "Ni": 6}
    assert set(sites["formula"]) == {"NiO", "Cu"}

    label_failures = data.label_failures().set_index(data.label_failures()["material_id"].map(name))["reason"]
    assert label_failures["corrupt.cif"].startswith("unreadable CIF")
    assert label_failures["nacl.cif"] == "no absorber: none of Sc,Ti,V,Cr,Mn,Fe,Co,Ni,Cu,Zn in the structure"

    feff_failures = data.failures("fast")
    assert list(feff_failures["material_id"].map(name)) == ["overlap.cif"]
    assert feff_failures["reason"].iloc[0].startswith("feff8l_pot:")
    assert report.failures_now == 1 and report.sites_run == 3
    assert report.structures == 5 and report.structures_failed == 2  # the corrupt CIF and NaCl are counted

    # A second run has nothing left to do: failures are not retried.
    again = simulate(str(troublesome_folder), str(out), elements=["Cu", "Ni"], workers=1, progress=False)
    assert again.sites_run == 0 and again.labelled_now == 0


def test_dataset_info_json(troublesome_folder, tmp_path):
    out = tmp_path / "data"
    simulate(str(troublesome_folder), str(out), elements=["Cu", "Ni"], workers=2, progress=False)
    done = subprocess.run([*CLI, "dataset", "info", str(out), "--json"], capture_output=True, text=True, check=True)
    info = json.loads(done.stdout)
    assert info["spectra"] == 2 and info["sites"] == 2
    assert info["per_element"] == {"Cu": {"12": 1}, "Ni": {"6": 1}}
    assert info["failures"] == 3  # corrupt CIF, no absorber, FEFF crash
    subprocess.run([*CLI, "dataset", "card", str(out), "--benchmark", str(tmp_path / "none.json")], check=True, capture_output=True)
    card = (out / "README.md").read_text()
    assert "| Cu | . | 1 | 1 |" in card and "| Ni | 1 | . | 1 |" in card  # columns CN 6, CN 12
    assert "feff: feff8l_pot: 1" in card and "structure: unreadable CIF" in card
    pairs = Dataset(out).pairs("fast")
    assert set(pairs["pair_cn"]) == {6, 12}
    assert all(len(k) == len(c) == 401 for k, c in zip(pairs["k"], pairs["chi"]))


def _default_ctrl_c() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_first_shard(proc: subprocess.Popen, out) -> None:
    """Block until the run in ``proc`` has written a spectrum shard under ``out``."""
    shard_dir = out / "spectra" / "fast"
    deadline = time.monotonic() + 120
    while not (shard_dir.is_dir() and any(shard_dir.glob("part-*.parquet"))):
        assert proc.poll() is None and time.monotonic() < deadline, "run ended before its first shard"
        time.sleep(0.02)


def _sorted_sites(folder) -> pd.DataFrame:
    sites = Dataset(folder).sites("fast").drop(columns=["feff_seconds"])
    return sites.sort_values(SITE_KEY).reset_index(drop=True)


@pytest.fixture(scope="module")
def uninterrupted(references, tmp_path_factory):
    """Five small structures (7 absorber sites) run without interruption: what a resumed run must equal."""
    folder = tmp_path_factory.mktemp("five")
    source = write_cif_folder(folder / "structures", references, ["Cu", "NiO", "ZnO", "Fe", "Fe3O4"])
    reference = folder / "uninterrupted"
    args = ["simulate", "--source", str(source), "--shard-size", "1", "--workers", "1", "--no-progress"]
    subprocess.run([*CLI, *args, "--out", str(reference)], check=True, capture_output=True)
    expected = _sorted_sites(reference)
    assert len(expected) == 7  # one site each, three in magnetite
    return source, expected


def _assert_same_sites(folder, expected: pd.DataFrame) -> None:
    got = _sorted_sites(folder)
    arrays = ["energy", "mu", "k", "chi"]
    pd.testing.assert_frame_equal(got.drop(columns=arrays), expected.drop(columns=arrays))
    for column in arrays:
        for a, b in zip(got[column], expected[column]):
            np.testing.assert_array_equal(a, b)


def test_killed_run_resumes_to_the_same_data(uninterrupted, tmp_path):
    source, expected = uninterrupted
    args = ["simulate", "--source", str(source), "--shard-size", "1", "--workers", "1", "--no-progress"]
    resumed = tmp_path / "resumed"
    proc = subprocess.Popen([*CLI, *args, "--out", str(resumed)], start_new_session=True)
    wait_for_first_shard(proc, resumed)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(Dataset(resumed).sites("fast"))
    assert 1 <= partial < 7, "the kill must land mid-run for this test to mean anything"

    subprocess.run([*CLI, *args, "--out", str(resumed)], check=True, capture_output=True)
    _assert_same_sites(resumed, expected)


def test_unknown_preset_and_element_are_one_line_errors(tmp_path):
    for extra in (["--preset", "nope"], ["--elements", "Cu,Xx"]):
        done = subprocess.run([*CLI, "simulate", "--out", str(tmp_path / "d"), "--limit", "1", *extra], capture_output=True, text=True)
        assert done.returncode != 0
        assert done.stderr.strip().count("\n") == 0 and done.stderr.startswith("exafs-cn: error:")
        assert "Traceback" not in done.stderr


def test_missing_source_folder(tmp_path):
    done = subprocess.run([*CLI, "simulate", "--source", str(tmp_path / "nowhere"), "--out", str(tmp_path / "d")], capture_output=True, text=True)
    assert done.returncode != 0 and "not a folder" in done.stderr and "Traceback" not in done.stderr


def test_ctrl_c_stops_cleanly_and_resumes_to_the_same_data(uninterrupted, tmp_path):
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it."""
    source, expected = uninterrupted
    out = tmp_path / "data"
    args = [*CLI, "simulate", "--source", str(source), "--out", str(out), "--shard-size", "1", "--workers", "2", "--no-progress"]
    # A terminal's process has Ctrl-C at its default; a test runner started in the background
    # (nohup, `cmd &` in a script) has it ignored, and the run would inherit that.
    proc = subprocess.Popen(args, start_new_session=True, stderr=subprocess.PIPE, text=True, preexec_fn=_default_ctrl_c)
    wait_for_first_shard(proc, out)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines() == [f"exafs-cn: interrupted; finished shards in {out} are kept, run the same command to resume"]
    assert Dataset(out).failures("fast").empty, "interrupted FEFF runs are not recorded as failures"
    assert len(Dataset(out).sites("fast")) < 7, "the interrupt must land mid-run for this test to mean anything"
    subprocess.run(args, check=True, capture_output=True)
    _assert_same_sites(out, expected)


def test_bad_arguments_are_usage_errors_before_any_work(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    out = tmp_path / "never"
    cases = {
        "--limit 0": ["--limit", "0"],
        "--limit -1": ["--limit", "-1"],
        "--workers 0": ["--workers", "0"],
        "--shard-size 0": ["--shard-size", "0"],
        '--elements ""': ["--elements", ""],
    }
    for name, options in cases.items():
        done = subprocess.run([*CLI, "simulate", "--out", str(out), *options], capture_output=True, text=True)
        assert done.returncode == 2 and "Traceback" not in done.stderr, name
        assert not out.exists(), name
    done = subprocess.run([*CLI, "simulate", "--out", str(a_file), "--limit", "1"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip() == f"exafs-cn: error: --out {a_file}: exists and is not a folder"
    assert a_file.read_text() == "not a folder"


def test_damaged_dataset_files_are_one_line_naming_the_file(troublesome_folder, tmp_path):
    out = tmp_path / "data"
    simulate(str(troublesome_folder), str(out), elements=["Cu"], workers=1, progress=False)
    shard = next((out / "spectra" / "fast").glob("part-*.parquet"))
    intact = shard.read_bytes()
    damaged = {
        shard: intact[: len(intact) // 2],
        out / "labels.parquet": b"",
        out / "provenance.json": b'{"source": ',
    }
    for path, content in damaged.items():
        before = path.read_bytes()
        path.write_bytes(content)
        reader = ["dataset", "card", str(out), "--benchmark", str(tmp_path / "none.json")] if path.suffix == ".json" else ["dataset", "info", str(out)]
        for command in (reader, ["simulate", "--source", str(troublesome_folder), "--out", str(out), "--elements", "Cu"]):
            done = subprocess.run([*CLI, *command], capture_output=True, text=True)
            lines = done.stderr.strip().splitlines()
            assert done.returncode == 2 and len(lines) == 1, (path.name, command[0], done.stderr[-500:])
            assert str(path) in lines[0] and "damaged" in lines[0], lines
        path.write_bytes(before)
    assert subprocess.run([*CLI, "dataset", "info", str(out)], capture_output=True).returncode == 0


def test_the_formula_comes_from_the_structure_not_the_file_name(references, tmp_path):
    from exafs_cn.datagen._simulate import label_structure
    from exafs_cn.datagen._structures import read_folder

    folder = tmp_path / "copies"
    folder.mkdir()
    (folder / "sample_A.cif").write_text(references["NiO"].text)
    (folder / "batch7.cif").write_text(references["NiO"].text)
    formulas = {row["formula"] for record in read_folder(folder) for row in label_structure(record)[0]}
    assert formulas == {"NiO"}


def test_ctrl_c_while_starting_is_one_line(tmp_path):
    # Deterministic: the interrupt lands while the command line's modules are imported.
    script = (
        "import builtins, sys\n"
        "real = builtins.__import__\n"
        "def interrupted(name, *args, **kwargs):\n"
        "    if name == 'exafs_cn.cli':\n"
        "        raise KeyboardInterrupt\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = interrupted\n"
        "from exafs_cn.__main__ import main\n"
        "sys.argv = ['exafs-cn', 'dataset', 'info']\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 130 and done.stderr.strip() == "exafs-cn: interrupted"
    # A C extension interrupted while it initialises raises ImportError from the KeyboardInterrupt.
    chained = script.replace("raise KeyboardInterrupt", "raise ImportError('initialization failed') from KeyboardInterrupt()")
    done = subprocess.run([sys.executable, "-c", chained], capture_output=True, text=True)
    assert done.returncode == 130 and done.stderr.strip() == "exafs-cn: interrupted"
    # Any other failure at start-up is not passed off as an interruption.
    broken = script.replace("raise KeyboardInterrupt", "raise ImportError('no such module')")
    done = subprocess.run([sys.executable, "-c", broken], capture_output=True, text=True)
    assert done.returncode == 1 and "no such module" in done.stderr
    # And as a person would: Ctrl-C early in a real start.
    proc = subprocess.Popen([*CLI, "dataset", "info", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.4)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert "Traceback" not in stderr
    # 130: caught; -2: the interpreter itself had not started yet; 2: the command ran first.
    assert proc.returncode in (130, -2, 2), stderr


def test_results_are_keyed_by_content_not_by_file_name_or_folder_spelling(references, structures, tmp_path, monkeypatch):
    folder = tmp_path / "structures"
    folder.mkdir()
    (folder / "X.cif").write_text(references["NiO"].text)
    structures["Fe"].to(filename=str(folder / "X.vasp"), fmt="poscar")
    out = tmp_path / "data"

    first = simulate(str(folder), str(out), workers=1, progress=False)
    labels = Dataset(out).labels()
    assert first.sites_run == 2 and labels["material_id"].nunique() == 2  # same stem, two structures
    assert sorted(labels["cn"]) == [6, 8] and set(labels["formula"]) == {"NiO", "Fe"}

    (folder / "X.cif").rename(folder / "renamed.cif")
    for spelling in (str(folder.resolve()) + "/", str(folder)):
        again = simulate(spelling, str(out), workers=1, progress=False)
        assert again.labelled_now == 0 and again.sites_run == 0, spelling
    monkeypatch.chdir(folder.parent)
    assert simulate("structures", str(out), workers=1, progress=False).sites_run == 0  # relative, from elsewhere
    assert "renamed.cif" in names(out).values()

    structures["Cu"].to(filename=str(folder / "X.vasp"), fmt="poscar")  # an edit: new content, new work
    (folder / "broken.cif").write_text("data_broken\n_cell_length_a 3.6\nnot a CIF loop\n")
    edited = simulate(str(folder), str(out), workers=1, progress=False)
    assert edited.labelled_now == 2 and edited.sites_run == 1 and edited.structures_failed == 1
    (folder / "broken.cif").write_text(references["ZnO"].text)  # the failed file, fixed: tried again
    fixed = simulate(str(folder), str(out), workers=1, progress=False)
    assert fixed.labelled_now == 1 and fixed.sites_run == 1 and fixed.structures_failed == 0

    other = tmp_path / "elsewhere" / "structures"  # another folder with the same name: its own work
    other.mkdir(parents=True)
    (other / "renamed.cif").write_text(references["TiH2"].text)
    assert simulate(str(other), str(out), workers=1, progress=False).sites_run == 1
    assert set(Dataset(out).sites("fast")["absorber"]) == {"Ni", "Fe", "Cu", "Zn", "Ti"}


def test_a_dataset_folder_holds_one_kind_of_source(references, tmp_path):
    folder = write_cif_folder(tmp_path / "structures", references, ["Cu"])
    out = tmp_path / "data"
    simulate(str(folder), str(out), workers=1, progress=False)
    done = subprocess.run([*CLI, "simulate", "--out", str(out), "--limit", "1"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == f"exafs-cn: error: {out}: holds data from CIF/POSCAR files, not the bundled Materials Project set; use a new dataset folder"

    fetched = tmp_path / "mp"  # a fetch-mp dataset: its provenance names MP's own spectra
    fetched.mkdir()
    (fetched / "provenance.json").write_text(json.dumps({"source": "materials-project-api"}))
    done = subprocess.run([*CLI, "simulate", "--source", str(folder), "--out", str(fetched)], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"exafs-cn: error: {fetched}: holds data from Materials Project's own spectra (fetch-mp), not CIF/POSCAR files; use a new dataset folder"
    )
