"""Generated transfer problems whose shift is known by construction: rotated moons, shifted blobs.

They need no files, run in milliseconds and are deterministic given ``random_state``, so tests and
demos can check that a method fixes the very shift that was put in.
"""

from __future__ import annotations

import numpy as np

from transferkit.checks import check_count, check_number
from transferkit.datasets._utils import RandomState, as_generator
from transferkit.problem import TransferProblem

#: Centre of the two-moons point cloud; the target is rotated about it so the domains overlap.
MOONS_CENTER = np.array([0.5, 0.25])


def _moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (upper: class 0, lower: class 1) with Gaussian noise."""
    n_upper = n // 2
    y = np.repeat([0, 1], [n_upper, n - n_upper])
    angle = rng.uniform(0.0, np.pi, size=n)
    X = np.column_stack([np.cos(angle), np.sin(angle)])
    lower = y == 1
    X[lower] = np.column_stack([1.0 - np.cos(angle[lower]), 0.5 - np.sin(angle[lower])])
    X += rng.normal(scale=noise, size=X.shape)
    order = rng.permutation(n)
    return X[order], y[order]


def rotate(X: np.ndarray, angle: float, center: np.ndarray = MOONS_CENTER) -> np.ndarray:
    """Rotate 2-D points counter-clockwise by ``angle`` degrees about ``center``."""
    theta = np.deg2rad(angle)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return (X - center) @ rotation.T + center


def make_rotated_moons(
    n_samples: int = 300,
    angle: float = 30.0,
    noise: float = 0.1,
    n_test: int | None = None,
    random_state: RandomState = None,
) -> TransferProblem:
    """The two-moons toy problem of DANN: the target is the source rotated by ``angle`` degrees.

    Ganin et al. (2016, JMLR, section 5.1.1) train on two interleaving moons and adapt to the same
    moons rotated (they use 35 degrees). Here the rotation is about the centre of the point cloud
    (0.5, 0.25), so source and target overlap and the shift grows smoothly with ``angle``.

    Parameters
    ----------
    n_samples : int, default 300
        Samples in the source and, separately drawn, in the target.
    angle : float, default 30.0
        Rotation of the target in degrees (counter-clockwise).
    noise : float, default 0.1
        Standard deviation of the Gaussian noise added to every point.
    n_test : int or None, default None
        Size of the separately drawn, labelled target test split (None: ``n_samples``).
    random_state : int, Generator or None, default None
        Seed; the same seed gives the same problem.

    Returns
    -------
    TransferProblem
        Domains ``"source"`` → ``"rotated"``; target labels in ``y_target`` are hidden from methods
        (``target_labeled`` all False); ``X_test``/``y_test`` is a fresh rotated draw.

    Examples
    --------
    >>> from transferkit.datasets import make_rotated_moons
    >>> problem = make_rotated_moons(n_samples=100, angle=35, random_state=0)
    >>> problem.n_source, problem.n_target, problem.n_target_labeled, problem.X_test.shape
    (100, 100, 0, (100, 2))
    """
    n_samples = check_count(n_samples, "n_samples", 2)
    n_test = n_samples if n_test is None else check_count(n_test, "n_test", 1)
    angle = check_number(angle, "angle")
    noise = check_number(noise, "noise", low=0.0)
    rng = as_generator(random_state)
    X_source, y_source = _moons(n_samples, noise, rng)
    X_target, y_target = _moons(n_samples, noise, rng)
    X_test, y_test = _moons(n_test, noise, rng)
    return TransferProblem(
        X_source=X_source,
        y_source=y_source,
        X_target=rotate(X_target, angle),
        y_target=y_target,
        X_test=rotate(X_test, angle),
        y_test=y_test,
        feature_names=["x1", "x2"],
        name="moons",
        source_name="source",
        target_name="rotated",
        metadata={"dataset": "moons", "angle": angle, "noise": noise, "shift": "rotation"},
    )


def _class_centers(n_classes: int, n_features: int, rng: np.random.Generator) -> np.ndarray:
    """Class means on a circle in a random plane, far enough apart for unit-variance classes."""
    radius = max(2.5, 1.75 / np.sin(np.pi / max(n_classes, 2)))
    phase = rng.uniform(0.0, 2 * np.pi)
    angles = phase + 2 * np.pi * np.arange(n_classes) / n_classes
    if n_features == 1:
        spacing = 3.5
        return (spacing * (np.arange(n_classes) - (n_classes - 1) / 2)).reshape(-1, 1)
    plane, _ = np.linalg.qr(rng.normal(size=(n_features, 2)))
    return radius * np.column_stack([np.cos(angles), np.sin(angles)]) @ plane.T


def _unit_vectors(n: int, n_features: int, rng: np.random.Generator) -> np.ndarray:
    vectors = rng.normal(size=(n, n_features))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _log_posterior(X: np.ndarray, centers: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """log P(y | x) of a mixture of unit-covariance Gaussians."""
    squared = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    logits = np.log(priors)[None, :] - 0.5 * squared
    return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)


def _sample_labels(log_posterior: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cumulative = np.cumsum(np.exp(log_posterior), axis=1)
    draws = rng.uniform(size=(len(log_posterior), 1)) * cumulative[:, -1:]
    return (draws > cumulative).sum(axis=1)


def make_shifted_blobs(
    n_samples: int = 500,
    n_features: int = 2,
    n_classes: int = 3,
    covariate_shift: float = 0.0,
    label_shift: float = 0.0,
    conditional_shift: float = 0.0,
    n_test: int = 500,
    random_state: RandomState = None,
) -> TransferProblem:
    """Gaussian blobs whose target differs by covariate, label and/or conditional shift.

    The source is a mixture of unit-covariance Gaussians with equal class priors. Three separate
    knobs move the target (Moreno-Torres et al. 2012 name the three kinds of dataset shift):

    - ``covariate_shift`` (P(x) changes, P(y|x) kept): target inputs are drawn from the mixture
      moved by ``covariate_shift`` class standard deviations along a random direction and spread
      by a factor ``1 + covariate_shift / 4``; each is then labelled by sampling the *unshifted*
      model's posterior P(y|x), so the labelling rule is exactly the source's.
    - ``label_shift`` in [0, 1] (P(y) changes, P(x|y) kept): target priors move from uniform
      (0) to ones proportional to 4^-k for class k (1), i.e. later classes become rare.
    - ``conditional_shift`` (P(x|y) changes differently per class): each class mean moves by
      ``conditional_shift`` standard deviations along its own random direction.

    Parameters
    ----------
    n_samples : int, default 500
        Samples in the source and in the (unlabelled for methods) target.
    n_features : int, default 2
        Dimension of the inputs.
    n_classes : int, default 3
        Number of classes (labels 0..n_classes-1).
    covariate_shift, label_shift, conditional_shift : float, default 0.0
        Amounts of each shift, as above; all zero gives source and target from one distribution.
    n_test : int, default 500
        Size of the labelled target test split, drawn like the target.
    random_state : int, Generator or None, default None
        Seed; the same seed gives the same problem.

    Returns
    -------
    TransferProblem
        Domains ``"source"`` → ``"target"`` with ``y_target`` hidden, ``X_test``/``y_test`` set, and
        ``metadata`` holding the knobs, the class means and both class-prior vectors.

    Examples
    --------
    >>> from transferkit.datasets import make_shifted_blobs
    >>> problem = make_shifted_blobs(n_samples=200, label_shift=1.0, random_state=0)
    >>> [round(p, 2) for p in problem.metadata["target_priors"]]
    [0.76, 0.19, 0.05]
    """
    n_samples = check_count(n_samples, "n_samples", 2)
    n_features = check_count(n_features, "n_features", 1)
    n_classes = check_count(n_classes, "n_classes", 2)
    n_test = check_count(n_test, "n_test", 1)
    covariate_shift = check_number(covariate_shift, "covariate_shift", low=0.0)
    label_shift = check_number(label_shift, "label_shift", low=0.0, high=1.0)
    conditional_shift = check_number(conditional_shift, "conditional_shift", low=0.0)
    rng = as_generator(random_state)

    centers = _class_centers(n_classes, n_features, rng)
    covariate_direction = _unit_vectors(1, n_features, rng)[0]
    class_directions = _unit_vectors(n_classes, n_features, rng)

    source_priors = np.full(n_classes, 1.0 / n_classes)
    skewed = 4.0 ** -np.arange(n_classes)
    target_priors = (1 - label_shift) * source_priors + label_shift * skewed / skewed.sum()
    target_centers = centers + conditional_shift * class_directions

    def draw(n: int, priors: np.ndarray, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = rng.choice(n_classes, size=n, p=priors)
        return means[y] + rng.normal(size=(n, n_features)), y

    def draw_target(n: int) -> tuple[np.ndarray, np.ndarray]:
        X, y = draw(n, target_priors, target_centers)
        if covariate_shift > 0:
            middle = target_priors @ target_centers
            spread = 1.0 + covariate_shift / 4.0
            X = middle + spread * (X - middle) + covariate_shift * covariate_direction
            y = _sample_labels(_log_posterior(X, target_centers, target_priors), rng)
        return X, y

    X_source, y_source = draw(n_samples, source_priors, centers)
    X_target, y_target = draw_target(n_samples)
    X_test, y_test = draw_target(n_test)
    return TransferProblem(
        X_source=X_source,
        y_source=y_source,
        X_target=X_target,
        y_target=y_target,
        X_test=X_test,
        y_test=y_test,
        feature_names=[f"x{i + 1}" for i in range(n_features)],
        name="blobs",
        source_name="source",
        target_name="target",
        metadata={
            "dataset": "blobs",
            "covariate_shift": covariate_shift,
            "label_shift": label_shift,
            "conditional_shift": conditional_shift,
            "centers": centers.tolist(),
            "target_centers": target_centers.tolist(),
            "source_priors": source_priors.tolist(),
            "target_priors": target_priors.tolist(),
        },
    )


def _moons_pair(
    source: str,
    target: str,
    *,
    data_home: object = None,
    random_state: RandomState = None,
    **options,
) -> TransferProblem:
    """load_pair("moons", "source", "rotated", ...)."""
    return make_rotated_moons(random_state=random_state, **options)


def _blobs_pair(
    source: str,
    target: str,
    *,
    data_home: object = None,
    random_state: RandomState = None,
    **options,
) -> TransferProblem:
    """load_pair("blobs", "source", "target", ...)."""
    return make_shifted_blobs(random_state=random_state, **options)
