"""Round three of hostile and careless inputs (issue 30): a test per case, on real small inputs.

Every hostile file is made here, by the test. Where a case could write or run something, a
canary file that must stay absent says whether it did.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from larch import Group
from larch.io import read_ascii, read_xdi
from typer.testing import CliRunner

import exafs_cn
from exafs_cn.cli import app
from exafs_cn.learn._train import write_manifest
from exafs_cn.measured._predict import shipped_models_dir
from exafs_cn.measured._readers import SpectrumFileError, read_file, read_spectra
from exafs_cn.models._files import SavedModel

MEASURED = Path(__file__).parent / "data" / "experimental"
CU = MEASURED / "data__Cu__cu_metal_rt.xdi"
FE = MEASURED / "data__Fe__Fe_metal_rt_01.xdi"
NIO = MEASURED / "examples__xafsdata__AthenaProjectFiles__NiO__NiO.000.dat"
runner = CliRunner()


def _run(models: Path | None, *args: str, env: dict | None = None):
    """predict --json: (exit code, stderr lines, stdout objects: every stdout line must be JSON)."""
    options = ["--models-dir", str(models)] if models is not None else []
    result = runner.invoke(app, ["predict", *args, *options, "--json"], env=env)
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result.exit_code, errors, lines


def _perl_project(path: Path, groups: list[dict], gzipped: bool = False) -> Path:
    """An Athena project in Demeter's Perl layout; each group's lines as given (raw text where a
    test wants to inject one), else NiO's data."""
    nio = read_ascii(str(NIO))
    lines = ["# Athena project file -- Demeter version 0.9.26", "# written by exafs-cn's tests", ""]
    for index, group in enumerate(groups):
        x = "(" + ",".join(f"'{v}'" for v in nio.energy) + ")"
        y = "(" + ",".join(f"'{v}'" for v in nio.mu) + ")"
        default_args = f"('label', 'nio{index}', 'bkg_z', 'Ni')"
        lines.append(f"$old_group = {group.get('old_group', repr(f'g{index}'))};")
        lines.append(f"@args = {group.get('args', default_args)};")
        if group.get("x", True):
            lines.append(f"@x = {group['x'] if isinstance(group.get('x'), str) else x};")
        lines.append(f"@y = {group.get('y_text', y)};")
        lines += ["[record] # ", ""]
    lines += ["@journal = ();", "", "1;", ""]
    text = "\n".join(lines)
    if gzipped:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


# 1. A crafted Athena project evaluates nothing.
@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzipped"])
def test_a_crafted_athena_project_writes_and_reads_nothing(models, tmp_path, gzipped):
    canary = tmp_path / "canary.txt"
    site = tmp_path / "venv" / "lib" / "site-packages"
    site.mkdir(parents=True)
    pth = site / "evil.pth"
    attacks = [
        {"old_group": f"float64(1).tofile('{canary}', sep=' ', format='written %s')"},
        {"old_group": f"float64(1).tofile('{pth}', sep=' ', format='import os; os.system(\"touch {canary}\") %s')"},
        {"args": "('label', open('/etc/hostname').read().strip(), 'bkg_z', 'Ni')"},
        {"x": f"(__import__('os').system('touch {canary}'))"},
        {"args": "('label', [].__class__.__base__.__subclasses__(), 'bkg_z', 'Ni')"},
        {},  # a good group after the hostile ones
    ]
    path = _perl_project(tmp_path / "hostile.prj", attacks, gzipped)
    code, errors, lines = _run(models, str(path))
    api = exafs_cn.predict(str(path), models_dir=models)
    assert not canary.exists() and not pth.exists()
    assert code == 1 and len(lines) == len(attacks) == len(api)
    for line in lines[:-1]:
        assert "nothing in a project is evaluated" in line["error"] and str(path) in line["error"]
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else None
    assert not hostname or all(hostname not in json.dumps(line) for line in lines if "error" not in line)
    (nio,) = exafs_cn.predict(str(NIO), models_dir=models)  # the same data from its own file
    assert lines[-1]["group"] == "nio5" and lines[-1]["cn"] == nio.cn  # the good group is answered
    assert isinstance(api[-1], exafs_cn.Prediction) and api[-1].cn == nio.cn


