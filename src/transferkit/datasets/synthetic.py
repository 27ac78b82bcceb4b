"""Synthetic digits rendered from the fonts that ship with matplotlib: the *simulation* domain.

In the spirit of Ganin & Lempitsky's (2015) SynNumbers (digits rendered from fonts with varied
position, orientation, stroke, colour and background, then blurred): a model trained on cheap
simulated images must work on real handwriting. Each digit glyph of each font is rendered once
per process (Pillow's FreeType) at high resolution, in three stroke widths, and kept at MNIST's scale; every sample is then an
affine warp of one glyph (scale, aspect, rotation, shear, offset),
a partly visible neighbouring digit, a textured background, random grey levels and polarity,
blur and noise, all vectorised over the batch.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from transferkit.checks import check_count
from transferkit.datasets._utils import RandomState, as_generator
from transferkit.datasets.images import resize_digits
from transferkit.exceptions import MissingDependencyError

#: Canvas side of the glyphs as drawn, and the side of the box each glyph is scaled to fit.
_GLYPH_CANVAS = 48
_GLYPH_BOX = 40
#: The bank keeps glyphs at half that resolution (box 20 px, like MNIST's), so warping to 15-22 px
#: digits stays close to 1:1 and bilinear sampling needs no super-sampling.
_BANK_FACTOR = 2
#: Font files that hold symbols or placeholders instead of digits.
_NOT_DIGIT_FONTS = ("cmex", "cmsy", "STIXSiz", "STIXNonUni", "LastResort", "Display")
_BLUR_SIGMAS = (0.0, 0.5, 0.8, 1.1)
_CHUNK = 2048


def font_files() -> list[Path]:
    """The TrueType fonts bundled with matplotlib that can render digits."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return [
        path
        for path in sorted(folder.glob("*.ttf"))
        if not any(marker in path.name for marker in _NOT_DIGIT_FONTS)
    ]


def _render_glyph(font: Any, digit: str) -> np.ndarray | None:
    from PIL import Image, ImageDraw

    image = Image.new("L", (128, 128), 0)
    ImageDraw.Draw(image).text((64, 64), digit, fill=255, font=font, anchor="mm")
    box = image.getbbox()
    if box is None:
        return None
    glyph = image.crop(box)
    scale = _GLYPH_BOX / max(glyph.size)
    width = max(1, round(glyph.size[0] * scale))
    height = max(1, round(glyph.size[1] * scale))
    glyph = glyph.resize((width, height), Image.LANCZOS)
    canvas = np.zeros((_GLYPH_CANVAS, _GLYPH_CANVAS), dtype=np.float32)
    top, left = (_GLYPH_CANVAS - height) // 2, (_GLYPH_CANVAS - width) // 2
    canvas[top : top + height, left : left + width] = np.asarray(glyph, np.float32) / 255.0
    return canvas


@lru_cache(maxsize=1)
def glyph_bank() -> np.ndarray:
    """Glyphs of digits 0-9, shape (n_fonts, 3 stroke widths, 10, 24, 24), values in [0, 1].

    Built once per process; fonts whose ten glyphs are not ten distinct, non-empty shapes are left
    out (placeholder fonts render one box for every character).
    """
    try:
        import PIL  # noqa: F401
    except ImportError as error:  # pragma: no cover - Pillow is a dependency
        raise MissingDependencyError("Synthetic digits need Pillow: pip install pillow") from error
    from PIL import ImageFont

    fonts = []
    for path in font_files():
        font = ImageFont.truetype(str(path), 64)
        glyphs = [_render_glyph(font, str(digit)) for digit in range(10)]
        if any(glyph is None for glyph in glyphs):
            continue
        if len({glyph.tobytes() for glyph in glyphs}) < 10:
            continue
        glyphs = np.stack(glyphs)
        # three stroke widths: as drawn, and thickened by one and two pixels at 48 px
        thicker = ndimage.grey_dilation(glyphs, size=(1, 3, 3))
        thickest = ndimage.grey_dilation(glyphs, size=(1, 5, 5))
        variants = np.stack([glyphs, thicker, thickest])
        # area-average 2x2 blocks: (3, 10, 48, 48) -> (3, 10, 24, 24)
        half = _GLYPH_CANVAS // _BANK_FACTOR
        fonts.append(
            variants.reshape(3, 10, half, _BANK_FACTOR, half, _BANK_FACTOR).mean(axis=(3, 5))
        )
    if not fonts:
        raise MissingDependencyError(
            "No font able to render digits was found in matplotlib's mpl-data/fonts/ttf."
        )
    bank = np.stack(fonts).astype(np.float32)
    bank.setflags(write=False)
    return bank


def _warp(glyphs: np.ndarray, inverse: np.ndarray, offset: np.ndarray, size: int) -> np.ndarray:
    """Sample each (G, G) glyph bilinearly at ``inverse @ (u - centre - offset) + glyph centre``
    for the pixel centres u of a size x size image (one C call for the whole batch)."""
    n, side = glyphs.shape[0], glyphs.shape[1]
    coords = np.arange(size, dtype=np.float32) + 0.5 - size / 2
    grid_y, grid_x = np.meshgrid(coords, coords, indexing="ij")
    u = np.stack([grid_x.ravel(), grid_y.ravel()])[None] - offset[:, :, None].astype(np.float32)
    g = np.einsum("nij,njp->nip", inverse, u) + (side / 2 - 0.5)  # (n, 2, P) as (x, y)
    sample = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None], (n, size * size))
    points = np.stack([sample, g[:, 1], g[:, 0]])
    out = ndimage.map_coordinates(glyphs, points, order=1, mode="constant", cval=0.0)
    return out.reshape(n, size, size).astype(np.float32)


