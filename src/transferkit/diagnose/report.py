"""From a diagnosis to advice: which method families fit and why, and the HTML report.

:func:`recommend` maps the raised flags to families of methods (by their registry names), with
the measured reason; :func:`render_html` writes one self-contained HTML page with the verdict
table, the recommendation and four plots embedded as PNG: an embedding of both domains, the
domain classifier's score histograms, the label distributions, and the top drifting features.

Example
-------
>>> from transferkit.diagnose import diagnose
>>> from transferkit.diagnose.calibration import make_planted_problem
>>> diagnosis = diagnose(make_planted_problem("label", random_state=0).problem, random_state=0)
>>> [r.family for r in recommend(diagnosis)][:1]
['label-shift correction']
>>> "<img" in render_html(diagnosis)
True
"""

from __future__ import annotations

import base64
import html
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from transferkit.diagnose.scenarios import Diagnosis, Recommendation

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


def recommend(diagnosis: Diagnosis) -> list[Recommendation]:
    """Method families that fit the raised flags, most pressing first, each with its reason."""
    from transferkit.diagnose.scenarios import Recommendation

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
                    "common feature space first",
                    [],
                    "The domains have different features and no shared names: map both to one "
                    "space (a shared vocabulary, the same image size and feature extractor, or "
                    "matched feature names), then diagnose again. Heterogeneous transfer is out of "
                    "reach of the methods here until then.",
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

    if flags["label_space"]:
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


# --------------------------------------------------------------------------- plots
def _figure_png(draw: Any, size: tuple[float, float] = (5.0, 3.6)) -> str:
    """Draw on a fresh figure (no pyplot global state) and return it as base64 PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=90)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot(1, 1, 1)
    draw(ax)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _plot_embedding(data: dict[str, Any]) -> Any:
    def draw(ax: Any) -> None:
        s, t = data["source"], data["target"]
        ax.scatter(s[:, 0], s[:, 1], s=8, alpha=0.5, label="source", color="tab:blue")
        ax.scatter(t[:, 0], t[:, 1], s=8, alpha=0.5, label="target", color="tab:orange")
        ax.set_title("Both domains, first two principal components")
        ax.legend(loc="best", fontsize=8)

    return draw


def _plot_scores(scores: np.ndarray, domain: np.ndarray) -> Any:
    def draw(ax: Any) -> None:
        bins = np.histogram_bin_edges(scores, bins=30)
        ax.hist(scores[domain == 0], bins=bins, alpha=0.6, density=True, label="source")
        ax.hist(scores[domain == 1], bins=bins, alpha=0.6, density=True, label="target")
        ax.set_xlabel("domain-classifier score (out of fold; higher = more target-like)")
        ax.set_title("Domain-classifier scores")
        ax.legend(fontsize=8)

    return draw


def _plot_labels(data: dict[str, Any], target_counts: dict[str, float] | None) -> Any:
    def draw(ax: Any) -> None:
        classes = data["classes"]
        x = np.arange(len(classes))
        width = 0.27
        ax.bar(x - width, data["source"], width, label="source")
        for offset, key, label in ((0.0, "bbse", "target (BBSE)"), (width, "em", "target (EM)")):
            p, lo, hi = data[key]
            err = np.vstack([np.clip(p - lo, 0, None), np.clip(hi - p, 0, None)])
            ax.bar(x + offset, p, width, yerr=err, capsize=2, label=label)
        if target_counts:
            ax.scatter(
                x,
                [target_counts.get(c, 0.0) for c in classes],
                marker="x",
                color="black",
                zorder=3,
                label="visible target labels",
            )
        ax.set_xticks(x)
        ax.set_xticklabels(classes, rotation=45 if len(classes) > 6 else 0, fontsize=8)
        ax.set_ylabel("share")
        ax.set_title("Label distributions (95% bootstrap intervals)")
        ax.legend(fontsize=7)

    return draw


def _plot_drift(top: list[dict[str, Any]]) -> Any:
    def draw(ax: Any) -> None:
        rows = top[::-1]
        names = [str(r["feature"])[:28] for r in rows]
        effects = [r["effect"] for r in rows]
        colors = ["tab:red" if r["p_adjusted"] < 0.05 else "tab:gray" for r in rows]
        ax.barh(np.arange(len(rows)), effects, color=colors)
        ax.set_yticks(np.arange(len(rows)))
        ax.set_yticklabels(names, fontsize=7)
        ax.set_xlabel("effect size (KS distance, Cramér's V or presence-rate difference)")
        ax.set_title("Most drifting features (red: significant after correction)")

    return draw


# --------------------------------------------------------------------------- HTML
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; width: 100%; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top;
         font-size: 0.9em; }
th { background: #f0f0f0; }
td.yes { background: #fde2e1; font-weight: bold; }
td.no { background: #e3f5e1; }
td.unknown { background: #f4f4f4; color: #777; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
.plots figure { margin: 0; }
small { color: #666; }
"""


