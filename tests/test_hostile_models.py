"""Model files tampered by the test itself: each is refused in one line before a tree is walked."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from crafted import RunsCode, rewrite_members, rewrite_model_json  # tests/crafted.py
from typer.testing import CliRunner

from exafs_cn.cli import app
from exafs_cn.models import _archive as model_archive
from exafs_cn.models._checks import ALLOWED_TYPES
from exafs_cn.models._files import MODEL_SUFFIX, ModelFileError, SavedModel

MEASURED = Path(__file__).parent / "data" / "experimental"
CU = MEASURED / "data__Cu__cu_metal_rt.xdi"
NIO = MEASURED / "examples__xafsdata__AthenaProjectFiles__NiO__NiO.000.dat"
runner = CliRunner()


def _first_tree(saved: SavedModel):
    return saved.estimator.estimator_.estimators_[0].tree_


def _set_nodes(tree, **changes) -> None:
    """Write into the C structure what a crafted file would make the loader build."""
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    for field, (index, value) in changes.items():
        nodes[field][index] = value
    tree.__setstate__({**state, "nodes": nodes})


def _inner_node(tree) -> int:
    return int(np.flatnonzero(tree.children_left != -1)[1])


def _child_far_away(tree) -> None:
    _set_nodes(tree, left_child=(0, 10**12))


def _feature_far_away(tree) -> None:
    _set_nodes(tree, feature=(0, 10**9))


def _feature_just_past_the_inputs(tree) -> None:
    _set_nodes(tree, feature=(_inner_node(tree), tree.n_features + 74))


def _root_its_own_child(tree) -> None:
    _set_nodes(tree, left_child=(0, 0), right_child=(0, 0))


def _child_points_back(tree) -> None:
    inner = _inner_node(tree)
    _set_nodes(tree, right_child=(inner, 0))


def _leaf_value_not_a_number(tree) -> None:
    state = tree.__getstate__()
    values = state["values"].copy()
    values[-1, 0, 0] = np.nan
    tree.__setstate__({**state, "values": values})


TAMPERINGS = {
    "child index 1e12": (_child_far_away, "child index outside"),
    "split feature 1e9": (_feature_far_away, "splits on input"),
    "split feature past the inputs": (_feature_just_past_the_inputs, "splits on input"),
    "root its own child": (_root_its_own_child, "child index outside"),
    "child before its parent": (_child_points_back, "not after its parent"),
    "leaf value NaN": (_leaf_value_not_a_number, "leaf values are not finite"),
}


@pytest.fixture()
def crafted(models, tmp_path) -> Path:
    """A models folder with a good Ni model and a Cu model each test tampers with."""
    folder = tmp_path / "crafted"
    for element in ("Ni", "Cu"):
        (folder / element).mkdir(parents=True)
        shutil.copy(models / element / f"rf{MODEL_SUFFIX}", folder / element / f"rf{MODEL_SUFFIX}")
    return folder


@pytest.mark.parametrize("case", list(TAMPERINGS))
def test_a_tampered_tree_is_refused_in_one_line_and_the_other_files_are_answered(case, crafted):
    tamper, message = TAMPERINGS[case]
    path = crafted / "Cu" / f"rf{MODEL_SUFFIX}"
    saved = SavedModel.load(path)
    tamper(_first_tree(saved))
    saved.save(path)

    with pytest.raises(ModelFileError, match=message):
        SavedModel.load(path)
    result = runner.invoke(app, ["predict", str(CU), str(NIO), "--models-dir", str(crafted), "--json"])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and str(path) in errors[0] and "refused to load" in errors[0] and message in errors[0], errors
    cu, ni = (json.loads(line) for line in result.stdout.splitlines())
    assert cu["file"] == str(CU) and "error" in cu
    assert ni["element"] == "Ni" and ni["cn"] is not None


def _first_tree_entry(document):
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict) and node.get("object") == "sklearn.tree._tree.Tree":
            return node
        stack.extend(node.values() if isinstance(node, dict) else node if isinstance(node, list) else [])
    raise AssertionError("no tree in the file")


def _more_outputs_than_class_counts(document):
    _first_tree_entry(document)["call"]["list"][2] = 50
    return document


def test_a_tree_with_more_outputs_than_class_counts_is_refused_before_it_is_built(crafted):
    """scikit-learn's Tree constructor would read 50 class counts from an array of one."""
    path = crafted / "Cu" / f"rf{MODEL_SUFFIX}"
    rewrite_model_json(path, _more_outputs_than_class_counts)
    with pytest.raises(ModelFileError, match="refused to load: a tree's class counts"):
        SavedModel.load(path)


