"""Zero-shot learning: classes never seen with a label, recognised from their descriptions.

The article names zero-shot learning as transfer learning's extreme form: what is transferred to
a new class is not one of its examples but its meaning. Each class gets a semantic vector (its
name or a one-sentence description through a pre-trained text encoder, :mod:`.semantics`); a
compatibility between features and class vectors is learnt on the seen classes (ESZSL, a
DeViSE-style linear map) or, for documents embedded by the same encoder, is their plain cosine
(:mod:`.methods`), or comes from a pre-trained backbone's own ImageNet classifier (ConSE), and
any of them can be refined on the unlabelled rows to classify (transductive prototypes);
:mod:`.evaluation` scores unseen-class accuracy and the generalised setting
(seen and unseen classes together, harmonic mean, calibrated stacking), and :mod:`.tasks` holds
the task object and the catalogue's zero-shot datasets.

Examples
--------
>>> import numpy as np
>>> from transferkit.zeroshot import ClassEmbeddings, ESZSL, ZeroShotTask, evaluate_zero_shot
>>> rng = np.random.default_rng(0)
>>> vectors = np.eye(4)
>>> centres = 3 * vectors
>>> y = np.repeat(np.arange(4), 30)
>>> X = centres[y] + rng.normal(size=(120, 4))
>>> task = ZeroShotTask(X[y < 3], y[y < 3], X, y, ClassEmbeddings([0, 1, 2, 3], vectors))
>>> report = evaluate_zero_shot(ESZSL(feature_regularization=1.0), task, random_state=0)
>>> report.unseen_classes, report.unseen_accuracy
([3], 1.0)
"""

from transferkit.zeroshot.evaluation import (
    ZeroShotReport,
    area_under_seen_unseen_curve,
    evaluate_zero_shot,
    harmonic_mean,
    majority_share,
    select_stacking_constant,
    stacked_accuracies,
    stacking_curve,
)
from transferkit.zeroshot.methods import (
    ESZSL,
    ConSE,
    EmbeddingSimilarity,
    LinearEmbeddingMap,
    MajorityBaseline,
    TransductiveRefinement,
    ZeroShotBenchMethod,
    ZeroShotClassifier,
    check_backbone,
    conse_embedding,
    cosine_scores,
    eszsl_weights,
    ranking_embedding_map,
    ridge_embedding_map,
    stacked_prediction,
    transductive_prototypes,
)
from transferkit.zeroshot.semantics import (
    ClassEmbeddings,
    classes_naming,
    embed_classes,
    imagenet_class_names,
)
from transferkit.zeroshot.tasks import (
    UNSEEN_SPLITS,
    ZeroShotTask,
    bible_task,
    fashion_task,
    office_task,
)

__all__ = [
    "ESZSL",
    "UNSEEN_SPLITS",
    "ClassEmbeddings",
    "ConSE",
    "EmbeddingSimilarity",
    "LinearEmbeddingMap",
    "MajorityBaseline",
    "TransductiveRefinement",
    "ZeroShotBenchMethod",
    "ZeroShotClassifier",
    "ZeroShotReport",
    "ZeroShotTask",
    "area_under_seen_unseen_curve",
    "bible_task",
    "check_backbone",
    "classes_naming",
    "conse_embedding",
    "cosine_scores",
    "embed_classes",
    "eszsl_weights",
    "evaluate_zero_shot",
    "fashion_task",
    "harmonic_mean",
    "imagenet_class_names",
    "majority_share",
    "office_task",
    "ranking_embedding_map",
    "ridge_embedding_map",
    "select_stacking_constant",
    "stacked_accuracies",
    "stacked_prediction",
    "stacking_curve",
    "transductive_prototypes",
]
