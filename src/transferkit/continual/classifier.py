"""The network a continual strategy learned, kept as a classifier of the stream's own labels.

After the last task, a strategy's network answers in output units; :class:`StreamClassifier`
keeps a copy of it (on the CPU, without the stream's rows) with the label of every unit open
after the last task, so that it can be saved (joblib) and label new rows: ``transferkit
continual ... -o model.joblib``, then ``transferkit predict model.joblib DATA``.

- domain-incremental: every unit, labelled with the class it stands for in every task (joined
  with ``/`` when tasks named it differently);
- class-incremental: the units of every class seen, labelled with the class (prefixed with its
  task's name when two tasks brought the same label);
- task-incremental: refused, since each row's task picks its head and a new row comes without
  one.

Examples
--------
>>> import numpy as np
>>> from transferkit.continual import stream_from_tasks
>>> from transferkit.continual.strategies import Naive
>>> rng = np.random.default_rng(0)
>>> def task(shift):
...     X = rng.normal(size=(40, 2)) + shift
...     y = np.where(X[:, 0] > shift, "high", "low")
...     return X, y, X, y
>>> stream = stream_from_tasks([task(0.0), task(1.0)], "domain")
>>> model = StreamClassifier(Naive(epochs=2, random_state=0).fit(stream))
>>> model.classes_.tolist(), model.predict_proba(np.zeros((3, 2))).shape
(['high', 'low'], (3, 2))
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from transferkit.deep.training import apply_in_batches
from transferkit.exceptions import FeatureSpaceMismatchError, InvalidParameterError, NotFittedError


class StreamClassifier:
    """A fitted continual strategy's network as a classifier of the stream's labels.

    Parameters
    ----------
    strategy : fitted :class:`~transferkit.continual.strategies.ContinualStrategy`
        Its network is copied to the CPU; the strategy and its stream are not kept.

    Attributes
    ----------
    network_ : torch.nn.Module
        The copy, in evaluation mode.
    units_ : int array
        The output units open after the last task, in the order of ``classes_``.
    classes_ : array
        The label of each open unit.
    n_features_in_ : int
        Width of the rows the network takes.
    strategy : str
        The strategy's registered name.
    scenario : str
        ``"domain"`` or ``"class"``.
    """

    def __init__(self, strategy: Any):
        if not hasattr(strategy, "model_"):
            raise NotFittedError(f"{strategy.name} is not fitted; call fit(stream) first.")
        stream = strategy.stream_
        if stream.scenario == "task":
            raise InvalidParameterError(
                "In the task-incremental scenario each row's task picks its output units, and a "
                "new row comes without one, so the network cannot label it alone. Learn the "
                "tasks in the domain or class scenario to keep a model that labels new rows."
            )
        experiences = stream.experiences
        if stream.scenario == "domain":
            units = np.arange(stream.n_outputs)
            labels = []
            for unit in units:
                names = list(dict.fromkeys(str(e.classes[unit]) for e in experiences))
                labels.append(experiences[0].classes[unit] if len(names) == 1 else "/".join(names))
        else:
            units = np.concatenate([np.asarray(e.outputs) for e in experiences])
            labels = [label for e in experiences for label in e.classes]
            if len(set(map(str, labels))) < len(labels):  # two tasks brought one label
                tasks = stream.metadata.get("tasks") or [str(e.task_id) for e in experiences]
                labels = [
                    f"{tasks[i]}:{label}" for i, e in enumerate(experiences) for label in e.classes
                ]
        self.network_ = copy.deepcopy(strategy.model_).cpu().eval()
        self.units_ = units.astype(np.int64)
        self.classes_ = np.asarray(labels)
        self.n_features_in_ = int(np.prod(experiences[0].X_train.shape[1:]))
        self.strategy = strategy.name
        self.scenario = stream.scenario

    def _rows(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
        if X.shape[1] != self.n_features_in_:
            raise FeatureSpaceMismatchError(
                f"The rows have {X.shape[1]} features; the network learned on "
                f"{self.n_features_in_}."
            )
        return X

    @torch.no_grad()
    def predict_proba(self, X: Any) -> np.ndarray:
        """Softmax over the open units, columns in the order of ``classes_``."""
        logits = apply_in_batches(self.network_, torch.as_tensor(self._rows(X)), "cpu", 1024)
        return torch.softmax(logits[:, torch.as_tensor(self.units_)], dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The label of the most probable open unit of each row."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def __repr__(self) -> str:
        return (
            f"StreamClassifier({self.strategy}, {self.scenario}-incremental, "
            f"{len(self.classes_)} classes)"
        )


__all__ = ["StreamClassifier"]
