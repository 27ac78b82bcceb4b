"""Continual learning: learning a stream of tasks without forgetting the earlier ones.

- :mod:`~transferkit.continual.streams`: a :class:`ContinualStream` of :class:`Experience`
  objects in one of the three scenarios of van de Ven & Tolias (2019) — task-, domain- or
  class-incremental — and the built-in streams Split MNIST, Permuted MNIST and Split
  Fashion-MNIST (:func:`load_stream`).
- :mod:`~transferkit.continual.strategies` (needs torch): naive fine-tuning, joint training,
  EWC, online EWC, SI, LwF, experience replay with a reservoir buffer and A-GEM, for any
  ``nn.Module``, on the project's one training loop.
- :mod:`~transferkit.continual.classifier` (needs torch): :class:`StreamClassifier`, a fitted
  strategy's network as a classifier of the stream's labels, to save and label new rows with.
- :mod:`~transferkit.continual.metrics`: the accuracy matrix's average accuracy, backward
  transfer, forgetting and forward transfer; :func:`transferkit.plots.plot_accuracy_matrix`
  draws the matrix.

The strategies are imported on first use, so reading a stream or computing metrics does not pay
torch's import.

Examples
--------
>>> from transferkit.continual import SCENARIOS, backward_transfer
>>> SCENARIOS
('task', 'domain', 'class')
>>> round(backward_transfer([[0.99, 0.0], [0.5, 0.98]]), 2)
-0.49
"""

from __future__ import annotations

from typing import Any

from transferkit.continual.metrics import (
    average_accuracy,
    backward_transfer,
    check_accuracy_matrix,
    continual_metrics,
    forgetting,
    forward_transfer,
)
from transferkit.continual.streams import (
    SCENARIOS,
    STREAMS,
    ContinualStream,
    Experience,
    load_stream,
    permuted_mnist,
    permuted_stream,
    scenario_of_classes,
    split_fashion_mnist,
    split_mnist,
    split_stream,
    stream_from_files,
    stream_from_tasks,
)

#: Names re-exported from :mod:`transferkit.continual.strategies` (imported on first use).
STRATEGY_NAMES = (
    "AGEM",
    "EWC",
    "SI",
    "ContinualStrategy",
    "Joint",
    "LwF",
    "Naive",
    "OnlineEWC",
    "Replay",
    "ReservoirBuffer",
)

__all__ = [
    "SCENARIOS",
    "STREAMS",
    "ContinualStream",
    "Experience",
    "average_accuracy",
    "backward_transfer",
    "check_accuracy_matrix",
    "continual_metrics",
    "forgetting",
    "forward_transfer",
    "load_stream",
    "permuted_mnist",
    "permuted_stream",
    "split_fashion_mnist",
    "split_mnist",
    "scenario_of_classes",
    "split_stream",
    "stream_from_files",
    "stream_from_tasks",
    "StreamClassifier",
    *STRATEGY_NAMES,
]


def __getattr__(name: str) -> Any:
    if name in STRATEGY_NAMES:
        from transferkit.continual import strategies

        return getattr(strategies, name)
    if name == "StreamClassifier":
        from transferkit.continual.classifier import StreamClassifier

        return StreamClassifier
    raise AttributeError(f"module 'transferkit.continual' has no attribute {name!r}")
