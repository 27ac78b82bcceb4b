"""MNIST-C-style corruptions: Gaussian noise, blur, rotation and contrast at five severities.

Common corruptions are a domain shift of the capture, not of the content: the digit and its label
stay, the pixels change the same way for every class (P(y | x) is kept, a covariate shift). In the
spirit of MNIST-C (Mu & Gilmer 2019) and ImageNet-C (Hendrycks & Dietterich 2019), each
corruption comes in five severities, generated here from the images of the data home (no
corrupted copy is stored):

============== =============================================== =================================
corruption     what happens to an image x in [0, 1]            severity 1 → 5
============== =============================================== =================================
gaussian-noise x + N(0, σ²) per pixel, clipped                 σ = 0.1, 0.2, 0.3, 0.4, 0.5
blur           Gaussian blur of standard deviation s pixels    s = 0.6, 0.9, 1.2, 1.6, 2.0
rotation       turned about its centre by ±a degrees            a = 15, 25, 35, 45, 60
               (the sign drawn per image), bilinear
contrast       m + c (x − m), m the image's mean               c = 0.6, 0.45, 0.3, 0.2, 0.1
============== =============================================== =================================

Photographs get the same four corruptions with the parameters of ImageNet-C (Hendrycks &
Dietterich 2019) where it has them (:data:`PHOTO_SEVERITIES`: noise σ 0.08 to 0.38, blur σ 1 to
6 pixels at 224 pixels, scaled with the image, contrast 0.4 to 0.05 about each channel's mean; the
rotation angles above): :func:`corrupt_photo` corrupts one colour image,
:func:`corrupt_image_folder` writes a corrupted copy of held-out images of a user's folder beside
the clean rest, a transfer problem for every command that reads folders of images.

:func:`corrupt_images` applies one corruption; the dataset ``mnist-c`` of
:func:`~transferkit.datasets.load_pair` pairs clean MNIST with a corrupted domain, so every
domain-adaptation method runs on it (source: clean training images; target and test: corrupted
test images).

Examples
--------
>>> import numpy as np
>>> from transferkit.datasets.corruptions import corrupt_images
>>> images = np.zeros((2, 28, 28), dtype=np.float32); images[:, 8:20, 12:16] = 1.0
>>> noisy = corrupt_images(images, "gaussian-noise", severity=2, random_state=0)
>>> noisy.shape, bool(noisy.min() >= 0.0), bool(noisy.max() <= 1.0)
((2, 28, 28), True, True)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.checks import check_count
from transferkit.datasets._utils import RandomState, as_generator, check_domain
from transferkit.datasets.digits import load_mnist
from transferkit.exceptions import InvalidParameterError
from transferkit.problem import TransferProblem

__all__ = [
    "CORRUPTIONS",
    "MNIST_C_DOMAINS",
    "PHOTO_SEVERITIES",
    "SEVERITIES",
    "add_gaussian_noise",
    "corrupt_image_folder",
    "corrupt_images",
    "corrupt_photo",
    "corrupt_photos",
    "draw_image_pair",
    "gaussian_blur",
    "rotate_images",
]

#: Each corruption and its parameter at severities 1 to 5 (see the module docstring).
SEVERITIES: dict[str, tuple[float, ...]] = {
    "gaussian-noise": (0.1, 0.2, 0.3, 0.4, 0.5),
    "blur": (0.6, 0.9, 1.2, 1.6, 2.0),
    "rotation": (15.0, 25.0, 35.0, 45.0, 60.0),
    "contrast": (0.6, 0.45, 0.3, 0.2, 0.1),
}
CORRUPTIONS = tuple(SEVERITIES)
#: The same corruptions for colour photographs, severities 1 to 5: ImageNet-C's noise σ, blur σ
#: (in pixels of a 224-pixel image; :func:`corrupt_photo` scales it with the image's shorter
#: side) and contrast factor (Hendrycks & Dietterich 2019), and the rotation angles above.
PHOTO_SEVERITIES: dict[str, tuple[float, ...]] = {
    "gaussian-noise": (0.08, 0.12, 0.18, 0.26, 0.38),
    "blur": (1.0, 2.0, 3.0, 4.0, 6.0),
    "rotation": SEVERITIES["rotation"],
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
}
#: The image size ImageNet-C's blur widths refer to.
PHOTO_REFERENCE_SIDE = 224
#: Domains of the ``mnist-c`` dataset: the clean images and each corruption.
MNIST_C_DOMAINS = ("clean", *CORRUPTIONS)


def rotate_images(X: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """Each image of ``X`` (n, h, w) turned counter-clockwise about its centre by its own angle.

    Bilinear interpolation; pixels that come from outside the frame are 0 (background).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((1, 5, 5)); image[0, 2, 4] = 1.0
    >>> int(np.argmax(rotate_images(image, np.array([90.0]))[0]))  # the right pixel goes to the top
    2
    """
    from scipy.ndimage import map_coordinates

    X = np.asarray(X, dtype=np.float32)
    n, height, width = X.shape
    angles = np.deg2rad(np.broadcast_to(np.asarray(degrees, dtype=float), (n,)))
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    centre_row, centre_col = (height - 1) / 2, (width - 1) / 2
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    # the output pixel (r, c) reads the input at the inverse rotation of (r, c); rows grow
    # downwards, hence the signs of a counter-clockwise turn as seen on screen
    dr, dc = rows - centre_row, cols - centre_col
    source_rows = centre_row + cos * dr + sin * dc
    source_cols = centre_col - sin * dr + cos * dc
    index = np.broadcast_to(np.arange(n)[:, None, None], source_rows.shape)
    coordinates = np.stack([index, source_rows, source_cols])
    return map_coordinates(X, coordinates, order=1, mode="constant", cval=0.0).astype(np.float32)


def add_gaussian_noise(X: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """``X`` (float32) plus N(0, std²) drawn from ``rng`` per pixel, in float32; not clipped."""
    return X + rng.normal(scale=std, size=X.shape).astype(np.float32)


def gaussian_blur(X: np.ndarray, sigma: float) -> np.ndarray:
    """Each image of ``X`` (n, h, w) blurred by a Gaussian of ``sigma`` pixels, zero outside."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(X, sigma=(0.0, sigma, sigma), mode="constant")


