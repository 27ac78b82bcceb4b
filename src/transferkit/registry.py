"""Names under which methods and classifiers are known to suites, the CLI and ``select``.

Each family module registers its methods with :func:`register_method`; the registry imports the
family modules only when a name is looked up, so importing transferkit stays cheap and has no side
effects on other libraries.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transferkit.exceptions import InvalidParameterError

#: Modules whose import registers methods: each method is registered in the module defining it.
#: The numpy shallow DANN is listed on its own so that it stays available without torch.
SHALLOW_FAMILY_MODULES: tuple[str, ...] = (
    "transferkit.baselines",
    "transferkit.alignment",
    "transferkit.invariant",
    "transferkit.reweighting",
    "transferkit.label_shift",
    "transferkit.self_training",
    "transferkit.heterogeneous",
    "transferkit.label_spaces",
    "transferkit.multisource",
    "transferkit.deep.shallow_dann",
    "transferkit.zeroshot.methods",
    "transferkit.fewshot.methods",
    "transferkit.crosslingual.distillation",
)
#: Families that import torch: skipped when it is missing, and imported only when a name is not
#: found among the shallow ones (or every method is asked for), so that reading a suite of shallow
#: methods or stored results never pays torch's import.
TORCH_FAMILY_MODULES: tuple[str, ...] = (
    "transferkit.deep.methods",
    "transferkit.deep.finetune",
    "transferkit.deep.sda",
    "transferkit.deep.source_free",
    "transferkit.deep.partial",
    "transferkit.deep.separation",
    "transferkit.deep.multisource",
    "transferkit.fewshot.networks",
    "transferkit.robustness.methods",
    "transferkit.continual.strategies",
    "transferkit.multitask",
)
FAMILY_MODULES: tuple[str, ...] = SHALLOW_FAMILY_MODULES + TORCH_FAMILY_MODULES


@dataclass(frozen=True)
class MethodSpec:
    """How to build one method for the runner.

    ``factory(estimator, random_state, **params)`` returns an object with ``fit(problem)`` and
    ``predict(X)`` (and optionally ``score_problem(problem) -> accuracy`` for methods such as the
    target oracle that evaluate in their own way).
    """

    name: str
    family: str
    factory: Callable[..., Any]
    description: str
    needs_target_labels: bool = False
    deep: bool = False


_METHODS: dict[str, MethodSpec] = {}
_loaded: set[str] = set()


def register_method(
    name: str,
    family: str,
    description: str,
    *,
    needs_target_labels: bool = False,
    deep: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``factory(estimator, random_state, **params)`` under ``name``."""

    def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
        _METHODS[name] = MethodSpec(name, family, factory, description, needs_target_labels, deep)
        return factory

    return decorate


def register_estimator_class(
    name: str, family: str, cls: type[Any], description: str, **fixed: Any
) -> None:
    """Register method ``name`` of ``family``: ``cls(**fixed, random_state=random_state,
    **params)``, a torch method (``deep=True``), the benchmark's classifier unused.

    The one factory of the deep families (deep, source-free, robustness, multi-task methods):
    each registers its estimator classes with it instead of writing that factory again.

    Parameters
    ----------
    name : str
        The registry name (``"dann"``).
    family : str
        The family it is listed under (``"deep"``, ``"robustness"``, ...).
    cls : type
        The estimator class; the factory is registered as defined in ``cls``'s module, where the
        registry's tests look for it.
    description : str
        One line for listings.
    **fixed
        Parameters the name fixes (``mtl_pcgrad``: ``weighting="pcgrad"``); a suite giving one of
        them again is refused, as any bad parameter.

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> register_estimator_class("doc_dummy", "doc", DummyClassifier, "Dummy", strategy="uniform")
    >>> make_method("doc_dummy", random_state=0)
    DummyClassifier(random_state=0, strategy='uniform')
    """

    def factory(estimator: Any, random_state: int | None, **params: Any) -> Any:
        return cls(**fixed, random_state=random_state, **params)

    factory.__name__ = factory.__qualname__ = f"_{name.replace('-', '_')}"
    factory.__module__ = cls.__module__
    register_method(name, family, description, deep=True)(factory)


def _load_families(modules: tuple[str, ...]) -> None:
    for module in modules:
        if module in _loaded:
            continue
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            # a family not written yet, or an optional dependency (torch) not installed
            missing = error.name or ""
            if not (module.startswith(missing) or missing in {"torch"}):
                raise
        _loaded.add(module)


def available_methods(include_deep: bool = True) -> dict[str, MethodSpec]:
    """Every registered method, by name.

    ``include_deep=False`` leaves out the families that import torch (the deep methods), so the
    call stays cheap; the numpy shallow DANN is always included.
    """
    _load_families(SHALLOW_FAMILY_MODULES)
    if include_deep:
        _load_families(TORCH_FAMILY_MODULES)
    return dict(sorted(_METHODS.items()))


def is_registered(name: str) -> bool:
    """Whether ``name`` is a registered method; torch families are imported only if needed."""
    return name in available_methods(include_deep=False) or name in available_methods()


def method_spec(name: str) -> MethodSpec:
    """The :class:`MethodSpec` registered under ``name`` (torch families imported only if needed)."""
    if not is_registered(name):
        raise InvalidParameterError(
            f"Unknown method '{name}'. Known methods: {', '.join(available_methods())}."
        )
    return _METHODS[name]


def make_method(
    name: str,
    params: dict[str, Any] | None = None,
    classifier: str | dict[str, Any] | Any = "logreg",
    random_state: int | None = None,
) -> Any:
    """Build method ``name`` with ``params`` in front of ``classifier``."""
    spec = method_spec(name)
    estimator = make_classifier(classifier, random_state) if spec.family != "deep" else classifier
    try:
        return spec.factory(estimator, random_state, **(params or {}))
    except TypeError as error:
        raise InvalidParameterError(f"Bad parameters for method '{name}': {error}") from error


def _classifiers() -> dict[str, Callable[..., Any]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC, LinearSVC

    return {
        "1nn": lambda rs, **p: KNeighborsClassifier(n_neighbors=1, **p),
        "knn": lambda rs, **p: KNeighborsClassifier(**p),
        "logreg": lambda rs, **p: LogisticRegression(**{"max_iter": 2000, "C": 1.0, **p}),
        "linear_svm": lambda rs, **p: LinearSVC(**{"random_state": rs, **p}),
        "svm": lambda rs, **p: SVC(**{"random_state": rs, **p}),
    }


CLASSIFIER_NAMES = ("1nn", "knn", "logreg", "linear_svm", "svm")


def make_classifier(spec: str | dict[str, Any] | Any, random_state: int | None = None) -> Any:
    """A scikit-learn classifier from a name (``"1nn"``, ``"logreg"``, ...), a
    ``{"name": ..., **params}`` table, or an estimator instance (returned as is)."""
    if spec is None:
        spec = "logreg"
    if hasattr(spec, "fit"):
        return spec
    params: dict[str, Any] = {}
    if isinstance(spec, dict):
        params = dict(spec)
        spec = params.pop("name", None)
    factories = _classifiers()
    if spec not in factories:
        raise InvalidParameterError(
            f"Unknown classifier {spec!r}. Known classifiers: {', '.join(factories)}."
        )
    return factories[spec](random_state, **params)
