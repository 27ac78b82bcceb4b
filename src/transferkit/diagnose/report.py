"""From a diagnosis to advice: which method families fit and why, and the HTML report.

:func:`recommend` maps the raised flags to families of methods (by their registry names), with
the measured reason; :func:`render_html` (defined beside the result objects in
:mod:`transferkit.diagnose.results`, re-exported here) writes one self-contained HTML page with the
verdict table, the recommendation and four plots embedded as PNG: an embedding of both domains,
the domain classifier's score histograms, the label distributions, and the top drifting features.

Examples
--------
>>> from transferkit.diagnose import diagnose
>>> from transferkit.diagnose.calibration import make_planted_problem
>>> diagnosis = diagnose(make_planted_problem("label", random_state=0).problem, random_state=0)
>>> [r.family for r in recommend(diagnosis)][:1]
['label-shift correction']
>>> "<img" in render_html(diagnosis)
True
"""

from __future__ import annotations

import logging

from transferkit.diagnose.results import Diagnosis, Recommendation, render_html
from transferkit.diagnose.sources import nearest_source

__all__ = ["FAMILY_METHODS", "recommend", "render_html"]

logger = logging.getLogger(__name__)

#: Methods of each family, by registry name, in order of preference.
FAMILY_METHODS = {
    "reweighting": ["density_ratio", "kliep", "kmm"],
    "alignment": ["coral", "sa", "tca", "jda", "ot"],
    "invariant": ["msda"],
    "deep": ["dann", "deep_coral", "dan"],
    "label_shift": ["label_shift"],
    "resampling": ["resampled"],
    "few_target_labels": ["feature_augmentation", "jda", "ot"],
    "heterogeneous": ["hda_cca", "hda_cluster", "hda_gw", "hda_coot"],
    "partial": ["partial_ot", "partial_reweighting", "pada"],
    "open_set": ["open_set"],
    "new_label_space": ["new_head"],
    "multi_source": ["ms_refined", "ms_jcpot", "ms_moments", "ms_weighted", "m3sda"],
    "none": ["source_only"],
}


def _registered(names: list[str]) -> list[str]:
    try:
        from transferkit.registry import available_methods

        known = available_methods()
    except Exception:  # pragma: no cover - a broken family module must not break advice
        logger.warning("could not list registered methods", exc_info=True)
        return names
    return [n for n in names if n in known]


#: Share of target rows less sure than 95 % of held-out source rows above which the target is
#: suspected to hold samples far from every source class (8x the share expected without shift;
#: on Office-Caltech CNN features: 0.48-0.60 with 4 unknown classes, 0.19-0.52 without).
LOW_CONFIDENCE_SHARE = 0.4


def _label_space_recommendations(
    flag: bool | None, info: dict, covariate_shift: bool = False
) -> list[Recommendation]:
    """Partial, open-set and new-label-space advice from the label-space verdict's details
    (``covariate_shift``: the prior estimates behind it are then indicative only)."""
    out = []
    absent = info.get("classes_with_near_zero_priors") or []
    new_visible = info.get("target_only_classes") or []
    new_hidden = info.get("target_only_classes_in_hidden_labels") or []
    low = info.get("low_confidence_share")
    if absent:
        out.append(
            Recommendation(
                "partial transfer",
                _registered(FAMILY_METHODS["partial"]),
                f"Source classes {absent} have estimated target priors near zero (under a tenth "
                "of the largest class's, relative to the source): the target may hold only some "
                "source classes. Aligning the whole source would pull target samples into the "
                "absent classes; weight the source classes by their estimated target share "
                "(partial_ot, partial_reweighting, or PADA for the deep loop)."
                + (
                    " Under the covariate shift found these estimates are indicative only: "
                    "label a few target samples (--reveal) to check that the classes are absent."
                    if covariate_shift
                    else ""
                ),
                0,
            )
        )
    low_confidence = low is not None and low >= LOW_CONFIDENCE_SHARE
    if new_visible or new_hidden or low_confidence:
        # one family for classes the source never saw: reject them as unknown, and learn them
        # with a new head where a few target labels name them
        methods = FAMILY_METHODS["open_set"] + (
            FAMILY_METHODS["new_label_space"] if new_visible else []
        )
        if new_visible or new_hidden:
            reason = (
                f"The target's labels include classes the source never saw "
                f"({new_visible or new_hidden})"
            )
        else:
            reason = (
                f"{low:.0%} of target samples are less sure than 95% of held-out source "
                "samples: some may be far from every source class (covariate shift lowers "
                "confidence too, so check a few)"
            )
        advice = (
            ". Predict 'unknown' for samples no source class explains (open_set: a threshold "
            "chosen without target labels on any method)"
        )
        if new_visible:
            advice += (
                "; to name the new classes, train a new head on transferred features with the "
                "few labels per new class (new_head)"
            )
        out.append(
            Recommendation(
                "partial / open-set transfer", _registered(methods), reason + advice + ".", 0
            )
        )
    if flag and not out:
        out.append(
            Recommendation(
                "partial / open-set transfer",
                [],
                "The label sets differ: remove source classes absent from the target before "
                "adapting (alignment would otherwise pull target samples into them); new target "
                "classes can only be learned from target labels.",
                0,
            )
        )
    return out