def test_a_file_holding_a_type_we_never_write_is_refused_before_it_is_built(crafted):
    """Our model files are made of a short list of classes; an SVC (or anything else) is refused."""
    from sklearn.svm import SVC

    path = crafted / "Cu" / f"rf{MODEL_SUFFIX}"
    saved = SavedModel.load(path)
    rng = np.random.default_rng(0)
    saved.estimator = SVC().fit(rng.normal(size=(40, 3)), np.repeat([8, 12], 20))
    model_archive.dump(saved._as_dict(), path, ALLOWED_TYPES | {"sklearn.svm._classes.SVC"})
    assert "sklearn.svm._classes.SVC" in model_archive.class_names(path) - ALLOWED_TYPES
    with pytest.raises(
        ModelFileError, match=r"refused to load: it holds types exafs-cn never writes \(sklearn.svm._classes.SVC\)"
    ):
        SavedModel.load(path)
    with pytest.raises(ModelFileError, match="cannot be saved: sklearn.svm._classes.SVC is not in the allowed list"):
        saved.save(path)


def _nested(document, depth: int):
    """The document with a value nested ``depth`` lists deep added, written as text (json.dumps would recurse)."""
    text = json.dumps(document)
    return text[:-2] + ',["x",' + '{"list":[' * depth + "1" + "]}" * depth + "]]}"


HAND_MADE = {
    "values nested 100 deep": (lambda d: _nested(d, 100), "nested deeper than"),
    "values nested 100,000 deep": (lambda d: _nested(d, 100_000), "not a readable exafs-cn model file"),
    "a form this format never writes": (lambda d: {"pickle": "gASV"}, "not one this format writes"),
    "an array it does not hold": (lambda d: {"array": 10**6}, "does not hold"),
    "a function as a class": (lambda d: {"object": "builtins.eval", "call": {"list": ["1"]}}, r"never writes \(builtins.eval\)"),
    "a type as a value": (lambda d: {"type": "os.system"}, r"never writes \(os.system\)"),
}


@pytest.mark.parametrize("case", list(HAND_MADE))
def test_hand_made_model_json_is_refused_in_one_line(case, crafted):
    change, message = HAND_MADE[case]
    path = crafted / "Cu" / f"rf{MODEL_SUFFIX}"
    rewrite_model_json(path, change)
    with pytest.raises(ModelFileError, match=message) as raised:
        SavedModel.load(path)
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


def test_an_array_of_python_objects_is_refused_without_unpickling(crafted, tmp_path):
    """``np.load`` of an object array would unpickle it; the loader reads arrays with allow_pickle=False."""
    path = crafted / "Cu" / f"rf{MODEL_SUFFIX}"
    marker = tmp_path / "ran"
    buffer = io.BytesIO()
    np.save(buffer, np.array([RunsCode(marker)], dtype=object), allow_pickle=True)
    rewrite_members(path, lambda members: {**members, "0.npy": buffer.getvalue()})
    with pytest.raises(ModelFileError, match="not a plain numpy array"):
        SavedModel.load(path)
    assert not marker.exists()


def test_a_model_file_of_release_0_2_says_to_retrain(models, tmp_path):
    folder = tmp_path / "old"
    (folder / "Cu").mkdir(parents=True)
    (folder / "Cu" / "rf.skops").write_bytes(b"PK\x05\x06" + bytes(18))
    result = runner.invoke(app, ["predict", str(CU), "--models-dir", str(folder)])
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(errors) == 1, result.output
    assert "Cu/rf.skops: a model file of exafs-cn 0.2" in errors[0] and "retrain" in errors[0]


def test_tampered_settings_are_refused_before_larch_sees_them(crafted):
    path = crafted / "Cu" / f"rf{MODEL_SUFFIX}"
    saved = SavedModel.load(path)
    saved.settings = {**saved.settings, "nfft": 10**12}  # Larch would try to allocate it
    saved.save(path)
    with pytest.raises(ModelFileError, match="unusable settings.*nfft"):
        SavedModel.load(path)
    with pytest.raises(ModelFileError, match="unusable settings.*nfft"):  # the description alone, as a pool worker reads it
        SavedModel.load(path, estimator=False)


def test_pool_workers_read_a_models_description_and_the_main_process_refuses_its_tampered_tree(crafted):
    """A pool worker processes spectra and reads a model file's fields but not its estimator; the main
    process loads the trees to predict and refuses a tampered one, for each of its spectra in one line."""
    path = crafted / "Cu" / f"rf{MODEL_SUFFIX}"
    saved = SavedModel.load(path)
    _child_far_away(_first_tree(saved))
    saved.save(path)
    header = SavedModel.load(path, estimator=False)
    assert header.estimator is None and (header.processing, header.feature_set) == (saved.processing, saved.feature_set)

    inputs = [str(CU), str(NIO)] * 8  # 16 inputs: enough for a pool of two workers
    result = runner.invoke(app, ["predict", *inputs, "--models-dir", str(crafted), "--json", "--workers", "2"])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 8 and all(str(path) in line and "child index outside" in line for line in errors), errors
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["element"] for a in answers if a.get("cn") is not None] == ["Ni"] * 8


