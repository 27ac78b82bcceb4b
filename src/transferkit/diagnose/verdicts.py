"""Scenarios 3 and 4 from the labels: label analysis and the per-flag verdicts.

:func:`label_analysis` trains the source classifier once (half the source, the other half held
out) for BBSE, EM, black-box shift detection and calibration; the verdicts
:func:`label_shift_verdict`, :func:`conditional_verdict`, :func:`imbalance_verdict` and
:func:`label_space_verdict` read it. :func:`~transferkit.diagnose.diagnose` calls them in order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, StandardScaler

import transferkit.diagnose.statistics as st
from transferkit.diagnose.inputs import Domains, select_columns
from transferkit.diagnose.results import Evidence, Verdict, format_value, plain
from transferkit.label_shift import (
    adjust_proba,
    aligned_proba,
    apply_temperature,
    estimate_target_priors,
    fit_temperature,
    log_proba,
)
from transferkit.label_spaces import presence_weights

#: A source class whose estimated target prior, over its source prior, is below this share of
#: the largest class's is reported as near zero (as the partial methods weight it 0).
PRESENCE_MIN_WEIGHT = 0.1
#: Quantile of the held-out source confidences below which a target row counts as unsure.
LOW_CONFIDENCE_QUANTILE = 0.05


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


def label_analysis(
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
    # target rows less sure than all but 5% of held-out source rows: many more than 5% hint at
    # target samples far from every source class (classes the source never saw)
    low_confidence = float(
        np.mean(cal_t.max(axis=1) < np.quantile(cal_h.max(axis=1), LOW_CONFIDENCE_QUANTILE))
    )
    return {
        "codes": codes,
        "model": model,
        "temperature": (temperature, bias),
        "cal_holdout": cal_h,
        "cal_target": cal_t,
        "codes_holdout": codes_h,
        "source_priors": source_priors,
        "bbse": bbse,
        "em": em,
        "shift_test": shift_test,
        "details": {
            "classes": [plain(c) for c in classes],
            "source_counts": counts.tolist(),
            "holdout_accuracy": holdout_accuracy,
            "low_confidence_share": low_confidence,
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


def label_shift_verdict(
    d: Domains,
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


def conditional_verdict(
    d: Domains,
    cols_t: np.ndarray,
    label: dict[str, Any],
    classes: np.ndarray,
    alpha: float,
    min_target_labels: int,
    details: dict[str, Any],
) -> Verdict:
    """P(Y|X) differs? The visible target labels against the source posterior, prior-corrected."""
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
    X_lab = select_columns(d.Xt[index], cols_t)
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


def imbalance_verdict(ys: np.ndarray | None, ratio: float, details: dict[str, Any]) -> Verdict:
    """Is the source imbalanced (largest / smallest class count at least ``ratio``)?"""
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


def label_space_verdict(
    d: Domains,
    classes: np.ndarray | None,
    label: dict[str, Any] | None,
    alpha: float,
    details: dict[str, Any],
) -> Verdict:
    """Label spaces differ? Target classes the source never saw, or source classes absent."""
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
    labels = details.get("labels", {})
    if "em" in labels:
        # Read even under covariate shift, where the flag does not trust the priors: the partial
        # methods down-weight these classes themselves, so a recommendation costs little.
        em = labels["em"]
        weights = presence_weights(
            np.asarray(em["target_priors"]), np.asarray(em["source_priors"]), PRESENCE_MIN_WEIGHT
        )
        info["classes_with_near_zero_priors"] = [
            plain(c) for c, w in zip(classes, weights, strict=True) if w == 0
        ]
    if "low_confidence_share" in labels:
        info["low_confidence_share"] = labels["low_confidence_share"]
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
