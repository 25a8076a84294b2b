"""MP's own spectra: real emmet-core XAS documents through the conversion, and the offline errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from emmet.core.xas import XASDoc
from pymatgen.analysis.xas.spectrum import XAS
from typer.testing import CliRunner

from exafs_cn.cli import app
from exafs_cn.datagen._dataset import SOURCE_AVERAGED, Dataset
from exafs_cn.datagen._fetch_mp import DOCUMENT_SCHEMA, MP_PRESET, convert_documents
from exafs_cn.datagen._structures import read_bundled
from exafs_cn.features import Spectrum, featurize

runner = CliRunner()


@pytest.fixture(scope="module")
def mp_documents(data_slice):
    """XAS documents as mp-api returns them, made from committed FEFF pair spectra and their MP structures.

    Two Ni and one Fe pair with an integer CN, one with a non-integer CN (if the slice
    has one), and an L-edge document that must be refused.
    """
    dataset = Dataset(data_slice)
    pairs = dataset.pairs("fast", integer_only=False)
    chosen = [
        *pairs[pairs["absorber"] == "Ni"].head(2).itertuples(),
        *pairs[pairs["absorber"] == "Fe"].head(1).itertuples(),
        *pairs[pairs["pair_cn"].map(lambda cn: float(cn) != round(float(cn)))].head(1).itertuples(),
    ]
    structures = {r.material_id: r for r in read_bundled()}
    docs = []
    for pair in chosen:
        structure = structures[pair.material_id].parse()
        index = structure.indices_from_symbol(pair.absorber)[0]
        xas = XAS(
            np.asarray(pair.energy),
            np.asarray(pair.mu),
            structure,
            pair.absorber,
            edge="K",
            spectrum_type="EXAFS",
            absorbing_index=index,
        )
        docs.append(XASDoc.from_spectrum(xas, task_id=pair.material_id))
    other = next(pairs[pairs["absorber"] == "Ni"].iloc[2:3].itertuples())  # a material not chosen above
    structure = structures[other.material_id].parse()
    l_edge = XAS(
        np.asarray(other.energy), np.asarray(other.mu), structure, "Ni", edge="L3", spectrum_type="XANES", absorbing_index=0
    )
    docs.append(XASDoc.from_spectrum(l_edge, task_id=other.material_id))
    # Round trip through JSON, as the documents arrive from the API.
    docs = [XASDoc.model_validate(doc.model_dump(mode="json")) for doc in docs]
    return chosen, docs, dataset.labels()


def test_documents_become_dataset_rows_with_our_labels(mp_documents):
    chosen, docs, labels = mp_documents
    spectra, failures, documents, label_rows, _ = convert_documents(docs)

    assert len(documents) == len(docs)
    assert [d["material_id"] for d in documents][: len(chosen)] == [p.material_id for p in chosen]
    assert all(
        d["spectrum_id"].endswith(f"-{d['absorber']}-" + ("K" if i < len(chosen) else "L3")) for i, d in enumerate(documents)
    )
    assert len(spectra) == len(chosen)
    assert [f["reason"] for f in failures] == ["not a K-edge EXAFS spectrum (L3 edge, XANES)"]
    for row, pair, doc in zip(spectra, chosen, docs):
        assert (row["material_id"], row["absorber"], row["site_index"]) == (pair.material_id, pair.absorber, SOURCE_AVERAGED)
        ours = labels[(labels["material_id"] == pair.material_id) & (labels["absorber"] == pair.absorber)]
        assert row["pair_cn"] == pytest.approx(float(ours["pair_cn"].iloc[0]))
        assert row["multiplicity"] == int(ours["multiplicity"].sum())
        assert row["cn"] == (int(round(row["pair_cn"])) if float(pair.pair_cn) == round(float(pair.pair_cn)) else None)
        np.testing.assert_allclose(row["mu"], doc.spectrum.y)
        # pymatgen's XAS clips mu below zero (FEFF's first points) to 1e-12; the rest is ours.
        positive = np.asarray(pair.mu) > 0
        np.testing.assert_allclose(row["mu"][positive], np.asarray(pair.mu)[positive])
        # E0 from the spectrum itself: within a few eV of FEFF's own E0 for the same mu(E).
        assert abs(row["e0"] - pair.e0) < 5
    assert {(r["material_id"], r["absorber"]) for r in label_rows} >= {(p.material_id, p.absorber) for p in chosen}


def test_converted_documents_are_a_dataset_downstream_commands_read(mp_documents, tmp_path):
    chosen, docs, _ = mp_documents
    spectra, failures, documents, label_rows, label_failures = convert_documents(docs)
    dataset = Dataset(tmp_path / "mp")
    import pandas as pd
    import pyarrow as pa

    from exafs_cn.datagen._dataset import write_table_atomic

    dataset.add_labels(pd.DataFrame(label_rows), pd.DataFrame(label_failures))
    number = dataset.append_shard(MP_PRESET, spectra, failures)
    write_table_atomic(
        pa.Table.from_pylist(documents, DOCUMENT_SCHEMA), dataset.shard_dir("documents", MP_PRESET) / f"part-{number:05d}.parquet"
    )

    assert dataset.default_preset() == MP_PRESET
    pairs = dataset.pairs(MP_PRESET)
    integer = [p for p in chosen if float(p.pair_cn) == round(float(p.pair_cn))]
    assert sorted(pairs["material_id"]) == sorted(p.material_id for p in integer)
    assert (pairs["n_sites"] == 0).all()
    row = pairs.iloc[0]
    features = featurize(Spectrum(row["energy"], row["mu"], row["absorber"], e0=row["e0"], edge_step=1.0), "r")
    assert features.shape == (326,) and np.all(np.isfinite(features)) and features.max() > 0

    result = runner.invoke(app, ["dataset", "info", str(dataset.root), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["preset"] == MP_PRESET
    assert info["spectra"] == len(integer)
    assert info["failures"] == 1


def test_no_api_key_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("MP_API_KEY", raising=False)
    result = runner.invoke(app, ["fetch-mp", "--out", str(tmp_path / "mp"), "--elements", "Fe"])
    assert result.exit_code == 2
    assert "MP_API_KEY is not set" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "mp").exists()


def test_unreachable_server_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("MP_API_KEY", "0" * 32)
    # Port 9 (discard) on loopback: connection refused at once, no network needed.
    result = runner.invoke(
        app, ["fetch-mp", "--out", str(tmp_path / "mp"), "--elements", "Fe", "--endpoint", "http://127.0.0.1:9/"]
    )
    assert result.exit_code == 2
    assert "cannot reach the Materials Project API at http://127.0.0.1:9/" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "mp").exists()


@pytest.fixture()
def refusing_server():
    """A real HTTP server on loopback that answers MP's heartbeat and refuses every query (401)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/heartbeat"):
                status, body = 200, {"db_version": "2025.09.25", "access_controlled_batch_ids": [], "version": "0.46.5"}
            else:
                status, body = 401, {"detail": "Invalid API key"}
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


def test_refused_key_is_one_line_at_once_and_writes_nothing(tmp_path, monkeypatch, refusing_server):
    monkeypatch.setenv("MP_API_KEY", "0" * 32)
    result = runner.invoke(app, ["fetch-mp", "--out", str(tmp_path / "mp"), "--elements", "Fe", "--endpoint", refusing_server])
    assert result.exit_code == 2
    assert "Materials Project API refused the list of Fe K-edge EXAFS documents" in result.output
    assert "Invalid API key" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "mp").exists()