# 2. --mu/--energy expressions compute and nothing else.
ATTACKS = [
    "i0[0].tofile('{canary}', sep=' ', format='x'); mutrans",
    "mutrans.tofile('{canary}')",
    "mutrans.dump('{canary}')",
    "mutrans.__class__.__base__.__subclasses__()",
    "().__class__.__bases__[0].__subclasses__()",
    "save('{canary}', mutrans)",
    "fromfile('/etc/passwd')",
    "open('{canary}', 'w').write('x')",
    "__import__('os').system('touch {canary}')",
    "log.__globals__",
    "getattr(mutrans, 'tofile')('{canary}')",
    "[x for x in (1,)]",
    "(lambda: 1)()",
    "f'{{mutrans}}'",
    "mutrans if 1 else i0",
    "exp(mutrans, out=i0)",
    "log(*mutrans)",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_an_expression_that_reaches_for_the_system_is_refused_in_one_line(models, tmp_path, attack):
    canary = tmp_path / "canary.txt"
    expression = attack.format(canary=canary)
    code, errors, lines = _run(models, str(CU), str(NIO), "--mu", expression)
    (api,) = exafs_cn.predict(str(CU), mu=expression, models_dir=models)
    assert not canary.exists()
    assert code == 1 and len(errors) == 2 and str(CU) in errors[0] and "--mu/--energy" in errors[0]
    reasons = ("not allowed", "may be called", "no column named", "not an expression")
    assert any(reason in errors[0] for reason in reasons), errors[0]
    assert isinstance(api, exafs_cn.Failure) and "--mu/--energy" in api.error


def test_an_arithmetic_expression_still_computes(models):
    (answer,) = exafs_cn.predict(str(CU), mu="log(i0/itrans)", models_dir=models)
    (same,) = exafs_cn.predict(str(CU), mu="mutrans", models_dir=models)
    assert isinstance(answer, exafs_cn.Prediction) and answer.cn == same.cn and answer.probabilities == same.probabilities


# 3. Every file a models folder holds is a regular file of bounded size.
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_calibration_file_that_is_a_pipe_or_dev_zero_is_one_line(models, tmp_path, kind):
    folder = tmp_path / "models"
    shutil.copytree(models / "Cu", folder / "Cu")
    target = folder / "measured_calibration.json"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to("/dev/zero")
    result = subprocess.run(
        [sys.executable, "-m", "exafs_cn", "predict", str(CU), "--models-dir", str(folder)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(errors) == 1 and "measured_calibration.json" in errors[0]
    assert "not a regular file" in errors[0]


def _with_member(model: Path, path: Path, name: str, megabytes: int) -> Path:
    """``model`` with an extra numbered member of ``megabytes`` of zeros (a few hundred KB packed)."""
    shutil.copy(model, path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive, archive.open(name, "w", force_zip64=True) as member:
        block = bytes(2**20)
        for _ in range(megabytes):
            member.write(block)
    return path


# 4. A model file's members: only those referenced are unpacked, and the total is bounded.
def test_an_unreferenced_large_member_is_never_unpacked(models, tmp_path):
    folder = tmp_path / "models" / "Cu"
    folder.mkdir(parents=True)
    path = _with_member(models / "Cu" / "rf.model", folder / "rf.model", "99999.npy", 400)
    assert path.stat().st_size < 10 * 2**20

    def peak_mb(model: Path) -> int:
        script = (
            "import resource, sys; from exafs_cn.models._files import SavedModel; "
            f"SavedModel.load({str(model)!r}); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"
        )
        return int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)

    # The 400 MB member would be held whole (and once more as its array) if it were read.
    assert peak_mb(path) < peak_mb(models / "Cu" / "rf.model") + 100


def test_a_model_that_unpacks_past_the_bound_is_refused_in_one_line(models, tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(models / "Cu", folder / "Cu")
    _with_member(models / "Cu" / "rf.model", folder / "Cu" / "rf.model", "99999.npy", 520)
    code, errors, lines = _run(folder, str(CU))
    assert code == 1 and len(errors) == 1 and "unpacks to" in errors[0] and "rf.model" in errors[0]


# 5. A home folder that cannot be written does not stop a prediction.
def test_predict_answers_where_the_home_folder_cannot_be_made(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    # Larch makes ~/.local/share for any user but root; the test runs as whoever it is, so the
    # uid Larch checks is set to a user's. HOME lies under a file: no folder can be made there.
    script = (
        "import os, sys; os.getuid = lambda: 1000; "
        f"sys.argv = ['exafs-cn', 'predict', {str(CU)!r}, '--json']; "
        "from exafs_cn.__main__ import main; main()"
    )
    env = {**os.environ, "HOME": str(blocker / "home")}
    env.pop("MPLCONFIGDIR", None)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["cn"] == 12 and not result.stderr.strip()
    assert blocker.read_text() == "" and blocker.is_file()


# 6. Predictions from several threads leave sys.stdout as it was.
def test_predictions_from_four_threads_leave_stdout_alone(models):
    before = sys.stdout
    answers: list = []

    def work():
        answers.extend(exafs_cn.predict([str(CU), str(NIO)], models_dir=models))

    for _ in range(3):
        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sys.stdout is before
    (cu, nio) = exafs_cn.predict([str(CU), str(NIO)], models_dir=models)
    assert sorted({(a.element, a.cn) for a in answers}) == [("Cu", cu.cn), ("Ni", nio.cn)] and len(answers) == 24


# 7. --plot never replaces a file the run did not write.
def test_plot_never_replaces_a_users_file(models, tmp_path):
    plots = tmp_path / "plots"
    plots.mkdir()
    mine = plots / f"{CU.name}.png"
    mine.write_text("a user's figure")
    result = runner.invoke(app, ["predict", str(CU), "--models-dir", str(models), "--plot", str(plots)])
    assert result.exit_code == 0 and mine.read_text() == "a user's figure"
    assert (plots / f"{CU.name}-2.png").stat().st_size > 1000
    assert "exists (not written by this run)" in result.stderr and f"{CU.name}-2.png" in result.stderr


# 8. One result per input, in order, whatever the inputs are.
def test_a_list_of_paths_and_a_group_gives_one_result_each_in_order(models):
    nio = read_ascii(str(NIO))
    group = Group(energy=nio.energy, mu=nio.mu, filename="nio-group")
    results = exafs_cn.predict([str(CU), group, str(FE)], models_dir=models)
    expected = [(r.element, r.cn) for r in exafs_cn.predict([str(CU), str(NIO), str(FE)], models_dir=models)]
    assert [(r.file, r.element, r.cn) for r in results] == [(str(CU), *expected[0]), ("nio-group", *expected[1]), (str(FE), *expected[2])]


# 9. Two columns of one name: refused, naming both.
def test_two_columns_of_one_name_are_refused_naming_both(models, tmp_path):
    xdi = tmp_path / "dup.xdi"
    xdi.write_text(CU.read_text().replace("# Column.4: mutrans", "# Column.4: itrans"))
    data = read_xdi(str(CU))
    plain = tmp_path / "dup.dat"
    np.savetxt(plain, np.column_stack([data.energy, data.mutrans, data.mutrans * 0.5]), header="energy mu mu")
    code, errors, lines = _run(models, str(xdi), str(plain), str(NIO))
    assert code == 1 and len(errors) == 2
    assert str(xdi) in errors[0] and "columns 3 and 4 are both named 'itrans'" in errors[0]
    assert str(plain) in errors[1] and "columns 2 and 3 are both named 'mu'" in errors[1]
    assert lines[2]["cn"] is not None
    (answer,) = exafs_cn.predict(str(plain), mu="mu_col3", models_dir=models)  # naming the column meant is taken
    assert isinstance(answer, exafs_cn.Prediction) and answer.cn is not None


# 10. Nothing a model file sets may print.
def test_a_model_that_would_print_is_refused_at_load(models, tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(models / "Cu", folder / "Cu")
    saved = SavedModel.load(folder / "Cu" / "rf.model")
    saved.estimator.estimator_.set_params(verbose=100)
    saved.save(folder / "Cu" / "rf.model")
    code, errors, lines = _run(folder, str(CU))
    assert code == 1 and len(errors) == 1 and "verbose is 100" in errors[0] and "rf.model" in errors[0]
    assert len(lines) == 1 and "error" in lines[0]  # the only stdout line is JSON


# 11. One bad group of a project costs that group only.
def test_one_bad_athena_group_costs_that_group_only(models, tmp_path):
    path = _perl_project(tmp_path / "mixed.prj", [{"x": False}, {"y_text": "('1.0', 'abc', '2.0')"}, {}])
    code, errors, lines = _run(models, str(path))
    assert code == 1 and [line.get("group") for line in lines] == ["nio0", "nio1", "nio2"]
    assert "no @x" in lines[0]["error"] and "'abc', not a number" in lines[1]["error"] and lines[2]["cn"] is not None


# 12. Arrays of two dimensions are refused, not averaged.
def test_two_dimensional_arrays_are_refused(models):
    data = read_xdi(str(CU))
    (answer,) = exafs_cn.predict(energy=np.stack([data.energy] * 2), mu=np.stack([data.mutrans] * 2), models_dir=models)
    assert isinstance(answer, exafs_cn.Failure) and "energy is a 2x" in answer.error and "1-D" in answer.error


# 13. A foreign shard or labels file: one line naming it.
@pytest.mark.parametrize("which", ["shard", "labels"])
def test_dataset_info_on_a_foreign_parquet_file_is_one_line(data_slice, tmp_path, which):
    import pyarrow as pa
    import pyarrow.parquet as pq

    copy = tmp_path / "data"
    shutil.copytree(data_slice, copy)
    target = copy / "labels.parquet" if which == "labels" else sorted((copy / "spectra" / "fast").glob("part-*"))[0]
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), target)
    result = runner.invoke(app, ["dataset", "info", str(copy)])
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(errors) == 1 and str(target) in errors[0] and "not an exafs-cn file" in errors[0]


# 14. Energies all (or nearly all) equal.
def test_a_scan_of_equal_energies_is_one_line(models, tmp_path):
    data = read_xdi(str(CU))
    energy = np.full(data.energy.size, 8979.0)
    energy[:3] = [8979.0, 8979.0, 8980.0]
    path = tmp_path / "flat.dat"
    np.savetxt(path, np.column_stack([energy, data.mutrans]), header="energy mu")
    code, errors, lines = _run(models, str(path), str(NIO))
    assert code == 1 and len(errors) == 1 and "distinct energies" in errors[0] and "please report" not in errors[0]
    assert lines[1]["cn"] is not None


# 15. A neighbour model whose class names do not fit its outputs is refused at load.
def test_a_neighbour_model_with_too_few_class_names_is_refused_at_load(tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(shipped_models_dir() / "Cu", folder / "Cu")
    saved = SavedModel.load(folder / "Cu" / "neighbour.model")
    saved.metadata["neighbour_classes"] = ["O"]
    saved.save(folder / "Cu" / "neighbour.model")
    code, errors, lines = _run(folder, str(CU))
    assert code == 1 and len(errors) == 1 and "neighbour.model" in errors[0] and "neighbour_classes name 1" in errors[0]


# 16, 17. Unusable models folders: said once (CLI exit 2), a Failure per input (API), never raised.
def test_an_unusable_models_folder_is_said_once(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    for args, env in (
        (["--models-dir", str(tmp_path / "missing")], None),
        (["--models-dir", str(a_file)], None),
        ([], {"EXAFS_CN_MODELS": str(tmp_path / "nowhere")}),
    ):
        result = runner.invoke(app, ["predict", str(CU), str(NIO), *args], env=env)
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(errors) == 1 and "models folder" in errors[0], (args, errors)
        assert "does not exist" in errors[0] or "not a folder" in errors[0]
    results = exafs_cn.predict([str(CU), str(NIO)], models_dir=5)
    assert [type(r).__name__ for r in results] == ["Failure", "Failure"] and "models_dir 5 is a int" in results[0].error
    (missing,) = exafs_cn.predict(str(CU), models_dir=tmp_path / "missing")
    assert "does not exist" in missing.error and str(CU) in missing.error


# 18. A missing model names the input.
def test_no_model_for_an_element_names_the_input(models, tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(models / "Cu", folder / "Cu")
    code, errors, lines = _run(folder, str(NIO), str(CU))
    assert code == 1 and len(errors) == 1 and errors[0].startswith(f"exafs-cn: error: {NIO}: no 'rf' model for Ni")
    assert lines[1]["cn"] is not None


# 19. --element: one usage error, atomic numbers taken.
def test_element_option_is_checked_once_and_takes_atomic_numbers(models, tmp_path):
    result = runner.invoke(app, ["predict", str(CU), str(NIO), "--element", "Xx", "--models-dir", str(models)])
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(errors) == 1 and "--element Xx" in errors[0] and not result.stdout.strip()
    data = read_xdi(str(CU))
    unnamed = tmp_path / "unnamed.dat"
    np.savetxt(unnamed, np.column_stack([data.energy, data.mutrans]), header="energy mu")
    code, errors, lines = _run(models, str(unnamed), "--element", "29")
    assert code == 0 and lines[0]["element"] == "Cu" and lines[0]["element_source"] == "option"
    assert exafs_cn.predict(str(unnamed), element=29, models_dir=models)[0].element == "Cu"


# 20. Any iterable of paths; anything else named by its type.
def test_any_iterable_of_paths_is_taken_and_other_types_are_named(models, tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    shutil.copy(CU, folder / "a.xdi")
    shutil.copy(NIO, folder / "b.dat")
    from_glob = exafs_cn.predict(sorted(folder.glob("*")), models_dir=models)
    from_generator = exafs_cn.predict((p for p in sorted(folder.glob("*"))), models_dir=models)
    assert [r.element for r in from_glob] == [r.element for r in from_generator] == ["Cu", "Ni"]
    assert [r.cn for r in from_glob] == [r.cn for r in from_generator] and None not in [r.cn for r in from_glob]
    for value, kind in ((str(CU).encode(), "bytes"), ({"file": str(CU)}, "dict"), (3.5, "float")):
        (failure,) = exafs_cn.predict(value, models_dir=models)
        assert isinstance(failure, exafs_cn.Failure) and f"a {kind} is not an input" in failure.error


# 21. keV arrays through the API are read as files are.
def test_kev_arrays_are_converted_with_a_note(models):
    data = read_xdi(str(CU))
    (kev,) = exafs_cn.predict(energy=data.energy / 1000, mu=data.mutrans, models_dir=models)
    (ev,) = exafs_cn.predict(energy=data.energy, mu=data.mutrans, models_dir=models)
    assert kev.cn == ev.cn and kev.probabilities == ev.probabilities and kev.element == "Cu"
    assert any("keV" in note for note in kev.notes)


# 22. Decimal commas.
@pytest.mark.parametrize("separator", ["\t", ";", " "], ids=["tab", "semicolon", "space"])
def test_decimal_commas_with_another_separator_are_read(models, tmp_path, separator):
    data = read_xdi(str(CU))
    path = tmp_path / "komma.txt"
    rows = [separator.join(f"{v:.6f}".replace(".", ",") for v in row) for row in zip(data.energy, data.i0, data.itrans)]
    path.write_text(f"# energy{separator}i0{separator}it\n" + "\n".join(rows) + "\n")
    (spectrum,) = read_spectra(path)
    assert "decimal commas read as decimal points" in spectrum.notes
    np.testing.assert_allclose(spectrum.energy[:3], data.energy[:3], atol=1e-5)
    code, errors, lines = _run(models, str(path), "--element", "Cu")
    (columns,) = exafs_cn.predict(str(CU), mu="log(i0/itrans)", models_dir=models)
    assert code == 0 and lines[0]["cn"] == columns.cn


def test_commas_as_both_decimal_sign_and_separator_are_said_exactly(tmp_path):
    data = read_xdi(str(CU))
    path = tmp_path / "ambiguous.csv"
    path.write_text("\n".join(f"{e:.2f},{m:.4f}".replace(".", ",") for e, m in zip(data.energy, data.mutrans)) + "\n")
    with pytest.raises(SpectrumFileError, match="commas serve both as decimal signs and as separators"):
        read_spectra(path)


# 23. Say what a file is.
def test_utf16_and_gzipped_xdi_are_named_for_what_they_are(tmp_path):
    utf16 = tmp_path / "scan16.xdi"
    utf16.write_bytes(CU.read_text().encode("utf-16"))
    packed = tmp_path / "scan.xdi.gz"
    packed.write_bytes(gzip.compress(CU.read_bytes()))
    with pytest.raises(SpectrumFileError, match="UTF-16 text; save it as UTF-8"):
        read_file(utf16)
    with pytest.raises(SpectrumFileError, match=r"gzip-compressed an XDI file: unpack it first \(gunzip\)"):
        read_file(packed)


# 24. A long expression is cut, and the reason given.
def test_a_huge_expression_is_cut_in_the_message_with_its_reason(models):
    expression = "mutrans+" * 10_000 + "mutrans"
    code, errors, lines = _run(models, str(CU), "--mu", expression)
    assert code == 1 and len(errors) == 1 and len(errors[0]) < 400
    assert "80,007 characters, more than the 500" in errors[0]


# 25. A structure file that cannot be labelled is named by its file.
def test_label_failures_name_the_structure_file(tmp_path):
    from exafs_cn.datagen._simulate import label_structure
    from exafs_cn.datagen._structures import read_folder

    folder = tmp_path / "cifs"
    folder.mkdir()
    (folder / "corrupt.cif").write_text("data_broken\n_cell_length_a 3.6\nthis is not a CIF loop\n")
    (record,) = read_folder(folder)
    _, failures = label_structure(record)
    assert record.material_id.startswith("file-") and failures[0]["source"] == "corrupt.cif"
    assert failures[0]["reason"].startswith("unreadable CIF")  # the reason stays one that counts group


# 26. The manifest: a stray unreadable file does not stop it, and its header is this run's.
def test_the_manifest_survives_a_stray_model_and_describes_this_run(models, tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(models, folder)
    (folder / "Zn").mkdir()
    (folder / "Zn" / "rf.model").write_bytes(b"not a model")
    written = [folder / "Cu" / "rf.model"]
    said: list[str] = []
    manifest = json.loads(write_manifest(folder, written, log=said.append).read_text())
    stray = next(entry for entry in manifest["models"] if entry["file"] == "Zn/rf.model")
    assert "not a readable exafs-cn model file" in stray["error"] and len(said) == 1 and "Zn/rf.model" in said[0]
    cu = SavedModel.load(written[0])
    assert manifest["exafs_cn"] == cu.package_version and manifest["augment_copies"] == cu.metadata["augment_copies"] == 2


# 27. A foil of another element: said, not silently dropped.
def test_a_foil_of_another_element_says_its_s02_was_not_used():
    from exafs_cn.measured._fit import S02Choice

    choice = S02Choice(foil_element="Fe", foil_value=0.8, foil_source="+- 0.05 from foil fe.xdi")
    assert choice.for_element("Fe") == (0.8, "+- 0.05 from foil fe.xdi")
    value, source = choice.for_element("Cu")
    assert value == 0.9 and "the foil is Fe, not Cu, so its S02 was not used" in source


@pytest.mark.slow
def test_fit_with_a_foil_of_another_element_says_so(tmp_path):
    result = runner.invoke(app, ["predict", str(CU), "--fit", "--foil", str(FE)])
    assert result.exit_code == 0, result.output
    assert "the foil is Fe, not Cu, so its S02 was not used" in result.stdout


# 28. An L3 edge near a 3d K edge, told by its L2 edge.
def _l3_from_real_scan(path: Path, l2_step: float) -> Path:
    """The real Cu foil scan moved so that its edge sits at the La L3 edge (5483 eV, 18 eV above
    V K), with a second step ``l2_step`` edge steps high where La's L2 edge follows (+408 eV)."""
    from larch.xafs import pre_edge

    data = read_xdi(str(CU))
    group = Group(energy=data.energy, mu=data.mutrans.copy())
    pre_edge(group)
    energy = data.energy - group.e0 + 5483.0
    mu = data.mutrans + l2_step * group.edge_step * (0.5 + np.arctan((energy - 5891.0) / 2.0) / np.pi)
    np.savetxt(path, np.column_stack([energy, mu]), header="energy mu")
    return path


def test_an_l3_edge_near_a_k_edge_is_told_by_its_l2_step(tmp_path):
    with pytest.raises(SpectrumFileError, match=r"second edge step .* La L2 edge follows its L3 edge .* not a V K edge"):
        read_spectra(_l3_from_real_scan(tmp_path / "la_l3.dat", l2_step=0.45))
    (k_edge,) = read_spectra(_l3_from_real_scan(tmp_path / "no_l2.dat", l2_step=0.0))  # no second step: a K edge
    assert k_edge.element == "V" and k_edge.element_source == "edge"


def test_a_folder_given_as_a_file_is_named_as_a_folder(tmp_path):
    """The descriptor check (regular_files) must not turn the folder message into "not a regular file"."""
    with pytest.raises(SpectrumFileError, match=r"is a folder, not a spectrum file"):
        read_file(tmp_path)
