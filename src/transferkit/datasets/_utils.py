"""Small helpers shared by the dataset modules (their checks are in :mod:`transferkit.checks`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from transferkit.exceptions import InvalidParameterError, UnknownDatasetError

RandomState = int | np.random.Generator | np.random.RandomState | None


def as_generator(random_state: RandomState) -> np.random.Generator:
    """A numpy ``Generator`` from a seed, a ``Generator`` or a legacy ``RandomState``."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if random_state is None or isinstance(random_state, int | np.integer):
        return np.random.default_rng(random_state)
    raise InvalidParameterError(
        f"random_state must be None, an int, or a numpy Generator/RandomState; got "
        f"{type(random_state).__name__}."
    )


def check_domain(domain: str, domains: Sequence[str], dataset: str) -> str:
    """``domain`` if it is one of ``domains``, else :class:`UnknownDatasetError` listing them."""
    if domain not in domains:
        raise UnknownDatasetError(
            f"Unknown {dataset} domain {domain!r}; choose one of {', '.join(domains)}."
        )
    return domain
