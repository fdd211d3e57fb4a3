"""PARTNERMATCH_ENCODER_BACKEND: MiniLM run by torch or ONNX Runtime, torch the fallback."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest

from partnermatch import create_app
from partnermatch.config import ConfigurationError
from partnermatch.matching import embedder
from partnermatch.matching.embedder import (
    DEFAULT_MODEL_ID,
    Embedder,
    encoder_backend,
    resolve_model,
)


@pytest.fixture
def without_onnxruntime(monkeypatch):
    """Make `import onnxruntime` fail, as on a machine where it is not installed."""
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    return monkeypatch


@pytest.mark.parametrize(
    ("value", "backend"),
    [(None, "torch"), ("", "torch"), ("ONNX", "onnx"), (" onnx-int8 ", "onnx-int8")],
)
def test_the_setting_names_a_backend_and_defaults_to_torch(value, backend):
    assert encoder_backend(value) == backend


def test_an_unknown_backend_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.setenv("PARTNERMATCH_ENCODER_BACKEND", "tensorrt")

    with pytest.raises(ConfigurationError, match="PARTNERMATCH_ENCODER_BACKEND"):
        create_app({"SECRET_KEY": "test"}, instance_path=tmp_path)


def test_the_environment_chooses_the_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("PARTNERMATCH_ENCODER_BACKEND", "Onnx-Int8")

    app = create_app({"SECRET_KEY": "test"}, instance_path=tmp_path)

    assert app.config["ENCODER_BACKEND"] == "onnx-int8"


def test_int8_vectors_are_cached_and_indexed_apart_from_torch_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(embedder, "onnx_available", lambda: True)

    torch = resolve_model(None)
    fp32 = resolve_model(None, "onnx", tmp_path)
    int8 = resolve_model(None, "onnx-int8", tmp_path)

    assert torch.model_id == fp32.model_id == DEFAULT_MODEL_ID
    assert int8.model_id != DEFAULT_MODEL_ID
    assert fp32.export_dir != int8.export_dir
    assert str(tmp_path / "models") in int8.export_dir
    assert int8.on_torch() == torch


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_without_onnxruntime_the_setting_falls_back_to_torch(
    tmp_path, without_onnxruntime, caplog, backend
):
    with caplog.at_level(logging.WARNING, logger=embedder.__name__):
        spec = resolve_model(None, backend, tmp_path)

    assert spec == resolve_model(None)
    assert "encoding with torch" in caplog.text


def test_a_failed_export_falls_back_to_torch_under_torch_s_model_id(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(embedder, "onnx_available", lambda: True)
    monkeypatch.setattr(embedder, "_models", {})

    def export_fails(spec):
        raise OSError("disk full")

    class TorchModel:
        def get_embedding_dimension(self):
            return 384

    loaded = []

    def load(location, **options):
        loaded.append(options.get("backend", "torch"))
        return TorchModel()

    monkeypatch.setattr(embedder, "export_onnx", export_fails)
    monkeypatch.setattr(embedder, "_sentence_transformer", load)
    int8 = Embedder(resolve_model(None, "onnx-int8", tmp_path), tmp_path / "cache.sqlite3")
    assert int8.model_id != DEFAULT_MODEL_ID

    with caplog.at_level(logging.WARNING, logger=embedder.__name__):
        assert isinstance(int8.model, TorchModel)

    assert loaded == ["torch"]
    assert int8.model_id == DEFAULT_MODEL_ID
    assert int8.cache.model_id == DEFAULT_MODEL_ID
    assert "disk full" in caplog.text


TEXTS = [
    "Cold-chain logistics for smallholder mango exporters in Mindanao",
    "We need a food-safety auditor familiar with HACCP and export markets in Japan.",
    "Battery recycling partner for lithium-ion packs from electric scooters",
    "Marketing advice for a batik textile cooperative selling online",
]


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_the_onnx_encoder_gives_torch_s_vectors(tmp_path, monkeypatch, backend):
    if not embedder.onnx_available():
        pytest.skip("onnxruntime or optimum-onnx is not installed, or not importable here")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch = Embedder(resolve_model(None), tmp_path / "torch.sqlite3")
    onnx = Embedder(resolve_model(None, backend, tmp_path), tmp_path / "onnx.sqlite3")

    cosines = np.sum(torch.encode_queries(TEXTS) * onnx.encode_queries(TEXTS), axis=1)

    assert onnx.spec.backend == backend  # no silent fallback to torch
    assert cosines.min() >= 0.98
    assert list((tmp_path / "models" / backend).iterdir())  # exported under DATA_DIR


def test_an_optimum_that_cannot_be_imported_falls_back_to_torch(tmp_path, monkeypatch):
    # optimum-onnx 0.1 against transformers 5 fails inside its own imports.
    monkeypatch.setitem(sys.modules, "optimum.onnxruntime", None)

    assert not embedder.onnx_available()
    assert resolve_model(None, "onnx", tmp_path) == resolve_model(None)
