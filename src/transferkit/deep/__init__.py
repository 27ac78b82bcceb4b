"""Deep transfer in PyTorch: backbones, loss modules, one training loop, and the deep methods.

The article's three deep recipes live here:

* **use pre-trained CNN features** — :mod:`transferkit.deep.backbones` (MobileNetV2, EfficientNet-Lite0,
  cached feature extraction) and :mod:`transferkit.deep.finetune` (frozen backbone + head, fine-tuning
  with two learning rates, L2-SP, gradual unfreezing);
* **make representations similar inside the model** — :class:`~transferkit.deep.losses.MMDLoss`
  (DDC, DAN) and :class:`~transferkit.deep.losses.CORALLoss` (Deep CORAL);
* **confuse the domains** — :class:`~transferkit.deep.losses.DomainAdversarialLoss` (gradient
  reversal, DANN), :class:`~transferkit.deep.losses.DomainConfusionLoss` (Tzeng et al. 2015) and ADDA.

When the source data is gone, :mod:`transferkit.deep.source_free` adapts a trained model on the
unlabelled target alone (AdaBN, TENT, SHOT), offline or as batches stream in.

Every method is trained by :func:`transferkit.deep.training.train`, the one loop; methods differ only
in the networks and loss modules they plug in. This package needs PyTorch (``pip install
'transferkit[deep]'``); ``import transferkit`` alone never imports it.

Two modules need no torch: :mod:`transferkit.deep.shallow_dann` (the shallow DANN of Ganin et al.
2016, Algorithm 1, in numpy; it lives here beside the other domain-adversarial methods, and the
method registry lists it on its own so ``make_method("shallow_dann")`` works without torch) and
:mod:`transferkit.deep.progress`. This ``__init__`` imports nothing, so importing them does not
import torch.
"""

from __future__ import annotations

__all__: list[str] = []
