"""Every registered method with its defaults on one pair of every built-in suite it applies to.

What the defaults promise: no crash, no NaN, no silently degenerate result. For each built-in
suite, each of its datasets' first pair is loaded with the suite's options and seed 0 (the
runner's :func:`~transferkit.bench.runner.load_problem`, so ``pca`` and ``target_labels`` apply
as in ``transferkit bench``), and every registered method whose task kind fits is fitted on it
with its default parameters and the suite's classifier. Continual, multi-task and robustness
strategies take the suite's own settings (epochs, network) when the suite lists them. A method is
skipped by a rule when it cannot apply (another task kind; a heterogeneous method on one feature
space, or the reverse; target labels, several sources or a parallel corpus the problem lacks; the
open-set rejection on a closed label set, or a closed-set method on an open-set target; a deep
method on a suite that lists none; a shallow method on images). A problem two suites share runs once.

Each cell runs in a forked process with a time limit. Its status is

* ``ok``;
* ``refuses: ...``: it raised one of our own errors (``transferkit.exceptions``), a clear refusal;
* ``CRASH``: any other exception;
* ``NaN``: non-finite probabilities, decision values or score;
* ``DEGENERATE``: a constant prediction, or a score at or below chance (the constant majority
  prediction) while the reference (source-only; target-only on two feature spaces) is 10 points
  above it or the kind has no reference (zero-shot), with no ``DegenerateResultWarning``;
  ``degenerate (warned)`` when the method said so itself;
* ``TIMEOUT``: the cell ran past ``--time-limit``.

A markdown table (suite, pair, method, score, source-only, fit seconds, status) goes to stdout,
one row per cell as it finishes, then a count per status.

Every shallow method on every suite (about 15 min on 2 shared cores), then the deep families on
every suite whose own budget fits the cell limit, and the source-free suite's own methods (the
commands behind the table in docs/benchmarks.md, "Every method with its defaults"):

    export TRANSFERKIT_DATA=../shared/datasets
    nice python benchmarks/defaults.py --skip-deep --time-limit 240
    nice python benchmarks/defaults.py --families deep,continual,fewshot,multitask,robustness \
        --time-limit 240 --suites amazon-dann,continual-permuted-mnist,\
continual-split-fashion-mnist,continual-split-mnist,digits-deep,digits-multisource,fewshot-bible,\
fewshot-mnist,fewshot-office-caltech,multitask-amazon,multitask-multimnist,office-caltech-images,\
office-caltech-images-semi,office-caltech-partial,robustness-mnist
    nice python benchmarks/defaults.py --suites source-free --time-limit 240 \
        --methods source_model,deep_source_only,deep_oracle,adabn,tent,shot

``--suites``, ``--methods`` (registered names) and ``--families`` (registry families) narrow a
run; ``--skip-deep`` leaves out every deep method; ``--time-limit`` is per cell (default 300 s).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
import traceback
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Score of a method's reference (its "source-only" column), by task kind, first that applies.
REFERENCES = {
    "transfer": ("source_only", "deep_source_only", "target_only"),
    "continual": ("naive",),
    "fewshot": ("prototypes",),
    "zeroshot": (),  # no baseline of its own: a score at chance is flagged
    "multitask": ("single_task",),
    "robustness": ("standard_training",),
}
#: Kinds whose strategies take the suite's own parameters (epochs, network) when it lists them.
SUITE_SETTINGS_KINDS = {"continual", "multitask", "robustness"}
#: Methods whose constant prediction is their definition (a chance baseline).
CONSTANT_BY_DESIGN = {"zeroshot_majority"}
#: A reference this far above chance (in score points, 0..1) makes a method at chance degenerate.
WELL_ABOVE_CHANCE = 0.10


@dataclass
class Target:
    """One (suite, dataset entry) with its first pair: the problem the methods run on."""

    suite: Any
    entry: Any
    source: str
    target: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.entry.name, self.entry.options_key, self.source, self.target)

    @property
    def pair(self) -> str:
        return f"{self.entry.label} {self.source}→{self.target}"


# ----------------------------------------------------------------------- rules
def skip_reason(spec: Any, method: Any, problem: Any, suite: Any) -> str | None:
    """Why ``method`` does not apply to ``problem`` of ``suite`` (None: it applies)."""
    from transferkit.crosslingual import parallel_corpus
    from transferkit.multisource import is_multi_source
    from transferkit.problem import TRANSFER_KIND, TransferProblem
    from transferkit.registry import method_spec

    kind = getattr(problem, "kind", TRANSFER_KIND)
    if getattr(method, "task_kind", TRANSFER_KIND) != kind:
        return "another task kind"
    if not isinstance(problem, TransferProblem):
        return None
    if spec.family == "heterogeneous" and not problem.heterogeneous:
        return "one feature space"
    if problem.heterogeneous and not getattr(method, "handles_different_feature_spaces", False):
        return "different feature spaces"
    if spec.needs_target_labels and problem.n_target_labeled == 0:
        return "no target labels"
    if spec.family == "multi-source" and not is_multi_source(problem):
        return "one source"
    if spec.family == "crosslingual" and parallel_corpus(problem) is None:
        return "no parallel corpus"
    open_set = problem.metadata.get("label_space") == "open_set"
    if spec.name == "open_set" and not open_set:
        # it rejects its least confident target rows as "unknown", always wrong on a closed set
        return "closed label set"
    if open_set and spec.name not in ("open_set", "source_only", "target_oracle"):
        # a closed-set method never predicts "unknown": its HOS is 0 by construction
        return "open-set target"
    if spec.deep and not any(method_spec(m.name).deep for m in suite.methods):
        return "deep method, suite lists none"
    if problem.is_images and not spec.deep:
        return "images"
    return None


def chance_score(problem: Any) -> float | None:
    """The score of the constant majority prediction (None where it is not defined)."""
    from transferkit.evaluation import problem_score
    from transferkit.problem import TransferProblem

    def majority(y: Any) -> float:
        _, counts = np.unique(np.asarray(y), return_counts=True)
        return counts.max() / counts.sum()

    if isinstance(problem, TransferProblem):
        _, y = problem.evaluation_split()
        values, counts = np.unique(np.asarray(y), return_counts=True)
        constant = np.full(len(y), values[np.argmax(counts)])
        return problem_score(problem.metadata, y, constant)
    kind = problem.kind
    if kind == "fewshot":
        return 1.0 / problem.n_way
    if kind == "continual":
        return float(np.mean([majority(e.y_test) for e in problem.experiences]))
    if kind == "multitask":
        return float(np.mean([majority(c[c >= 0]) for c in np.asarray(problem.Y_test).T]))
    if kind == "robustness":
        return 1.0 / len(np.unique(problem.y_test))
    return None


# ----------------------------------------------------------------------- one cell
def all_finite(value: Any) -> bool:
    """Whether every number in ``value`` (nested dicts/lists/arrays) is finite."""
    if isinstance(value, dict):
        return all(all_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(all_finite(v) for v in value)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return True
    return bool(np.isfinite(array).all())


def run_cell(name: str, params: dict, classifier: Any, problem: Any) -> dict[str, Any]:
    """Fit ``name`` on ``problem`` and check what it gives; never raises."""
    from transferkit.exceptions import DegenerateResultWarning, TransferKitError
    from transferkit.problem import TransferProblem, refuse_different_feature_spaces
    from transferkit.registry import make_method

    out: dict[str, Any] = {"score": None, "fit_seconds": None, "finite": True}
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            method = make_method(name, params, classifier, random_state=0)
            if isinstance(problem, TransferProblem):
                if not getattr(method, "handles_different_feature_spaces", False):
                    refuse_different_feature_spaces(problem, f"Method '{name}'")
                X, y = problem.evaluation_split()
                if hasattr(method, "score_problem"):
                    out["score"] = float(method.score_problem(problem))
                    out["fit_seconds"] = time.perf_counter() - start
                else:
                    method.fit(problem)
                    out["fit_seconds"] = time.perf_counter() - start
                    predicted = np.asarray(method.predict(X)).ravel()
                    out["n_predicted"] = len(np.unique(predicted))
                    out["n_true"] = len(np.unique(np.asarray(y)))
                    for scores in ("predict_proba", "decision_function"):
                        if hasattr(method, scores):
                            try:
                                values = getattr(method, scores)(X)
                            except (AttributeError, NotImplementedError, TransferKitError):
                                continue  # not offered by this configuration
                            out["finite"] &= all_finite(values)
                    from transferkit.evaluation import problem_score

                    out["score"] = problem_score(problem.metadata, y, predicted)
            else:
                out["score"] = float(method.score_problem(problem))
                out["fit_seconds"] = time.perf_counter() - start
                out["finite"] &= all_finite(getattr(method, "details_", None))
                out["details"] = getattr(method, "details_", None)
        out["finite"] &= out["score"] is not None and bool(np.isfinite(out["score"]))
        out["degenerate_warned"] = any(
            issubclass(w.category, DegenerateResultWarning) for w in caught
        )
        out["warnings"] = sorted({w.category.__name__ for w in caught})
        out["error"] = None
    except Exception as error:  # the point is to report it
        out["fit_seconds"] = time.perf_counter() - start
        out["error"] = f"{type(error).__name__}: {error}".replace("\n", " ")
        out["ours"] = isinstance(error, TransferKitError)
        out["traceback"] = traceback.format_exc(limit=-4)
    return out


def run_with_limit(
    name: str, params: dict, classifier: Any, problem: Any, limit: float
) -> dict[str, Any]:
    """:func:`run_cell` in a forked process (it shares the loaded problem), killed after
    ``limit`` seconds."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_forked, args=(sender, name, params, classifier, problem))
    process.start()
    sender.close()
    result = None
    if receiver.poll(limit):
        try:
            result = receiver.recv()
        except EOFError:  # the child died without sending (a segfault, out of memory)
            pass
    killed = process.is_alive()
    if killed:
        process.kill()
    process.join()
    if result is None:
        if killed:
            return {"timeout": True}
        return {"error": f"the process died (exit code {process.exitcode})", "ours": False}
    return result


