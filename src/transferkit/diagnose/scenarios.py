"""Which of the four transfer scenarios holds, measured: :func:`diagnose` → :class:`Diagnosis`.

The four scenarios (Pan & Yang, 2010; Weiss, Khoshgoftaar & Wang, 2016) and the flags that
report them:

1. **Feature spaces differ** (``feature_space``): different dimensions, feature names (or their
   order) or value types — truly different spaces. Features of one shared space that are used in
   one domain and (almost) never in the other (words of one vocabulary) are *not* scenario 1:
   they are reported as a vocabulary shift, a change of P(X) (scenario 2).
2. **Marginals differ** (``covariate_shift``): P(X) differs between the domains *beyond what a
   change of class balance explains*. The raw two-sample evidence (domain-classifier AUC, proxy
   A-distance, MMD test, per-feature drift) is reported as is; the verdict re-runs the tests after
   resampling the source classes to the target priors estimated by BBSE, because label shift alone
   also moves P(X).
3. **Label spaces differ** (``label_space``): target labels outside the source's label set
   (visible ones, or labels hidden from methods such as those of a target file), or source
   classes absent from the target.
4. **Conditionals differ / class imbalance**: ``label_shift`` (P(Y) differs; black-box shift
   detection, priors by BBSE and EM with bootstrap intervals), ``conditional_shift`` (P(Y|X)
   differs beyond the class balance; needs a few target labels) and ``source_imbalance``
   (descriptive: the largest source class is ``imbalance_ratio`` times the smallest or more).

Every test runs at level ``alpha``; combined evidence uses a Bonferroni bound, so on two samples
of one distribution each flag is raised with probability at most ``alpha`` (see the calibration
table in ``docs/benchmarks.md``, made by ``benchmarks/calibration.py``).

Examples
--------
>>> from transferkit.diagnose.calibration import make_planted_problem
>>> planted = make_planted_problem("covariate", random_state=0)
>>> diagnosis = diagnose(planted.problem, random_state=0)
>>> diagnosis.flags["covariate_shift"], diagnosis.flags["label_shift"]
(True, False)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, StandardScaler

import transferkit.diagnose.statistics as st
from transferkit.diagnose.report import recommend
from transferkit.diagnose.results import (
    FLAGS,
    Diagnosis,
    Evidence,
    Verdict,
    format_p,
    format_value,
    plain,
)
from transferkit.exceptions import InvalidParameterError, NotApplicableError
from transferkit.label_shift import (
    adjust_proba,
    aligned_proba,
    apply_temperature,
    estimate_target_priors,
    fit_temperature,
    log_proba,
)
from transferkit.problem import ImageCollection, TransferProblem

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- inputs
@dataclass
class _Domains:
    Xs: Any
    Xt: Any
    ys: np.ndarray | None
    yt: np.ndarray | None
    labeled: np.ndarray
    names_s: list[str] | None
    names_t: list[str] | None
    summary: dict[str, Any]
    #: Every target label given, visible to methods or not (evaluation labels, the test split):
    #: only its set of classes is used, to report classes the source never saw.
    target_label_pool: np.ndarray | None = None


def _read_inputs(
    source: Any,
    X_target: Any,
    y_source: Any,
    y_target: Any,
    target_labeled: Any,
    source_feature_names: Sequence[str] | None,
    target_feature_names: Sequence[str] | None,
    image_size: tuple[int, int] = (16, 16),
) -> _Domains:
    if isinstance(source, TransferProblem):
        problem = source
        note = None
        if problem.is_images:
            problem = _thumbnails(problem, image_size)
            note = (
                f"images diagnosed as {image_size[0]}x{image_size[1]} RGB thumbnails (pixel "
                "features); for a semantic view, diagnose features of a pre-trained backbone"
            )
        names = list(problem.feature_names) if problem.feature_names is not None else None
        given = [np.asarray(y) for y in (problem.y_target, problem.y_test) if y is not None]
        return _Domains(
            Xs=st.as_matrix(problem.X_source, "X_source"),
            Xt=st.as_matrix(problem.X_target, "X_target"),
            ys=np.asarray(problem.y_source),
            yt=None if problem.y_target is None else np.asarray(problem.y_target),
            labeled=np.asarray(problem.target_labeled, dtype=bool),
            names_s=names,
            names_t=names,
            summary={
                "name": problem.name,
                "source_name": problem.source_name,
                "target_name": problem.target_name,
                **({"note": note} if note else {}),
            },
            target_label_pool=np.concatenate(given) if given else None,
        )
    if X_target is None:
        raise InvalidParameterError(
            "diagnose takes a TransferProblem, or two data matrices: diagnose(X_source, X_target)."
        )
    if isinstance(source, ImageCollection) or isinstance(X_target, ImageCollection):
        raise NotApplicableError("diagnose needs feature vectors, not images; extract features.")
    Xs = st.as_matrix(source, "X_source")
    Xt = st.as_matrix(X_target, "X_target")
    for what, X in (("X_source", Xs), ("X_target", Xt)):
        values = X.data if sp.issparse(X) else X
        if not np.isfinite(values).all():
            raise InvalidParameterError(
                f"{what} holds NaN or infinite values; impute or drop them before diagnosing."
            )
    ys = None if y_source is None else np.asarray(y_source)
    yt = None if y_target is None else np.asarray(y_target)
    if ys is not None and len(ys) != Xs.shape[0]:
        raise InvalidParameterError(
            f"y_source has {len(ys)} labels for {Xs.shape[0]} source rows; give one per row."
        )
    if yt is not None and len(yt) != Xt.shape[0]:
        raise InvalidParameterError(
            f"y_target has {len(yt)} labels for {Xt.shape[0]} target rows; give one per row."
        )
    if target_labeled is None:
        labeled = np.ones(Xt.shape[0], bool) if yt is not None else np.zeros(Xt.shape[0], bool)
    else:
        labeled = np.asarray(target_labeled, dtype=bool)
        if labeled.shape != (Xt.shape[0],):
            raise InvalidParameterError(
                f"target_labeled has shape {labeled.shape}; expected ({Xt.shape[0]},)."
            )
    for what, names, X in (
        ("source_feature_names", source_feature_names, Xs),
        ("target_feature_names", target_feature_names, Xt),
    ):
        if names is not None and len(names) != X.shape[1]:
            raise InvalidParameterError(
                f"{what} has {len(names)} names for {X.shape[1]} columns; give one per column."
            )
    return _Domains(
        Xs=Xs,
        Xt=Xt,
        ys=ys,
        yt=yt,
        labeled=labeled,
        names_s=None if source_feature_names is None else [str(n) for n in source_feature_names],
        names_t=None if target_feature_names is None else [str(n) for n in target_feature_names],
        summary={"name": "data", "source_name": "source", "target_name": "target"},
        target_label_pool=yt,
    )


def _thumbnails(problem: TransferProblem, size: tuple[int, int]) -> TransferProblem:
    """The problem with every image replaced by its flattened RGB thumbnail in [0, 1]."""
    from dataclasses import replace

    def pixels(X: ImageCollection) -> np.ndarray:
        return X.to_array(size).reshape(len(X), -1).astype(np.float64) / 255.0

    logger.info("diagnosing images as %sx%s thumbnails", *size)
    return replace(
        problem,
        X_source=pixels(problem.X_source),
        X_target=pixels(problem.X_target),
        X_test=None,
        y_test=None,
        feature_names=None,
    )


# --------------------------------------------------------------------------- scenario 1
def _integer_columns(X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: all values integer?, share of non-zeros that are non-integer, non-zero count."""
    if sp.issparse(X):
        X = sp.csc_matrix(X)
        X.eliminate_zeros()
        counts = np.diff(X.indptr)
        column = np.repeat(np.arange(X.shape[1]), counts)
        nonint = (np.mod(X.data, 1) != 0).astype(float)
        sums = np.bincount(column, weights=nonint, minlength=X.shape[1])
    else:
        nz = X != 0
        counts = nz.sum(axis=0)
        sums = (np.mod(X, 1) != 0).sum(axis=0).astype(float)
    share = np.divide(sums, counts, out=np.zeros(X.shape[1]), where=counts > 0)
    return sums == 0, share, np.asarray(counts)


