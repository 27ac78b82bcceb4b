"""Problems with planted shifts of known size, and the calibration of :func:`diagnose` on them.

Each generator plants exactly one scenario, so a diagnosis can be checked against the truth:
over many draws without shift every flag must be raised at most ``alpha`` of the time (false
positives), and at the documented effect sizes the planted flag at least 90 % of the time (power).

Two families:

``dense`` — ``n_classes`` Gaussian classes, ``x | y ~ N(μ_y, I_d)``; the class means lie on a
circle of radius ``radius`` in the first two coordinates; the other ``d - 2`` coordinates are
label-independent nuisance features. Source priors are uniform.

* ``none``: the target is drawn like the source.
* ``covariate`` (effect δ, default 0.5): the target's nuisance coordinates are shifted by δ
  (in units of their standard deviation) along a random unit direction. P(X) moves; P(Y|X) and
  P(Y) are unchanged by construction.
* ``label`` (effect τ, default 0.2): target priors ``(1 - a)·uniform + a·e_0`` with total
  variation distance τ from the source's (``a = τ k / (k - 1)``). P(X|Y) unchanged.
* ``conditional`` (effect ρ, default 0.3): a share ρ of the target samples of classes 0 and 1
  swap labels (concept drift): P(X) and P(Y) unchanged, P(Y|X) differs.
* ``feature_space`` (effect k, default 2): the target has k extra features.

``sparse`` — bag-of-words-like Poisson counts over ``d`` features with Zipf-like rates and two
classes that modulate the first 10% of the features.

* ``none`` as above.
* ``vocabulary`` (effect r, default 0.05): the 5 features whose source presence rate is
  closest to r are never present in the target — a vocabulary shift: same feature space, P(X)
  differs (scenario 2; before, it was counted as scenario 1).

Every problem reveals ``n_target_labeled`` target labels (default 50) so that the label-space and
conditional checks run, and carries a labelled target test split.

Examples
--------
>>> planted = make_planted_problem("label", effect=0.3, random_state=0)
>>> planted.planted, planted.problem.n_target_labeled
(('label_shift',), 50)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from transferkit.exceptions import InvalidParameterError
from transferkit.problem import TransferProblem

logger = logging.getLogger(__name__)

SCENARIOS = ("none", "covariate", "label", "conditional", "feature_space", "vocabulary")

#: Effect sizes at which the calibration reports power (see the module docstring for units).
DEFAULT_EFFECTS: dict[str, dict[str, float]] = {
    "dense": {"none": 0.0, "covariate": 0.5, "label": 0.2, "conditional": 0.3, "feature_space": 2},
    "sparse": {"none": 0.0, "vocabulary": 0.05},
}

#: The flag each planted scenario must raise.
PLANTED_FLAGS = {
    "none": (),
    "covariate": ("covariate_shift",),
    "label": ("label_shift",),
    "conditional": ("conditional_shift",),
    "feature_space": ("feature_space",),
    "vocabulary": ("covariate_shift",),
}

EFFECT_UNITS = {
    "covariate": "mean shift δ of the nuisance features (sd units)",
    "label": "total variation τ between source and target priors",
    "conditional": "share ρ of class-0/1 target labels swapped",
    "feature_space": "extra target features k",
    "vocabulary": "source presence rate r of 5 features absent from the target (sparse)",
    "none": "",
}


@dataclass
class PlantedProblem:
    """A generated source/target pair with one planted scenario.

    ``problem`` is a TransferProblem when both domains share a feature space, else None and the
    raw parts (``X_source`` ...) are used.
    """

    scenario: str
    family: str
    effect: float
    planted: tuple[str, ...]
    X_source: Any
    y_source: np.ndarray
    X_target: Any
    y_target: np.ndarray
    target_labeled: np.ndarray
    X_test: Any
    y_test: np.ndarray
    source_feature_names: list[str] | None = None
    target_feature_names: list[str] | None = None
    problem: TransferProblem | None = field(default=None, repr=False)

    def diagnose(self, **options: Any) -> Any:
        """Run :func:`~transferkit.diagnose.diagnose` on this pair."""
        from transferkit.diagnose.scenarios import diagnose

        if self.problem is not None:
            return diagnose(self.problem, **options)
        return diagnose(
            self.X_source,
            self.X_target,
            y_source=self.y_source,
            y_target=self.y_target,
            target_labeled=self.target_labeled,
            source_feature_names=self.source_feature_names,
            target_feature_names=self.target_feature_names,
            **options,
        )


def _class_means(n_classes: int, n_features: int, radius: float) -> np.ndarray:
    angles = 2 * np.pi * np.arange(n_classes) / n_classes
    means = np.zeros((n_classes, n_features))
    means[:, 0] = radius * np.cos(angles)
    means[:, 1] = radius * np.sin(angles)
    return means


def _dense_draw(
    n: int, priors: np.ndarray, means: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    y = rng.choice(len(priors), size=n, p=priors)
    X = means[y] + rng.normal(size=(n, means.shape[1]))
    return X, y


def _label_mask(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, size=min(m, n), replace=False)] = True
    return mask


def _planted(
    scenario: str,
    family: str,
    effect: float,
    parts: tuple[Any, ...],
    feature_names: list[str] | None = None,
    **problem_names: str,
) -> PlantedProblem:
    """A PlantedProblem from the drawn ``(Xs, ys, Xt, yt, target_labeled, X_test, y_test)``.

    With ``feature_names`` both domains share that feature space, and the TransferProblem (named
    by ``problem_names``: ``name``, ``source_name``, ``target_name``) is built as well; without,
    the domains' features differ and only the raw parts are kept.
    """
    problem = None
    if feature_names is not None:
        Xs, ys, Xt, yt, mask, Xtest, ytest = parts
        problem = TransferProblem(
            Xs,
            ys,
            Xt,
            yt,
            target_labeled=mask,
            X_test=Xtest,
            y_test=ytest,
            feature_names=feature_names,
            **problem_names,
        )
    return PlantedProblem(
        scenario,
        family,
        effect,
        PLANTED_FLAGS[scenario],
        *parts,
        feature_names,
        feature_names,
        problem,
    )


def make_planted_problem(
    scenario: str,
    effect: float | None = None,
    family: str = "dense",
    n_source: int = 500,
    n_target: int = 500,
    n_test: int = 1000,
    n_features: int | None = None,
    n_classes: int = 3,
    radius: float = 2.0,
    n_target_labeled: int = 50,
    random_state: int | None = None,
) -> PlantedProblem:
    """Draw a source/target pair with one planted scenario of a given effect size.

    Parameters
    ----------
    scenario : {"none", "covariate", "label", "conditional", "feature_space", "vocabulary"}
        ``vocabulary`` is planted in the sparse family only, the others (but ``none``) in the
        dense family only.
    effect : float or None
        Effect size in the scenario's unit (module docstring); None: :data:`DEFAULT_EFFECTS`.
    family : {"dense", "sparse"}, default "dense"
    n_source, n_target, n_test : int
    n_features : int or None
        Default 10 (dense) or 300 (sparse).
    n_classes : int, default 3 (dense only; sparse has 2)
    radius : float, default 2.0
        Distance of the class means from the origin (dense).
    n_target_labeled : int, default 50
        Target labels a method (and the diagnosis) may see.
    random_state : int or None
    """
    if family not in DEFAULT_EFFECTS:
        raise InvalidParameterError(f"family must be 'dense' or 'sparse'; got {family!r}.")
    if scenario not in DEFAULT_EFFECTS[family]:
        raise InvalidParameterError(
            f"Scenario {scenario!r} is not planted in the {family} family; choose from "
            f"{', '.join(DEFAULT_EFFECTS[family])}."
        )
    effect = DEFAULT_EFFECTS[family][scenario] if effect is None else float(effect)
    rng = np.random.default_rng(random_state)
    if family == "sparse":
        return _sparse_problem(
            scenario, effect, n_source, n_target, n_test, n_features or 300, n_target_labeled, rng
        )
    d = n_features or 10
    if d < 3:
        raise InvalidParameterError("the dense family needs n_features >= 3.")
    means = _class_means(n_classes, d, radius)
    uniform = np.full(n_classes, 1.0 / n_classes)
    Xs, ys = _dense_draw(n_source, uniform, means, rng)
    target_priors = uniform
    if scenario == "label":
        a = effect * n_classes / (n_classes - 1)
        if not 0 <= a <= 1:
            raise InvalidParameterError(
                f"label effect (total variation) must be in [0, {(n_classes - 1) / n_classes:.2f}]."
            )
        target_priors = (1 - a) * uniform + a * np.eye(n_classes)[0]

    direction = np.zeros(d)
    if scenario == "covariate":
        v = rng.normal(size=d - 2)
        direction[2:] = v / np.linalg.norm(v)

    def target_draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        X, y = _dense_draw(n, target_priors, means, rng)
        if scenario == "covariate":
            X = X + effect * direction
        if scenario == "conditional":
            swap = (y <= 1) & (rng.random(n) < effect)
            y = np.where(swap, 1 - y, y)
        return X, y

    Xt, yt = target_draw(n_target)
    Xtest, ytest = target_draw(n_test)
    mask = _label_mask(n_target, n_target_labeled, rng)
    names_s = [f"f{j}" for j in range(d)]
    if scenario == "feature_space":
        k = int(effect)
        extra = rng.normal(size=(n_target, k))
        Xt = np.hstack([Xt, extra])
        Xtest = np.hstack([Xtest, rng.normal(size=(n_test, k))])
        return _planted(scenario, family, effect, (Xs, ys, Xt, yt, mask, Xtest, ytest))
    return _planted(
        scenario,
        family,
        effect,
        (Xs, ys, Xt, yt, mask, Xtest, ytest),
        names_s,
        name=f"planted-{scenario}",
        source_name="source",
        target_name=f"target ({scenario}, effect {effect:g})",
    )


def _sparse_problem(
    scenario: str,
    effect: float,
    n_source: int,
    n_target: int,
    n_test: int,
    d: int,
    n_target_labeled: int,
    rng: np.random.Generator,
) -> PlantedProblem:
    # Zipf-like mean counts from 0.5 down to ~0.005 per document
    base = 0.5 / (1.0 + np.arange(d) / 3.0)
    informative = max(1, d // 10)
    modulation = np.ones((2, d))
    modulation[0, :informative:2] = 2.0
    modulation[1, 1:informative:2] = 2.0
    rates = base * modulation

    def draw(n: int) -> tuple[sp.csr_matrix, np.ndarray]:
        y = rng.integers(0, 2, size=n)
        X = rng.poisson(rates[y]).astype(float)
        return sp.csr_matrix(X), y

    Xs, ys = draw(n_source)
    Xt, yt = draw(n_target)
    Xtest, ytest = draw(n_test)
    if scenario == "vocabulary":
        presence = 1 - np.exp(-rates.mean(axis=0))
        candidates = np.argsort(np.abs(presence - effect))[:5]
        keep = np.ones(d)
        keep[candidates] = 0
        Xt = sp.csr_matrix(Xt @ sp.diags(keep))
        Xtest = sp.csr_matrix(Xtest @ sp.diags(keep))
        Xt.eliminate_zeros()
        Xtest.eliminate_zeros()
    mask = _label_mask(n_target, n_target_labeled, rng)
    names = [f"w{j}" for j in range(d)]
    return _planted(
        scenario,
        "sparse",
        effect,
        (Xs, ys, Xt, yt, mask, Xtest, ytest),
        names,
        name=f"planted-sparse-{scenario}",
        target_name=f"target ({scenario})",
    )


# --------------------------------------------------------------------------- calibration runs
@dataclass
class CalibrationRow:
    """Flag rates over draws of one planted scenario (a family, an effect size)."""

    family: str
    scenario: str
    effect: float
    draws: int
    rates: dict[str, float]
    planted: tuple[str, ...]
    seconds: float

    @property
    def power(self) -> float | None:
        """Share of draws raising every planted flag (None when nothing is planted)."""
        return self.rates.get("_all_planted") if self.planted else None

    @property
    def worst_false_positive(self) -> float:
        """Largest rate among the flags that were not planted."""
        others = [
            r for f, r in self.rates.items() if not f.startswith("_") and f not in self.planted
        ]
        return max(others) if others else 0.0


def calibrate(
    scenarios: Sequence[tuple[str, str, float | None]] | None = None,
    draws: int = 100,
    alpha: float = 0.05,
    random_state: int = 0,
    diagnose_options: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[CalibrationRow]:
    """Diagnose ``draws`` fresh problems per (family, scenario, effect) and count the flags.

    Parameters
    ----------
    scenarios : sequence of (family, scenario, effect or None), optional
        Default: every scenario of both families at its default effect.
    draws : int, default 100
    alpha : float, default 0.05
    random_state : int, default 0
        Draw ``i`` of a row uses seed ``random_state + i`` for the data and the diagnosis.
    diagnose_options : dict, optional
        Passed to :func:`~transferkit.diagnose.diagnose` (e.g. ``n_permutations``).
    progress : callable(done, total), optional
        Called after each draw (the CLI passes a progress bar).
    """
    from transferkit.diagnose.scenarios import FLAGS

    if scenarios is None:
        scenarios = [(f, s, None) for f in DEFAULT_EFFECTS for s in DEFAULT_EFFECTS[f]]
    options = {"n_permutations": 100, "n_bootstrap": 50, **(diagnose_options or {})}
    rows = []
    total = len(scenarios) * draws
    done = 0
    for family, scenario, effect in scenarios:
        counts = dict.fromkeys(FLAGS, 0)
        all_planted = 0
        start = time.perf_counter()
        used_effect = DEFAULT_EFFECTS[family][scenario] if effect is None else effect
        for i in range(draws):
            planted = make_planted_problem(
                scenario, used_effect, family=family, random_state=random_state + i
            )
            flags = planted.diagnose(alpha=alpha, random_state=random_state + i, **options).flags
            for flag in FLAGS:
                counts[flag] += int(bool(flags[flag]))
            all_planted += int(all(flags[f] for f in planted.planted)) if planted.planted else 0
            done += 1
            if progress is not None:
                progress(done, total)
        rates = {flag: counts[flag] / draws for flag in FLAGS}
        rates["_all_planted"] = all_planted / draws
        rows.append(
            CalibrationRow(
                family,
                scenario,
                float(used_effect),
                draws,
                rates,
                PLANTED_FLAGS[scenario],
                time.perf_counter() - start,
            )
        )
        logger.info("calibrated %s/%s in %.1fs", family, scenario, rows[-1].seconds)
    return rows
