"""Texts as features: pre-trained sentence encoders, cached on disk.

- :mod:`~transferkit.text.encoders`: :func:`encode_texts` and the named encoders
  (``TEXT_ENCODERS``).
- :mod:`~transferkit.text.cache`: the on-disk cache of text embeddings.
- :mod:`~transferkit.text.problems`: transfer problems from texts (:func:`problem_from_texts`) or
  from CSV/TSV files of texts (:func:`problem_from_text_files`).
- :mod:`~transferkit.text.bert` and :mod:`~transferkit.text.wordaverage`: the forward passes
  behind the ``minilm`` and the word-vector encoders.

Examples
--------
>>> from transferkit.text import TEXT_ENCODERS
>>> "use" in TEXT_ENCODERS
True
"""

from transferkit.datasets.files import load_text_file
from transferkit.text.cache import EmbeddingCache, default_text_cache_dir
from transferkit.text.encoders import (
    TEXT_ENCODERS,
    TextEncoder,
    check_language,
    check_texts,
    encode_texts,
    get_encoder,
)
from transferkit.text.problems import problem_from_text_files, problem_from_texts, split_languages

__all__ = [
    "TEXT_ENCODERS",
    "EmbeddingCache",
    "TextEncoder",
    "check_language",
    "check_texts",
    "default_text_cache_dir",
    "encode_texts",
    "get_encoder",
    "load_text_file",
    "problem_from_text_files",
    "problem_from_texts",
    "split_languages",
]