def _columns(X: Any, cols: np.ndarray) -> Any:
    return (
        X if len(cols) == X.shape[1] and np.array_equal(cols, np.arange(X.shape[1])) else X[:, cols]
    )


def _feature_space(
    d: _Domains, alpha: float, max_rate_ratio: float
) -> tuple[Verdict, dict[str, Any], tuple[np.ndarray, np.ndarray, list[str] | None] | None]:
    """Scenario 1. Also returns the shared space as (source columns, target columns, names),
    without features confined to one domain, or None when the domains share no features."""
    ds, dt = d.Xs.shape[1], d.Xt.shape[1]
    evidence = [Evidence("features", f"{ds} vs {dt}")]
    reasons: list[str] = []
    details: dict[str, Any] = {"n_features_source": ds, "n_features_target": dt}
    shared: tuple[np.ndarray, np.ndarray, list[str] | None] | None = None

    if d.names_s is not None and d.names_t is not None:
        set_s, set_t = set(d.names_s), set(d.names_t)
        only_s = [n for n in d.names_s if n not in set_t]
        only_t = [n for n in d.names_t if n not in set_s]
        common = [n for n in d.names_s if n in set_t]
        details.update(
            names_only_source=only_s[:50],
            names_only_target=only_t[:50],
            n_names_only_source=len(only_s),
            n_names_only_target=len(only_t),
            n_shared_names=len(common),
        )
        if only_s or only_t:
            reasons.append(
                f"{len(only_s)} feature names only in the source, {len(only_t)} only in the target"
            )
            evidence.append(
                Evidence("names only in source / target", f"{len(only_s)} / {len(only_t)}")
            )
        elif d.names_s != d.names_t:
            reasons.append("the same feature names in a different order")
            details["names_reordered"] = True
        if common:
            position_s = {n: i for i, n in enumerate(d.names_s)}
            position_t = {n: i for i, n in enumerate(d.names_t)}
            shared = (
                np.array([position_s[n] for n in common]),
                np.array([position_t[n] for n in common]),
                common,
            )
    elif ds == dt:
        shared = (np.arange(ds), np.arange(dt), d.names_s or d.names_t)
    if ds != dt:
        reasons.insert(0, f"different dimensions ({ds} source vs {dt} target features)")

    specific = None
    if shared is not None:
        cols_s, cols_t, names = shared
        Xs, Xt = _columns(d.Xs, cols_s), _columns(d.Xt, cols_t)
        int_s, nonint_share_s, count_s = _integer_columns(Xs)
        int_t, nonint_share_t, count_t = _integer_columns(Xt)
        enough = (count_s >= 5) & (count_t >= 5)
        mismatch = enough & ((int_s & (nonint_share_t >= 0.5)) | (int_t & (nonint_share_s >= 0.5)))
        n_mismatch = int(mismatch.sum())
        details["type_mismatches"] = [
            {
                "feature": names[j] if names else f"x{j}",
                "source": "integer" if int_s[j] else "real",
                "target": "integer" if int_t[j] else "real",
            }
            for j in np.flatnonzero(mismatch)[:50]
        ]
        details["n_type_mismatches"] = n_mismatch
        if n_mismatch:
            reasons.append(f"{n_mismatch} features integer-valued in one domain, real in the other")
            evidence.append(Evidence("value-type mismatches", n_mismatch))
        specific = st.domain_specific_features(
            Xs, Xt, names, alpha=alpha, max_rate_ratio=max_rate_ratio
        )
        details["domain_specific"] = specific.to_dict()
        evidence.append(
            Evidence(
                "used in one domain only",
                f"{len(specific.only_source)} source / {len(specific.only_target)} target",
                note=f"exact test, Bonferroni over {specific.n_tested} features",
            )
        )
        # Features used in one domain only (a word no kitchen review uses) live in the shared
        # space: that is a change of P(X) (a vocabulary shift, scenario 2), not scenario 1. They
        # stay in the other checks, whose per-feature presence tests see them.
        if specific.count:
            examples = [f["feature"] for f in (specific.only_source + specific.only_target)[:5]]
            vocabulary = (
                f"{specific.count} features are used only in one domain (vocabulary shift, a "
                f"change of P(X): see scenario 2; e.g. {', '.join(examples)})"
            )
    flagged = bool(reasons)
    if flagged:
        summary = "Feature spaces differ: " + "; ".join(reasons) + "."
    else:
        summary = (
            "Same feature space (same dimension"
            + (" and names" if d.names_s is not None and d.names_t is not None else "")
            + ")"
        )
        summary += "; " + vocabulary + "." if specific is not None and specific.count else "."
    if flagged and shared is None:
        summary += " The other scenarios need a shared space: give feature names, or map both."
    elif flagged:
        summary += f" The other checks use the {len(shared[0])} shared features."
        if specific is not None and specific.count:
            summary += " Among them, " + vocabulary + "."
    verdict = Verdict("feature_space", "feature_space", flagged, summary, None, evidence)
    return verdict, details, shared


