"""Transfer losses as ``torch.nn.Module``s, usable with any network and the one training loop.

Two layers, as everywhere in transferkit: plain functions on tensors do the math
(:func:`mmd2`, :func:`coral_distance`, :func:`dann_lambda`); small modules wrap them so a method plugs
them into a network (:class:`MMDLoss`, :class:`CORALLoss`, :class:`GradientReversal`,
:class:`DomainAdversarialLoss`, :class:`DomainConfusionLoss`, :class:`ADDALoss`).

Every alignment loss takes a batch of source features and a batch of target features and returns a
scalar to add to the classification loss. The self-training losses act on the classifier's *logits*
instead (:func:`minimum_class_confusion`, :func:`confident_consistency`, :func:`class_balance`); a
module that wants logits says so with ``acts_on = "logits"``.

In data-parallel training (:mod:`transferkit.deep.distributed`) the modules whose loss depends on
the batch as a whole, not on each row alone (:class:`MMDLoss`, :class:`CORALLoss`,
:class:`MinimumClassConfusionLoss`), compute it on the rows of every process, gathered with their
gradients (:func:`~transferkit.deep.distributed.gather_rows`); the adversarial losses are means
over rows and stay per process. The plain functions never communicate.

Examples
--------
>>> import torch
>>> from transferkit.deep.losses import CORALLoss, MMDLoss
>>> fs, ft = torch.randn(32, 8), torch.randn(32, 8) + 1.0
>>> bool(MMDLoss()(fs, ft) > MMDLoss()(fs, torch.randn(32, 8)))
True
>>> float(CORALLoss()(fs, fs)) == 0.0
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from transferkit.deep.distributed import gather_rows
from transferkit.exceptions import InvalidParameterError

# ----------------------------------------------------------------------------- maximum mean discrepancy


def _pairwise_sq_dists(X: Tensor) -> Tensor:
    sq = (X * X).sum(dim=1, keepdim=True)
    return (sq + sq.T - 2.0 * X @ X.T).clamp_min(0.0)


def mmd2(
    source: Tensor,
    target: Tensor,
    n_kernels: int = 5,
    kernel_mul: float = 2.0,
    bandwidth: float | None = None,
) -> Tensor:
    """Squared maximum mean discrepancy with a sum of Gaussian kernels (biased V-statistic).

    With ``n_kernels=1`` this is the single-kernel MMD of DDC (Tzeng et al. 2014, Eq. 1); with
    several kernels whose bandwidths form a geometric family around the median heuristic it is the
    multi-kernel MMD of DAN (Long et al. 2015, Eq. 3), with equal kernel weights.

    Parameters
    ----------
    source, target : Tensor (n, d) and (m, d)
        Features of a source and a target batch.
    n_kernels : int, default 5
        Number of Gaussian kernels.
    kernel_mul : float, default 2.0
        Ratio between consecutive bandwidths.
    bandwidth : float or None, default None
        Central squared bandwidth; None uses the mean pairwise squared distance of the batch
        (detached, so the bandwidth is not optimised away).
    """
    if n_kernels < 1:
        raise InvalidParameterError(f"n_kernels must be at least 1, got {n_kernels}.")
    n = source.shape[0]
    joint = torch.cat([source, target], dim=0)
    distances = _pairwise_sq_dists(joint)
    if bandwidth is None:
        m = joint.shape[0]
        base = distances.detach().sum() / max(m * m - m, 1)
        base = base.clamp_min(1e-8)
    else:
        base = torch.as_tensor(bandwidth, dtype=joint.dtype, device=joint.device)
    base = base / (kernel_mul ** (n_kernels // 2))
    kernel = sum(torch.exp(-distances / (base * kernel_mul**i)) for i in range(n_kernels))
    k_ss = kernel[:n, :n].mean()
    k_tt = kernel[n:, n:].mean()
    k_st = kernel[:n, n:].mean()
    return k_ss + k_tt - 2.0 * k_st


class MMDLoss(nn.Module):
    """Multi-kernel MMD between source and target features (DDC: 1 kernel; DAN: several).

    Parameters
    ----------
    n_kernels : int, default 5
    kernel_mul : float, default 2.0
    """

    def __init__(self, n_kernels: int = 5, kernel_mul: float = 2.0):
        super().__init__()
        self.n_kernels = n_kernels
        self.kernel_mul = kernel_mul

    def forward(self, source: Tensor, target: Tensor) -> Tensor:
        return mmd2(gather_rows(source), gather_rows(target), self.n_kernels, self.kernel_mul)


# ----------------------------------------------------------------------------- CORAL


def coral_distance(source: Tensor, target: Tensor) -> Tensor:
    """Deep CORAL loss: squared Frobenius distance of the feature covariances over 4 d².

    Sun & Saenko (2016), Eq. 1: ``||C_S - C_T||_F^2 / (4 d^2)``.
    """
    d = source.shape[1]

    def covariance(X: Tensor) -> Tensor:
        centred = X - X.mean(dim=0, keepdim=True)
        return centred.T @ centred / max(X.shape[0] - 1, 1)

    difference = covariance(source) - covariance(target)
    return (difference * difference).sum() / (4.0 * d * d)


class CORALLoss(nn.Module):
    """Deep CORAL: align second-order statistics of source and target features."""

    def forward(self, source: Tensor, target: Tensor) -> Tensor:
        return coral_distance(gather_rows(source), gather_rows(target))


# ----------------------------------------------------------------------------- moment matching


def moment_distance(
    sources: list[Tensor], target: Tensor, order: int = 2, normalize: bool = False
) -> Tensor:
    """M3SDA's moment distance between several source feature batches and a target batch.

    Peng, Bai, Xia, Huang, Saenko & Wang (2019), "Moment matching for multi-source domain
    adaptation", ICCV, Eq. 1: for each order ``k`` up to ``order``, the mean over sources of
    ``||E[z_s^k] - E[z_t^k]||_2`` plus the mean over pairs of sources of
    ``||E[z_i^k] - E[z_j^k]||_2`` (element-wise powers, so ``k = 2`` matches the raw second
    moments). Each norm is divided by ``sqrt(d)`` (a root mean square over the ``d`` features),
    so one ``trade_off`` suits any width. Sources with no row in the batch are left out.

    With ``normalize``, every batch is first divided by one number, the root mean square of all
    the features (sources and target together), so the distance does not change with the scale
    of the representation: without it, the all-zero representation matches every moment, and a
    network can lower the distance by shrinking its features, down to ReLU units that never
    fire again.

    Examples
    --------
    >>> a, b = torch.zeros(4, 3), torch.ones(4, 3)
    >>> float(moment_distance([a, a], a)), float(moment_distance([a, b], a)) > 0
    (0.0, True)
    """
    sources = [s for s in sources if s.shape[0] > 0]
    if normalize:
        size = torch.cat([*sources, target]).pow(2).mean().sqrt().clamp_min(1e-6)
        sources, target = [s / size for s in sources], target / size
    scale = float(target.shape[1]) ** 0.5
    total = target.new_zeros(())
    for k in range(1, order + 1):
        target_moment = (target**k).mean(dim=0)
        moments = [(s**k).mean(dim=0) for s in sources]
        to_target = [(m - target_moment).norm() / scale for m in moments]
        total = total + torch.stack(to_target).mean()
        pairs = [
            (moments[i] - moments[j]).norm() / scale
            for i in range(len(moments))
            for j in range(i + 1, len(moments))
        ]
        if pairs:
            total = total + torch.stack(pairs).mean()
    return total


# ----------------------------------------------------------------------------- gradient reversal


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, coefficient: float) -> Tensor:  # type: ignore[override]
        ctx.coefficient = coefficient
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        return -ctx.coefficient * grad, None


def reverse_gradient(x: Tensor, coefficient: float = 1.0) -> Tensor:
    """Identity in the forward pass; multiplies the gradient by ``-coefficient`` going back.

    The gradient reversal layer of Ganin & Lempitsky (2015); Ganin et al. (2016, JMLR, Eq. 13).
    """
    return _ReverseGradient.apply(x, coefficient)


class GradientReversal(nn.Module):
    """The gradient reversal layer as a module; ``coefficient`` is λ and may change during training."""

    def __init__(self, coefficient: float = 1.0):
        super().__init__()
        self.coefficient = coefficient

    def forward(self, x: Tensor) -> Tensor:
        return reverse_gradient(x, self.coefficient)

    def extra_repr(self) -> str:
        return f"coefficient={self.coefficient}"


def dann_lambda(progress: float, gamma: float = 10.0, maximum: float = 1.0) -> float:
    """DANN's adaptation-weight schedule ``λ_p = maximum · (2 / (1 + exp(-γ p)) - 1)``.

    Ganin et al. (2016, JMLR, Section 5.2.2): λ grows from 0 to ``maximum`` as the training
    progress ``p`` goes from 0 to 1, which keeps the domain classifier's noisy early signal from
    disturbing the features.
    """
    progress = min(max(progress, 0.0), 1.0)
    return maximum * (2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0)


def dann_learning_rate(progress: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """DANN's learning-rate multiplier ``1 / (1 + α p)^β`` (Ganin et al. 2016, Section 5.2.2)."""
    return 1.0 / (1.0 + alpha * min(max(progress, 0.0), 1.0)) ** beta


