"""Transfer problems from the user's folders of images: features of a pre-trained CNN.

:func:`problem_from_image_folders` reads a labelled source folder and a target folder (one
sub-folder per class, :func:`transferkit.datasets.load_image_folder`), runs every image through an
ImageNet-pre-trained backbone (:func:`~transferkit.deep.backbones.extract_features`, cached on
disk by image content, so a second run reads the features back), and returns a
:class:`~transferkit.problem.TransferProblem` of the pooled features: every method, ``diagnose``
and ``select`` then work on the images as on any features. ``backbone=None`` keeps the images
themselves as the rows, for the methods that train a network on them (``finetune``,
``backbone_head``, ``dann``). The command line's ``--source DIR --target DIR`` goes through it.

Examples
--------
>>> from transferkit.deep.folders import problem_from_image_folders
>>> problem = problem_from_image_folders(
...     "photos/studio", "photos/phone", backbone="mobilenet_v2")  # doctest: +SKIP
>>> problem.X_source.shape  # doctest: +SKIP
(958, 1280)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.datasets.files import load_image_folder
from transferkit.datasets.office import SURF_PREPROCESSING, harness_preprocess
from transferkit.deep.backbones import LAYERS, extract_features, load_backbone
from transferkit.exceptions import InvalidParameterError
from transferkit.problem import TransferProblem

#: ``progress(role, done, total)``: role is "source", "target" or "test".
RoleProgress = Callable[[str, int, int], None]


def problem_from_image_folders(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    test: str | os.PathLike[str] | None = None,
    *,
    backbone: str | None = "mobilenet_v2",
    layer: str = "penultimate",
    preprocess: str = "none",
    cache_dir: str | Path | None = None,
    device: str = "auto",
    progress: RoleProgress | None = None,
    name: str | None = None,
) -> TransferProblem:
    """A transfer problem whose features are a pre-trained CNN's features of two image folders.

    Parameters
    ----------
    source : str or Path
        The labelled source: one sub-folder of images per class (``source/cat/1.jpg``).
    target : str or Path
        The target: class folders (their labels score the methods and are never shown to
        them), or the images alone for an unlabelled target.
    test : str or Path or None, default None
        A labelled target test folder (class folders), scored instead of the target.
    backbone : {"mobilenet_v2", "efficientnet_lite0"} or None, default "mobilenet_v2"
        The ImageNet-pre-trained network (:func:`~transferkit.deep.backbones.load_backbone`);
        None: no features, the rows are the images themselves
        (:class:`~transferkit.problem.ImageCollection`), for the methods that train on images
        (``finetune``, ``backbone_head``, ``dann``...).
    layer : {"penultimate", "last_block", "logits"}, default "penultimate"
        Which pooled activations are the features (1,280 values for both backbones'
        penultimate layer).
    preprocess : {"none", "harness"}, default "none"
        ``none``: the activations as the network gives them; ``harness``: each row
        L1-normalised, then each feature standardised within its folder, as the Office-Caltech
        suites do (:func:`~transferkit.datasets.office.harness_preprocess`).
    cache_dir : str, Path or None, default None
        Root of the feature cache (see :func:`~transferkit.deep.backbones.extract_features`).
    device : str, default "auto"
        Where the backbone runs: auto (CUDA when present), cpu, cuda or cuda:N.
    progress : callable or None, default None
        Called as ``progress(role, done, total)`` while a folder's images are encoded.
    name : str or None, default None
        Name of the problem (default ``"<source folder>-><target folder>"``).

    Returns
    -------
    TransferProblem
        Rows of features (or images); labels are the class folders' names; ``metadata``
        records the backbone, the layer, the pre-processing and the folders.

    Raises
    ------
    DatasetNotFoundError, DataFormatError
        A folder is missing, holds no image, or is laid out otherwise (the message says how).
    InvalidParameterError
        An unknown backbone, layer or pre-processing, named before any image is decoded.
    """
    if layer not in LAYERS:
        raise InvalidParameterError(f"Unknown layer {layer!r}; use one of {', '.join(LAYERS)}.")
    if preprocess not in SURF_PREPROCESSING:
        raise InvalidParameterError(
            f"preprocess must be one of {', '.join(SURF_PREPROCESSING)}; got {preprocess!r}."
        )
    if backbone is None and (layer, preprocess) != ("penultimate", "none"):
        raise InvalidParameterError(
            f"layer={layer!r} and preprocess={preprocess!r} describe a backbone's features; with "
            "backbone=None the rows are the images themselves."
        )
    folders = {"source": Path(source), "target": Path(target)}
    if test is not None:
        folders["test"] = Path(test)
    read = {
        role: load_image_folder(folder, labels_required=role != "target")
        for role, folder in folders.items()
    }
    rows: dict[str, Any] = {role: images for role, (images, _) in read.items()}
    if backbone is not None:
        network = load_backbone(backbone)
        for role, images in rows.items():
            report = None if progress is None else _role_progress(progress, role)
            X = extract_features(
                images, network, layer, cache_dir=cache_dir, device=device, progress=report
            )
            X = np.asarray(X, dtype=np.float64)
            rows[role] = harness_preprocess(X) if preprocess == "harness" else X
    source_name, target_name = folders["source"].name, folders["target"].name
    return TransferProblem(
        X_source=rows["source"],
        y_source=read["source"][1],
        X_target=rows["target"],
        y_target=read["target"][1],
        X_test=rows.get("test"),
        y_test=read["test"][1] if "test" in read else None,
        name=name or f"{source_name}->{target_name}",
        source_name=source_name,
        target_name=target_name,
        metadata={
            "dataset": "images",
            "backbone": backbone,
            "layer": layer,
            "preprocess": preprocess,
            "files": {role: str(folder) for role, folder in folders.items()},
        },
    )


def image_folder_features(
    folder: str | os.PathLike[str],
    backbone: str = "mobilenet_v2",
    *,
    labels_required: bool = True,
    progress: Callable[[int, int], Any] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """One folder of images as a backbone's pooled penultimate features, and its labels.

    The reader of a single folder (:func:`~transferkit.datasets.load_image_folder`, then the
    cached :func:`~transferkit.deep.backbones.extract_features`) for the commands that take one:
    ``fewshot``, ``zeroshot``.

    Returns
    -------
    X : float64 array (n, 1280)
    labels : array of str, or None (images without class folders, when allowed)
    """
    images, labels = load_image_folder(folder, labels_required=labels_required)
    X = extract_features(images, backbone, progress=progress)
    return np.asarray(X, dtype=np.float64), labels


def _role_progress(progress: RoleProgress, role: str) -> Callable[[int, int], Any]:
    return lambda done, total: progress(role, done, total)