def _forked(connection: Any, name: str, params: dict, classifier: Any, problem: Any) -> None:
    set_one_thread()
    try:
        connection.send(run_cell(name, params, classifier, problem))
    finally:
        connection.close()


def set_one_thread() -> None:
    """One BLAS/OpenMP/torch thread, so cells do not fight over the shared cores."""
    import sys

    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


# ----------------------------------------------------------------------- verdict
def status_of(result: dict[str, Any], chance: float | None, reference: float | None, name: str):
    if result.get("timeout"):
        return "TIMEOUT"
    if result.get("error"):
        if result.get("ours"):
            return f"refuses: {result['error'][:160]}"
        return f"CRASH: {result['error'][:200]}"
    if not result["finite"]:
        return "NaN"
    constant = result.get("n_predicted") == 1 and result.get("n_true", 2) > 1
    # a robust accuracy near 0 is what an undefended model gets: its clean accuracy must not be
    checked = (result.get("details") or {}).get("clean_accuracy", result["score"])
    at_chance = (
        chance is not None
        and checked <= chance + 1e-9
        and (
            reference is None
            or reference >= chance + WELL_ABOVE_CHANCE
            or checked != result["score"]
        )
    )
    if (constant or at_chance) and name not in CONSTANT_BY_DESIGN:
        what = "constant prediction" if constant else "at chance"
        if result["degenerate_warned"]:
            return f"degenerate, warned ({what})"
        return f"DEGENERATE ({what})"
    return "ok"


