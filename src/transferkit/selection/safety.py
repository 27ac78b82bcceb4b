"""The safety floor of a search: source-only unless an adapted candidate shows it is not worse.

A validator ranks candidates, but a high rank is no proof that adapting helped: on a text task
the selection rules were never tuned on, the default pick was 13 points below plain source-only
while its validator score was the pool's best. :class:`SourceOnlyFloor` keeps the
source-only baseline as the pick unless the adapted candidate passes two checks that need no
target labels, and says which check failed.

Examples
--------
>>> import numpy as np
>>> floor = SourceOnlyFloor(confident_share=0.5, min_agreement=0.8)
>>> reference = np.array([[0.99, 0.01], [0.95, 0.05], [0.6, 0.4], [0.1, 0.9]])
>>> floor.agreement(reference, np.eye(2)[[0, 0, 1, 1]])  # keeps the two surest rows
1.0
>>> floor.agreement(reference, np.eye(2)[[1, 0, 0, 1]])  # flips one of them
0.5
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.exceptions import InvalidParameterError

__all__ = ["SOURCE_ONLY", "SourceOnlyFloor"]

#: The registered name of the baseline the floor falls back to.
SOURCE_ONLY = "source_only"


class SourceOnlyFloor:
    """Pick an adapted candidate over source-only only with evidence that it is not worse.

    A search with this floor ranks its candidates by its validator as before, then walks the
    ranking from the top and stops at the first candidate that is source-only itself or passes
    both checks below; when none passes, it returns source-only and says why.

    1. **Source side** (the guard of :class:`~transferkit.selection.SourceGuardedValidator`,
       measured against source-only rather than against the best candidate): the candidate's
       held-out source accuracy is at most ``source_tolerance`` below source-only's. Target risk
       is bounded by source risk plus a divergence (Ben-David et al. 2010), so an adaptation that
       costs source accuracy must win it back on the target, which nothing here can show.
    2. **Target side, no labels**: agreement with source-only on the target rows source-only is
       surest of (its ``confident_share`` most confident rows, by the largest class
       probability). Those rows are the ones source-only most likely gets right; a helpful
       adaptation changes the uncertain rows and keeps the sure ones, while a mapping that
       wrecks the classes flips them wholesale. This is the confidence filter of self-training
       and of SHOT's pseudo-labels (Liang, Hu & Feng 2020), used here as a check instead of as a
       training signal. Kitchen -> books (Amazon reviews): SA with 40 components, 58 % on the
       target against source-only's 71 %, flips most of source-only's sure rows.

    Both checks are computed on the search's source folds: each candidate's fold model is
    compared with source-only's model of the same fold, and the mean over folds is kept.

    Parameters
    ----------
    confident_share : float, default 0.3
        Share of the target rows, source-only's most confident, on which agreement is measured,
        in (0, 1].
    min_agreement : float, default 0.85
        Smallest share of those rows on which an adapted candidate must predict source-only's
        class, in [0, 1]. 0 switches the target-side check off.
    source_tolerance : float, default 0.02
        Largest drop of held-out source accuracy below source-only's (0.02 = 2 points), in
        [0, 1]; 1 switches the source-side check off. Widened, like the search's guard, to the
        noise of accuracies on a small source (``confidence``).
    confidence : float or None, default 0.95
        As in :class:`~transferkit.selection.SourceGuardedValidator`: the tolerance grows to the
        drop that held-out accuracies on ``n`` rows cannot tell from noise at this level, when
        that is larger; None keeps ``source_tolerance``.

    Notes
    -----
    The defaults are deliberately strict: a wrongly kept source-only costs the gain of
    adapting, a wrongly trusted adaptation can cost many points below the baseline a user
    would have had without the library.

    Examples
    --------
    >>> floor = SourceOnlyFloor()
    >>> floor.check()
    >>> round(floor.tolerance_for(0.8, 200), 3)  # 200 held-out rows: noise wider than 2 points
    0.078
    """

    def __init__(
        self,
        confident_share: float = 0.3,
        min_agreement: float = 0.85,
        source_tolerance: float = 0.02,
        confidence: float | None = 0.95,
    ):
        self.confident_share = confident_share
        self.min_agreement = min_agreement
        self.source_tolerance = source_tolerance
        self.confidence = confidence

    def check(self) -> None:
        """Raise :class:`~transferkit.exceptions.InvalidParameterError` on a bad setting."""
        if not 0.0 < float(self.confident_share) <= 1.0:
            raise InvalidParameterError(
                f"SourceOnlyFloor: confident_share={self.confident_share!r} must lie in (0, 1] "
                "(the share of target rows, source-only's surest, that are compared)."
            )
        for name in ("min_agreement", "source_tolerance"):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise InvalidParameterError(
                    f"SourceOnlyFloor: {name}={getattr(self, name)!r} must lie in [0, 1] "
                    "(a share: 0.85 = 85 %)."
                )
        if self.confidence is not None and not 0.0 < float(self.confidence) < 1.0:
            raise InvalidParameterError(
                f"SourceOnlyFloor: confidence={self.confidence!r} must lie in (0, 1) (e.g. "
                "0.95), or be None for the fixed source_tolerance."
            )

    def confident_rows(self, reference: np.ndarray) -> np.ndarray:
        """Indices of the ``confident_share`` target rows source-only is surest of."""
        reference = np.asarray(reference, dtype=float)
        n = reference.shape[0]
        count = max(1, int(np.ceil(float(self.confident_share) * n)))
        confidence = reference.max(axis=1)
        return np.argsort(-confidence, kind="stable")[:count]

    def agreement(self, reference: np.ndarray, candidate: np.ndarray | None) -> float:
        """Share of source-only's confident target rows on which ``candidate`` predicts
        source-only's class; both are target probabilities over the same classes (nan when the
        candidate has none)."""
        if candidate is None:
            return float("nan")
        rows = self.confident_rows(reference)
        reference = np.asarray(reference)[rows].argmax(axis=1)
        return float(np.mean(np.asarray(candidate)[rows].argmax(axis=1) == reference))

    def tolerance_for(self, source_only_accuracy: float, n_rows: int | None) -> float:
        """The drop of held-out source accuracy allowed below source-only's, on ``n_rows``
        held-out rows (the fixed ``source_tolerance`` when unknown)."""
        tolerance = float(self.source_tolerance)
        if self.confidence is None or not n_rows or not np.isfinite(source_only_accuracy):
            return tolerance
        from scipy.stats import norm

        z = float(norm.ppf(0.5 + float(self.confidence) / 2.0))
        p = min(max(float(source_only_accuracy), 0.0), 1.0)
        return max(tolerance, z * float(np.sqrt(2.0 * p * (1.0 - p) / int(n_rows))))

    def decide(
        self,
        labels: list[str],
        scores: np.ndarray,
        agreement: np.ndarray,
        source_accuracy: np.ndarray,
        reference: int,
        held_out: int | None,
        validator: str,
    ) -> dict[str, Any]:
        """The pick among candidates and why.

        Parameters
        ----------
        labels : list of str
            Each candidate's name for messages (e.g. ``"SA (n_components=40)"``).
        scores : array
            The refit validator's mean scores (nan: not eligible).
        agreement : array
            Each candidate's mean agreement with source-only on its confident target rows.
        source_accuracy : array
            Each candidate's mean held-out source accuracy (nan: not measured).
        reference : int
            The index of the source-only candidate.
        held_out : int or None
            Distinct held-out source rows behind ``source_accuracy``.
        validator : str
            The refit validator's name, for messages.

        Returns
        -------
        dict
            ``index`` (the pick), ``kept_source_only``, ``reason`` (a sentence), ``set_aside``
            (candidates ranked above the pick that failed a check, with why) and the settings.
        """
        self.check()
        scores = np.asarray(scores, dtype=float)
        agreement = np.asarray(agreement, dtype=float)
        source_accuracy = np.asarray(source_accuracy, dtype=float)
        reference_accuracy = float(source_accuracy[reference])
        tolerance = self.tolerance_for(reference_accuracy, held_out)
        ranked = np.argsort(-np.where(np.isfinite(scores), scores, -np.inf), kind="stable")
        ranked = [int(i) for i in ranked if np.isfinite(scores[i])]
        set_aside: list[dict[str, Any]] = []
        pick = reference
        for i in ranked:
            if i == reference:
                break
            why = self._failure(agreement[i], source_accuracy[i], reference_accuracy, tolerance)
            if why is None:
                pick = i
                break
            set_aside.append({"index": i, "candidate": labels[i], "why": why})
        share = 100 * float(self.confident_share)
        if pick == reference:
            if set_aside:
                first = set_aside[0]
                reason = (
                    f"kept source-only: the best-scored candidate {first['candidate']} "
                    f"{first['why']}"
                )
                if len(set_aside) > 1:
                    reason += f"; {len(set_aside) - 1} more candidate(s) ranked above it failed too"
            elif ranked and ranked[0] == reference:
                reason = f"picked source-only: it has the best {validator} score"
            else:
                reason = (
                    f"kept source-only: no adapted candidate has a {validator} score (every "
                    "one failed or was dropped)"
                )
        else:
            reason = (
                f"picked {labels[pick]}: {validator} score {scores[pick]:.3f}"
                + (
                    f" (source-only {scores[reference]:.3f})"
                    if np.isfinite(scores[reference])
                    else ""
                )
                + f", agrees with source-only on {100 * agreement[pick]:.0f} % of its "
                f"{share:.0f} % most confident target rows (threshold "
                f"{100 * float(self.min_agreement):.0f} %)"
            )
            if np.isfinite(source_accuracy[pick]) and np.isfinite(reference_accuracy):
                reason += (
                    f", held-out source accuracy {100 * source_accuracy[pick]:.1f} % "
                    f"(source-only {100 * reference_accuracy:.1f} %)"
                )
            if set_aside:
                reason += f"; set aside {len(set_aside)} better-scored candidate(s) that failed"
        return {
            "index": pick,
            "kept_source_only": pick == reference,
            "reason": reason,
            "set_aside": set_aside,
            "confident_share": float(self.confident_share),
            "min_agreement": float(self.min_agreement),
            "source_tolerance": tolerance,
            "source_only_source_accuracy": reference_accuracy,
        }

    def _failure(
        self, agreement: float, accuracy: float, reference_accuracy: float, tolerance: float
    ) -> str | None:
        """Why a candidate fails the floor, or None when it passes."""
        share = 100 * float(self.confident_share)
        if float(self.min_agreement) > 0:
            if not np.isfinite(agreement):
                return "has no target probabilities to compare with source-only's"
            if agreement < float(self.min_agreement):
                return (
                    f"agrees with source-only on only {100 * agreement:.0f} % of its "
                    f"{share:.0f} % most confident target rows (threshold "
                    f"{100 * float(self.min_agreement):.0f} %)"
                )
        if np.isfinite(reference_accuracy) and float(self.source_tolerance) < 1.0:
            if not np.isfinite(accuracy):
                return "has no held-out source accuracy to compare with source-only's"
            if accuracy < reference_accuracy - tolerance:
                return (
                    f"is {100 * (reference_accuracy - accuracy):.1f} points below source-only "
                    f"on held-out source rows ({100 * accuracy:.1f} % against "
                    f"{100 * reference_accuracy:.1f} %, tolerance {100 * tolerance:.1f} points)"
                )
        return None
