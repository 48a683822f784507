"""``oh_letters``: the tutorial's bimodal dataset, 24x24 images of one "H" or "O" at a random position.

The glyphs are rendered with a TrueType font that Pillow itself ships (Aileron Regular, embedded in
``PIL.ImageFont.load_default`` since Pillow 10.1; Pillow wheels bundle FreeType), so the data are identical
on every machine with the same Pillow build, without system fonts. Generation is a pure function of
``data_seed`` and the settings; the result is cached as an ``.npz`` under the data root.
"""

from __future__ import annotations

import os

import numpy as np
import PIL
from PIL import Image, ImageDraw, ImageFont

from bayesgan.data.files import DatasetError, cache_dir, cache_key, cached_arrays
from bayesgan.data.real import RawSplits, RealDataModule

LETTERS = ("H", "O")  # label 0 = H, label 1 = O
_TRAIN, _TEST = 0, 1


def load_font(size: int, font: str | None = None) -> ImageFont.FreeTypeFont:
    """``font`` (a .ttf/.otf path) or Pillow's bundled TrueType font at ``size`` pixels."""
    try:
        f = ImageFont.truetype(font, size) if font else ImageFont.load_default(size=size)
    except OSError as e:
        raise DatasetError(f"oh_letters: cannot load font {font} ({e})") from None
    if not isinstance(f, ImageFont.FreeTypeFont):  # Pillow without FreeType falls back to a bitmap font
        raise DatasetError("oh_letters: needs Pillow >= 10.1 built with FreeType (its bundled TrueType font)")
    return f


def glyph(letter: str, font: ImageFont.FreeTypeFont) -> np.ndarray:
    """Tightly cropped uint8 (h, w) rendering of ``letter``, white on black."""
    left, top, right, bottom = font.getbbox(letter)
    im = Image.new("L", (right - left, bottom - top), 0)
    ImageDraw.Draw(im).text((-left, -top), letter, fill=255, font=font)
    return np.asarray(im)


def render_letters(
    n: int, image_size: int, fraction_o: float, font: ImageFont.FreeTypeFont, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 1, S, S) uint8 images and labels: exactly round(n * fraction_o) O's, the rest H's, shuffled,
    each glyph pasted at a uniformly random position where it fits entirely."""
    glyphs = [glyph(c, font) for c in LETTERS]
    if any(max(g.shape) > image_size for g in glyphs):
        raise DatasetError(
            f"oh_letters: font_size too large: glyphs {[g.shape for g in glyphs]} > {image_size}px"
        )
    n_o = round(n * fraction_o)
    labels = rng.permutation(np.r_[np.zeros(n - n_o, np.int64), np.ones(n_o, np.int64)])
    x = np.zeros((n, 1, image_size, image_size), np.uint8)
    for c, g in enumerate(glyphs):
        idx = np.flatnonzero(labels == c)
        tops = rng.integers(0, image_size - g.shape[0] + 1, idx.size)
        lefts = rng.integers(0, image_size - g.shape[1] + 1, idx.size)
        for i, t, left in zip(idx, tops, lefts, strict=True):
            x[i, 0, t : t + g.shape[0], left : left + g.shape[1]] = g
    return x, labels


class OHLettersDataModule(RealDataModule):
    """``num_samples`` train / ``num_test`` test images (independent streams of ``data_seed``), a
    ``fraction_o`` share of O's. ``font``: None for Pillow's bundled font, or a TrueType file path."""

    name = "oh_letters"
    source = "generated locally (no download)"

    def __init__(
        self,
        *,
        num_samples: int = 10000,
        num_test: int = 2000,
        fraction_o: float = 0.5,
        image_size: int = 24,
        font_size: int = 16,
        font: str | None = None,
        data_seed: int = 0,
        cache_dir: str | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._check(
            num_samples >= 1 and num_test >= 1,
            f"num_samples/num_test must be >= 1, got {num_samples}/{num_test}",
        )
        self._check(0 <= fraction_o <= 1, f"fraction_o must be in [0, 1], got {fraction_o}")
        self._check(image_size >= 4 and font_size >= 4, "image_size and font_size must be >= 4")
        self.num_samples, self.num_test, self.fraction_o = num_samples, num_test, fraction_o
        self.image_size, self.font_size, self.font, self.data_seed = image_size, font_size, font, data_seed
        self.cache_dir = cache_dir

    def build(self) -> dict[str, np.ndarray]:
        font = load_font(self.font_size, self.font)
        out: dict[str, np.ndarray] = {}
        for split, n, prefix in ((_TRAIN, self.num_samples, ""), (_TEST, self.num_test, "test_")):
            rng = np.random.default_rng([self.data_seed, split])  # independent streams per split
            out[f"{prefix}x"], out[f"{prefix}y"] = render_letters(
                n, self.image_size, self.fraction_o, font, rng
            )
        return out

    def read(self) -> RawSplits:
        font = os.path.abspath(self.font) if self.font else f"pillow-{PIL.__version__}"
        key = cache_key(
            n=(self.num_samples, self.num_test), fraction_o=self.fraction_o, font=font, seed=self.data_seed,
            size=(self.image_size, self.font_size),
        )  # fmt: skip
        arrays = cached_arrays(cache_dir(self.root, self.cache_dir), f"oh_letters-{key}", self.build)
        return RawSplits(
            arrays["x"],
            arrays["y"],
            arrays["test_x"],
            arrays["test_y"],
            num_classes=2,
            class_names=list(LETTERS),
        )
