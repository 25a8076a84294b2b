"""The one prediction pipeline: batches of whole inputs, and the same answers on a process pool."""

from __future__ import annotations

import time
from contextlib import closing
from itertools import cycle, islice
from pathlib import Path

import exafs_cn
from exafs_cn.measured import FileInput
from exafs_cn.measured._pipeline import predict_batches
from exafs_cn.measured._predict import MIN_SPECTRA_PER_WORKER, ModelStore, read_inputs

MEASURED = Path(__file__).parent / "data" / "experimental"
SPECTRA = sorted(MEASURED.glob("*.xdi")) + sorted(MEASURED.glob("*.dat"))


def _comparable(results) -> list:
    return [item.error if isinstance(item, exafs_cn.Failure) else item.to_dict() for item in results]


def test_a_pool_of_processes_gives_the_answers_of_one_process():
    inputs = [*SPECTRA, *SPECTRA, MEASURED / "no-such-file.xdi"]  # enough for two workers, and a failure among them
    assert len(inputs) >= 2 * MIN_SPECTRA_PER_WORKER
    alone = exafs_cn.predict(inputs)
    pooled = exafs_cn.predict(inputs, workers=2)
    assert _comparable(pooled) == _comparable(alone)
    assert "no such file" in pooled[-1].error


def test_one_pool_takes_the_inputs_as_it_goes_and_stops_when_its_reader_does():
    """The command line's batches: the first answers come while most files are still unread, in
    input order and equal to one process's, and leaving after two batches reads no more files."""
    drawn: list[Path] = []

    def inputs():
        for path in islice(cycle(SPECTRA), 300):
            drawn.append(path)
            yield FileInput(path)

    store = ModelStore()
    with closing(predict_batches(inputs(), store, batch_size=8, workers=2)) as batches:
        first = next(batches)
        drawn_at_first = len(drawn)
        second = next(batches)
        leaving = time.monotonic()
    closed_in = time.monotonic() - leaving  # the pool shut down, its queued files dropped
    left_with = len(drawn)
    time.sleep(0.5)
    assert drawn_at_first < 100 and len(drawn) == left_with < 150  # read as it goes; nothing read after leaving
    assert closed_in < 5
    answered = [*first.results, *second.results]
    expected = list(islice(cycle(SPECTRA), 16))
    assert [first.inputs, second.inputs] == [8, 8] and [item.file for item in answered] == [str(p) for p in expected]
    (alone,) = predict_batches([FileInput(p) for p in expected], store, batch_size=None)
    assert _comparable(answered) == _comparable(alone.results)


def test_batches_hold_whole_inputs_in_order():
    store = ModelStore()
    inputs = [read_inputs(path) for path in SPECTRA[:5]]
    batches = list(predict_batches(iter(inputs), store, batch_size=2))
    assert [batch.inputs for batch in batches] == [2, 2, 1]
    answered = [item.file for batch in batches for item in batch.results]
    assert answered == [str(path) for path in SPECTRA[:5]]
    (one,) = predict_batches(inputs, store, batch_size=None)
    assert one.inputs == 5 and _comparable(one.results) == _comparable(item for batch in batches for item in batch.results)


def test_the_pipeline_writes_each_answers_figure_and_says_where(tmp_path):
    """--plot's figures are the pipeline's work: one per answer, by index, never over a user's file."""
    from exafs_cn.measured import FileInput
    from exafs_cn.measured._plot import FigureNames

    (tmp_path / "data__Cu__cu_metal_rt.xdi.png").write_bytes(b"a user's own file")
    inputs = [FileInput(SPECTRA[0]), FileInput(MEASURED / "no-such-file.xdi"), FileInput(MEASURED / "data__Cu__cu_metal_rt.xdi")]
    (batch,) = predict_batches(inputs, ModelStore(), batch_size=None, figures=FigureNames(tmp_path))
    answered = [i for i, item in enumerate(batch.results) if not isinstance(item, exafs_cn.Failure)]
    assert sorted(batch.figures) == answered == [0, 2]
    cu = batch.figures[2]
    assert cu.error is None and cu.existing == tmp_path / "data__Cu__cu_metal_rt.xdi.png" and cu.path.name == "data__Cu__cu_metal_rt.xdi-2.png"
    assert (tmp_path / "data__Cu__cu_metal_rt.xdi.png").read_bytes() == b"a user's own file"
    assert all(figure.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for figure in batch.figures.values())
