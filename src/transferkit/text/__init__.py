"""Texts as features: pre-trained sentence encoders, cached on disk.

- :mod:`~transferkit.text.encoders`: :func:`encode_texts` and the named encoders
  (``TEXT_ENCODERS``).
- :mod:`~transferkit.text.cache`: the on-disk cache of text embeddings.

Examples
--------
>>> from transferkit.text import TEXT_ENCODERS
>>> "use" in TEXT_ENCODERS
True
"""

from transferkit.text.cache import EmbeddingCache, default_text_cache_dir
from transferkit.text.encoders import (
    TEXT_ENCODERS,
    TextEncoder,
    check_texts,
    encode_texts,
    get_encoder,
)

__all__ = [
    "TEXT_ENCODERS",
    "EmbeddingCache",
    "TextEncoder",
    "check_texts",
    "default_text_cache_dir",
    "encode_texts",
    "get_encoder",
]
