"""Optimal-transport mapping of the source onto the target (Courty et al. 2017), via POT.

The plans as plain functions (:func:`class_regularized_plan`, :func:`ot_map`) and the
:class:`OTMapping` adapter, registered as ``ot``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import pairwise_distances_argmin

from transferkit.base import AdaptedClassifier, BaseAdapter
from transferkit.checks import check_choice, check_nonnegative, check_positive_int, densify
from transferkit.exceptions import NotApplicableError
from transferkit.problem import SOURCE, DataMatrix, TransferProblem
from transferkit.registry import register_method

_OT_METHODS = ("emd", "sinkhorn", "lpl1")


def class_regularized_plan(
    M: np.ndarray,
    labels: np.ndarray,
    reg_e: float,
    reg_cl: float,
    n_outer: int = 10,
    n_inner: int = 200,
    tol: float = 1e-9,
    source_mass: np.ndarray | None = None,
) -> np.ndarray:
    """Entropic OT plan with the class (group-lasso, l_1/2-l_1) regulariser.

    The target marginal is uniform; the source one is ``source_mass`` (default uniform).

    Courty, Flamary, Tuia & Rakotomamonjy (2017), IEEE TPAMI 39(9), Eq. 5 with the l_p-l_1
    regulariser (p = 1/2) solved by majorisation-minimisation: each outer step linearises the
    regulariser at the current plan, ``W[i, j] = p (m[c(i), j] + 1e-3)^(p-1)`` where
    ``m[c, j]`` is the mass target ``j`` receives from source class ``c``, and solves the
    entropic problem with cost ``M + reg_cl W`` by POT's Sinkhorn (``ot.sinkhorn``). This is the
    problem ``ot.da.sinkhorn_lpl1_mm`` solves; here each Sinkhorn solve starts from the previous
    step's scalings (the costs change little between steps) and the class masses are one
    ``C x n_s`` by ``n_s x n_t`` product, where POT's loop builds an ``n_t x n_s x C`` array.

    Examples
    --------
    >>> import numpy as np
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> plan = class_regularized_plan(M, np.array([0, 1]), reg_e=0.1, reg_cl=1.0)
    >>> bool(plan[0, 0] > 0.49 and plan[1, 1] > 0.49)
    True
    """
    import ot

    n_source, n_target = M.shape
    a = np.full(n_source, 1.0 / n_source) if source_mass is None else source_mass
    b = np.full(n_target, 1.0 / n_target)
    _, class_of = np.unique(labels, return_inverse=True)
    members = np.zeros((class_of.max() + 1, n_source))
    members[class_of, np.arange(n_source)] = 1.0
    cost, warm = M, None
    for _ in range(n_outer):
        plan, log = ot.sinkhorn(
            a,
            b,
            cost,
            reg_e,
            numItermax=n_inner,
            stopThr=tol,
            log=True,
            warn=False,
            warmstart=warm,
        )
        if not np.all(np.isfinite(log["u"])) or not np.all(np.isfinite(log["v"])):
            break
        warm = (np.log(log["u"]), np.log(log["v"]))
        weight = 0.5 * (members @ plan + 1e-3) ** -0.5  # p (m + eps)^(p-1), p = 1/2; C x n_t
        cost = M + reg_cl * weight[class_of]
    return plan


def _ot_cost(Xs: np.ndarray, Xt: np.ndarray, metric: str, norm: str | None) -> np.ndarray:
    import ot

    return ot.utils.cost_normalization(ot.dist(Xs, Xt, metric=metric), norm)


def _ot_plan(
    Xs: np.ndarray,
    ys: np.ndarray | None,
    Xt: np.ndarray,
    method: str,
    reg_e: float,
    reg_cl: float,
    metric: str = "sqeuclidean",
    norm: str | None = "median",
    max_iter: int | None = None,
    source_mass: np.ndarray | None = None,
) -> np.ndarray:
    """The transport plan of ``method``: POT's exact solver, POT's Sinkhorn, or the
    class-regularised plan above (built on POT's Sinkhorn). ``source_mass``: the source
    marginal (default uniform); the target one is uniform."""
    import ot

    M = _ot_cost(Xs, Xt, metric, norm)
    a = np.full(len(Xs), 1.0 / len(Xs)) if source_mass is None else source_mass
    b = np.full(len(Xt), 1.0 / len(Xt))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if method == "emd":
            return np.asarray(ot.emd(a, b, M, numItermax=max_iter or 100000))
        if method == "sinkhorn":
            return np.asarray(ot.sinkhorn(a, b, M, reg_e, numItermax=max_iter or 1000))
    return class_regularized_plan(
        M, ys, reg_e, reg_cl, n_outer=max_iter or 10, source_mass=source_mass
    )


def _barycentric(plan: np.ndarray, Xt: np.ndarray) -> np.ndarray:
    """Courty et al. (2017) Eq. 13: each source row moves to the plan-weighted mean of the target
    rows it is coupled with (rows of the plan with no mass stay at zero, as in POT)."""
    mass = plan.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        weights = np.where(mass > 0, plan / mass, 0.0)
    return weights @ Xt


def ot_map(
    Xs: DataMatrix,
    ys: np.ndarray | None,
    Xt: DataMatrix,
    method: str = "sinkhorn",
    reg_e: float = 1.0,
    reg_cl: float = 1.0,
    norm: str | None = "median",
) -> np.ndarray:
    """Source rows transported onto the target by the barycentric map of an OT plan (POT).

    Courty, Flamary, Tuia & Rakotomamonjy (2017), "Optimal transport for domain adaptation", IEEE
    TPAMI 39(9): the plan ``gamma`` of Eq. 2 (exact, ``method="emd"``, POT's ``ot.emd``), Eq. 3
    (entropic, ``"sinkhorn"``, POT's ``ot.sinkhorn``) or Eq. 5 with the group-lasso class
    regulariser (``"lpl1"``, :func:`class_regularized_plan` on POT's Sinkhorn), then the
    barycentric mapping ``X_s' = diag(gamma 1)^(-1) gamma X_t`` (Eq. 13). The ground cost is
    POT's ``ot.dist`` normalised by ``ot.utils.cost_normalization``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Xs, Xt = rng.normal(size=(30, 2)), rng.normal(5.0, size=(40, 2))
    >>> bool(ot_map(Xs, None, Xt, method="emd").mean() > 4)
    True
    """
    check_choice(method, "method", "ot", _OT_METHODS)
    if method == "lpl1" and ys is None:
        raise NotApplicableError("ot: method='lpl1' needs the source labels ys.")
    Xs = densify(Xs, "ot", "POT works on dense arrays")
    Xt = densify(Xt, "ot", "POT works on dense arrays")
    return _barycentric(_ot_plan(Xs, ys, Xt, method, reg_e, reg_cl, norm=norm), Xt)


class OTMapping(BaseAdapter):
    """Optimal-transport mapping of the source onto the target (Courty et al. 2017), via POT.

    Courty, Flamary, Tuia & Rakotomamonjy (2017), "Optimal transport for domain adaptation", IEEE
    TPAMI 39(9): an exact (Eq. 2), entropic (Eq. 3) or class-regularised (Eq. 5, group lasso)
    transport plan, then the barycentric mapping of the source (Eq. 13). New source rows are
    mapped out of sample as POT's ``ot.da`` classes do: the displacement of their nearest fitted
    source row is added to them. Target rows pass through. The plans come from POT's ``ot.emd``
    and ``ot.sinkhorn`` (see :func:`class_regularized_plan` for ``lpl1``).

    Parameters
    ----------
    method : {"emd", "sinkhorn", "lpl1"}, default "sinkhorn"
    reg_e : float, default 1.0
        Entropic regularisation (sinkhorn, lpl1), > 0.
    reg_cl : float, default 1.0
        Class regularisation (lpl1), >= 0.
    metric : str, default "sqeuclidean"
        Ground cost (any metric ``ot.dist`` takes).
    norm : {"median", "max", "log", "loglog", None}, default "median"
        Cost normalisation; "median" makes ``reg_e`` independent of the feature scale.
    max_iter : int or None, default None
        Iteration cap: network-simplex iterations (emd, default 100,000), Sinkhorn iterations
        (sinkhorn, default 1,000) or majorisation steps (lpl1, default 10).
    source_mass : {"uniform", "target_priors"}, default "uniform"
        The source marginal of the plan. "uniform" gives every source row the same mass, so each
        class sends its source share of the mass, whatever the target's class balance. Under
        label shift that forces source rows of a class onto target rows of others.
        "target_priors" gives each source class the target's share instead (as JCPOT does, Redko
        et al. 2019), without target labels: the uniform plan maps the source onto the target; a
        logistic regression fitted on the mapped source gives target probabilities, from which EM
        (Saerens et al. 2002) estimates the target's class priors; each class keeps at least a
        tenth of a uniform share and its mass is split equally among its rows (``class_mass_``);
        the plan is solved once more with these masses. The estimate is made once: repeating it
        on the new mapping drifts (each class's mass enlarges the region it maps onto, hence its
        next estimate), which on Office-Caltech collapsed the priors and cost jda_ot 6.8 points
        (docs/benchmarks.md). Where the target's balance is close to the source's, keep
        "uniform".

    Notes
    -----
    Sparse input is densified with a warning (POT needs dense arrays).

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> problem = TransferProblem(rng.normal(size=(30, 2)), np.arange(30) % 2,
    ...                           rng.normal(3.0, size=(30, 2)))
    >>> ot_adapter = OTMapping(method="lpl1", reg_e=1.0, reg_cl=0.5).fit(problem)
    >>> bool(ot_adapter.transform(problem.X_source, np.zeros(30)).mean() > 2)
    True
    """

    def __init__(
        self,
        method: str = "sinkhorn",
        reg_e: float = 1.0,
        reg_cl: float = 1.0,
        metric: str = "sqeuclidean",
        norm: str | None = "median",
        max_iter: int | None = None,
        source_mass: str = "uniform",
    ):
        self.method = method
        self.reg_e = reg_e
        self.reg_cl = reg_cl
        self.metric = metric
        self.norm = norm
        self.max_iter = max_iter
        self.source_mass = source_mass

    def _fit(self, problem: TransferProblem) -> None:
        check_choice(self.method, "method", "OTMapping", _OT_METHODS)
        if self.method != "emd":
            check_nonnegative(self.reg_e, "reg_e", "OTMapping", strict=True)
        check_nonnegative(self.reg_cl, "reg_cl", "OTMapping")
        check_choice(self.norm, "norm", "OTMapping", ("median", "max", "log", "loglog", None))
        if self.max_iter is not None:
            check_positive_int(self.max_iter, "max_iter", "OTMapping")
        check_choice(self.source_mass, "source_mass", "OTMapping", ("uniform", "target_priors"))
        Xs = densify(problem.X_source, "OTMapping", "POT works on dense arrays")
        Xt = densify(problem.X_target, "OTMapping", "POT works on dense arrays")
        settings = (self.method, self.reg_e, self.reg_cl, self.metric, self.norm, self.max_iter)
        plan = _ot_plan(Xs, problem.y_source, Xt, *settings)
        if self.source_mass == "target_priors" and np.all(np.isfinite(plan)) and plan.sum() > 0:
            # priors read off the aligned source, then the plan again with those class masses;
            # once only: repeating it feeds each estimate back into the next and drifts
            mass = self._target_prior_mass(_barycentric(plan, Xt), problem.y_source, Xt)
            plan = _ot_plan(Xs, problem.y_source, Xt, *settings, source_mass=mass)
        if not np.all(np.isfinite(plan)) or plan.sum() <= 0:
            raise NotApplicableError(
                f"OTMapping(method={self.method!r}, reg_e={self.reg_e}) gave a non-finite or "
                "empty transport plan; increase reg_e or keep norm='median'."
            )
        self.coupling_ = plan
        self.source_ = Xs
        self.mapped_source_ = _barycentric(plan, Xt)

    def _target_prior_mass(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> np.ndarray:
        """Masses of the (mapped) source rows ``Xs`` that give each class its estimated target
        share (EM priors of a logistic regression fitted on ``Xs``, applied to ``Xt``)."""
        from sklearn.linear_model import LogisticRegression

        from transferkit.label_shift import em_priors

        classes, class_of, counts = np.unique(ys, return_inverse=True, return_counts=True)
        if len(classes) < 2:
            raise NotApplicableError(
                "OTMapping(source_mass='target_priors') needs at least two source classes."
            )
        model = LogisticRegression(max_iter=1000).fit(Xs, class_of)
        priors = em_priors(model.predict_proba(Xt), counts / counts.sum())
        priors = np.maximum(priors, 0.1 / len(classes))
        self.class_mass_ = priors / priors.sum()
        return self.class_mass_[class_of] / counts[class_of]

    def _transform(self, X: DataMatrix, domain: int) -> np.ndarray:
        X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)
        if domain != SOURCE:
            return X
        if X.shape == self.source_.shape and np.array_equal(X, self.source_):
            return self.mapped_source_.copy()
        nearest = pairwise_distances_argmin(X, self.source_)  # chunked: bounded memory
        return X + self.mapped_source_[nearest] - self.source_[nearest]


@register_method(
    "ot", "alignment", "Optimal-transport mapping: emd, sinkhorn or lpl1 (Courty et al. 2017)"
)
def _ot(estimator: Any, random_state: int | None, **params: Any) -> Any:
    return AdaptedClassifier(OTMapping(**params), estimator)