# --------------------------------------------------------------------------- scenario 2 helpers
def _subsample(X: Any, y: np.ndarray | None, n_max: int, rng: np.random.Generator):
    if X.shape[0] <= n_max:
        return X, y, np.arange(X.shape[0])
    index = np.sort(rng.choice(X.shape[0], n_max, replace=False))
    return X[index], None if y is None else y[index], index


def _marginal_tests(
    Xs: Any,
    Xt: Any,
    names: list[str] | None,
    alpha: float,
    domain_classifier: Any,
    mmd_method: str,
    n_permutations: int,
    n_folds: int,
    correction: str,
    seed: int,
) -> dict[str, Any]:
    dc = st.domain_classifier_test(Xs, Xt, domain_classifier, n_folds, alpha, seed)
    mmd = st.mmd_test(Xs, Xt, method=mmd_method, n_permutations=n_permutations, random_state=seed)
    drift = st.feature_drift(Xs, Xt, names, alpha=alpha, correction=correction)
    p = st.combine_bonferroni([dc.p_value, mmd.p_value, drift.min_p_adjusted])
    return {"domain_classifier": dc, "mmd": mmd, "drift": drift, "p_value": p}


def _importance_ess(dc: st.DomainClassifierResult) -> float:
    """Effective sample size share of density-ratio weights from the domain classifier's scores.

    With balanced class weights a logistic domain classifier's decision value estimates
    ``log p_t(x) / p_s(x)``, so ``exp(score)`` on source rows are importance weights.
    """
    scores = dc.scores[dc.domain == 0]
    w = np.exp(np.clip(scores, -30, 30))
    return float(w.sum() ** 2 / (len(w) * np.sum(w**2)))


