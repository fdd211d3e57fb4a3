"""MiniLM on ONNX Runtime: exported from the sentence-transformers model, run without torch.

The export holds the transformer only (token ids in, last hidden state out, any batch and
length); tokenising, mean pooling over the attention mask and L2 normalisation are done here
as the sentence-transformers pipeline does them, so float32 gives torch's vectors.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_FILE = "model.onnx"
INT8_FILE = "model_qint8.onnx"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "encoder.json"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "last_hidden_state"
# Opset 17 has LayerNormalization as one operator, which ONNX Runtime runs fused.
OPSET = 17
NORMALIZE_EPS = 1e-12  # torch.nn.functional.normalize's
POOLING_EPS = 1e-9  # sentence-transformers' Pooling clamps the token count to this


class UnsupportedModel(ValueError):
    """The model is not a transformer, mean pooling and (optionally) normalisation."""


def pipeline_config(model: SentenceTransformer) -> dict:
    """Return what the export must reproduce of the model's modules: max_seq_length, the
    embedding dimension and whether it normalises; refuse a pipeline it cannot reproduce."""
    from sentence_transformers.base.modules.normalize import Normalize
    from sentence_transformers.sentence_transformer.modules.pooling import Pooling

    modules = list(model)
    if len(modules) not in (2, 3) or not isinstance(modules[1], Pooling):
        raise UnsupportedModel(f"expected Transformer, Pooling[, Normalize]: {model}")
    pooling = modules[1]
    if pooling.pooling_mode not in ("mean", ("mean",), ["mean"]):
        raise UnsupportedModel(f"only mean pooling is exported, not {pooling.pooling_mode!r}")
    if len(modules) == 3 and not isinstance(modules[2], Normalize):
        raise UnsupportedModel(f"the third module is not Normalize: {modules[2]}")
    return {
        "max_seq_length": int(model.max_seq_length),
        "dimension": int(pooling.embedding_dimension),
        "normalize": len(modules) == 3,
    }


def _save_tokenizer(model: SentenceTransformer, path: Path, max_length: int) -> None:
    """Save the model's own tokenizer, truncating and padding as sentence-transformers asks
    its tokenizer to (the saved file's own settings, 128 fixed for MiniLM, are not those)."""
    from tokenizers import Tokenizer

    hf_tokenizer = model.tokenizer
    tokenizer = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
    tokenizer.enable_truncation(max_length=max_length, strategy="longest_first")
    tokenizer.enable_padding(
        pad_id=hf_tokenizer.pad_token_id,
        pad_type_id=hf_tokenizer.pad_token_type_id,
        pad_token=hf_tokenizer.pad_token,
    )
    tokenizer.save(str(path))


def export(model: SentenceTransformer, folder: Path, quantise: bool) -> Path:
    """Export the model's transformer to folder/model.onnx (or, quantised to int8,
    folder/model_qint8.onnx) with its tokenizer and pipeline config; return the model file."""
    import torch

    config = pipeline_config(model)
    folder.mkdir(parents=True, exist_ok=True)
    _save_tokenizer(model, folder / TOKENIZER_FILE, config["max_seq_length"])
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    transformer = model[0].auto_model

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            output = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return output.last_hidden_state

    # Two texts of different lengths, so that the traced graph keeps the padding mask.
    sample = model.tokenizer(
        ["an example", "a longer example sentence to export"], padding=True, return_tensors="pt"
    )
    fp32 = folder / MODEL_FILE
    # Expected warnings: the TorchScript exporter is deprecated (torch is pinned), and the
    # tracer freezes transformers' Python branches on the mask (is one given, is it shorter
    # than the keys), which hold for every batch: a mask is always given, as long as the ids.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHiddenState().eval(),
            tuple(sample[name] for name in INPUTS),
            str(fp32),
            dynamo=False,  # the TorchScript exporter: no onnxscript, a plain static graph
            input_names=list(INPUTS),
            output_names=[OUTPUT],
            dynamic_axes={name: {0: "batch", 1: "sequence"} for name in (*INPUTS, OUTPUT)},
            opset_version=OPSET,
        )
    if not quantise:
        return fp32
    from onnxruntime.quantization import QuantType, quantize_dynamic

    int8 = folder / INT8_FILE
    # Per output channel: one scale per whole matrix cost MiniLM 0.05 of mean cosine to
    # float32, per channel 0.01. 7-bit weights (reduce_range) cannot saturate the int16 sums
    # of the AVX2 kernels on CPUs without VNNI, for a few thousandths of cosine.
    quantize_dynamic(
        str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True
    )
    fp32.unlink()
    return int8


class OnnxEncoder:
    """Encode texts with an exported model: the part of SentenceTransformer that
    Embedder uses (encode and get_embedding_dimension)."""

    def __init__(self, folder: Path, file_name: str, threads: int = 1) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        self.max_seq_length: int = config["max_seq_length"]
        self.dimension: int = config["dimension"]
        self.normalize: bool = config["normalize"]
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(folder / file_name), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = [item.name for item in self.session.get_inputs()]

    def get_embedding_dimension(self) -> int:
        return self.dimension

    def _batch(self, texts: list[str], normalize: bool) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        features = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        (hidden,) = self.session.run([OUTPUT], {name: features[name] for name in self._inputs})
        mask = features["attention_mask"][..., None].astype(np.float32)
        vectors = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), POOLING_EPS)
        if normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.maximum(norms, NORMALIZE_EPS)
        return vectors.astype(np.float32, copy=False)

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        normalize_embeddings: bool = False,
        **_options: object,
    ) -> np.ndarray:
        """Encode texts in batches of similar length (longest first, as sentence-transformers
        sorts them, so that little is padded); return the vectors in the texts' order.

        Like SentenceTransformer.encode: the vectors are normalised when the model ends with
        Normalize or when asked; other options (numpy output, no progress bar) are the only
        behaviour there is."""
        normalize = self.normalize or normalize_embeddings
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = np.argsort([-len(text) for text in texts], kind="stable")
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            chunk = order[start : start + batch_size]
            vectors[chunk] = self._batch([texts[index] for index in chunk], normalize)
        return vectors