# ----------------------------------------------------------------------- main
def same(classifier: Any) -> str:
    """What tells two classifier specifications apart ("logreg" is {name = "logreg", C = 1})."""
    from transferkit.registry import make_classifier

    return repr(sorted(make_classifier(classifier, 0).get_params().items()))


def targets(suite_names: list[str]) -> list[Target]:
    from transferkit.bench import load_suite

    out = []
    for name in suite_names:
        suite = load_suite(name)
        for entry in suite.datasets:
            source, target = entry.pairs[0]
            out.append(Target(suite, entry, source, target))
    return out


def main() -> None:
    from transferkit.bench.runner import load_problem
    from transferkit.bench.suite import builtin_suites
    from transferkit.registry import available_methods, make_method

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", default=None, help="comma-separated; default: every one")
    parser.add_argument("--methods", default=None, help="comma-separated registered names")
    parser.add_argument("--families", default=None, help="comma-separated registry families")
    parser.add_argument("--skip-deep", action="store_true", help="leave out the deep methods")
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds per cell")
    args = parser.parse_args()
    set_one_thread()

    specs = available_methods(include_deep=not args.skip_deep)
    chosen = [
        n
        for n, s in specs.items()
        if (args.methods is None or n in args.methods.split(","))
        and (args.families is None or s.family in args.families.split(","))
        and not (args.skip_deep and s.deep)
    ]
    suites = args.suites.split(",") if args.suites else builtin_suites()
    print("| suite | pair | method | score % | source-only % | fit s | status |")
    print("| --- | --- | --- | ---: | ---: | ---: | --- |", flush=True)
    counts: dict[str, int] = {}
    done: set[tuple[Any, ...]] = set()
    wall = time.perf_counter()
    for target in targets(suites):
        suite = target.suite
        try:
            problem = load_problem(
                target.entry.name,
                target.source,
                target.target,
                0,
                json.loads(target.entry.options_key),
            )
        except Exception as error:
            print(f"| {suite.name} | {target.pair} | (load) | | | | CRASH: {error} |", flush=True)
            counts["CRASH"] = counts.get("CRASH", 0) + 1
            continue
        chance = chance_score(problem)
        kind = getattr(problem, "kind", "transfer")
        runnable = []
        for name in chosen:
            spec = specs[name]
            params: dict[str, Any] = {}
            classifier = suite.classifier
            listed = [m for m in suite.methods if m.name == name]
            if kind in SUITE_SETTINGS_KINDS and listed:
                params, classifier = dict(listed[0].params), listed[0].classifier
            try:
                method = make_method(name, params, classifier, random_state=0)
            except Exception as error:  # building with defaults must never fail
                runnable.append((name, params, classifier, f"build: {error}"))
                continue
            if skip_reason(spec, method, problem, suite) is None:
                runnable.append((name, params, classifier, None))
        references = [r for r in REFERENCES.get(kind, ()) if r in [c[0] for c in runnable]]
        runnable.sort(key=lambda c: c[0] not in references[:1])
        reference_score = None
        for name, params, classifier, build_error in runnable:
            key = (*target.key, name, json.dumps(params, sort_keys=True), same(classifier))
            if key in done:
                continue  # the same cell ran for an earlier suite
            done.add(key)
            if build_error:
                result = {"error": build_error, "ours": False}
            else:
                result = run_with_limit(name, params, classifier, problem, args.time_limit)
            details = result.get("details") or {}
            if kind == "zeroshot" and "majority" in details:
                chance = details["majority"]  # the majority unseen class's share
            if references and name == references[0] and not result.get("error"):
                reference_score = result.get("score")
            status = status_of(result, chance, reference_score, name)
            if status == "TIMEOUT":
                status = f"TIMEOUT (> {args.time_limit:.0f} s)"
            counts[status.split(":")[0].split(" (")[0]] = (
                counts.get(status.split(":")[0].split(" (")[0], 0) + 1
            )
            score = "" if result.get("score") is None else f"{100 * result['score']:.1f}"
            ref = "" if reference_score is None else f"{100 * reference_score:.1f}"
            seconds = "" if result.get("fit_seconds") is None else f"{result['fit_seconds']:.1f}"
            label = name + (f" {json.dumps(params)}" if params else "")
            print(
                f"| {suite.name} | {target.pair} | {label} | {score} | {ref} | {seconds} | "
                f"{status.replace('|', '/')} |",
                flush=True,
            )
            if status.startswith(("CRASH", "NaN")) and result.get("traceback"):
                print("<!--", result["traceback"].replace("-->", "- ->"), "-->", flush=True)
    print()
    print(
        f"{sum(counts.values())} cells in {time.perf_counter() - wall:.0f} s: "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
        flush=True,
    )


if __name__ == "__main__":
    main()