def _check_corruption(corruption: str, severity: Any) -> None:
    if corruption != "clean":
        check_domain(corruption, CORRUPTIONS, "corruption")
    if isinstance(severity, bool) or not isinstance(severity, int | np.integer):
        raise InvalidParameterError(f"severity must be an integer 1 to 5; got {severity!r}.")
    if not 1 <= severity <= 5:
        raise InvalidParameterError(f"severity must be 1 (mild) to 5 (severe); got {severity}.")


def _check_pixels(X: np.ndarray, caller: str) -> None:
    if X.size and (float(X.min()) < 0.0 or float(X.max()) > 1.0):
        raise InvalidParameterError(
            f"{caller} needs pixel values in [0, 1]; got [{X.min():.4g}, {X.max():.4g}]. "
            "Divide 8-bit images by 255."
        )


def corrupt_images(
    X: np.ndarray, corruption: str, severity: int = 3, random_state: RandomState = None
) -> np.ndarray:
    """Grey images corrupted as one MNIST-C-style corruption at one severity.

    Parameters
    ----------
    X : array (n, h, w) in [0, 1]
        Grey images (rows of a flattened square image are accepted and returned flattened).
    corruption : str
        One of :data:`CORRUPTIONS` (``"clean"`` returns a float32 copy).
    severity : int, default 3
        1 (mild) to 5 (severe); the parameters are in :data:`SEVERITIES`.
    random_state : int, Generator or None, default None
        Seed of the noise (``gaussian-noise``) and of the angles' signs (``rotation``): the same
        seed gives the same images.

    Returns
    -------
    float32 array of ``X``'s shape, in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((1, 28, 28)); image[0, 10:18, 10:18] = 1.0
    >>> low = corrupt_images(image, "contrast", severity=5)
    >>> round(float(low.max() - low.min()), 3)
    0.1
    """
    X = np.asarray(X, dtype=np.float32)
    flat = X.ndim == 2
    if flat:
        side = int(round(np.sqrt(X.shape[1])))
        if side * side != X.shape[1]:
            raise InvalidParameterError(
                f"corrupt_images needs grey images (n, h, w) or rows of square images; got rows "
                f"of {X.shape[1]} values, not a square. Reshape them to (n, h, w) first."
            )
        X = X.reshape(-1, side, side)
    if X.ndim != 3:
        raise InvalidParameterError(
            f"corrupt_images needs grey images of shape (n, h, w); got shape {X.shape}."
        )
    _check_pixels(X, "corrupt_images")
    _check_corruption(corruption, severity)
    rng = as_generator(random_state)
    if corruption == "clean":
        out = X.copy()
    else:
        value = SEVERITIES[corruption][int(severity) - 1]
        if corruption == "gaussian-noise":
            out = add_gaussian_noise(X, value, rng)
        elif corruption == "blur":
            out = gaussian_blur(X, value)
        elif corruption == "rotation":
            signs = rng.choice(np.array([-1.0, 1.0]), size=len(X))
            out = rotate_images(X, signs * value)
        else:  # contrast
            means = X.mean(axis=(1, 2), keepdims=True)
            out = means + value * (X - means)
    out = np.clip(out, 0.0, 1.0).astype(np.float32)
    return out.reshape(len(out), -1) if flat else out


