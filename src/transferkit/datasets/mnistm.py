"""MNIST-M-style digits: grey digits blended with crops of natural colour photos.

Ganin & Lempitsky (2015) built MNIST-M by taking, for each MNIST digit, a random patch of a
BSDS500 photo and inverting the patch where the digit is: ``|patch - digit|`` per channel. The
BSDS500 photos are not shipped; the photos scikit-image bundles (astronaut, coffee, chelsea,
rocket, and the grass, gravel and brick textures) stand in, at two scales.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from transferkit.datasets._utils import RandomState, as_generator
from transferkit.exceptions import InvalidParameterError

#: scikit-image sample images used as backgrounds (those present in the installed version).
PHOTO_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "grass", "gravel", "brick")
#: Photos are used at full size and halved, so crops show both detail and broader structure.
_SCALES = (1, 2)


@lru_cache(maxsize=1)
def photo_bank() -> tuple[tuple[np.ndarray, bool], ...]:
    """The background photos as float32 (H, W, 3) arrays in [0, 1], each at full and half size,
    with a flag saying whether it was grey (grey textures are repeated to three channels);
    loaded once per process."""
    import skimage.data

    photos = []
    for name in PHOTO_NAMES:
        loader = getattr(skimage.data, name, None)
        if loader is None:
            continue
        try:
            image = np.asarray(loader())
        except (OSError, ValueError):  # a sample that would need downloading
            continue
        grey = image.ndim == 2
        if grey:
            image = np.repeat(image[..., None], 3, axis=2)
        image = image[..., :3].astype(np.float32) / 255.0
        for factor in _SCALES:
            height = image.shape[0] // factor * factor
            width = image.shape[1] // factor * factor
            scaled = (
                image[:height, :width]
                .reshape(height // factor, factor, width // factor, factor, 3)
                .mean(axis=(1, 3))
            )
            scaled.setflags(write=False)
            photos.append((scaled, grey))
    if not photos:  # pragma: no cover - every scikit-image release ships these samples
        raise InvalidParameterError("No scikit-image sample photo could be loaded for MNIST-M.")
    return tuple(photos)


def make_mnistm(X_gray: np.ndarray, random_state: RandomState = None) -> np.ndarray:
    """Blend grey digits with random crops of natural photos, the MNIST-M recipe.

    Ganin & Lempitsky (2015): ``out = |patch - digit|`` per colour channel, where ``patch`` is a
    random crop (of the digit's size) of a random photo; crops come from scikit-image's sample
    photos at full and half scale (crops of the grey textures get a random colour tint).

    Parameters
    ----------
    X_gray : array (n, h, w) in [0, 1]
        Grey digits (bright strokes on a dark background, like MNIST).
    random_state : int, Generator or None, default None
        Seed; the same seed and digits give the same images.

    Returns
    -------
    float32 array (n, h, w, 3) in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> from transferkit.datasets import make_mnistm
    >>> make_mnistm(np.zeros((4, 28, 28)), random_state=0).shape
    (4, 28, 28, 3)
    """
    X_gray = np.asarray(X_gray, dtype=np.float32)
    if X_gray.ndim != 3:
        raise InvalidParameterError(
            f"make_mnistm needs grey images of shape (n, h, w); got {X_gray.shape}."
        )
    if X_gray.size and (X_gray.min() < 0 or X_gray.max() > 1):
        raise InvalidParameterError(
            f"make_mnistm needs values in [0, 1]; got [{X_gray.min()}, {X_gray.max()}]. Divide "
            "uint8 images by 255."
        )
    n, height, width = X_gray.shape
    rng = as_generator(random_state)
    photos = photo_bank()
    choice = rng.integers(len(photos), size=n)
    patches = np.empty((n, height, width, 3), dtype=np.float32)
    for k, (photo, grey) in enumerate(photos):
        index = np.flatnonzero(choice == k)
        if not len(index):
            continue
        windows = np.lib.stride_tricks.sliding_window_view(photo, (height, width, 3))
        top = rng.integers(photo.shape[0] - height + 1, size=len(index))
        left = rng.integers(photo.shape[1] - width + 1, size=len(index))
        patches[index] = windows[top, left, 0]
        if grey:
            # colour the grey textures with a random tint, so every background is in colour
            tint = rng.uniform(0.2, 1.0, size=(len(index), 1, 1, 3)).astype(np.float32)
            patches[index] *= tint / tint.max(axis=3, keepdims=True)
    return np.abs(patches - X_gray[..., None]).astype(np.float32)
