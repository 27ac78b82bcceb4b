"""Deep multi-source adaptation: M3SDA's moment matching in the project's training loop.

Examples
--------
>>> import numpy as np
>>> from transferkit.multisource import combine_sources
>>> from transferkit.deep.multisource import DeepM3SDA
>>> rng = np.random.default_rng(0)
>>> sources = [(rng.normal(i, size=(60, 4)), np.arange(60) % 2) for i in range(2)]
>>> problem = combine_sources(sources, rng.normal(size=(40, 4)))
>>> DeepM3SDA(epochs=2, random_state=0).fit(problem).predict(problem.X_target).shape
(40,)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from transferkit.checks import check_nonnegative, check_positive_int
from transferkit.deep.losses import dann_lambda, moment_distance
from transferkit.deep.methods import DeepTransferClassifier
from transferkit.deep.training import batch_norm_layers, split_validation
from transferkit.exceptions import ParameterValueError
from transferkit.multisource import source_domains
from transferkit.problem import as_problem
from transferkit.registry import register_method

__all__ = ["DeepM3SDA"]


class DeepM3SDA(DeepTransferClassifier):
    """M3SDA (Peng et al. 2019): one encoder, the moments of every source matched to the target's.

    The encoder and the classifier train on the pooled sources' cross-entropy plus a weight times
    :func:`transferkit.deep.losses.moment_distance` between each source's features in the batch,
    the target's, and the sources pairwise. The weight grows from 0 to ``trade_off`` over training
    along DANN's schedule (:func:`transferkit.deep.losses.dann_lambda`), and the features are
    divided by their root mean square before their moments are compared, so the distance cannot
    be lowered by shrinking the representation. It takes a multi-source problem
    (:func:`transferkit.multisource.combine_sources`, ``load_pair(dataset, "a+b", target)``).
    Given a single-source problem it warns and matches that source's moments with the target's.

    Parameters
    ----------
    trade_off : float, default 0.3
        Final weight of the moment distance against the classification loss.
    **params
        Every other parameter of :class:`~transferkit.deep.methods.DeepTransferClassifier`.
        ``loss_params`` may set ``order`` (the highest moment, default 2), ``normalize``
        (compare moments of the features divided by their root mean square, default True) and
        ``gamma`` (steepness of the weight's schedule, default 10; 0 puts the whole weight on
        from the first step).

    Notes
    -----
    M3SDA's second stage (one classifier per source, weighted by their agreement) is left out:
    one classifier on the aligned sources is trained, as in its ablation "M3SDA w/o β".

    Without the normalisation and the schedule (``loss_params={"normalize": False, "gamma": 0}``,
    ``trade_off=1``), the all-zero representation matches every moment: on MNIST + synthetic →
    MNIST-M the LeNet's ReLU units all stop firing within the first epoch and every image lands
    in one class. The defaults were chosen with the target labels of held-out seeds (Office-Caltech
    seeds 0, 4 and 5, digits seed 0), none of the seeds of the benchmark tables.
    """

    default_loss_params = {"order": 2, "normalize": True, "gamma": 10.0}

    def __init__(self, trade_off: float = 0.3, **params: Any):
        super().__init__(trade_off=trade_off, **params)

    @classmethod
    def _get_param_names(cls) -> list[str]:
        return DeepTransferClassifier._get_param_names()

    def _check_loss_params(self) -> None:
        params = self._checked_loss_params()
        check_positive_int(params["order"], "loss_params['order']", "DeepM3SDA")
        check_nonnegative(params["gamma"], "loss_params['gamma']", "DeepM3SDA")
        if not isinstance(params["normalize"], bool | np.bool_):
            raise ParameterValueError(
                f"DeepM3SDA: loss_params['normalize']={params['normalize']!r} must be True or "
                "False."
            )

    def _prepare(self, X: Any, y: Any, domain: Any) -> dict[str, Any]:
        problem = as_problem(X, y, domain)
        domains = source_domains(problem, "m3sda", fallback=True).astype(str)
        data = super()._prepare(problem, None, None)
        names = list(dict.fromkeys(domains))
        codes = np.searchsorted(np.array(sorted(names)), domains)
        if problem.n_target_labeled:  # visible target labels train as one more "source"
            codes = np.concatenate([codes, np.full(problem.n_target_labeled, len(names))])
        ys = problem.encode_labels(problem.y_source)
        if problem.n_target_labeled:
            ys = np.concatenate(
                [ys, problem.encode_labels(problem.y_target[problem.target_labeled])]
            )
        train_index, _ = split_validation(ys, self.validation_fraction, self.random_state)
        # the training loop only takes rows of y, so the source of each row travels beside its label
        data["y_train"] = torch.stack(
            [data["y_train"], torch.from_numpy(codes[train_index]).long()], dim=1
        )
        self.source_names_ = sorted(names)
        return data

    def _fit_networks(self, data: dict[str, Any]) -> None:
        encoder = self._make_encoder(self.n_features_in_).to(self.device_)
        self.encoder_ = encoder
        self.classifier_ = nn.Linear(encoder.out_features, len(self.classes_)).to(self.device_)
        self.adaptation_ = None
        params = self._loss_params()
        order, normalize, gamma = int(params["order"]), params["normalize"], params["gamma"]
        trade_off = self.trade_off
        n_domains = int(data["y_train"][:, 1].max()) + 1
        # as in the single-source methods: with domain-specific batch norm (the LeNet), the
        # source and target batches are normalised apart, as the target is at predict time
        separate_batches = self.domain_batch_norm and bool(batch_norm_layers(encoder))

        def step(xs: Tensor, ys: Tensor, xt: Tensor | None, progress: float) -> Any:
            labels, codes = ys[:, 0], ys[:, 1]
            if separate_batches:
                zs, zt = encoder(xs), encoder(xt)
            else:
                features = encoder(torch.cat([xs, xt]))
                zs, zt = features[: xs.shape[0]], features[xs.shape[0] :]
            classification = F.cross_entropy(self.classifier_(zs), labels)
            by_source = [zs[codes == k] for k in range(n_domains)]
            transfer = moment_distance(by_source, zt, order, normalize=bool(normalize))
            # DANN's ramp: the moments of a barely trained encoder are noise to be matched
            weight = dann_lambda(progress, gamma, trade_off) if gamma else trade_off
            logs = {
                "classification": float(classification.detach()),
                "transfer": float(transfer.detach()),
            }
            return classification + weight * transfer, logs

        self.history_ = self._train(
            "train",
            {"encoder": encoder, "classifier": self.classifier_},
            step,
            data,
            self._validator(encoder, data),
        )


@register_method(
    "m3sda",
    "deep",
    "Multi-source: M3SDA, moments of every source matched to the target's (Peng et al. 2019)",
    deep=True,
)
def _m3sda(estimator: Any, random_state: int | None, **params: Any) -> DeepM3SDA:
    return DeepM3SDA(random_state=random_state, **params)