def recommend(diagnosis: Diagnosis) -> list[Recommendation]:
    """Method families that fit the raised flags, most pressing first, each with its reason."""

    flags = diagnosis.flags
    details = diagnosis.details
    sparse = bool(diagnosis.summary.get("sparse"))
    out: list[Recommendation] = []

    fs = details.get("feature_space", {})
    specific = fs.get("domain_specific", {})
    n_specific = specific.get("n_only_source", 0) + specific.get("n_only_target", 0)
    if flags["feature_space"]:
        if fs.get("n_features_source") != fs.get("n_features_target") and not fs.get(
            "n_shared_names"
        ):
            out.append(
                Recommendation(
                    "heterogeneous transfer",
                    _registered(FAMILY_METHODS["heterogeneous"]),
                    "The domains have different features and no shared names. Best, map both to "
                    "one space and diagnose again: texts in two languages through one "
                    "multilingual encoder (--text-column ... --encoder use; with unlabelled "
                    "translation pairs, parallel_distillation then teaches the source model "
                    "to the target language: --parallel pairs.tsv), word vectors with "
                    "transferkit.crosslingual (Procrustes, self-learning), images through the same "
                    "feature extractor. Otherwise build TransferProblem(..., "
                    "feature_spaces='different') (files on the command line: transferkit bench "
                    "demo --source S --target T --feature-spaces different --reveal 3 --methods "
                    "target_only,hda_cca,hda_cluster): with a few labelled target rows per class "
                    "hda_cca learns a common subspace (compare it with target_only); hda_cluster, "
                    "hda_gw and hda_coot need no target label but match the spaces by their "
                    "geometry alone, which works only where both feature sets arrange the classes "
                    "alike and can fail outright (docs/benchmarks.md): check them on labelled "
                    "rows.",
                    0,
                )
            )
        elif not n_specific:
            out.append(
                Recommendation(
                    "shared representation",
                    _registered(FAMILY_METHODS["invariant"] + ["feature_augmentation"]),
                    "Feature names or value types differ: align and recode the features first.",
                    0,
                )
            )
    if n_specific:
        # a vocabulary shift: same feature space, some features used in one domain only
        out.append(
            Recommendation(
                "shared representation",
                _registered(FAMILY_METHODS["invariant"] + ["feature_augmentation"]),
                f"{n_specific} features are used in one domain only (vocabulary shift); a "
                "classifier relying on them fails on the other. Drop them, or learn a "
                "representation that reconstructs them from shared pivot features (mSDA), or use "
                "a few target labels (feature augmentation).",
                0,
            )
        )

    # texts of two languages in one encoder's space (in two spaces, the advice above covers them)
    languages = None if flags["feature_space"] else diagnosis.summary.get("languages")
    if languages:
        pairs = int(diagnosis.summary.get("parallel_pairs", 0))
        out.append(
            Recommendation(
                "cross-lingual transfer",
                _registered(["parallel_distillation", "source_only"]),
                f"The texts are in two languages ({languages['source']} -> "
                f"{languages['target']}). Through one multilingual encoder a classifier of the "
                "source language reads the target language as it is (zero-shot), though the two "
                "languages stay apart in that space (the shift measured above). Unlabelled "
                "translation pairs are what closes the gap: parallel_distillation teaches the "
                "classifier the target language from them (56 % of the gap to the "
                "source-language accuracy on the Bible benchmark, docs/benchmarks.md). "
                + (
                    f"This problem carries {pairs:,} translation pairs."
                    if pairs
                    else "Give it pairs: `transferkit bench demo --source S --target T "
                    "--text-column ... --parallel pairs.tsv --methods "
                    "source_only,parallel_distillation` on files, `--option parallel=true` on "
                    "the built-in bible-en-es pair (from Python: "
                    "transferkit.crosslingual.with_parallel_corpus). Without pairs, keep "
                    "source_only unless `transferkit select` finds evidence for another method."
                ),
                0,
            )
        )

    out.extend(
        _label_space_recommendations(
            flags["label_space"], details.get("label_space", {}), bool(flags["covariate_shift"])
        )
    )

    sources = diagnosis.summary.get("source_domains") or []
    if len(sources) >= 2:
        rows = details.get("sources") or []
        nearest = nearest_source(rows)
        lacking = [row["name"] for row in rows if row["missing_classes"]]
        out.append(
            Recommendation(
                "multi-source adaptation",
                _registered(FAMILY_METHODS["multi_source"]),
                f"The source holds {len(sources)} named domains ({', '.join(sources)}): methods "
                "that keep them apart beat pooling them on most multi-source benchmarks "
                "(docs/benchmarks.md). ms_jcpot transports each source "
                "to the target (and estimates the target's class proportions), ms_refined then "
                "relabels the target by its class centroids (the best on Office-Caltech), "
                "ms_moments matches every source's moments, ms_weighted "
                "votes down sources far from the target, m3sda trains a network. The verdicts "
                "above compare the pooled sources with the target; the sources' rows compare "
                "each one with it"
                + (f" ({nearest} is the nearest by covariance)" if nearest else "")
                + "."
                + (
                    f" {', '.join(lacking)} lack{'s' if len(lacking) == 1 else ''} classes the "
                    "other sources have: ms_jcpot needs every class in every source."
                    if lacking
                    else ""
                ),
                1,
            )
        )

    if flags["label_shift"]:
        tv = details.get("labels", {}).get("bbse", {}).get("total_variation", float("nan"))
        out.append(
            Recommendation(
                "label-shift correction",
                _registered(FAMILY_METHODS["label_shift"]),
                f"The target's class balance differs (total variation {tv:.2f} from the source "
                "priors): correct the classifier's posteriors to the estimated target priors "
                "(LabelShiftCorrector, EM or BBSE), or resample the source to them "
                "(ResampledMethod(target='target_priors')). Feature alignment does not fix this.",
                1,
            )
        )

    if flags["covariate_shift"]:
        marginal = details.get("marginal", {})
        ess = float(marginal.get("importance_ess", 0.0))
        auc = float(marginal.get("domain_classifier", {}).get("auc", 1.0))
        unmeasured = bool(marginal.get("domain_classifier_below_chance"))
        overlap = ess >= 0.2 and auc < 0.9 and not unmeasured
        reweight = Recommendation(
            "importance re-weighting",
            _registered(FAMILY_METHODS["reweighting"]),
            (
                f"The domains overlap (domain-classifier AUC {auc:.2f}; density-ratio weights keep "
                f"{ess:.0%} effective sample size): re-weighting source samples by p_t(x)/p_s(x) "
                "corrects covariate shift without changing the features."
                if overlap
                else f"Only with care: density-ratio weights keep {ess:.0%} effective sample "
                "size, so a re-weighted classifier would rest on a few source samples."
            ),
            1 if overlap else 2,
        )
        align_methods = FAMILY_METHODS["alignment"] + (
            FAMILY_METHODS["invariant"] if sparse else []
        )
        align = Recommendation(
            "representation alignment",
            _registered(align_methods) + _registered(FAMILY_METHODS["deep"]),
            (
                "The overlap of the domains could not be measured (the domain classifier scores "
                "below chance, as when each domain is standardised on its own): aligning "
                "representations (CORAL, SA, TCA, JDA, OT) does not rely on density ratios."
                if unmeasured
                else f"The domains barely overlap (AUC {auc:.2f}, effective sample size of "
                f"importance weights {ess:.0%}): weights would rest on a few samples, so map both "
                "domains into a space where they match (CORAL, SA, TCA, JDA, OT; mSDA for sparse "
                "text)."
                if not overlap
                else "Aligning the representations is the alternative when re-weighting is not "
                "enough (e.g. the shift also moves the decision boundary's region)."
            ),
            1 if not overlap else 2,
        )
        absent = details.get("label_space", {}).get("classes_with_near_zero_priors") or []
        if absent:
            # plain alignment on a partial target pulls target rows into the absent classes
            align.reason += (
                f" Source classes {absent} look absent from the target, so align with the "
                "partial methods above rather than these (plain OT lost 19.5 points on the "
                "partial Office-Caltech pairs)."
            )
            align.priority = max(align.priority, 2)
        if languages:
            align.reason += (
                " Between two languages, aligning the embedding distributions did not help on "
                "the Bible benchmark (CORAL and SA a little below source_only, OT 16 points below): "
                "prefer cross-lingual transfer above."
            )
            align.priority = max(align.priority, 2)
        out.extend([reweight, align] if overlap else [align, reweight])

    if flags["conditional_shift"]:
        out.append(
            Recommendation(
                "use the target labels",
                _registered(FAMILY_METHODS["few_target_labels"]),
                "P(Y|X) itself differs, which no unsupervised method can undo: train with the "
                "labelled target samples (feature augmentation, class-conditional alignment such as "
                "JDA or OT with label regularisation), and label more target samples if you can.",
                1,
            )
        )

    if flags["source_imbalance"]:
        ratio = details.get("source_imbalance", {}).get("ratio", float("nan"))
        out.append(
            Recommendation(
                "resampling / class weights",
                _registered(FAMILY_METHODS["resampling"]),
                f"The source classes are imbalanced ({ratio:.1f}x): resample the source "
                "(imbalanced-learn: random over/under-sampling, SMOTE, ADASYN) in front of any "
                "method, or give the classifier class weights.",
                2,
            )
        )

    if not any(v for v in flags.values() if v):
        out.append(
            Recommendation(
                "no adaptation needed",
                _registered(FAMILY_METHODS["none"]),
                f"No scenario was flagged at level {diagnosis.alpha}: the source model should "
                "transfer as is. Confirm with `transferkit select`, which compares methods without "
                "target labels.",
                1,
            )
        )
    out.sort(key=lambda r: r.priority)
    return out
