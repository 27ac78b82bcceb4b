"""Which of the four transfer scenarios holds, measured, and what to do about it.

- :func:`diagnose` → :class:`Diagnosis`: verdicts on (1) feature spaces, (2) marginals
  P(X), (3) label spaces and (4) conditionals / class balance, each with its statistics,
  intervals and p-values, and a recommendation of method families.
- :mod:`~transferkit.diagnose.statistics`: the two-sample tests as plain functions
  (domain-classifier AUC, MMD, per-feature drift, domain-specific features); the domain
  classifier itself (and the proxy A-distance) lives in :mod:`transferkit.domain_classifier`.
- :mod:`~transferkit.diagnose.scenarios` (:func:`diagnose` and the scenario-2 tests),
  :mod:`~transferkit.diagnose.inputs` (reading the two domains), :mod:`~transferkit.diagnose.feature_space`
  (scenario 1) and :mod:`~transferkit.diagnose.verdicts` (the label, conditional, imbalance and
  label-space verdicts).
- :mod:`~transferkit.diagnose.results`: the result objects (:class:`Diagnosis`, :class:`Verdict`,
  :class:`Evidence`, :class:`Recommendation`) and their table, JSON and HTML renderings.
- :mod:`~transferkit.diagnose.report`: :func:`recommend` (and the HTML report, re-exported).
- :mod:`~transferkit.diagnose.calibration`: problems with planted shifts, and the calibration of
  the flags on them (false-positive rate and power).

Examples
--------
>>> from transferkit.diagnose import diagnose
>>> from transferkit.diagnose.calibration import make_planted_problem
>>> diagnose(make_planted_problem("covariate", random_state=0).problem).scenarios["marginal"]
True
"""

from transferkit.diagnose.report import recommend
from transferkit.diagnose.results import (
    FLAGS,
    Diagnosis,
    Evidence,
    Recommendation,
    Verdict,
    render_html,
)
from transferkit.diagnose.scenarios import diagnose
from transferkit.diagnose.statistics import (
    domain_classifier_test,
    domain_specific_features,
    feature_drift,
    mmd_test,
    proxy_a_distance,
)

__all__ = [
    "FLAGS",
    "Diagnosis",
    "Evidence",
    "Recommendation",
    "Verdict",
    "diagnose",
    "domain_classifier_test",
    "domain_specific_features",
    "feature_drift",
    "mmd_test",
    "proxy_a_distance",
    "recommend",
    "render_html",
]
