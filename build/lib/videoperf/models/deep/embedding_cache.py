"""The frozen encoder's embeddings on disk, keyed by the encoder (a hash of its weights, the max length and the
precision) and the SHA-1 of the normalised text, so that epochs, runs and the train / evaluate / predict steps embed
each distinct text once."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from videoperf.models.deep.text_encoders import TextEncoder
from videoperf.models.deep.video_text import SEP, split_video_text

logger = logging.getLogger(__name__)

_KEY_BYTES = 20  # SHA-1


class EmbeddingCache:
    """Frozen-encoder embeddings on disk: ``<cache_dir>/embeddings/<encoder key>/shard-*.npz``.

    Each shard holds the SHA-1 digests (uint8 rows) of normalised texts and their float32 vectors; new texts go to a new
    shard written atomically, so concurrent runs never corrupt the cache (at worst both compute a text).
    """

    def __init__(self, cache_dir: str | Path, encoder: TextEncoder) -> None:
        self.encoder = encoder
        self.folder = Path(cache_dir) / "embeddings" / encoder.cache_key()
        self._index: dict[bytes, int] = {}
        self._vectors = np.zeros((0, encoder.dim), dtype=np.float32)
        self._load()

    def _load(self) -> None:
        if not self.folder.is_dir():
            return
        blocks = []
        for shard in sorted(self.folder.glob("shard-*.npz")):
            try:
                with np.load(shard, allow_pickle=False) as data:
                    keys, vectors = data["keys"], data["vectors"]
            except (OSError, ValueError, KeyError) as error:
                logger.warning("embedding cache: ignoring unreadable shard %s (%s)", shard, error)
                continue
            if keys.ndim != 2 or keys.shape[1] != _KEY_BYTES or vectors.shape != (len(keys), self.encoder.dim):
                logger.warning("embedding cache: ignoring shard %s of shape %s", shard, vectors.shape)
                continue
            offset = sum(len(block) for block in blocks)
            for i, key in enumerate(keys):
                self._index.setdefault(key.tobytes(), offset + i)
            blocks.append(vectors.astype(np.float32, copy=False))
        if blocks:
            self._vectors = np.concatenate(blocks)

    def __len__(self) -> int:
        return len(self._index)

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.sha1(text.encode("utf-8")).digest()

    def embed(self, texts: Sequence[str], batch_size: int = 128, progress: bool = False) -> np.ndarray:
        """Embeddings of ``texts`` (n, dim): cached ones read, the others computed once and stored."""
        normalised = [SEP.join(split_video_text(text)) for text in texts]
        keys = [self.key(text) for text in normalised]
        todo: dict[bytes, str] = {}
        for key, text in zip(keys, normalised):
            if key not in self._index and key not in todo:
                todo[key] = text
        if todo:
            logger.info("embedding %d new text(s) (%d cached) with %s", len(todo), len(self), self.encoder.name)
            vectors = self.encoder.embed(list(todo.values()), batch_size=batch_size, progress=progress)
            # Keys as raw uint8 rows: numpy's bytes dtype would strip a digest's trailing zero bytes.
            new_keys = np.frombuffer(b"".join(todo), dtype=np.uint8).reshape(-1, _KEY_BYTES)
            self._write_shard(new_keys, vectors)
            offset = len(self._vectors)
            self._vectors = np.concatenate([self._vectors, vectors])
            for i, key in enumerate(todo):
                self._index[key] = offset + i
        return self._vectors[[self._index[key] for key in keys]]

    def _write_shard(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = hashlib.sha1(keys.tobytes()).hexdigest()[:16]
            final = self.folder / f"shard-{name}.npz"
            temp = self.folder / f".tmp-{name}-{os.getpid()}.npz"
            np.savez(temp, keys=keys, vectors=vectors.astype(np.float32))
            os.replace(temp, final)
        except OSError as error:  # a read-only cache folder slows later runs down but must not fail this one
            logger.warning("embedding cache: could not write to %s (%s)", self.folder, error)
