"""Small helpers shared by the dataset modules."""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.exceptions import InvalidParameterError

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


def check_count(value: Any, name: str, minimum: int = 1) -> int:
    """An integer count of at least ``minimum`` or an InvalidParameterError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidParameterError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def check_number(
    value: Any, name: str, low: float | None = None, high: float | None = None
) -> float:
    """A finite real number within [low, high] or an InvalidParameterError naming it."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be a number; got {value!r}.") from None
    if (
        not np.isfinite(number)
        or (low is not None and number < low)
        or (high is not None and number > high)
    ):
        bounds = f" in [{low}, {high}]" if low is not None or high is not None else ""
        raise InvalidParameterError(f"{name} must be a finite number{bounds}; got {value!r}.")
    return number
