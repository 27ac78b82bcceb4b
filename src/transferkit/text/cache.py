"""An on-disk cache of text embeddings, keyed by the text and the encoder.

Sentence vectors are small (a few hundred floats) and come by the tens of thousands, so one file
per text (as for CNN features) would make reading the cache slower than a fast encoder. Each call
that encodes new texts writes one *shard*: a ``.keys.npy`` file of fixed-width content hashes and a
``.npy`` file of the matching rows. Reading the cache loads the shards of one encoder folder once
and looks every text up in a dictionary, so cached texts come back at hundreds of thousands per
second.

Examples
--------
>>> import numpy as np, tempfile
>>> from transferkit.text.cache import EmbeddingCache
>>> cache = EmbeddingCache(tempfile.mkdtemp())
>>> cache.store(["b0a1"], np.ones((1, 3), np.float32))
>>> cache.lookup(["b0a1", "ffff"])[1]
[1]
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: Width of a content key (hex characters of a SHA-256 digest kept).
KEY_WIDTH = 32


def default_text_cache_dir() -> Path:
    """``$TRANSFERKIT_CACHE/text``, else ``~/.cache/transferkit/text``."""
    root = os.environ.get("TRANSFERKIT_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "transferkit") / "text"


def text_keys(texts: Sequence[str], salt: str) -> list[str]:
    """A content hash per text, salted with the encoder's identity so encoders never share rows."""
    prefix = salt.encode() + b"\x00"
    return [hashlib.sha256(prefix + text.encode()).hexdigest()[:KEY_WIDTH] for text in texts]


class EmbeddingCache:
    """The shards of one encoder's folder: look texts up by key, store newly encoded rows.

    Parameters
    ----------
    folder : str or Path
        One folder per encoder (and version); created when the first shard is stored.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._index: dict[str, tuple[int, int]] | None = None
        self._shards: list[np.ndarray] = []

    def _load(self) -> dict[str, tuple[int, int]]:
        if self._index is not None:
            return self._index
        index: dict[str, tuple[int, int]] = {}
        if self.folder.is_dir():
            for keys_path in sorted(self.folder.glob("*.keys.npy")):
                rows_path = keys_path.with_name(keys_path.name.replace(".keys.npy", ".npy"))
                if not rows_path.exists():
                    continue
                keys = np.load(keys_path)
                rows = np.load(rows_path, mmap_mode="r")
                if len(keys) != len(rows):
                    continue  # a shard cut short; its rows are encoded again
                shard = len(self._shards)
                self._shards.append(rows)
                index.update(
                    zip(
                        keys.astype(str).tolist(),
                        ((shard, i) for i in range(len(keys))),
                        strict=True,
                    )
                )
        self._index = index
        return index

    def lookup(self, keys: Sequence[str]) -> tuple[dict[int, np.ndarray], list[int]]:
        """Rows found (position in ``keys`` -> vector) and the positions not in the cache."""
        index = self._load()
        found: dict[int, np.ndarray] = {}
        missing: list[int] = []
        for position, key in enumerate(keys):
            where = index.get(key)
            if where is None:
                missing.append(position)
            else:
                found[position] = self._shards[where[0]][where[1]]
        return found, missing

    def gather(self, keys: Sequence[str]) -> np.ndarray | None:
        """All rows of ``keys`` as one array, or None when any is missing (the fast path)."""
        index = self._load()
        try:
            places = [index[key] for key in keys]
        except KeyError:
            return None
        if not places:
            return None
        shard_ids = np.fromiter((p[0] for p in places), dtype=np.int64, count=len(places))
        rows = np.fromiter((p[1] for p in places), dtype=np.int64, count=len(places))
        dim = self._shards[0].shape[1]
        out = np.empty((len(places), dim), dtype=np.float32)
        for shard in np.unique(shard_ids):
            mask = shard_ids == shard
            out[mask] = self._shards[shard][rows[mask]]
        return out

    def store(self, keys: Sequence[str], rows: np.ndarray) -> None:
        """Write one new shard atomically (a reader never sees half a shard)."""
        if len(keys) == 0:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex
        keys_array = np.asarray(list(keys), dtype=f"S{KEY_WIDTH}")
        for suffix, array in ((".npy", np.asarray(rows, np.float32)), (".keys.npy", keys_array)):
            tmp = self.folder / f".{name}{suffix}.tmp"
            with open(tmp, "wb") as handle:
                np.save(handle, array)
            os.replace(tmp, self.folder / f"{name}{suffix}")
        self._index = None
        self._shards = []
