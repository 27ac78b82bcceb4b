"""Scenario 1, feature spaces differ: dimensions, names, their order and value types.

:func:`feature_space_verdict` also finds the space both domains share, on which the other
scenarios are tested, and reports features used in one domain only (a vocabulary shift, which is
a change of P(X), scenario 2, not of the feature space).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

import transferkit.diagnose.statistics as st
from transferkit.diagnose.inputs import Domains, select_columns
from transferkit.diagnose.results import Evidence, Verdict


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


def feature_space_verdict(
    d: Domains, alpha: float, max_rate_ratio: float
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
        Xs, Xt = select_columns(d.Xs, cols_s), select_columns(d.Xt, cols_t)
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