class DomainClassifier(nn.Module):
    """A small MLP that outputs one logit per sample: > 0 means "target".

    Parameters
    ----------
    in_features : int
    hidden : sequence of int, default (100,)
        Hidden widths (ReLU); empty gives a logistic regressor, as in the shallow DANN.
    dropout : float, default 0.0
    """

    def __init__(self, in_features: int, hidden: Sequence[int] = (100,), dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)


def _domain_targets(n_source: int, n_target: int, like: Tensor) -> Tensor:
    return torch.cat([like.new_zeros(n_source), like.new_ones(n_target)])


def domain_accuracy(logits: Tensor, n_source: int) -> float:
    """Share of samples the domain classifier puts on the right side (source < 0 < target)."""
    logits = logits.reshape(-1)  # (n, 1) would broadcast against the n labels
    labels = _domain_targets(n_source, logits.shape[0] - n_source, logits)
    return float(((logits > 0).float() == labels).float().mean())


class DomainAdversarialLoss(nn.Module):
    """DANN's domain loss: a domain classifier behind a gradient reversal layer.

    Minimising the returned binary cross-entropy trains the classifier to tell the domains apart,
    while the reversed gradient trains the feature extractor to make them indistinguishable
    (Ganin et al. 2016, JMLR, Eq. 9-10 and Algorithm 1). Call :meth:`set_progress` with the training
    progress to follow the λ schedule.

    Parameters
    ----------
    in_features : int
    hidden : sequence of int, default (100,)
    gamma : float, default 10.0
        Steepness of the λ schedule; ``None``-like ``0`` keeps λ at ``maximum`` throughout.
    maximum : float, default 1.0
        Final value of λ.
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int] = (100,),
        gamma: float = 10.0,
        maximum: float = 1.0,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.gamma = gamma
        self.maximum = maximum
        self.reversal = GradientReversal(0.0 if gamma else maximum)
        self.discriminator = DomainClassifier(in_features, hidden, dropout)
        self.last_accuracy = float("nan")

    def set_progress(self, progress: float) -> None:
        self.reversal.coefficient = (
            dann_lambda(progress, self.gamma, self.maximum) if self.gamma else self.maximum
        )

    def forward(self, source: Tensor, target: Tensor) -> Tensor:
        logits = self.discriminator(self.reversal(torch.cat([source, target], dim=0)))
        self.last_accuracy = domain_accuracy(logits.detach(), source.shape[0])
        labels = _domain_targets(source.shape[0], target.shape[0], logits)
        return F.binary_cross_entropy_with_logits(logits, labels)


def _frozen_call(module: nn.Module, x: Tensor) -> Tensor:
    """Run ``module`` on ``x`` with its parameters detached: gradients reach ``x`` only."""
    params = {name: p.detach() for name, p in module.named_parameters()}
    return functional_call(module, params, (x,))


class DomainConfusionLoss(nn.Module):
    """Domain confusion (Tzeng et al. 2015, Eq. 2-3): push the domain prediction towards uniform.

    One module holds both of the paper's alternating objectives so a single optimiser step does
    both: the discriminator learns to classify the domains on *detached* features, and the
    features are trained, through a copy of the discriminator whose parameters are detached, to
    make its output the uniform distribution (cross-entropy against 1/2 for every sample).

    Parameters
    ----------
    in_features : int
    hidden : sequence of int, default (100,)
    """

    def __init__(self, in_features: int, hidden: Sequence[int] = (100,)):
        super().__init__()
        self.discriminator = DomainClassifier(in_features, hidden)
        self.last_accuracy = float("nan")

    def forward(self, source: Tensor, target: Tensor) -> Tensor:
        features = torch.cat([source, target], dim=0)
        labels = _domain_targets(source.shape[0], target.shape[0], features)
        logits = self.discriminator(features.detach())
        self.last_accuracy = domain_accuracy(logits.detach(), source.shape[0])
        discriminator_loss = F.binary_cross_entropy_with_logits(logits, labels)
        confusion_logits = _frozen_call(self.discriminator, features)
        confusion_loss = F.binary_cross_entropy_with_logits(
            confusion_logits, torch.full_like(confusion_logits, 0.5)
        )
        return discriminator_loss + confusion_loss


class ADDALoss(nn.Module):
    """ADDA's adversarial stage (Tzeng et al. 2017, Eq. 8-9), GAN loss with inverted labels.

    ``source`` features come from the frozen source encoder, ``target`` features from the target
    encoder being trained. The discriminator learns source = 0 / target = 1 on detached features;
    the target encoder learns, through a detached copy of the discriminator, to be classified as
    source.
    """

    def __init__(self, in_features: int, hidden: Sequence[int] = (500, 500)):
        super().__init__()
        self.discriminator = DomainClassifier(in_features, hidden)
        self.last_accuracy = float("nan")

    def forward(self, source: Tensor, target: Tensor) -> Tensor:
        features = torch.cat([source.detach(), target.detach()], dim=0)
        labels = _domain_targets(source.shape[0], target.shape[0], features)
        logits = self.discriminator(features)
        self.last_accuracy = domain_accuracy(logits.detach(), source.shape[0])
        discriminator_loss = F.binary_cross_entropy_with_logits(logits, labels)
        target_logits = _frozen_call(self.discriminator, target)
        mapping_loss = F.binary_cross_entropy_with_logits(
            target_logits, torch.zeros_like(target_logits)
        )
        return discriminator_loss + mapping_loss


# ----------------------------------------------------------------------------- self-training


def minimum_class_confusion(logits: Tensor, temperature: float = 2.5) -> Tensor:
    """Minimum Class Confusion loss of target predictions (Jin et al. 2020, Eq. 1-7).

    With ``Ŷ = softmax(Z / T)``, samples weighted by ``1 + exp(-H(ŷ_i))`` (normalised to sum to the
    batch size, Eq. 3-4), the class correlation ``C = Ŷᵀ W Ŷ`` (Eq. 5) is row-normalised (Eq. 6) and
    the loss is the share of its mass off the diagonal, averaged over classes (Eq. 7): it is 0 when
    no sample is spread over two classes, so minimising it makes confident, class-separated target
    predictions without pushing all samples into one class.

    Parameters
    ----------
    logits : Tensor (n, n_classes)
        Classifier outputs (before softmax) on a target batch.
    temperature : float, default 2.5
        Probability rescaling ``T`` (the paper's setting).
    """
    if temperature <= 0:
        raise InvalidParameterError(f"temperature must be positive, got {temperature}.")
    n, n_classes = logits.shape
    probabilities = F.softmax(logits / temperature, dim=1)
    entropy = -(probabilities * torch.log(probabilities + 1e-5)).sum(dim=1).detach()
    weights = 1.0 + torch.exp(-entropy)
    weights = n * weights / weights.sum()
    confusion = (probabilities * weights[:, None]).T @ probabilities
    confusion = confusion / confusion.sum(dim=1, keepdim=True)
    return (confusion.sum() - torch.trace(confusion)) / n_classes


class MinimumClassConfusionLoss(nn.Module):
    """MCC (Jin et al. 2020) on the target logits; the source logits are not used.

    Parameters
    ----------
    temperature : float, default 2.5
    """

    acts_on = "logits"

    def __init__(self, temperature: float = 2.5):
        super().__init__()
        self.temperature = temperature

    def forward(self, source: Tensor, target: Tensor) -> Tensor:
        return minimum_class_confusion(gather_rows(target), self.temperature)


def confident_consistency(
    student_logits: Tensor, teacher_logits: Tensor, threshold: float = 0.968
) -> tuple[Tensor, float]:
    """Self-ensembling's masked consistency (French et al. 2018, Section 3.1, confidence thresholding).

    The squared difference between the student's and the teacher's class probabilities, summed over
    classes, averaged over the batch but counted only for samples whose teacher confidence (largest
    probability) exceeds ``threshold``: the teacher's unsure predictions are not imitated.

    Returns
    -------
    loss : Tensor (scalar)
    share : float
        Share of the batch above the threshold.
    """
    student = F.softmax(student_logits, dim=1)
    teacher = F.softmax(teacher_logits.detach(), dim=1)
    mask = (teacher.max(dim=1).values > threshold).float()
    squared = ((student - teacher) ** 2).sum(dim=1)
    return (squared * mask).mean(), float(mask.mean())


def class_balance(logits: Tensor) -> Tensor:
    """Class-balance loss of self-ensembling (French et al. 2018, Section 3.2).

    Binary cross-entropy between the batch's mean predicted probability of each class and the
    uniform ``1 / n_classes``, averaged over classes: it keeps confidence-driven training from
    collapsing the target onto a few classes (it assumes roughly balanced target classes).
    """
    mean = F.softmax(logits, dim=1).mean(dim=0).clamp(1e-6, 1 - 1e-6)
    uniform = torch.full_like(mean, 1.0 / mean.shape[0])
    return F.binary_cross_entropy(mean, uniform)


class L2SPPenalty(nn.Module):
    """L2-SP (Li et al. 2018, Eq. 3): ``α/2 ||w - w⁰||²`` on pre-trained weights, ``β/2 ||w||²`` on new.

    Parameters
    ----------
    pretrained : nn.Module
        The backbone whose current weights are the starting point ``w⁰`` (copied at construction).
    alpha : float, default 0.01
        Weight of the pull towards the pre-trained weights.
    """

    def __init__(self, pretrained: nn.Module, alpha: float = 0.01):
        super().__init__()
        self.alpha = alpha
        self.names = [name for name, p in pretrained.named_parameters()]
        for index, (_, p) in enumerate(pretrained.named_parameters()):
            self.register_buffer(f"start_{index}", p.detach().clone())

    def forward(self, module: nn.Module) -> Tensor:
        total = None
        for index, (_, p) in enumerate(module.named_parameters()):
            if not p.requires_grad:
                continue
            start = getattr(self, f"start_{index}")
            term = ((p - start) ** 2).sum()
            total = term if total is None else total + term
        if total is None:
            return torch.zeros(())
        return 0.5 * self.alpha * total


# ----------------------------------------------------------------------------- domain separation


def scale_invariant_mse(inputs: Tensor, reconstructions: Tensor) -> Tensor:
    """Scale-invariant mean squared error of reconstructions (Bousmalis et al. 2016, Eq. 4).

    Per row, with ``k`` values and ``d = x - x̂``: ``||d||² / k - (dᵀ1)² / k²``, averaged over
    the rows. The second term removes the mean of ``d``, so a reconstruction that is off by one
    constant per image costs nothing: the shared decoder learns shapes, not absolute intensities.

    Parameters
    ----------
    inputs, reconstructions : Tensor (n, k)
        Flattened inputs and their reconstructions.
    """
    difference = (inputs - reconstructions).flatten(1)
    k = difference.shape[1]
    return ((difference * difference).sum(dim=1) / k - difference.sum(dim=1) ** 2 / k**2).mean()


def difference_loss(shared: Tensor, private: Tensor) -> Tensor:
    """Soft orthogonality of shared and private codes (Bousmalis et al. 2016, Eq. 5).

    ``||Hcᵀ Hp||_F²`` between the shared codes ``Hc`` and the private codes ``Hp`` of the same
    batch, with each code dimension (column) first scaled to unit length over the batch, so each
    entry of ``Hcᵀ Hp`` is the cosine between a shared and a private dimension, and the result
    averaged over the ``dc × dp`` entries: its size depends neither on the codes' scale nor on
    their widths (in [0, 1]). It is 0 exactly when every shared dimension is orthogonal (over the
    batch) to every private one, as in the paper.

    Parameters
    ----------
    shared, private : Tensor (n, dc) and (n, dp)
    """
    shared = F.normalize(shared, dim=0, eps=1e-6)
    private = F.normalize(private, dim=0, eps=1e-6)
    correlation = shared.T @ private
    return (correlation * correlation).mean()


class DifferenceLoss(nn.Module):
    """The difference loss of domain separation networks as a module (see :func:`difference_loss`)."""

    def forward(self, shared: Tensor, private: Tensor) -> Tensor:
        return difference_loss(shared, private)


class ScaleInvariantMSELoss(nn.Module):
    """The scale-invariant reconstruction loss as a module (see :func:`scale_invariant_mse`)."""

    def forward(self, inputs: Tensor, reconstructions: Tensor) -> Tensor:
        return scale_invariant_mse(inputs, reconstructions)


# ----------------------------------------------------------------------------- soft labels


def soft_labels(logits: Tensor, labels: Tensor, n_classes: int, temperature: float = 2.0) -> Tensor:
    """Per-class mean of softened class probabilities (Tzeng et al. 2015, Section 3.3).

    Row ``c`` of the result is the average of ``softmax(z / T)`` over the rows of class ``c``: the
    class's *soft label*, which says which other classes the source network confuses it with. A
    class without rows gets a uniform row.

    Parameters
    ----------
    logits : Tensor (n, n_classes)
        Class logits of (source) rows.
    labels : Tensor (n,) of int
        Their classes, coded ``0 .. n_classes - 1``.
    n_classes : int
    temperature : float, default 2.0
        ``T``; a higher value softens the probabilities (the paper's high-temperature softmax).
    """
    if temperature <= 0:
        raise InvalidParameterError(f"temperature must be positive, got {temperature}.")
    probabilities = F.softmax(logits / temperature, dim=1)
    sums = probabilities.new_zeros(n_classes, probabilities.shape[1])
    sums.index_add_(0, labels, probabilities)
    counts = torch.bincount(labels, minlength=n_classes).to(probabilities.dtype)
    uniform = probabilities.new_full((n_classes, probabilities.shape[1]), 1.0 / logits.shape[1])
    means = sums / counts.clamp_min(1.0)[:, None]
    return torch.where(counts[:, None] > 0, means, uniform)


def soft_label_loss(
    logits: Tensor, labels: Tensor, class_soft_labels: Tensor, temperature: float = 2.0
) -> Tensor:
    """Soft-label loss (Tzeng et al. 2015, Eq. 4): cross-entropy to the class's soft label.

    ``-Σ_i l_i^(y) log p_i`` with ``p = softmax(z / T)`` of each labelled target row and
    ``l^(y)`` the soft label of its class (a row of :func:`soft_labels`), averaged over rows.
    It transfers the source's class correlations to the target's few labelled rows.

    Parameters
    ----------
    logits : Tensor (n, n_classes)
        Class logits of labelled target rows.
    labels : Tensor (n,) of int
    class_soft_labels : Tensor (n_classes, n_classes)
    temperature : float, default 2.0
    """
    if temperature <= 0:
        raise InvalidParameterError(f"temperature must be positive, got {temperature}.")
    log_probabilities = F.log_softmax(logits / temperature, dim=1)
    return -(class_soft_labels[labels] * log_probabilities).sum(dim=1).mean()
