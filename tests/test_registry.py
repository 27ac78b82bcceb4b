"""Where methods are registered: each in the module that defines the class it builds."""

from __future__ import annotations

import pytest

from transferkit.exceptions import InvalidParameterError
from transferkit.registry import available_methods, make_method


def _defining_class(model: object) -> type:
    """The class a factory's result stands for: the adapter or re-weighter inside the generic
    ``AdaptedClassifier`` wrapper, else the model's own class."""
    if type(model).__module__ == "transferkit.base":
        for attribute in ("adapter", "reweighter"):
            part = getattr(model, attribute, None)
            if part is not None:
                return type(part)
    return type(model)


@pytest.mark.parametrize("name", sorted(available_methods()))
def test_each_method_is_registered_in_the_module_defining_it(name):
    spec = available_methods()[name]
    built = _defining_class(make_method(name, random_state=0))
    assert built.__module__ == spec.factory.__module__, (
        f"{name!r} builds {built.__module__}.{built.__name__} but is registered in "
        f"{spec.factory.__module__}; move the register_method call next to the class"
    )


def test_the_registry_finds_methods_of_every_family_and_refuses_unknown_ones():
    families = {spec.family for spec in available_methods().values()}
    assert {"alignment", "invariant", "reweighting"} <= families
    with pytest.raises(InvalidParameterError, match="Unknown method 'dan_n'. Known methods: "):
        make_method("dan_n")
    with pytest.raises(InvalidParameterError, match="Bad parameters for method 'coral'"):
        make_method("coral", {"regularisation": 1.0})
