"""PARTNERMATCH_ENCODER_BACKEND: MiniLM run by ONNX Runtime (the default) or torch, torch the
fallback."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from partnermatch import create_app
from partnermatch.config import ConfigurationError
from partnermatch.matching import embedder, onnx_encoder
from partnermatch.matching.embedder import (
    DEFAULT_MODEL_ID,
    Embedder,
    encoder_backend,
    resolve_model,
)
from partnermatch.matching.extension import get_engine

needs_onnxruntime = pytest.mark.skipif(
    not embedder.onnx_available(), reason="onnxruntime or onnx is not installed"
)


@pytest.fixture
def without_onnxruntime(monkeypatch):
    """Make `import onnxruntime` fail, as on a machine where it is not installed."""
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    return monkeypatch


@pytest.mark.parametrize(
    ("value", "backend"),
    [(None, "onnx"), ("", "onnx"), ("Torch", "torch"), (" onnx-int8 ", "onnx-int8")],
)
def test_the_setting_names_a_backend_and_defaults_to_onnx(value, backend):
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
    assert int8.export_dir.startswith(str(tmp_path))
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
    "solar",
    # Longer than MiniLM's 256 tokens: both backends must truncate it the same way.
    " ".join(["Injection moulding of bicycle parts, tooling and quality control."] * 40),
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Embedders of each backend, the ONNX ones exported once into one DATA_DIR."""
    data_dir = tmp_path_factory.mktemp("data")
    return {
        backend: Embedder(
            resolve_model(None, backend, data_dir / "models"), data_dir / f"{backend}.sqlite3"
        )
        for backend in ("torch", "onnx", "onnx-int8")
    }


def cosines_to_torch(exported, backend):
    torch_vectors = exported["torch"].encode_passages(TEXTS)
    return np.sum(torch_vectors * exported[backend].encode_passages(TEXTS), axis=1)


@needs_onnxruntime
def test_onnx_float32_gives_torch_s_vectors(exported):
    cosines = cosines_to_torch(exported, "onnx")

    assert exported["onnx"].spec.backend == "onnx"  # no silent fallback to torch
    assert cosines.min() >= 0.9999


@needs_onnxruntime
def test_onnx_int8_stays_close_to_torch_s_vectors(exported):
    cosines = cosines_to_torch(exported, "onnx-int8")

    assert exported["onnx-int8"].spec.backend == "onnx-int8"
    assert cosines.mean() >= 0.98
    assert cosines.min() >= 0.97


@needs_onnxruntime
@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_the_export_is_kept_in_the_models_folder_with_its_tokenizer(exported, backend):
    folder = Path(exported[backend].spec.export_dir)
    exported[backend].encode_query("warm up")  # exports, if no test did yet

    assert folder.parent.name == backend and folder.parent.parent.name == "models"
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        [embedder.ONNX_FILES[backend], "tokenizer.json", "encoder.json"]
    )
    # Written beside its place and renamed: no half-written folder is left behind.
    assert [path.name for path in folder.parent.iterdir()] == [folder.name]


@needs_onnxruntime
def test_the_onnx_tokenizer_cuts_and_pads_as_sentence_transformers_does(exported):
    model = exported["torch"].model
    encoder = exported["onnx"].model
    expected = model.tokenize(TEXTS)

    encodings = encoder.tokenizer.encode_batch(TEXTS)

    assert np.array_equal([e.ids for e in encodings], expected["input_ids"].numpy())
    assert np.array_equal([e.attention_mask for e in encodings], expected["attention_mask"].numpy())
    assert max(len(e.ids) for e in encodings) == model.max_seq_length == 256


@needs_onnxruntime
def test_batches_sorted_by_length_come_back_in_the_texts_order(exported):
    encoder = exported["onnx"].model

    together = encoder.encode(TEXTS, batch_size=2)
    one_by_one = np.stack([encoder.encode([text])[0] for text in TEXTS])

    assert np.allclose(together, one_by_one, atol=1e-5)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


@needs_onnxruntime
def test_an_existing_export_is_loaded_without_torch(exported, monkeypatch):
    spec = exported["onnx-int8"].spec
    exported["onnx-int8"].encode_query("warm up")

    def no_torch_model(location, **options):
        raise AssertionError("the export exists: nothing to load through sentence-transformers")

    monkeypatch.setattr(embedder, "_sentence_transformer", no_torch_model)
    monkeypatch.setattr(embedder, "_models", {})

    assert embedder.export_onnx(spec) == Path(spec.export_dir)
    assert embedder.load_model(spec).get_embedding_dimension() == 384


@needs_onnxruntime
def test_a_pipeline_other_than_mean_pooling_is_not_exported(exported, tmp_path):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules.pooling import Pooling

    transformer = exported["torch"].model[0]
    cls_pooled = SentenceTransformer(modules=[transformer, Pooling(384, "cls")], device="cpu")

    with pytest.raises(onnx_encoder.UnsupportedModel, match="mean pooling"):
        onnx_encoder.export(cls_pooled, tmp_path / "export", quantise=False)


def test_without_the_onnx_package_the_setting_falls_back_to_torch(tmp_path, monkeypatch):
    # torch.onnx.export and the int8 quantiser both write through the onnx package.
    monkeypatch.setitem(sys.modules, "onnx", None)

    assert not embedder.onnx_available()
    assert resolve_model(None, "onnx", tmp_path) == resolve_model(None)


def test_minilm_runs_on_onnx_by_default_exported_into_the_models_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("PARTNERMATCH_ENCODER_BACKEND", raising=False)
    monkeypatch.setenv("PARTNERMATCH_MODELS_DIR", str(tmp_path / "shared-models"))

    app = create_app({"SECRET_KEY": "test"}, instance_path=tmp_path / "instance")

    with app.app_context():
        spec = get_engine().embedder.spec
    assert app.config["ENCODER_BACKEND"] == "onnx"
    assert spec.backend == "onnx"
    assert spec.model_id == DEFAULT_MODEL_ID  # torch's vectors: the same cache and index
    assert spec.export_dir.startswith(str(tmp_path / "shared-models" / "onnx"))