def _resample_to_priors(
    ys_codes: np.ndarray, priors: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Source row indices whose class shares match ``priors`` (without replacement in a class)."""
    counts = np.bincount(ys_codes, minlength=len(priors)).astype(float)
    with np.errstate(divide="ignore"):
        ratio = np.where(priors > 0, counts / priors, np.inf)
    total = float(np.min(ratio))
    keep = []
    for c, p in enumerate(priors):
        n_c = int(np.floor(p * total + 1e-9))
        if n_c > 0:
            members = np.flatnonzero(ys_codes == c)
            keep.append(rng.choice(members, size=min(n_c, len(members)), replace=False))
    return np.sort(np.concatenate(keep)) if keep else np.arange(len(ys_codes))


def default_label_classifier(sparse: bool, random_state: int | None = None) -> Any:
    """The classifier behind BBSE/EM and the conditional test unless one is given.

    L2 logistic regression (C = 1) after standardisation (dense) or max-abs scaling (sparse,
    which keeps the rows sparse). The solver is lbfgs for both: it takes sparse input and any
    number of classes (a multinomial model); liblinear, used before for sparse input, is
    one-vs-rest and refused by scikit-learn >= 1.9 for three or more classes. ``random_state``
    is kept for the signature (lbfgs is deterministic).
    """
    if sparse:
        return make_pipeline(MaxAbsScaler(), LogisticRegression(C=1.0, max_iter=2000))
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))


# --------------------------------------------------------------------------- diagnose
def diagnose(
    problem: TransferProblem | Any,
    X_target: Any = None,
    *,
    y_source: Any = None,
    y_target: Any = None,
    target_labeled: Any = None,
    source_feature_names: Sequence[str] | None = None,
    target_feature_names: Sequence[str] | None = None,
    alpha: float = 0.05,
    domain_classifier: Any = None,
    label_classifier: Any = None,
    mmd_method: str = "auto",
    n_permutations: int = 200,
    n_folds: int = 5,
    n_bootstrap: int = 200,
    correction: str = "fdr_bh",
    max_samples: int = 4000,
    imbalance_ratio: float = 1.5,
    min_target_labels: int = 10,
    max_rate_ratio: float = 0.1,
    image_size: tuple[int, int] = (16, 16),
    random_state: int | None = 0,
) -> Diagnosis:
    """Measure which of the four transfer scenarios holds between a source and a target.

    Parameters
    ----------
    problem : TransferProblem or array / sparse matrix
        A problem, or the source data matrix (then give ``X_target``; the two may differ in
        width — that is scenario 1 — and ``source_feature_names`` / ``target_feature_names``
        let the other checks run on the shared named features).
    X_target : array or sparse matrix, optional
        Target data when ``problem`` is a matrix.
    y_source, y_target, target_labeled : arrays, optional
        Labels for raw matrices (a TransferProblem carries its own). ``target_labeled`` says which
        target labels the diagnosis may use (default: all given).
    alpha : float, default 0.05
        Level of every test.
    domain_classifier, label_classifier : sklearn classifiers or None
        Defaults: :func:`transferkit.domain_classifier.default_domain_classifier` and
        :func:`default_label_classifier` (L2 logistic regressions; max-abs scaling on sparse
        input).
    mmd_method : {"auto", "quadratic", "linear", "rff"}, default "auto"
        See :func:`~transferkit.diagnose.statistics.mmd_test`.
    n_permutations : int, default 200
        Permutations of the MMD and predicted-label tests.
    n_folds : int, default 5
        Folds of the domain classifier.
    n_bootstrap : int, default 200
        Bootstrap resamples for the intervals on the target priors.
    correction : {"fdr_bh", "holm", "bonferroni"}, default "fdr_bh"
        Multiple-testing correction of the per-feature drift tests.
    max_samples : int, default 4000
        Rows drawn at random per domain for the two-sample tests when a domain is larger.
    imbalance_ratio : float, default 1.5
        Largest / smallest source class count from which the source counts as imbalanced.
    min_target_labels : int, default 10
        Visible target labels needed for the conditional-shift test.
    max_rate_ratio : float, default 0.1
        "Almost never present": presence rate at most this share of the other domain's.
    image_size : (int, int), default (16, 16)
        Problems of images are diagnosed on RGB thumbnails of this size (pixel features).
    random_state : int or None, default 0

    Returns
    -------
    Diagnosis

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> d = diagnose(rng.normal(size=(200, 3)), rng.normal(size=(150, 5)))
    >>> d.flags["feature_space"], d.flags["covariate_shift"]
    (True, None)
    """
    if not 0 < alpha < 1:
        raise InvalidParameterError(f"alpha must be in (0, 1); got {alpha}.")
    rng = np.random.default_rng(random_state)

    def seed() -> int:
        return int(rng.integers(2**31 - 1))

    d = _read_inputs(
        problem,
        X_target,
        y_source,
        y_target,
        target_labeled,
        source_feature_names,
        target_feature_names,
        image_size,
    )
    summary = dict(d.summary)
    summary.update(
        n_source=int(d.Xs.shape[0]),
        n_target=int(d.Xt.shape[0]),
        n_features_source=int(d.Xs.shape[1]),
        n_features_target=int(d.Xt.shape[1]),
        sparse=bool(sp.issparse(d.Xs) or sp.issparse(d.Xt)),
        n_target_labeled=int(d.labeled.sum()) if d.yt is not None else 0,
    )
    verdicts: dict[str, Verdict] = {}
    details: dict[str, Any] = {}
    plots: dict[str, Any] = {}

    fs_verdict, details["feature_space"], shared = _feature_space(d, alpha, max_rate_ratio)
    verdicts["feature_space"] = fs_verdict
    unknown_reason = "Not testable: the domains share no feature space (see scenario 1)."

    if shared is None:
        for flag, scenario in (
            ("covariate_shift", "marginal"),
            ("label_space", "label_space"),
            ("label_shift", "conditional"),
            ("conditional_shift", "conditional"),
        ):
            verdicts[flag] = Verdict(flag, scenario, None, unknown_reason, None, [])
        verdicts["source_imbalance"] = _imbalance_verdict(d.ys, imbalance_ratio, details)
        diagnosis = Diagnosis(verdicts, [], summary, details, alpha, plots)
        diagnosis.recommendations = recommend(diagnosis)
        return diagnosis

    cols_s, cols_t, names = shared
    Xs_all, Xt_all = _columns(d.Xs, cols_s), _columns(d.Xt, cols_t)
    Xs, ys, _ = _subsample(Xs_all, d.ys, max_samples, rng)
    Xt, _, t_index = _subsample(Xt_all, None, max_samples, rng)
    summary["n_source_tested"], summary["n_target_tested"] = int(Xs.shape[0]), int(Xt.shape[0])

    # ---- scenario 2, raw evidence
    raw = _marginal_tests(
        Xs,
        Xt,
        names,
        alpha,
        domain_classifier,
        mmd_method,
        n_permutations,
        n_folds,
        correction,
        seed(),
    )
    dc, mmd, drift = raw["domain_classifier"], raw["mmd"], raw["drift"]
    details["marginal"] = {
        "domain_classifier": dc.to_dict(),
        "mmd": mmd.to_dict(),
        "drift": drift.to_dict(k=15),
        "p_value_raw": raw["p_value"],
        "importance_ess": _importance_ess(dc),
        # Cross-validated scores far below chance: held-out rows look like the *other* domain,
        # the signature of domains standardised separately (each centred on its own mean).
        "domain_classifier_below_chance": bool(dc.auc_ci[1] < 0.5),
    }
    plots["domain_scores"] = (dc.scores, dc.domain)
    plots["drift_top"] = drift.top(15)
    plots["embedding"] = _embedding(Xs, Xt, ys, seed())

    # ---- scenarios 3 and 4 need source labels
    classes = None if ys is None else np.unique(ys)
    label = None
    if ys is not None and len(classes) >= 2:
        label = _label_analysis(
            Xs, ys, Xt, classes, label_classifier, alpha, n_permutations, n_bootstrap, seed
        )
        details["labels"] = label["details"]
        plots["labels"] = label["plot"]
        if d.yt is not None and d.labeled.any():
            seen = d.yt[d.labeled]
            plots["target_label_shares"] = {
                str(plain(c)): float(np.mean(seen == c)) for c in classes
            }

    # ---- scenario 2 verdict: beyond what the class balance explains
    raw_evidence = [
        Evidence("domain-classifier AUC", dc.auc, dc.auc_ci, dc.p_value),
        Evidence("proxy A-distance", dc.proxy_a_distance, dc.pad_ci),
        Evidence(f"MMD² ({mmd.method})", mmd.statistic, None, mmd.p_value),
        Evidence(
            "drifting features",
            f"{drift.n_drifting}/{drift.n_tested}",
            None,
            drift.min_p_adjusted,
            note=f"{drift.correction}",
        ),
    ]
    # Label shift alone also moves P(X). When the raw tests and black-box shift detection both
    # fire, re-test with the source classes resampled to the BBSE target priors: covariate shift
    # is flagged only if P(X) still differs. The flag needs the raw test too, so its
    # false-positive rate stays below alpha.
    raw_shift = raw["p_value"] < alpha
    explained = False
    p_cov = raw["p_value"]
    if raw_shift and label is not None and label["shift_test"].p_value < alpha:
        keep = _resample_to_priors(label["codes"], label["bbse"].priors, rng)
        resid = _marginal_tests(
            Xs[keep],
            Xt,
            names,
            alpha,
            domain_classifier,
            mmd_method,
            n_permutations,
            n_folds,
            correction,
            seed(),
        )
        p_cov = max(raw["p_value"], resid["p_value"])
        explained = resid["p_value"] >= alpha
        details["marginal"]["residual"] = {
            "n_source_resampled": int(len(keep)),
            "domain_classifier_auc": resid["domain_classifier"].auc,
            "mmd_p_value": resid["mmd"].p_value,
            "drift_min_p_adjusted": resid["drift"].min_p_adjusted,
            "p_value": resid["p_value"],
        }
        raw_evidence.append(
            Evidence(
                "after matching class balance: AUC",
                resid["domain_classifier"].auc,
                resid["domain_classifier"].auc_ci,
                resid["p_value"],
                note="source resampled to the BBSE target priors; Bonferroni over 3 tests",
            )
        )
    details["marginal"]["p_value"] = p_cov
    flagged_cov = bool(raw_shift and not explained)
    vocabulary = details["feature_space"].get("domain_specific", {})
    n_vocabulary = vocabulary.get("n_only_source", 0) + vocabulary.get("n_only_target", 0)
    if n_vocabulary:
        raw_evidence.append(
            Evidence(
                "features used in one domain only",
                f"{vocabulary['n_only_source']} source / {vocabulary['n_only_target']} target",
                note="vocabulary shift; exact presence test, Bonferroni over features",
            )
        )
    if flagged_cov:
        summary_cov = (
            f"P(X) differs (AUC {dc.auc:.2f}, PAD {dc.proxy_a_distance:.2f}, "
            f"{drift.n_drifting} of {drift.n_tested} features drift)"
            + (
                ", also after matching the target's class balance."
                if "residual" in details["marginal"]
                else "."
            )
        )
        if n_vocabulary:
            summary_cov += (
                f" Vocabulary shift: {n_vocabulary} features are used only in one domain "
                "(same feature space)."
            )
    elif explained:
        summary_cov = (
            f"P(X) differs (AUC {dc.auc:.2f}), but no more once the source classes are resampled "
            "to the estimated target priors: the shift is explained by label shift."
        )
    else:
        summary_cov = (
            f"No evidence that P(X) differs (AUC {dc.auc:.2f}, combined "
            f"p={format_p(raw['p_value'])})."
        )
    if details["marginal"]["domain_classifier_below_chance"]:
        summary_cov += (
            f" The domain classifier scores below chance (AUC {dc.auc:.2f}), which happens when "
            "each domain was standardised on its own: its AUC, PAD and importance weights are not "
            "meaningful here; the verdict rests on the MMD and per-feature tests."
        )
        raw_evidence[0].note = "below chance: domains standardised separately?"
    verdicts["covariate_shift"] = Verdict(
        "covariate_shift", "marginal", flagged_cov, summary_cov, p_cov, raw_evidence
    )

    # ---- scenario 4
    verdicts["source_imbalance"] = _imbalance_verdict(ys, imbalance_ratio, details)
    if label is None:
        reason = "Unknown: no source labels given." if ys is None else "Unknown: one source class."
        verdicts["label_shift"] = Verdict("label_shift", "conditional", None, reason, None, [])
        verdicts["conditional_shift"] = Verdict(
            "conditional_shift", "conditional", None, reason, None, []
        )
    else:
        verdicts["label_shift"] = _label_shift_verdict(
            d,
            cols_t,
            label,
            classes,
            flagged_cov,
            alpha,
            min_target_labels,
            n_permutations,
            seed(),
        )
        verdicts["conditional_shift"] = _conditional_verdict(
            d, cols_t, label, classes, alpha, min_target_labels, details
        )

    # ---- scenario 3 (after 4: the priors estimated from unlabelled data are trusted only
    # without covariate shift)
    verdicts["label_space"] = _label_space_verdict(
        d, classes, None if flagged_cov else label, alpha, details
    )
    verdicts = {flag: verdicts[flag] for flag in FLAGS}
    diagnosis = Diagnosis(verdicts, [], summary, details, alpha, plots)
    diagnosis.recommendations = recommend(diagnosis)
    return diagnosis


def _embedding(Xs: Any, Xt: Any, ys: np.ndarray | None, seed: int, n_max: int = 600) -> dict:
    """2-D PCA (truncated SVD for sparse data) of a subsample of both domains, for the report."""
    from sklearn.decomposition import PCA, TruncatedSVD

    rng = np.random.default_rng(seed)
    s = np.sort(rng.choice(Xs.shape[0], min(n_max, Xs.shape[0]), replace=False))
    t = np.sort(rng.choice(Xt.shape[0], min(n_max, Xt.shape[0]), replace=False))
    X = st.stack_domains(Xs[s], Xt[t])
    if X.shape[1] < 2:
        Z = np.column_stack(
            [np.asarray(X.todense() if sp.issparse(X) else X)[:, 0], np.zeros(X.shape[0])]
        )
    elif sp.issparse(X):
        Z = TruncatedSVD(2, random_state=seed).fit_transform(X)
    else:
        std = X.std(axis=0)
        std[std == 0] = 1
        Z = PCA(2, random_state=seed).fit_transform((X - X.mean(axis=0)) / std)
    return {
        "source": Z[: len(s)],
        "target": Z[len(s) :],
        "source_labels": None if ys is None else ys[s],
    }


def _label_analysis(
    Xs: Any,
    ys: np.ndarray,
    Xt: Any,
    classes: np.ndarray,
    label_classifier: Any,
    alpha: float,
    n_permutations: int,
    n_bootstrap: int,
    seed: Any,
) -> dict[str, Any]:
    """Train on half the source, hold out the other half: BBSE, EM, shift detection, calibration."""
    from sklearn.base import clone

    codes = np.searchsorted(classes, ys)
    counts = np.bincount(codes, minlength=len(classes))
    stratify = codes if counts.min() >= 2 else None
    train, holdout = train_test_split(
        np.arange(len(ys)), test_size=0.5, random_state=seed(), stratify=stratify
    )
    sparse = sp.issparse(Xs)
    base = (
        default_label_classifier(sparse, seed()) if label_classifier is None else label_classifier
    )
    model = clone(base).fit(Xs[train], ys[train])
    proba_h = aligned_proba(model, Xs[holdout], classes)
    proba_t = aligned_proba(model, Xt, classes)
    codes_h = codes[holdout]
    source_priors = counts / counts.sum()
    temperature, bias = fit_temperature(log_proba(proba_h), codes_h, bias=True)
    cal_h = apply_temperature(log_proba(proba_h), temperature, bias)
    cal_t = apply_temperature(log_proba(proba_t), temperature, bias)
    bbse = estimate_target_priors(
        ys[holdout], cal_h, cal_t, classes, source_priors, "bbse", n_bootstrap, alpha, seed()
    )
    em = estimate_target_priors(
        ys[holdout], cal_h, cal_t, classes, source_priors, "em", n_bootstrap, alpha, seed()
    )
    shift_test = st.predicted_label_shift_test(
        np.argmax(proba_h, axis=1),
        np.argmax(proba_t, axis=1),
        len(classes),
        n_permutations=max(n_permutations, 200),
        random_state=seed(),
    )
    holdout_accuracy = float(np.mean(np.argmax(proba_h, axis=1) == codes_h))
    return {
        "codes": codes,
        "model": model,
        "temperature": (temperature, bias),
        "cal_holdout": cal_h,
        "codes_holdout": codes_h,
        "source_priors": source_priors,
        "bbse": bbse,
        "em": em,
        "shift_test": shift_test,
        "details": {
            "classes": [plain(c) for c in classes],
            "source_counts": counts.tolist(),
            "holdout_accuracy": holdout_accuracy,
            "bbse": bbse.to_dict(),
            "em": em.to_dict(),
            "shift_test": shift_test.to_dict(),
        },
        "plot": {
            "classes": [str(plain(c)) for c in classes],
            "source": source_priors,
            "bbse": (bbse.priors, bbse.ci_low, bbse.ci_high),
            "em": (em.priors, em.ci_low, em.ci_high),
        },
    }


def _label_shift_verdict(
    d: _Domains,
    cols_t: np.ndarray,
    label: dict[str, Any],
    classes: np.ndarray,
    covariate: bool,
    alpha: float,
    min_target_labels: int,
    n_permutations: int,
    seed: int,
) -> Verdict:
    """P(Y) differs? From unlabelled data (BBSD) when P(X|Y) looks stable, else from labels.

    Black-box shift detection is only a label-shift test when the marginal shift is explained
    by the class balance; once covariate shift is found it would also fire on it, so the verdict
    then rests on the visible target labels alone (χ² against the source labels) — or is unknown.
    Also sets ``label["correction_priors"]``: the target priors the conditional test corrects for.
    """
    bbse, em = label["bbse"], label["em"]
    visible = None
    if d.yt is not None and d.labeled.sum() >= min_target_labels:
        seen = d.yt[d.labeled]
        seen = seen[np.isin(seen, classes)]
        if len(seen) >= min_target_labels:
            visible = np.searchsorted(classes, seen)
    direct = None
    if visible is not None:
        direct = st.categorical_homogeneity_test(
            label["codes"],
            visible,
            len(classes),
            max(n_permutations, 500),
            seed,
            name="chi2 of visible target labels vs source labels (permutation)",
        )
    test: st.SimpleTest = label["shift_test"]
    evidence = [
        Evidence(
            "target priors (BBSE)",
            bbse.priors.round(3).tolist(),
            note="95% bootstrap CI in details",
        ),
        Evidence("target priors (EM)", em.priors.round(3).tolist()),
        Evidence("source priors", bbse.source_priors.round(3).tolist()),
    ]
    label["correction_priors"] = em.priors
    if not covariate:
        tests = [test] + ([direct] if direct is not None else [])
        p = st.combine_bonferroni([t.p_value for t in tests])
        evidence.insert(
            0, Evidence("predicted-class χ²", test.statistic, None, test.p_value, note=test.name)
        )
        if direct is not None:
            evidence.insert(
                1, Evidence("visible target labels χ²", direct.statistic, None, direct.p_value)
            )
        flagged = bool(p < alpha)
        tv = bbse.total_variation
        summary = (
            f"The target's class balance differs from the source's: estimated priors "
            f"{format_value(bbse.priors.round(2).tolist())} (BBSE) vs "
            f"{format_value(bbse.source_priors.round(2).tolist())} in the source, total variation {tv:.2f}."
            if flagged
            else f"No evidence that the class balance differs (estimated target priors "
            f"{format_value(bbse.priors.round(2).tolist())}, total variation {tv:.2f})."
        )
        if label["details"]["holdout_accuracy"] < 1.5 / len(classes):
            summary += " The source classifier is weak, so this check has little power."
        return Verdict("label_shift", "conditional", flagged, summary, p, evidence)
    # covariate shift found: only target labels can tell
    caveat = (
        "BBSE/EM assume P(X|Y) unchanged, which the covariate shift found contradicts; their "
        f"estimate {format_value(bbse.priors.round(2).tolist())} is indicative only."
    )
    if direct is None:
        return Verdict(
            "label_shift",
            "conditional",
            None,
            "Unknown: with covariate shift present, a change of class balance cannot be told from "
            f"unlabelled data; label at least {min_target_labels} target samples. " + caveat,
            None,
            evidence,
        )
    evidence.insert(0, Evidence("visible target labels χ²", direct.statistic, None, direct.p_value))
    flagged = bool(direct.p_value < alpha)
    shares = np.asarray(direct.details["shares_b"])
    if flagged:
        smoothed = (np.bincount(visible, minlength=len(classes)) + 1.0) / (
            len(visible) + len(classes)
        )
        label["correction_priors"] = smoothed
    else:
        label["correction_priors"] = label["source_priors"]
    summary = (
        f"The visible target labels are distributed differently from the source's "
        f"({format_value(shares.round(2).tolist())} vs {format_value(bbse.source_priors.round(2).tolist())}). "
        if flagged
        else "No evidence from the visible target labels that the class balance differs. "
    ) + caveat
    return Verdict("label_shift", "conditional", flagged, summary, direct.p_value, evidence)


def _conditional_verdict(
    d: _Domains,
    cols_t: np.ndarray,
    label: dict[str, Any],
    classes: np.ndarray,
    alpha: float,
    min_target_labels: int,
    details: dict[str, Any],
) -> Verdict:
    if d.yt is None or d.labeled.sum() < min_target_labels:
        n = 0 if d.yt is None else int(d.labeled.sum())
        return Verdict(
            "conditional_shift",
            "conditional",
            None,
            f"Unknown: testing P(Y|X) needs at least {min_target_labels} target labels "
            f"({n} visible). Label a few target samples to check.",
            None,
            [],
        )
    index = np.flatnonzero(d.labeled)
    y_lab = d.yt[index]
    known = np.isin(y_lab, classes)
    index, y_lab = index[known], y_lab[known]
    X_lab = _columns(d.Xt[index], cols_t)
    if sp.issparse(d.Xs) and not sp.issparse(X_lab):
        X_lab = sp.csr_matrix(X_lab)
    temperature, bias = label["temperature"]
    proba = apply_temperature(
        log_proba(aligned_proba(label["model"], X_lab, classes)), temperature, bias
    )
    corrected = adjust_proba(proba, label["source_priors"], label["correction_priors"])
    test = st.posterior_consistency_test(
        label["cal_holdout"], label["codes_holdout"], corrected, np.searchsorted(classes, y_lab)
    )
    details["conditional"] = test.to_dict()
    flagged = bool(test.p_value < alpha)
    acc = test.details.get("target_accuracy_of_source_model", float("nan"))
    evidence = [
        Evidence("posterior consistency t", test.statistic, None, test.p_value, note=test.name),
        Evidence("labelled target used", int(len(y_lab))),
        Evidence("source model accuracy on them", acc),
    ]
    summary = (
        f"P(Y|X) differs: the {len(y_lab)} labelled target samples disagree with the source "
        f"posterior, even after correcting for the class balance (accuracy {acc:.2f})."
        if flagged
        else f"No evidence that P(Y|X) differs on the {len(y_lab)} labelled target samples."
    )
    return Verdict("conditional_shift", "conditional", flagged, summary, test.p_value, evidence)


def _imbalance_verdict(ys: np.ndarray | None, ratio: float, details: dict[str, Any]) -> Verdict:
    if ys is None:
        return Verdict(
            "source_imbalance", "conditional", None, "Unknown: no source labels given.", None, []
        )
    classes, counts = np.unique(ys, return_counts=True)
    observed = float(counts.max() / counts.min())
    details["source_imbalance"] = {
        "classes": [plain(c) for c in classes],
        "counts": counts.tolist(),
        "ratio": observed,
        "threshold": ratio,
    }
    flagged = bool(observed >= ratio)
    summary = (
        f"The source is imbalanced: largest class {observed:.1f}x the smallest "
        f"({classes[np.argmax(counts)]!s}: {counts.max()}, {classes[np.argmin(counts)]!s}: "
        f"{counts.min()})."
        if flagged
        else f"Source classes are balanced (largest / smallest = {observed:.2f})."
    )
    return Verdict(
        "source_imbalance",
        "conditional",
        flagged,
        summary,
        None,
        [Evidence("largest / smallest class", observed), Evidence("classes", len(classes))],
    )


def _label_space_verdict(
    d: _Domains,
    classes: np.ndarray | None,
    label: dict[str, Any] | None,
    alpha: float,
    details: dict[str, Any],
) -> Verdict:
    if classes is None:
        return Verdict("label_space", "label_space", None, "Unknown: no source labels.", None, [])
    evidence: list[Evidence] = [Evidence("source classes", len(classes))]
    reasons = []
    info: dict[str, Any] = {"source_classes": [plain(c) for c in classes]}
    p_values = []
    hidden_new: list[Any] = []
    if d.target_label_pool is not None and len(d.target_label_pool):
        # Labels hidden from methods (kept for evaluation) still tell which classes the target
        # has; a class the source never saw cannot be learned from it, whatever the methods see.
        visible = set(d.yt[d.labeled].tolist()) if d.yt is not None else set()
        hidden_new = [
            c for c in np.setdiff1d(np.unique(d.target_label_pool), classes) if c not in visible
        ]
        if hidden_new:
            info["target_only_classes_in_hidden_labels"] = [plain(c) for c in hidden_new]
            evidence.append(Evidence("target-only classes (hidden labels)", len(hidden_new)))
            reasons.append(
                "the target's labels (hidden from methods, kept for evaluation) include classes "
                f"the source never saw: {format_value([plain(c) for c in hidden_new])}"
            )
            p_values.append(0.0)
    if d.yt is not None and d.labeled.any():
        seen = d.yt[d.labeled]
        m = len(seen)
        new = np.setdiff1d(np.unique(seen), classes)
        info["target_label_count"] = m
        info["target_only_classes"] = [plain(c) for c in new]
        evidence.append(Evidence("visible target labels", m))
        if len(new):
            reasons.append(
                f"target labels not among the source classes: {format_value([plain(c) for c in new])}"
            )
            p_values.append(0.0)
        unseen = [c for c in classes if c not in set(seen.tolist())]
        reference = label["em"].priors if label is not None else None
        absent = []
        for c in unseen:
            k = int(np.searchsorted(classes, c))
            share = (
                float(reference[k])
                if reference is not None
                else float(np.mean(d.ys == c))
                if d.ys is not None
                else 0.0
            )
            # chance of seeing none of class c among m draws if it had the estimated share
            p = (1.0 - share) ** m
            p_values.append(min(1.0, p * len(classes)))
            if p * len(classes) < alpha:
                absent.append(c)
        info["source_classes_unseen_in_target_labels"] = [plain(c) for c in unseen]
        if absent:
            reasons.append(
                f"source classes never seen among the target labels: {format_value(absent)}"
            )
    if label is not None:
        # both estimators must put the class's upper bound below 1%
        bbse, em = label["bbse"], label["em"]
        vanishing = [
            c
            for c, high_b, high_e in zip(classes, bbse.ci_high, em.ci_high, strict=True)
            if high_b < 0.01 and high_e < 0.01
        ]
        info["classes_estimated_absent"] = [plain(c) for c in vanishing]
        if vanishing:
            reasons.append(
                f"source classes estimated absent from the target (BBSE upper bound < 1%): "
                f"{format_value(vanishing)}"
            )
    details["label_space"] = info
    if not reasons and (d.yt is None or not d.labeled.any()):
        summary = (
            "Unknown: no target labels to compare (no source class is estimated absent from the "
            "target). Label a few target samples to check."
        )
        return Verdict("label_space", "label_space", None, summary, None, evidence)
    flagged = bool(reasons)
    summary = (
        "Label spaces differ: " + "; ".join(reasons) + "."
        if flagged
        else "Same label space: the visible target labels are all source classes."
    )
    p = min(p_values) if p_values else None
    return Verdict("label_space", "label_space", flagged, summary, p, evidence)