def render_html(diagnosis: Diagnosis, path: str | Path | None = None) -> str:
    """One self-contained HTML page: verdicts, statistics, recommendation and embedded PNG plots."""
    esc = html.escape
    s = diagnosis.summary
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>transferkit diagnosis: {esc(str(s.get('name', '')))}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Diagnosis: {esc(str(s.get('source_name')))} &rarr; {esc(str(s.get('target_name')))}</h1>",
        f"<p>{esc(str(s.get('name')))}: {s.get('n_source')} source and {s.get('n_target')} target "
        f"samples, {s.get('n_features_source')} / {s.get('n_features_target')} features"
        f"{' (sparse)' if s.get('sparse') else ''}, {s.get('n_target_labeled', 0)} visible target "
        f"labels. Every test at level &alpha; = {diagnosis.alpha}.</p>",
        "<h2>Verdicts</h2><table><tr><th>scenario</th><th>check</th><th>verdict</th>"
        "<th>p</th><th>summary</th><th>statistics</th></tr>",
    ]
    for row, flag in zip(diagnosis.table(), diagnosis.flags, strict=True):
        css = {"YES": "yes", "no": "no"}.get(row["verdict"], "unknown")
        stats_html = "<br>".join(esc(e.format()) for e in diagnosis.verdicts[flag].evidence)
        parts.append(
            f"<tr><td>{esc(row['scenario'])}</td><td>{esc(row['check'])}</td>"
            f"<td class='{css}'>{esc(row['verdict'])}</td><td>{esc(row['p_value'])}</td>"
            f"<td>{esc(row['summary'])}</td><td><small>{stats_html}</small></td></tr>"
        )
    parts.append("</table><h2>Recommendation</h2><ol>")
    for rec in diagnosis.recommendations:
        methods = f" <code>{esc(', '.join(rec.methods))}</code>" if rec.methods else ""
        parts.append(f"<li><b>{esc(rec.family)}</b>{methods}: {esc(rec.reason)}</li>")
    parts.append("</ol><h2>Plots</h2><div class='plots'>")
    for caption, png in _plots(diagnosis):
        parts.append(
            f"<figure><img alt='{esc(caption)}' src='data:image/png;base64,{png}'>"
            f"<figcaption><small>{esc(caption)}</small></figcaption></figure>"
        )
    parts.append("</div>")
    drift = diagnosis.details.get("marginal", {}).get("drift", {}).get("top", [])
    if drift:
        parts.append(
            "<h2>Top drifting features</h2><table><tr><th>feature</th><th>test</th>"
            "<th>effect</th><th>source</th><th>target</th><th>p (adjusted)</th></tr>"
        )
        for r in drift:
            parts.append(
                f"<tr><td>{esc(str(r['feature']))}</td><td>{esc(r['test'])}</td>"
                f"<td>{r['effect']:.3f}</td><td>{r['source']:.3g}</td><td>{r['target']:.3g}</td>"
                f"<td>{r['p_adjusted']:.2g}</td></tr>"
            )
        parts.append("</table>")
    parts.append("<p><small>Made by transferkit.diagnose.</small></p></body></html>")
    text = "\n".join(parts)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def _plots(diagnosis: Diagnosis) -> list[tuple[str, str]]:
    data = diagnosis.plot_data
    out = []
    if "embedding" in data:
        out.append(
            (
                "Embedding of both domains (PCA; truncated SVD for sparse data)",
                _figure_png(_plot_embedding(data["embedding"])),
            )
        )
    if "domain_scores" in data:
        scores, domain = data["domain_scores"]
        out.append(
            ("Domain-classifier score histograms", _figure_png(_plot_scores(scores, domain)))
        )
    if "labels" in data:
        out.append(
            (
                "Label distributions: source, and target estimated by BBSE and EM",
                _figure_png(_plot_labels(data["labels"], data.get("target_label_shares"))),
            )
        )
    if data.get("drift_top"):
        out.append(
            ("Top drifting features", _figure_png(_plot_drift(data["drift_top"]), (5.5, 4.2)))
        )
    return out
