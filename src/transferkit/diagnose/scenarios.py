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
table in ``docs/benchmarks.md``, with the command that makes it).

This module holds the driver, :func:`diagnose`, and the scenario-2 tests only it runs; the
other pieces live beside it: :mod:`~transferkit.diagnose.inputs` (reading and checking the
inputs), :mod:`~transferkit.diagnose.feature_space` (scenario 1) and
:mod:`~transferkit.diagnose.verdicts` (the label analysis and the verdicts of scenarios 3 and 4).

Examples
--------
>>> from transferkit.diagnose.calibration import make_planted_problem
>>> planted = make_planted_problem("covariate", random_state=0)
>>> diagnosis = diagnose(planted.problem, random_state=0)
>>> diagnosis.flags["covariate_shift"], diagnosis.flags["label_shift"]
(True, False)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

import transferkit.diagnose.statistics as st
from transferkit.diagnose.feature_space import feature_space_verdict
from transferkit.diagnose.inputs import read_inputs, select_columns
from transferkit.diagnose.report import recommend
from transferkit.diagnose.results import FLAGS, Diagnosis, Evidence, Verdict, format_p, plain
from transferkit.diagnose.sources import compare_sources
from transferkit.diagnose.verdicts import (
    conditional_verdict,
    default_label_classifier,
    imbalance_verdict,
    label_analysis,
    label_shift_verdict,
    label_space_verdict,
)
from transferkit.domain_classifier import centred_separately, means_matched
from transferkit.exceptions import InvalidParameterError
from transferkit.problem import TransferProblem

#: default_label_classifier was defined here before the split and stays importable from here.
__all__ = ["FLAGS", "default_label_classifier", "diagnose"]


def _subsample(X: Any, y: np.ndarray | None, n_max: int, rng: np.random.Generator):
    if X.shape[0] <= n_max:
        return X, y, np.arange(X.shape[0])
    index = st.draw_rows(X.shape[0], n_max, rng)
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

    d = read_inputs(
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

    fs_verdict, details["feature_space"], shared = feature_space_verdict(d, alpha, max_rate_ratio)
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
        verdicts["source_imbalance"] = imbalance_verdict(d.ys, imbalance_ratio, details)
        diagnosis = Diagnosis(verdicts, [], summary, details, alpha, plots)
        diagnosis.recommendations = recommend(diagnosis)
        return diagnosis

    cols_s, cols_t, names = shared
    Xs_all, Xt_all = select_columns(d.Xs, cols_s), select_columns(d.Xt, cols_t)
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
    if details["marginal"]["domain_classifier_below_chance"]:
        # the cause is named only where the columns show it (all rows, not the subsample)
        details["marginal"]["domains_centred_separately"] = centred_separately(Xs_all, Xt_all)
        details["marginal"]["domain_means_matched"] = means_matched(Xs_all, Xt_all)
    plots["domain_scores"] = (dc.scores, dc.domain)
    plots["drift_top"] = drift.top(15)
    plots["embedding"] = _embedding(Xs, Xt, ys, seed())
    if d.source_domains is not None:  # each source of a multi-source problem on its own
        details["sources"] = compare_sources(
            Xs_all,
            d.ys,
            d.source_domains,
            Xt_all,
            max_samples=max_samples,
            n_folds=n_folds,
            random_state=seed(),
        )

    # ---- scenarios 3 and 4 need source labels
    classes = None if ys is None else np.unique(ys)
    label = None
    if ys is not None and len(classes) >= 2:
        label = label_analysis(
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
        marginal = details["marginal"]
        if marginal["domains_centred_separately"]:
            note, cause = (
                "below chance: domains centred separately",
                (
                    "a domain was centred on its own mean (every feature averages 0 in it, as when "
                    "each domain is standardised on its own), so its held-out rows look like the "
                    "other domain"
                ),
            )
        elif marginal["domain_means_matched"]:
            note, cause = (
                "below chance: domain means matched",
                (
                    "the two domains' means are closer than two independent samples' would be "
                    "(as after CORAL or an optimal-transport map of the source onto the target), "
                    "so held-out rows look like the other domain"
                ),
            )
        else:
            note, cause = (
                "below chance",
                (
                    "neither domain is centred on its own mean nor are their means matched, the "
                    "usual causes; with many features and few rows chance can give this too"
                ),
            )
        summary_cov += (
            f" The domain classifier scores below chance (AUC {dc.auc:.2f}): {cause}. Its AUC, "
            "PAD and importance weights are not meaningful here; the verdict rests on the MMD "
            "and per-feature tests."
        )
        raw_evidence[0].note = note
    verdicts["covariate_shift"] = Verdict(
        "covariate_shift", "marginal", flagged_cov, summary_cov, p_cov, raw_evidence
    )

    # ---- scenario 4
    verdicts["source_imbalance"] = imbalance_verdict(ys, imbalance_ratio, details)
    if label is None:
        reason = "Unknown: no source labels given." if ys is None else "Unknown: one source class."
        verdicts["label_shift"] = Verdict("label_shift", "conditional", None, reason, None, [])
        verdicts["conditional_shift"] = Verdict(
            "conditional_shift", "conditional", None, reason, None, []
        )
    else:
        verdicts["label_shift"] = label_shift_verdict(
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
        verdicts["conditional_shift"] = conditional_verdict(
            d, cols_t, label, classes, alpha, min_target_labels, details
        )

    # ---- scenario 3 (after 4: the priors estimated from unlabelled data are trusted only
    # without covariate shift)
    verdicts["label_space"] = label_space_verdict(
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
