"""What a diagnosis is made of, and how it reads: verdicts, evidence, advice, table, JSON, HTML.

:func:`~transferkit.diagnose.scenarios.diagnose` builds a :class:`Diagnosis` from
:class:`Verdict` s (one per flag of :data:`FLAGS`) with their :class:`Evidence`, and
:func:`~transferkit.diagnose.report.recommend` adds :class:`Recommendation` s. This module holds
those objects and their renderings (plain-text table, JSON, the self-contained HTML report with
embedded plots); it imports neither of the modules that compute them, so
``scenarios`` → ``report`` → ``results`` is a chain without a cycle.

Examples
--------
>>> Evidence("domain-classifier AUC", 0.73, (0.70, 0.76), 0.0004).format()
'domain-classifier AUC 0.73 [0.7, 0.76] (p=<0.001)'
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.diagnose.sources import format_sources
from transferkit.problem import pair_title

logger = logging.getLogger(__name__)

#: The flags a diagnosis raises, in report order.
FLAGS = (
    "feature_space",
    "covariate_shift",
    "label_space",
    "label_shift",
    "conditional_shift",
    "source_imbalance",
)

SCENARIO_TITLES = {
    "feature_space": "1. Feature spaces differ",
    "marginal": "2. Marginals differ (covariate shift)",
    "label_space": "3. Label spaces differ",
    "conditional": "4. Conditionals differ / class imbalance",
}


# --------------------------------------------------------------------------- result objects
@dataclass
class Evidence:
    """One statistic behind a verdict: its value, interval and p-value when it has them."""

    name: str
    value: Any
    ci: tuple[float, float] | None = None
    p_value: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": plain(self.value),
            "ci": None if self.ci is None else [float(self.ci[0]), float(self.ci[1])],
            "p_value": None if self.p_value is None else float(self.p_value),
            "note": self.note,
        }

    def format(self) -> str:
        value = format_value(self.value)
        text = f"{self.name} {value}"
        if self.ci is not None:
            text += f" [{format_value(self.ci[0])}, {format_value(self.ci[1])}]"
        if self.p_value is not None:
            text += f" (p={format_p(self.p_value)})"
        return text


@dataclass
class Verdict:
    """The answer for one flag: raised (True), not raised (False) or unknown (None)."""

    flag: str
    scenario: str
    flagged: bool | None
    summary: str
    p_value: float | None
    evidence: list[Evidence]

    def to_dict(self) -> dict[str, Any]:
        return {
            "flag": self.flag,
            "scenario": self.scenario,
            "flagged": self.flagged,
            "summary": self.summary,
            "p_value": self.p_value,
            "evidence": [e.to_dict() for e in self.evidence],
        }


@dataclass
class Recommendation:
    """A family of methods that fits the diagnosis, with the methods' registry names and why."""

    family: str
    methods: list[str]
    reason: str
    priority: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "methods": list(self.methods),
            "reason": self.reason,
            "priority": self.priority,
        }


