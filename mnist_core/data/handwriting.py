"""Held-out digits drawn as canvas strokes, for measuring how the models read handwriting they never saw.

Each digit is drawn with one of the Draw page's pens (mnist_core.data.canvas_pen) and sent through the
app's own preprocessing. Two sources of digits:
- MNIST's test digits, redrawn at each of the Draw page's pen widths, off-centre and small;
- digits set in handwriting fonts from Debian packages (`FONTS`): writers MNIST never had.
Nothing here is used in training (training draws its own digits, MNIST's training set, with the
same pen); each set is fixed by a seed.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mnist_core.data import preprocess
from mnist_core.data.canvas_pen import (
    CANVAS,
    DEFAULT_HEIGHT,
    DEFAULT_PEN,
    HEIGHTS,
    PEN_WIDTHS,
    SMALL_HEIGHTS,
    as_rgba,
    paint,
    place,
    strokes_of,
)


class FontMissingError(RuntimeError):
    """A handwriting font is not installed; the message names the Debian package."""


@dataclasses.dataclass(frozen=True)
class Font:
    name: str
    path: str
    package: str  # the Debian package that installs it


_OT, _TT = "/usr/share/fonts/opentype", "/usr/share/fonts/truetype"
# Every font's digits were looked at: outline fonts (femkeklaver) and fonts whose 7 or 8 no
# reader would take for one (dkg italic) are left out.
FONTS = (
    Font("Because We Build", f"{_OT}/bwht/BecauseWeBuild-Regular.otf", "fonts-bwht"),
    Font("Because We Connect", f"{_OT}/bwht/BecauseWeConnect-Regular.otf", "fonts-bwht"),
    Font("Because We Create", f"{_OT}/bwht/BecauseWeCreate-Regular.otf", "fonts-bwht"),
    Font("Because We Learn", f"{_OT}/bwht/BecauseWeLearn-Regular.otf", "fonts-bwht"),
    Font("Because We Mentor", f"{_OT}/bwht/BecauseWeMentor-Regular.otf", "fonts-bwht"),
    Font("Because We Organize", f"{_OT}/bwht/BecauseWeOrganize-Regular.otf", "fonts-bwht"),
    Font("Comic Neue", f"{_OT}/comic-neue/ComicNeue-Regular.otf", "fonts-comic-neue"),
    Font("Comic Neue Italic", f"{_OT}/comic-neue/ComicNeue-Italic.otf", "fonts-comic-neue"),
    Font("Dancing Script", f"{_OT}/dancingscript/DancingScript-Regular.otf", "fonts-dancingscript"),
    Font("Breip", f"{_TT}/breip/Breip.ttf", "fonts-breip"),
    Font("Ecolier court", f"{_TT}/ecolier-court/Ecolier-court.ttf", "fonts-ecolier-court"),
    Font("dkg handwriting", f"{_TT}/fifthhorseman/dkg.ttf", "fonts-dkg-handwriting"),
    Font("Humor Sans", f"{_TT}/humor-sans/Humor-Sans.ttf", "fonts-humor-sans"),
    Font("Rufscript", f"{_TT}/rufscript/Rufscript010.ttf", "fonts-rufscript"),
    Font("Delphine", f"{_TT}/sjfonts/Delphine.ttf", "fonts-sjfonts"),
    Font("Steve Hand", f"{_TT}/sjfonts/SteveHand.ttf", "fonts-sjfonts"),
    Font("Yusei Magic", f"{_TT}/yusei-magic/YuseiMagic-Regular.ttf", "fonts-yusei-magic"),
)
PACKAGES = tuple(sorted({f.package for f in FONTS}))


def missing_fonts(fonts=None) -> list[Font]:
    """Those of `fonts` (default: the held-out FONTS) that are not installed."""
    return [f for f in (FONTS if fonts is None else fonts) if not Path(f.path).is_file()]


def check_fonts(fonts=None) -> None:
    """FontMissingError naming the command that installs what is missing of `fonts` (default FONTS)."""
    missing = missing_fonts(fonts)
    if missing:
        packages = " ".join(sorted({f.package for f in missing}))
        names = ", ".join(f.name for f in missing)
        make = " (or `make fonts`)" if set(missing) <= set(FONTS) else ""
        raise FontMissingError(f"Handwriting fonts missing ({names}). Install them with "
                               f"`sudo apt-get install {packages}`{make}.")


# --- handwriting fonts ------------------------------------------------------------------------

@lru_cache(maxsize=256)
def glyph(font: Font, digit: int) -> np.ndarray:
    """`digit` set in `font`, cropped: (H, W) float32 ink in [0, 1], about 200 px tall."""
    check_fonts((font,))
    face = ImageFont.truetype(font.path, 200)
    image = Image.new("L", (400, 400), 0)
    ImageDraw.Draw(image).text((100, 50), str(digit), font=face, fill=255)
    ink = np.asarray(image, np.float32) / 255
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.1), np.flatnonzero(ink.max(axis=0) > 0.1)
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def draw_font_digit(font: Font, digit: int, pen: float = DEFAULT_PEN, canvas: int = CANVAS,
                    height: float | None = None, center: tuple[float, float] | None = None,
                    angle: float = 0.0) -> np.ndarray:
    """`digit` as `font` writes it, drawn with a round pen of width `pen`: (canvas, canvas, 4) RGBA."""
    height = DEFAULT_HEIGHT * canvas if height is None else height
    center = (canvas / 2, canvas / 2) if center is None else center
    return as_rgba(paint(strokes_of(place(glyph(font, digit), height, center, canvas, angle)), pen))


# --- the held-out sets ------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class DigitSet:
    """Preprocessed digits as the models get them, their labels, and how each was drawn."""
    images: np.ndarray  # (N, 28, 28) float32, the app's preprocessing of each canvas
    labels: np.ndarray  # (N,) uint8
    source: np.ndarray  # (N,) str: the font's name, or "MNIST"
    pen: np.ndarray  # (N,) int: pen width in px


def _random_pose(rng: np.random.Generator, canvas: int, small: bool = False, off_centre: bool = False):
    height = rng.uniform(*(SMALL_HEIGHTS if small else HEIGHTS)) * canvas
    if off_centre:  # the digit pressed against a random corner of the canvas
        margin = height / 2 + 4
        center = (rng.choice([margin, canvas - margin]), rng.choice([margin, canvas - margin]))
    else:
        center = (canvas / 2 + rng.uniform(-0.1, 0.1) * canvas, canvas / 2 + rng.uniform(-0.1, 0.1) * canvas)
    return height, center


def _preprocessed(rgba: np.ndarray) -> np.ndarray:
    image = preprocess.canvas_to_mnist(rgba)
    return image if image is not None else np.zeros((28, 28), np.float32)  # counts as wrong, not dropped


def font_digits(seed: int = 0, per_digit: int = 12, fonts=FONTS, pens=PEN_WIDTHS,
                canvas: int = CANVAS) -> DigitSet:
    """Every digit in every font, `per_digit` times at random pens, sizes, places and slants
    (turned up to ±10°), deterministic by `seed`."""
    check_fonts(fonts)
    rng = np.random.default_rng(seed)
    images, labels, source, pen_used = [], [], [], []
    for font in fonts:
        for digit in range(10):
            for _ in range(per_digit):
                pen = int(rng.choice(pens))
                height, center = _random_pose(rng, canvas)
                angle = float(rng.uniform(-10, 10))
                rgba = draw_font_digit(font, digit, pen, canvas, height, center, angle)
                images.append(_preprocessed(rgba))
                labels.append(digit)
                source.append(font.name)
                pen_used.append(pen)
    return DigitSet(np.stack(images), np.array(labels, np.uint8), np.array(source), np.array(pen_used))


def mnist_at_pens(digits: np.ndarray, labels: np.ndarray, pens=PEN_WIDTHS, seed: int = 0,
                  canvas: int = CANVAS, small: bool = False, off_centre: bool = False) -> DigitSet:
    """Each MNIST digit drawn once at a random size and place (the same for every pen, so pens
    compare fairly), then painted with each pen in `pens`."""
    rng = np.random.default_rng(seed)
    images, out_labels, pen_used = [], [], []
    for digit, label in zip(digits, labels):
        ink = np.asarray(digit, np.float32) / (255.0 if np.asarray(digit).dtype == np.uint8 else 1.0)
        height, center = _random_pose(rng, canvas, small=small, off_centre=off_centre)
        strokes = strokes_of(place(ink, height, center, canvas))
        for pen in pens:
            images.append(_preprocessed(as_rgba(paint(strokes, pen))))
            out_labels.append(label)
            pen_used.append(pen)
    n = len(images)
    return DigitSet(np.stack(images), np.array(out_labels, np.uint8), np.array(["MNIST"] * n), np.array(pen_used))


if __name__ == "__main__":  # `make fonts` asks which Debian packages to install
    import sys

    if sys.argv[1:] == ["--missing-packages"]:
        print(" ".join(sorted({f.package for f in missing_fonts()})))
    else:
        sys.exit("usage: python -m mnist_core.data.handwriting --missing-packages")
