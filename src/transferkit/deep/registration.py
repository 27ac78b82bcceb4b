"""Registering a torch estimator class as a method: the one factory of the deep families.

A deep family's method is its estimator class built with the cell's seed and the suite's
parameters, ``cls(random_state=random_state, **params)``; the deep methods, the source-free
methods, the robustness methods and the multi-task methods all register their classes with
:func:`register_estimator_class` instead of each writing that factory again. No torch here.

Examples
--------
>>> from sklearn.dummy import DummyClassifier
>>> from transferkit.deep.registration import register_estimator_class
>>> from transferkit.registry import make_method
>>> register_estimator_class("doc_dummy", "doc", DummyClassifier, "Dummy", strategy="uniform")
>>> make_method("doc_dummy", random_state=0)
DummyClassifier(random_state=0, strategy='uniform')
"""

from __future__ import annotations

from typing import Any

from transferkit.registry import register_method


def register_estimator_class(
    name: str, family: str, cls: type[Any], description: str, **fixed: Any
) -> None:
    """Register method ``name`` of ``family``: ``cls(**fixed, random_state=random_state,
    **params)``, a torch method (``deep=True``), the benchmark's classifier unused.

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
    """

    def factory(estimator: Any, random_state: int | None, **params: Any) -> Any:
        return cls(**fixed, random_state=random_state, **params)

    factory.__name__ = factory.__qualname__ = f"_{name.replace('-', '_')}"
    factory.__module__ = cls.__module__
    register_method(name, family, description, deep=True)(factory)