@dataclass
class Diagnosis:
    """Verdicts on the four scenarios, their statistics, and recommended method families.

    ``flags`` maps each of :data:`FLAGS` to True / False / None (not testable on this input);
    ``verdicts`` holds the evidence; ``details`` every statistic in JSON-ready form;
    ``plot_data`` the arrays the HTML report draws (not serialised).
    """

    verdicts: dict[str, Verdict]
    recommendations: list[Recommendation]
    summary: dict[str, Any]
    details: dict[str, Any]
    alpha: float
    plot_data: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def flags(self) -> dict[str, bool | None]:
        return {flag: self.verdicts[flag].flagged for flag in FLAGS}

    @property
    def scenarios(self) -> dict[str, bool | None]:
        """The four scenarios: True if any of their flags is raised (None if none could be tested)."""
        groups = {
            "feature_space": ["feature_space"],
            "marginal": ["covariate_shift"],
            "label_space": ["label_space"],
            "conditional": ["label_shift", "conditional_shift", "source_imbalance"],
        }
        out: dict[str, bool | None] = {}
        for scenario, flags in groups.items():
            values = [self.verdicts[f].flagged for f in flags]
            if any(v is True for v in values):
                out[scenario] = True
            elif all(v is None for v in values):
                out[scenario] = None
            else:
                out[scenario] = False
        return out

    def table(self) -> list[dict[str, str]]:
        """One row per flag: scenario, what was checked, key statistics, p-value, verdict."""
        rows = []
        for flag in FLAGS:
            v = self.verdicts[flag]
            rows.append(
                {
                    "scenario": SCENARIO_TITLES[v.scenario],
                    "check": FLAG_LABELS[flag],
                    "statistics": "; ".join(e.format() for e in v.evidence[:4]),
                    "p_value": "" if v.p_value is None else format_p(v.p_value),
                    "verdict": verdict_word(v.flagged),
                    "summary": v.summary,
                }
            )
        return rows

    def format_table(self, width: int = 100) -> str:
        """The verdict table as plain text (what ``transferkit diagnose`` prints)."""
        import textwrap

        lines = [
            "Diagnosis of "
            + pair_title(
                self.summary.get("name", "problem"),
                self.summary.get("source_name", "source"),
                self.summary.get("target_name", "target"),
            )
            + f" (alpha = {self.alpha})",
            "",
        ]
        header = f"{'check':<34} {'p':>9}  {'verdict':<12}"
        lines.append(header)
        lines.append("-" * len(header))
        for row in self.table():
            lines.append(f"{row['check']:<34} {row['p_value']:>9}  {row['verdict']:<12}")
            for text in textwrap.wrap(row["summary"], width - 4):
                lines.append("    " + text)
            if row["statistics"]:
                for text in textwrap.wrap(row["statistics"], width - 6):
                    lines.append("      " + text)
        if self.details.get("sources"):
            lines.append("")
            lines.append("Sources, each against the target:")
            lines.extend(format_sources(self.details["sources"]))
        lines.append("")
        lines.append("Recommendation:")
        for rec in self.recommendations:
            methods = f" [{', '.join(rec.methods)}]" if rec.methods else ""
            for i, text in enumerate(
                textwrap.wrap(f"{rec.family}{methods}: {rec.reason}", width - 4)
            ):
                lines.append(("  - " if i == 0 else "    ") + text)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format_table()

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": plain(self.summary),
            "alpha": self.alpha,
            "flags": self.flags,
            "scenarios": self.scenarios,
            "verdicts": {flag: self.verdicts[flag].to_dict() for flag in FLAGS},
            "recommendations": [r.to_dict() for r in self.recommendations],
            "details": plain(self.details),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, default=str)

    def to_html(self, path: str | Path | None = None) -> str:
        """The HTML report with embedded plots; written to ``path`` when given."""
        return render_html(self, path)


FLAG_LABELS = {
    "feature_space": "feature spaces differ",
    "covariate_shift": "P(X) differs (covariate shift)",
    "label_space": "label spaces differ",
    "label_shift": "P(Y) differs (label shift)",
    "conditional_shift": "P(Y|X) differs (conditional)",
    "source_imbalance": "source class imbalance",
}


def verdict_word(flagged: bool | None) -> str:
    return {True: "YES", False: "no", None: "unknown"}[flagged]


def format_value(value: Any) -> str:
    if isinstance(value, float | np.floating):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e4):
            return f"{value:.2e}"
        return f"{value:.3g}"
    if isinstance(value, list | tuple | np.ndarray):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def format_p(p: float) -> str:
    return "<0.001" if p < 1e-3 else f"{p:.3f}"


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


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
    parts.append("</table>")
    if diagnosis.details.get("sources"):
        parts.append("<h2>Sources, each against the target</h2><pre>")
        parts.extend(esc(line.strip()) for line in format_sources(diagnosis.details["sources"]))
        parts.append("</pre>")
    parts.append("<h2>Recommendation</h2><ol>")
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
