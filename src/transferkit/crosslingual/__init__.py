"""Cross-lingual word-embedding alignment and bilingual lexicon induction (feature spaces differ).

The first piece of scenario 1 of the article (source and target described by different features:
two languages' word vectors). Ruder, Vulić & Søgaard's survey (2019) is the map:

- :mod:`~transferkit.crosslingual.alignment`: :func:`normalize_embeddings`, orthogonal
  :func:`fit_procrustes` (also between spaces of different dimension), :func:`self_learning`
  refinement, and two seedless starts: :func:`unsupervised_dictionary` (similarity
  distributions) followed by :func:`robust_self_learning`, and
  :func:`gromov_wasserstein_dictionary`;
- :mod:`~transferkit.crosslingual.retrieval`: cosine and CSLS :func:`retrieve`, in blocks;
  :func:`mutual_nearest_neighbors`;
- :mod:`~transferkit.crosslingual.lexicon`: :func:`pairs_to_indices` and :func:`evaluate_bli`
  (P@1/5/10);
- :mod:`~transferkit.crosslingual.distillation`: documents, not words: a source-language
  classifier taught to the target language through unlabelled translation pairs
  (:class:`ParallelDistillation`, :func:`with_parallel_corpus`);
- :mod:`~transferkit.crosslingual.bli`: the whole BLI task from named word vectors and a FreeDict
  dictionary (:func:`load_bli_task`), one method fitted and scored (:func:`run_bli`), and
  :func:`translate` (what ``transferkit bli`` runs).

Gold pairs come from :mod:`transferkit.datasets.freedict`, word vectors from
:mod:`transferkit.datasets.wordvectors`; ``transferkit bli`` runs them from the command line
(``--method`` repeated puts several side by side).

Examples
--------
>>> import numpy as np
>>> from transferkit.crosslingual import evaluate_bli, fit_procrustes
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(100, 8))
>>> Y = X @ np.linalg.qr(rng.normal(size=(8, 8)))[0]
>>> seed = np.stack([np.arange(50)] * 2, axis=1)
>>> mapping = fit_procrustes(X, Y, seed)
>>> test = np.stack([np.arange(50, 100)] * 2, axis=1)
>>> evaluate_bli(mapping.transform_source(X), mapping.transform_target(Y), test, ks=(1,))["P@1"]
1.0
"""

from transferkit.crosslingual.alignment import (
    CrossLingualMap,
    SelfLearningResult,
    fit_procrustes,
    gromov_wasserstein_dictionary,
    induce_dictionary,
    normalize_embeddings,
    robust_self_learning,
    self_learning,
    similarity_distribution_features,
    unsupervised_dictionary,
)
from transferkit.crosslingual.bli import (
    BLI_METHODS,
    BLIResult,
    BLITask,
    identical_spelling_pairs,
    load_bli_task,
    run_bli,
    translate,
)
from transferkit.crosslingual.distillation import (
    PARALLEL_SOURCE,
    PARALLEL_TARGET,
    ParallelDistillation,
    parallel_corpus,
    with_parallel_corpus,
)
from transferkit.crosslingual.lexicon import evaluate_bli, pairs_to_indices
from transferkit.crosslingual.retrieval import (
    mean_neighbor_similarity,
    mutual_nearest_neighbors,
    retrieve,
)

__all__ = [
    "BLI_METHODS",
    "BLIResult",
    "BLITask",
    "CrossLingualMap",
    "PARALLEL_SOURCE",
    "PARALLEL_TARGET",
    "ParallelDistillation",
    "SelfLearningResult",
    "evaluate_bli",
    "fit_procrustes",
    "gromov_wasserstein_dictionary",
    "identical_spelling_pairs",
    "induce_dictionary",
    "load_bli_task",
    "mean_neighbor_similarity",
    "mutual_nearest_neighbors",
    "normalize_embeddings",
    "pairs_to_indices",
    "parallel_corpus",
    "retrieve",
    "robust_self_learning",
    "run_bli",
    "self_learning",
    "similarity_distribution_features",
    "translate",
    "unsupervised_dictionary",
    "with_parallel_corpus",
]