def test_a_regressor_saved_under_a_classifiers_name_is_one_line(models, crafted):
    """``--model cn_mean``, or a cn_mean file copied to rf.model: a regressor cannot give class probabilities."""
    shutil.copy(models / "Cu" / f"cn_mean{MODEL_SUFFIX}", crafted / "Cu" / f"rf{MODEL_SUFFIX}")
    result = runner.invoke(app, ["predict", str(CU), str(NIO), "--models-dir", str(crafted)])
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(errors) == 1 and f"Cu/rf{MODEL_SUFFIX}: not a CN classifier" in errors[0], result.output
    assert "Ni CN" in result.stdout

    result = runner.invoke(app, ["predict", str(CU), "--models-dir", str(models), "--model", "cn_mean"])
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(errors) == 1 and "--model cn_mean: not a CN classifier" in errors[0], result.output


def test_files_naming_our_estimators_by_an_earlier_module_are_read_under_todays_name(crafted):
    """0.3.0 files name ``exafs_cn.learn.calibration...``, files written before the modules were
    made private ``exafs_cn.models.power_calibrated...``: both are read as today's class; a name
    the mapping does not hold is refused."""
    path = crafted / "Cu" / f"rf{MODEL_SUFFIX}"
    shipped = SavedModel.load(path)  # the shipped file names exafs_cn.learn.calibration.PowerCalibratedClassifier
    shipped.save(path)
    today = "exafs_cn.models._power_calibrated.PowerCalibratedClassifier"
    assert today in model_archive.class_names(path)
    X = np.random.default_rng(0).normal(size=(5, shipped.estimator.n_features_in_))
    for earlier, readable in (("exafs_cn.models.power_calibrated.PowerCalibratedClassifier", True), ("exafs_cn.models.other.PowerCalibratedClassifier", False)):
        rewrite_model_json(path, lambda document, old=earlier: json.dumps(document).replace(today, old))
        assert earlier in model_archive.class_names(path)
        if readable:
            np.testing.assert_array_equal(SavedModel.load(path).estimator.predict_proba(X), shipped.estimator.predict_proba(X))
        else:
            with pytest.raises(ModelFileError, match=r"holds types exafs-cn never writes \(exafs_cn\.models\.other\.PowerCalibratedClassifier\)"):
                SavedModel.load(path)
        rewrite_model_json(path, lambda document, old=earlier: json.dumps(document).replace(old, today))


def test_an_average_cn_file_whose_leaf_bookkeeping_names_missing_nodes_is_refused(tmp_path):
    """The quantile forest's own check runs on a shipped file: a leaf id past its tree's nodes is one line at load."""
    from exafs_cn.measured import shipped_models_dir

    path = tmp_path / "Cu" / f"cn_mean{MODEL_SUFFIX}"
    path.parent.mkdir()
    shutil.copy(shipped_models_dir() / "Cu" / f"cn_mean{MODEL_SUFFIX}", path)
    saved = SavedModel.load(path)
    first_tree = saved.estimator.forest_.estimators_[0].tree_
    saved.estimator.train_leaves_[0, 0] = first_tree.node_count
    model_archive.dump(saved._as_dict(), path, ALLOWED_TYPES)
    with pytest.raises(ModelFileError, match="leaf bookkeeping names nodes its trees lack"):
        SavedModel.load(path)


def test_every_class_a_model_file_may_name_is_a_class_we_have():
    """The allow-list names classes by module path, ours and scikit-learn's: each must resolve (a
    stale name, after a move here or a scikit-learn upgrade, would refuse every file that holds
    the class, or let a check keyed on it never run)."""
    import importlib

    from exafs_cn.models._checks import RENAMED_TYPES

    assert any(name.startswith("exafs_cn.") for name in ALLOWED_TYPES)
    for name in sorted(ALLOWED_TYPES):
        module, _, cls = name.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), cls), type), name
    assert set(RENAMED_TYPES.values()) <= ALLOWED_TYPES
    assert not set(RENAMED_TYPES) & ALLOWED_TYPES


@pytest.mark.parametrize("field", ["estimator", "settings"])
def test_a_model_file_without_a_field_it_needs_is_refused_in_one_line(field, crafted):
    """A hand-made file that leaves out a field: one line naming it, whole or as a worker reads it."""
    path = crafted / "Cu" / f"rf{MODEL_SUFFIX}"
    rewrite_model_json(path, lambda document: {"dict": [pair for pair in document["dict"] if pair[0] != field]})
    with pytest.raises(ModelFileError, match=f"refused to load: it has no {field}"):
        SavedModel.load(path)
    if field == "settings":  # the description alone needs its settings; it never needs the estimator
        with pytest.raises(ModelFileError, match="refused to load: it has no settings"):
            SavedModel.load(path, estimator=False)
    else:
        assert SavedModel.load(path, estimator=False).estimator is None