def corrupt_photo(
    image: np.ndarray, corruption: str, severity: int = 3, random_state: RandomState = None
) -> np.ndarray:
    """One colour (or grey) photograph corrupted as ImageNet-C corrupts its images.

    Parameters
    ----------
    image : array (h, w, channels) or (h, w) in [0, 1]
    corruption : str
        One of :data:`CORRUPTIONS` (``"clean"`` returns a float32 copy).
    severity : int, default 3
        1 (mild) to 5 (severe); the parameters are in :data:`PHOTO_SEVERITIES`. The blur's σ
        is scaled by the shorter side over 224 pixels, so a photograph of any size is blurred
        as much, relative to its size, as ImageNet-C's images; the blur repeats the edge pixels,
        the rotation fills the corners with black.
    random_state : int, Generator or None, default None
        Seed of the noise and of the rotation's direction.

    Returns
    -------
    float32 array of ``image``'s shape, in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> image = np.full((8, 8, 3), 0.5); image[2:6, 2:6] = [1.0, 0.2, 0.2]
    >>> dull = corrupt_photo(image, "contrast", severity=5)  # each channel's range times 0.05
    >>> [round(float(r), 3) for r in np.ptp(dull, axis=(0, 1))]
    [0.025, 0.015, 0.015]
    """
    _check_corruption(corruption, severity)
    image = np.asarray(image, dtype=np.float32)
    if image.ndim not in (2, 3) or image.size == 0:
        raise InvalidParameterError(
            f"corrupt_photo needs one image of shape (h, w) or (h, w, channels); got shape "
            f"{image.shape}."
        )
    _check_pixels(image, "corrupt_photo")
    planes = image[..., None] if image.ndim == 2 else image  # (h, w, channels)
    rng = as_generator(random_state)
    if corruption == "clean":
        out = planes.copy()
    else:
        value = PHOTO_SEVERITIES[corruption][int(severity) - 1]
        if corruption == "gaussian-noise":
            out = add_gaussian_noise(planes, value, rng)
        elif corruption == "blur":
            from scipy.ndimage import gaussian_filter

            sigma = value * min(planes.shape[:2]) / PHOTO_REFERENCE_SIDE
            out = gaussian_filter(planes, sigma=(sigma, sigma, 0.0), mode="nearest")
        elif corruption == "rotation":
            angle = float(rng.choice(np.array([-1.0, 1.0]))) * value
            channels = np.moveaxis(planes, -1, 0)
            out = np.moveaxis(rotate_images(channels, np.full(len(channels), angle)), 0, -1)
        else:  # contrast, about each channel's mean as ImageNet-C does
            means = planes.mean(axis=(0, 1), keepdims=True)
            out = means + value * (planes - means)
    out = np.clip(out, 0.0, 1.0).astype(np.float32)
    return out[..., 0] if image.ndim == 2 else out