def _affine_inverse(
    scale: np.ndarray, aspect: np.ndarray, angle: np.ndarray, shear: np.ndarray
) -> np.ndarray:
    """Inverses of rotation @ shear @ diag(scale * aspect, scale), one 2x2 per sample."""
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    shearing = np.zeros_like(rotation)
    shearing[:, 0, 0] = shearing[:, 1, 1] = 1.0
    shearing[:, 0, 1] = shear
    scaling = np.zeros_like(rotation)
    scaling[:, 0, 0] = scale * aspect
    scaling[:, 1, 1] = scale
    return np.linalg.inv(rotation @ shearing @ scaling).astype(np.float32)


def _render_chunk(
    labels: np.ndarray, size: int, bank: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    n = len(labels)
    n_fonts, n_strokes = bank.shape[:2]
    unit = size / 28  # geometry is specified for 28x28 and scaled to other sizes

    # the digit: random font and stroke, fitted to a box of 15-22 px like MNIST's 20 px box
    font = rng.integers(n_fonts, size=n)
    stroke = rng.integers(n_strokes, size=n)
    scale = rng.uniform(15, 22, size=n) * unit / (_GLYPH_BOX / _BANK_FACTOR)
    aspect = rng.uniform(0.8, 1.15, size=n)
    angle = np.deg2rad(rng.uniform(-15, 15, size=n))
    shear = rng.uniform(-0.25, 0.25, size=n)
    offset = np.clip(rng.normal(0, 1.0, size=(n, 2)), -2.5, 2.5) * unit
    digit = _warp(
        bank[font, stroke, labels], _affine_inverse(scale, aspect, angle, shear), offset, size
    )

    # clutter: half the images show part of a neighbouring digit at the left or right edge
    neighbour = rng.uniform(size=n) < 0.5
    side = rng.choice([-1.0, 1.0], size=n)
    neighbour_offset = np.column_stack(
        [
            side
            * (
                scale * _GLYPH_BOX / _BANK_FACTOR * rng.uniform(0.8, 1.0, size=n)
                + rng.uniform(2, 5, size=n) * unit
            ),
            offset[:, 1],
        ]
    )
    other = _warp(
        bank[rng.integers(n_fonts, size=n), stroke, rng.integers(10, size=n)],
        _affine_inverse(scale, aspect, angle, shear),
        neighbour_offset,
        size,
    )
    weight = np.where(neighbour, rng.uniform(0.3, 0.8, size=n), 0.0)[:, None, None]
    mask = np.maximum(digit, weight * other)

    # grey levels and a smooth textured background; some images are dark-on-light
    background = rng.uniform(0.0, 0.4, size=n)
    foreground = rng.uniform(np.minimum(background + 0.35, 1.0), 1.0)
    texture = rng.uniform(size=(n, 4, 4)).astype(np.float32)
    texture = (resize_digits(texture, size) - 0.5) * rng.uniform(0.0, 0.3, size=n)[:, None, None]
    ground = np.clip(background[:, None, None] + texture, 0.0, 1.0)
    image = ground * (1 - mask) + foreground[:, None, None] * mask
    inverted = rng.uniform(size=n) < 0.15
    image[inverted] = 1.0 - image[inverted]

    # optics: blur of a random strength, then sensor noise
    sigma_index = rng.integers(len(_BLUR_SIGMAS), size=n)
    for k, sigma in enumerate(_BLUR_SIGMAS):
        chosen = sigma_index == k
        if sigma > 0 and chosen.any():
            image[chosen] = ndimage.gaussian_filter(
                image[chosen], sigma=(0, sigma * unit, sigma * unit)
            )
    image += rng.normal(size=image.shape) * rng.uniform(0.0, 0.06, size=n)[:, None, None]
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def make_synthetic_digits(
    n_samples: int, size: int = 28, random_state: RandomState = None
) -> tuple[np.ndarray, np.ndarray]:
    """Render ``n_samples`` digits 0-9 from matplotlib's fonts with random appearance.

    The simulation domain of the digits benchmark (after Ganin & Lempitsky 2015's synthetic
    numbers): random font (DejaVu, STIX and Computer Modern families), size, aspect, rotation
    (±15°), shear, stroke width, grey levels and polarity, a textured background with a partly
    visible neighbouring digit, Gaussian blur and noise; digits centred roughly like MNIST (a
    15-22 px box in 28x28). Labels are balanced (each digit ``n_samples // 10`` times or once more).

    Parameters
    ----------
    n_samples : int
        Number of images.
    size : int, default 28
        Side of the square images.
    random_state : int, Generator or None, default None
        Seed; the same seed gives the same images.

    Returns
    -------
    X : float32 array (n_samples, size, size) in [0, 1]
    y : int64 array (n_samples,), digits 0..9

    Examples
    --------
    >>> from transferkit.datasets import make_synthetic_digits
    >>> X, y = make_synthetic_digits(20, random_state=0)
    >>> X.shape, X.dtype, sorted(set(y.tolist())) == list(range(10))
    ((20, 28, 28), dtype('float32'), True)
    """
    n_samples = check_count(n_samples, "n_samples", 1)
    size = check_count(size, "size", 8)
    rng = as_generator(random_state)
    bank = glyph_bank()
    labels = rng.permutation(np.arange(n_samples) % 10).astype(np.int64)
    parts = [
        _render_chunk(labels[start : start + _CHUNK], size, bank, rng)
        for start in range(0, n_samples, _CHUNK)
    ]
    return np.concatenate(parts), labels
