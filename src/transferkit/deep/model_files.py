"""A user's trained network and the rows it reads, from files.

:func:`load_model` reads a network saved whole (``torch.save(model, path)``), with the file that
defines its class when Python cannot import it; :func:`read_model_inputs` reads what the network
classifies: a folder of images preprocessed as it was trained (size, crop, normalisation,
grey or colour), or a data file of rows, reshaped to the network's input if asked; with the
labels when the folder has class folders or the file a label column. :func:`class_columns`
maps those labels to the network's output columns. ``transferkit source-free MODEL TARGET``
goes through all three.

Examples
--------
>>> import tempfile, pathlib
>>> import numpy as np, torch
>>> from torch import nn
>>> from transferkit.deep.model_files import load_model, read_model_inputs
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> torch.save(nn.Sequential(nn.Linear(4, 3)), folder / "model.pt")
>>> np.savez(folder / "target.npz", X=np.ones((5, 4)), y=[0, 1, 2, 0, 1])
>>> model = load_model(folder / "model.pt")
>>> inputs = read_model_inputs(folder / "target.npz")
>>> model(inputs.X).shape, inputs.y.tolist()
(torch.Size([5, 3]), [0, 1, 2, 0, 1])
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from transferkit.datasets.files import item_names, load_files, load_image_folder
from transferkit.deep.backbones import IMAGENET_MEAN, IMAGENET_STD, preprocess_images
from transferkit.exceptions import (
    DataFormatError,
    DatasetNotFoundError,
    FeatureSpaceMismatchError,
    InvalidParameterError,
    NotApplicableError,
)

__all__ = [
    "ModelInputs",
    "Normalized",
    "class_columns",
    "load_model",
    "output_width",
    "read_model_inputs",
]

#: Images preprocessed per chunk, so a progress bar moves and memory stays one chunk's.
_CHUNK = 64


# ----------------------------------------------------------------------------- the network


def _import_code(code: str | os.PathLike[str]) -> ModuleType:
    """Run the Python file ``code`` as a module named after it (registered in ``sys.modules``,
    so pickles that name ``<stem>.Net`` find it). A file already run is not run again: networks
    loaded twice then share their class, and either one can be saved again."""
    path = Path(code).expanduser()
    if not path.is_file() or path.suffix != ".py":
        raise DatasetNotFoundError(
            f"The code file {path} does not exist or is not a .py file; give the Python file "
            "that defines the network's class."
        )
    loaded = sys.modules.get(path.stem)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path.resolve()):
        return loaded
    spec = importlib.util.spec_from_file_location(path.stem, path.resolve())
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
        raise DataFormatError(f"Python cannot import {path}.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _pickle_with(code: ModuleType | None) -> Any:
    """A pickle module for ``torch.load`` whose unpickler finds classes pickled from a script
    (``__main__.Net``) in ``code``, the file that defines them."""

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if code is not None and module == "__main__" and hasattr(code, name):
                return getattr(code, name)
            return super().find_class(module, name)

    return SimpleNamespace(
        Unpickler=Unpickler, load=pickle.load, loads=pickle.loads, __name__="pickle"
    )


def load_model(
    path: str | os.PathLike[str], *, code: str | os.PathLike[str] | None = None
) -> nn.Module:
    """The network saved whole in ``path`` (``torch.save(model, path)``), on the CPU, in eval mode.

    A network saved whole keeps the name of its class, not its code: unless the class comes
    from an installed package (``nn.Sequential`` of torch layers, a torchvision model), give
    ``code``, the Python file that defines it (it is run, as importing it would). The file is
    unpickled: load only networks you trust, as with ``torch.load``.

    Raises
    ------
    DatasetNotFoundError
        No file at ``path`` (or ``code``).
    DataFormatError
        Not a saved network: a dictionary of weights (a ``state_dict`` or a checkpoint), another
        object, or a file ``torch.load`` cannot read; or a class Python cannot find (the message
        says to give ``code``).
    NotApplicableError
        A TorchScript file: its layers are compiled and cannot be adapted.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetNotFoundError(f"Model file {path} does not exist (or is not a file).")
    module = None if code is None else _import_code(code)
    try:
        with warnings.catch_warnings():  # a TorchScript file is refused below, by name
            warnings.filterwarnings("ignore", message=".*TorchScript archive", category=UserWarning)
            loaded = torch.load(
                path, map_location="cpu", weights_only=False, pickle_module=_pickle_with(module)
            )
    except (AttributeError, ModuleNotFoundError) as error:
        hint = (
            "the code file given does not define it"
            if module is not None
            else "give the Python file that defines it (--code net.py; Python: code='net.py')"
        )
        raise DataFormatError(
            f"{path} holds a network whose class Python cannot find ({error}). A network saved "
            f"whole keeps the name of its class, not its code: {hint}."
        ) from error
    except Exception as error:  # torch.load's errors have no common class
        raise DataFormatError(
            f"{path} is not a network saved with torch.save(model, path): "
            f"{type(error).__name__}: {error}"
        ) from error
    if isinstance(loaded, torch.jit.ScriptModule):
        raise NotApplicableError(
            f"{path} is a TorchScript network: compiled, its layers cannot be found, hooked or "
            "trained. Save the Python module instead: torch.save(model, path)."
        )
    if isinstance(loaded, Mapping):
        keys = ", ".join(map(str, list(loaded)[:4]))
        raise DataFormatError(
            f"{path} holds a dictionary ({keys}{', ...' if len(loaded) > 4 else ''}), the "
            "weights of a network or a checkpoint, not the network: its layers are not in the "
            "file. Build the network, load the weights (model.load_state_dict(...)), and save "
            "it whole with torch.save(model, path)."
        )
    if not isinstance(loaded, nn.Module):
        raise DataFormatError(
            f"{path} holds a {type(loaded).__name__}, not a network (torch nn.Module); save it "
            "with torch.save(model, path)."
        )
    return loaded.eval()