def corrupt_photos(
    X: np.ndarray, corruption: str, severity: int = 3, random_state: RandomState = None
) -> np.ndarray:
    """A batch of photographs in the channels-first layout of torch, ``(n, channels, h, w)`` in
    [0, 1], each corrupted as :func:`corrupt_photo` corrupts one (ImageNet-C's strengths).

    The noise and the rotation's directions come from one generator seeded by
    ``random_state``, image after image, so the same seed gives the same batch.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.full((2, 3, 8, 8), 0.5, dtype=np.float32)
    >>> corrupt_photos(X, "gaussian-noise", severity=1, random_state=0).shape
    (2, 3, 8, 8)
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 4:
        raise InvalidParameterError(
            f"corrupt_photos needs images of shape (n, channels, height, width); got shape "
            f"{X.shape}. Give a folder of images, or the rows' image shape (--input-shape)."
        )
    rng = as_generator(random_state)
    out = np.empty_like(X)
    for index, image in enumerate(X):
        planes = np.moveaxis(image, 0, -1)  # (h, w, channels)
        out[index] = np.moveaxis(corrupt_photo(planes, corruption, severity, rng), -1, 0)
    return out


def corrupt_image_folder(
    folder: str | os.PathLike[str],
    out: str | os.PathLike[str],
    corruption: str,
    severity: int = 3,
    *,
    hold_out: float = 0.5,
    random_state: RandomState = 0,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Path, Path]:
    """A transfer problem from a user's folder of images (one sub-folder per class): the clean
    images of one part, and the images of the other part corrupted.

    ``hold_out`` of each class (drawn with ``random_state``) is corrupted by
    :func:`corrupt_photo` into ``out/<corruption>-<severity>/<class>/``; the other images are
    copied unchanged into ``out/clean/<class>/``. No image is on both sides, so a model trained
    on the clean folder and scored on the corrupted one is scored on images it never saw.
    Another corruption of the same folder, hold-out and seed into the same ``out`` keeps the
    clean part already there (the split is the same), so one source serves several targets.
    A held-out image larger than 224 pixels on its shorter side is first brought down to 224,
    the size the pre-trained backbones see, so that the corruption has ImageNet-C's strength
    where the features are computed (noise added to a large photograph would mostly average out
    when the backbone shrinks it). Corrupted images are written as PNG (no compression artefact
    on top of the corruption), in RGB, or grey for grey images.

    Returns
    -------
    (clean folder, corrupted folder)

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> from transferkit.datasets.corruptions import corrupt_image_folder
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("cat/1.png", "cat/2.png", "dog/1.png", "dog/2.png"):
    ...     (root / name).parent.mkdir(exist_ok=True)
    ...     Image.new("RGB", (32, 24), "white").save(root / name)
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "shifted"
    >>> clean, blurred = corrupt_image_folder(root, out, "blur", 2)
    >>> sorted(p.name for p in blurred.iterdir()), blurred.name
    (['cat', 'dog'], 'blur-2')
    """
    import shutil

    from PIL import Image

    from transferkit.datasets.files import load_image_folder
    from transferkit.datasets.labelled import check_test_fraction, split_each_class

    _check_corruption(corruption, severity)
    check_test_fraction(hold_out)
    folder, out = Path(folder), Path(out)
    images, labels = load_image_folder(folder, labels_required=True)
    clean_dir, shifted_dir = out / "clean", out / f"{corruption}-{int(severity)}"
    if shifted_dir.exists() and any(shifted_dir.iterdir()):
        raise InvalidParameterError(
            f"{shifted_dir} already holds files; give a new output folder, or remove it, so that "
            "no image of an earlier run stays beside this one's."
        )
    rng = as_generator(random_state)
    kept, held = split_each_class(np.asarray(labels), hold_out, rng, str(folder))
    total = len(kept) + len(held)
    names = sorted(images.paths[index].relative_to(folder) for index in kept)
    if clean_dir.exists() and any(clean_dir.iterdir()):
        # another corruption of the same split keeps the clean part written before
        written = sorted(p.relative_to(clean_dir) for p in clean_dir.rglob("*") if p.is_file())
        if written != names:
            raise InvalidParameterError(
                f"{clean_dir} holds other images than the clean part of this split (another "
                "folder, --hold-out or seed?); give a new output folder, or remove it."
            )
    else:
        for done, index in enumerate(kept, start=1):
            source = images.paths[index]
            destination = clean_dir / source.relative_to(folder)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
            if progress is not None:
                progress(done, total)
    for done, index in enumerate(held, start=len(kept) + 1):
        source = images.paths[index]
        with Image.open(source) as opened:
            grey = opened.mode in ("L", "I", "I;16", "1")
            picture = opened.convert("L" if grey else "RGB")
        scale = PHOTO_REFERENCE_SIDE / min(picture.size)
        if scale < 1.0:  # to the size the backbones see, where ImageNet-C's strengths hold
            size = (round(picture.size[0] * scale), round(picture.size[1] * scale))
            picture = picture.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
        pixels = np.asarray(picture, dtype=np.float32) / 255.0
        corrupted = corrupt_photo(pixels, corruption, severity, rng)
        destination = (shifted_dir / source.relative_to(folder)).with_suffix(".png")
        destination.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(corrupted * 255.0).astype(np.uint8)).save(destination)
        if progress is not None:
            progress(done, total)
    return clean_dir, shifted_dir


def draw_image_pair(
    source: str,
    target: str,
    *,
    domains: Sequence[str],
    domains_of: str,
    dataset: str,
    images: str,
    load: Callable[[str], tuple[np.ndarray, np.ndarray]],
    shift: Callable[[np.ndarray, str, np.random.Generator], np.ndarray],
    random_state: RandomState,
    n_source: int,
    n_target: int,
    n_test: int,
    metadata: dict,
) -> TransferProblem:
    """A transfer problem of image rows: a clean image set captured as a source and a target domain.

    ``source`` and ``target`` are checked against ``domains`` (``domains_of`` names them in the
    error); ``load("train")`` and ``load("test")`` give the images and labels (``images`` names
    them in the errors on counts). The source is drawn from the training images, the target and
    the test split from disjoint parts of the test images, with one generator seeded by
    ``random_state``; each side is then ``shift(X, domain, rng)`` with that generator (source,
    target, test in that order) and flattened to rows. The problem is named ``dataset`` and holds
    ``metadata`` (the same dict).
    """
    for domain in (source, target):
        check_domain(domain, domains, domains_of)
    n_source = check_count(n_source, "n_source", 2)
    n_target = check_count(n_target, "n_target", 1)
    n_test = check_count(n_test, "n_test", 1)
    X_train, y_train = load("train")
    X_held, y_held = load("test")
    if n_source > len(y_train):
        raise InvalidParameterError(
            f"n_source={n_source} exceeds the {len(y_train):,} {images} training images; ask "
            "for fewer."
        )
    if n_target + n_test > len(y_held):
        raise InvalidParameterError(
            f"n_target + n_test = {n_target + n_test} exceeds the {len(y_held):,} {images} test "
            "images they are drawn from without overlap; ask for fewer."
        )
    rng = as_generator(random_state)
    source_index = np.sort(rng.choice(len(y_train), size=n_source, replace=False))
    held = rng.permutation(len(y_held))
    target_index = np.sort(held[:n_target])
    test_index = np.sort(held[n_target : n_target + n_test])

    def rows(X: np.ndarray, domain: str) -> np.ndarray:
        return shift(X, domain, rng).reshape(len(X), -1)

    return TransferProblem(
        X_source=rows(X_train[source_index], source),
        y_source=y_train[source_index].copy(),
        X_target=rows(X_held[target_index], target),
        y_target=y_held[target_index].copy(),
        X_test=rows(X_held[test_index], target),
        y_test=y_held[test_index].copy(),
        name=dataset,
        source_name=source,
        target_name=target,
        metadata=metadata,
    )


def _mnist_c_pair(
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: RandomState = None,
    severity: int = 3,
    n_source: int = 2000,
    n_target: int = 2000,
    n_test: int = 1000,
) -> TransferProblem:
    """load_pair("mnist-c", source, target): clean or corrupted MNIST, flattened float32 rows.

    The source is drawn from MNIST's 50,000 training images, the target and the test split from
    disjoint parts of its 10,000 test images; each side is then corrupted as its domain, at
    ``severity``. Target labels are hidden from methods.
    """
    problem = draw_image_pair(
        source,
        target,
        domains=MNIST_C_DOMAINS,
        domains_of="mnist-c",
        dataset="mnist-c",
        images="MNIST",
        load=lambda split: load_mnist(split, data_home),
        shift=lambda X, domain, rng: corrupt_images(X, domain, severity, rng),
        random_state=random_state,
        n_source=n_source,
        n_target=n_target,
        n_test=n_test,
        metadata={"dataset": "mnist-c", "image_shape": (28, 28)},
    )
    # set once the images are made: corrupt_images checks the severity before int() reads it
    problem.metadata["severity"] = int(severity)
    return problem