# ----------------------------------------------------------------------------- what it reads


@dataclass
class ModelInputs:
    """What a network classifies, read from a folder of images or a data file.

    Attributes
    ----------
    X : Tensor (n, ...), float32
        The rows as the network takes them.
    y : array (n,) of int64 or str, or None
        The labels (class folders, a file's label column), or None when there are none.
    names : list of str
        Each row's name (:func:`~transferkit.datasets.item_names`): the image's path inside
        the folder, or the row's position in a file, ``"0"`` first.
    """

    X: Tensor
    y: np.ndarray | None
    names: list[str]


def _per_channel(values: Sequence[float], channels: int, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float32).ravel()
    if array.size == 1:
        array = np.repeat(array, channels)
    if array.size != channels:
        raise InvalidParameterError(
            f"{what} has {array.size} values; give one per channel ({channels}) or one for all."
        )
    if what == "std" and not (array > 0).all():
        raise InvalidParameterError(f"std must be positive; got {array.tolist()}.")
    return array.reshape(1, channels, 1, 1)


def read_model_inputs(
    path: str | os.PathLike[str],
    *,
    image_size: int = 224,
    resize_size: int | None = None,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    grey: bool = False,
    shape: Sequence[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ModelInputs:
    """The rows a network classifies, from a folder of images or a data file.

    Parameters
    ----------
    path : str or Path
        A folder of images (one sub-folder per class, or the images alone when unlabelled;
        :func:`~transferkit.datasets.load_image_folder`), or a data file
        (:func:`~transferkit.datasets.load_file`; an ``.npz`` may hold images as ``(n, C, H, W)``).
    image_size : int, default 224
        Images: the side of the centre crop the network takes.
    resize_size : int or None, default None
        Images: the shorter side is resized to this before the centre crop; None:
        ``image_size`` (the whole image, squared). 256 with an ``image_size`` of 224 is the
        ImageNet evaluation transform, if the network was evaluated so.
    mean, std : sequence of float, default ImageNet's
        Images: per-channel normalisation of values in [0, 1] (one value: every channel);
        ``mean=(0,), std=(1,)`` keeps [0, 1].
    grey : bool, default False
        Images: one grey channel (the mean of red, green and blue) instead of three.
    shape : sequence of int or None
        A data file: the shape of one row as the network takes it (``(1, 28, 28)`` for
        flattened 28 × 28 grey images); None keeps the file's.
    progress : callable or None
        ``progress(done, total)`` as images are read.

    Raises
    ------
    DatasetNotFoundError, DataFormatError
        No such folder or file, or one that holds no images or rows (the message names it).
    InvalidParameterError
        A ``shape`` the rows cannot take, or ``mean``/``std`` of the wrong length.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        images, labels = load_image_folder(path)
        if image_size < 1 or (resize_size is not None and resize_size < image_size):
            raise InvalidParameterError(
                f"image_size must be positive and resize_size at least image_size; got "
                f"{image_size} and {resize_size}."
            )
        resize = image_size if resize_size is None else resize_size
        channels = 1 if grey else 3
        centre = _per_channel(mean, channels, "mean")
        scale = _per_channel(std, channels, "std")
        chunks = []
        for start in range(0, len(images), _CHUNK):
            chunk = [images.load(i) for i in range(start, min(start + _CHUNK, len(images)))]
            batch = preprocess_images(chunk, image_size, resize, (0.0,) * 3, (1.0,) * 3).numpy()
            if grey:
                batch = batch.mean(axis=1, keepdims=True)
            chunks.append((batch - centre) / scale)
            if progress is not None:
                progress(start + len(chunk), len(images))
        names = item_names(path, len(images), images)
        X = torch.from_numpy(np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32))
        return ModelInputs(X, labels, names)
    ((features, labels, _),) = load_files([path])
    values = np.asarray(features.toarray() if hasattr(features, "toarray") else features)
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        size = int(np.prod(values.shape[1:]))
        if int(np.prod(shape)) != size or min(shape) < 1:
            raise InvalidParameterError(
                f"{path}: a row has {size} values, which cannot take the shape "
                f"{'x'.join(map(str, shape))} ({int(np.prod(shape))} values)."
            )
        values = values.reshape(len(values), *shape)
    X = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
    return ModelInputs(X, labels, item_names(path, len(X)))


def class_columns(
    labels: np.ndarray, n_outputs: int, classes: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """The name of each output column of a network and each label's column.

    ``classes`` names the columns in order (the order the network was trained with). Without
    it, integer labels are the columns themselves, and names are the sorted class names, as
    torchvision's ``ImageFolder`` numbers the class folders; then the labels must name exactly
    ``n_outputs`` classes.

    Returns
    -------
    names : list of str, one per column
    columns : array (n,) of int64, each label's column

    Raises
    ------
    NotApplicableError
        A label outside the columns, or class names that cannot be matched to them; the message
        says to name the columns.
    """
    labels = np.asarray(labels)
    if classes is not None:
        names = [str(c) for c in classes]
        if len(names) != n_outputs:
            raise NotApplicableError(
                f"{len(names)} class names are given for a network with {n_outputs} outputs; "
                "name every output column once, in order."
            )
        unknown = sorted(set(labels.astype(str).tolist()) - set(names))
        if unknown:
            raise NotApplicableError(
                f"The labels {', '.join(unknown[:5])} are not among the class names given "
                f"({', '.join(names[:10])}{', ...' if len(names) > 10 else ''})."
            )
        index = {name: i for i, name in enumerate(names)}
        return names, np.array([index[str(v)] for v in labels], dtype=np.int64)
    if labels.dtype.kind in "iu":
        if labels.min() < 0 or labels.max() >= n_outputs:
            raise NotApplicableError(
                f"The labels run from {labels.min()} to {labels.max()}, outside the network's "
                f"{n_outputs} output columns (0 to {n_outputs - 1}); name the columns (--classes)."
            )
        return [str(i) for i in range(n_outputs)], labels.astype(np.int64)
    names = sorted(set(labels.tolist()))
    if len(names) != n_outputs:
        raise NotApplicableError(
            f"The labels name {len(names)} classes and the network has {n_outputs} outputs, so "
            "which column is which class is unknown; name the columns in the order the network "
            "was trained with (--classes a,b,c or a file with one name per line; Python: "
            "classes=[...])."
        )
    index = {name: i for i, name in enumerate(names)}
    return names, np.array([index[v] for v in labels.tolist()], dtype=np.int64)


def output_width(network: nn.Module, X: Tensor) -> int:
    """How many classes ``network`` scores: the width of its output on the first rows of ``X``.

    Raises
    ------
    FeatureSpaceMismatchError
        The network cannot take rows shaped like ``X``'s (the message gives the shape).
    NotApplicableError
        Its output is not class logits ``(n, n_classes)`` with at least 2 classes.
    """
    parameter = next(network.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    try:
        with torch.no_grad():
            logits = network(X[:2].to(device))
    except (RuntimeError, ValueError, TypeError) as error:
        raise FeatureSpaceMismatchError(
            f"The network {type(network).__name__} cannot take rows of shape "
            f"{tuple(X.shape[1:])}: {error}. Give them in the shape it was trained on (the "
            "same features; for images the same size and channels)."
        ) from error
    if not isinstance(logits, Tensor) or logits.ndim != 2 or logits.shape[1] < 2:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise NotApplicableError(
            f"The network {type(network).__name__} gives {shape}, not class logits of shape "
            "(n, n_classes) with at least 2 classes."
        )
    return int(logits.shape[1])


class Normalized(nn.Module):
    """``network`` reading pixels in [0, 1]: each channel is standardised (``(x - mean) / std``)
    as the network was trained, inside the module, so that attacks and corruptions work on
    pixels (:mod:`transferkit.robustness`). ``mean`` and ``std`` give one value per channel
    (``channels``), or one for all.

    Raises
    ------
    InvalidParameterError
        ``mean`` or ``std`` of another length, or a ``std`` that is not positive.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = Normalized(nn.Flatten(), mean=(0.5,), std=(0.25,), channels=1)
    >>> model(torch.ones(1, 1, 1, 2)).tolist()
    [[2.0, 2.0]]
    """

    def __init__(
        self, network: nn.Module, mean: Sequence[float], std: Sequence[float], channels: int = 3
    ):
        super().__init__()
        self.network = network
        self.register_buffer("mean", torch.from_numpy(_per_channel(mean, channels, "mean")))
        self.register_buffer("std", torch.from_numpy(_per_channel(std, channels, "std")))

    def forward(self, x: Tensor) -> Tensor:
        return self.network((x - self.mean) / self.std)
