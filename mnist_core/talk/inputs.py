"""What a browser sends about a digit, checked before anything trusts it: person tokens, send ids,
labels, the 28×28 image, the canvas PNG (refused unless it is a PNG of a sane size, before Pillow
decodes a pixel), the models' verdicts and a talk's title. Also the canvas's thumbnail kept with
each digit."""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import secrets
from typing import Mapping

import numpy as np

MAX_STORED_PNG_BYTES = 20 * 1024  # the canvas picture kept with each digit (a wall tile, not an archive)



THUMBNAIL_SIDE = 96  # px, grayscale: 9,216 raw bytes at most, so always far under the limit above



MAX_CANVAS_PNG_BYTES = 1_000_000  # a drawn 300×300 canvas is 5–40 KB; a megabyte is not a drawing



MAX_CANVAS_SIDE = 2048  # px: a phone canvas at 3× device pixels is ~1,200 px



MIN_CANVAS_SIDE = 28



DEFAULT_CANVAS_SIZE = (300, 300)  # the canvas component's PNG for a 300 px canvas (width, height)



PNG_MAGIC = b"\x89PNG\r\n\x1a\n"



_DATA_URL_PREFIX = "data:image/png;base64,"



_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")



SEND_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")  # made on the phone, one per Send: a retry carries the same



_KIND_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")



_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")



_MAX_TITLE = 100



class CrowdInputError(ValueError):
    """A digit (or a component value) that is refused; the message says what to send instead."""



def new_person_token() -> str:
    """A per-person token for the Join page's URL: 22 URL-safe characters, unguessable."""
    return secrets.token_urlsafe(16)



def is_person_token(value) -> bool:
    """Whether `value` (from a URL, so anything) has the form of a person token."""
    return isinstance(value, str) and _TOKEN_RE.fullmatch(value) is not None



def _short(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"



def canvas_png_to_rgba(value, expected_size: tuple[int, int] | None = DEFAULT_CANVAS_SIZE) -> np.ndarray:
    """A canvas component's PNG (a `data:image/png;base64,…` URL or bytes) → (H, W, 4) uint8.

    The value comes from a browser, so nothing about it is trusted: its length is checked before
    base64 decoding, the PNG signature and the size in its header before Pillow decodes a pixel
    (so no decompression bomb), and decoding errors become CrowdInputError.
    `expected_size` is (width, height); None accepts any size from 28 to 2048 px a side.
    """
    if isinstance(value, str):
        if not value.startswith(_DATA_URL_PREFIX):
            raise CrowdInputError(
                f"The drawing must be a PNG data URL starting with {_DATA_URL_PREFIX!r}; "
                f"got {_short(value[:40])}. Clear the canvas and draw again.")
        encoded = value[len(_DATA_URL_PREFIX):]
        if len(encoded) > (MAX_CANVAS_PNG_BYTES * 4) // 3 + 4:
            raise CrowdInputError(
                f"The drawing is {len(encoded) * 3 // 4:,} bytes, more than the {MAX_CANVAS_PNG_BYTES:,} "
                "a canvas can be; it was not stored. Clear the canvas and draw again.")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise CrowdInputError("The drawing's data URL is not valid base64; clear the canvas and draw again.") from None
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    else:
        raise CrowdInputError(f"The drawing must be PNG bytes or a PNG data URL, not {type(value).__name__}.")

    if len(raw) > MAX_CANVAS_PNG_BYTES:
        raise CrowdInputError(
            f"The drawing is {len(raw):,} bytes, more than the {MAX_CANVAS_PNG_BYTES:,} a canvas can be; "
            "it was not stored. Clear the canvas and draw again.")
    if not raw.startswith(PNG_MAGIC) or len(raw) < 33 or raw[12:16] != b"IHDR":
        raise CrowdInputError("The drawing is not a PNG image (bad signature); clear the canvas and draw again.")
    width, height = int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")
    check_canvas_size(width, height, expected_size)

    from PIL import Image  # Pillow is only needed here and for thumbnails

    try:
        with Image.open(io.BytesIO(raw), formats=["PNG"]) as image:
            if image.size != (width, height):  # the header we read is the one Pillow read
                raise CrowdInputError("The drawing's PNG header is inconsistent; clear the canvas and draw again.")
            rgba = np.asarray(image.convert("RGBA"), dtype=np.uint8)
    except CrowdInputError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise CrowdInputError(f"The drawing is not a readable PNG ({exc}); clear the canvas and draw again.") from None
    return rgba



def check_canvas_size(width: int, height: int, expected_size: tuple[int, int] | None) -> None:
    if expected_size is not None:
        if (width, height) != tuple(expected_size):
            raise CrowdInputError(
                f"The drawing is {width}×{height} px but the canvas is {expected_size[0]}×{expected_size[1]} px; "
                "reload the page and draw again.")
    elif not (MIN_CANVAS_SIDE <= width <= MAX_CANVAS_SIDE and MIN_CANVAS_SIDE <= height <= MAX_CANVAS_SIDE):
        raise CrowdInputError(
            f"The drawing is {width}×{height} px; a canvas is {MIN_CANVAS_SIDE}–{MAX_CANVAS_SIDE} px a side. "
            "Reload the page and draw again.")



def canvas_thumbnail_png(canvas, side: int = THUMBNAIL_SIDE) -> bytes:
    """The small PNG stored with a digit: the canvas (PNG bytes, data URL or an (H, W, 4|3) uint8
    array) composited on black, grayscale, `side`×`side`. Verified ≤ MAX_STORED_PNG_BYTES."""
    from PIL import Image

    if isinstance(canvas, np.ndarray):
        array = canvas
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] not in (3, 4):
            raise CrowdInputError(f"The canvas must be an (H, W, 4) uint8 RGBA array, got {array.dtype} {array.shape}.")
        check_canvas_size(array.shape[1], array.shape[0], None)
    else:
        array = canvas_png_to_rgba(canvas, expected_size=None)
    if array.shape[2] == 3:
        array = np.concatenate([array, np.full(array.shape[:2] + (1,), 255, np.uint8)], axis=2)
    image = Image.fromarray(np.ascontiguousarray(array), "RGBA")
    on_black = Image.alpha_composite(Image.new("RGBA", image.size, (0, 0, 0, 255)), image).convert("L")
    small = on_black.resize((side, side), Image.Resampling.BOX)  # area average: faithful, 1.4 ms vs Lanczos' 2.4
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=True)
    png = buffer.getvalue()
    if len(png) > MAX_STORED_PNG_BYTES:
        raise CrowdInputError(f"The canvas picture is {len(png):,} bytes at {side} px; use a smaller side.")
    return png



def check_token(token) -> str:
    if not isinstance(token, str) or not _TOKEN_RE.match(token):
        raise CrowdInputError(
            f"The person token must be 16–64 letters, digits, '-' or '_' (make one with "
            f"inputs.new_person_token()); got {_short(token)}.")
    return token



def check_send_id(send_id) -> str | None:
    if send_id is None:
        return None
    if not isinstance(send_id, str) or not SEND_ID_RE.match(send_id):
        raise CrowdInputError(f"A send id is 8–64 letters, digits, '-' or '_', got {_short(send_id)}.")
    return send_id



def check_label(label) -> int:
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)):
        raise CrowdInputError(f"The label must be a whole number from 0 to 9, not {_short(label)}.")
    if not 0 <= int(label) <= 9:
        raise CrowdInputError(f"The label must be a digit from 0 to 9, got {int(label)}.")
    return int(label)



def check_image(image28) -> bytes:
    array = np.asarray(image28)
    if array.shape != (28, 28):
        raise CrowdInputError(
            f"The model input must be a 28×28 image (preprocess.canvas_to_mnist's output), got shape {array.shape}.")
    if array.dtype == np.uint8:
        return array.tobytes()
    if not np.issubdtype(array.dtype, np.floating):
        raise CrowdInputError(f"The model input must be uint8 or float in [0, 1], got {array.dtype}.")
    if not np.all(np.isfinite(array)) or array.min() < -1e-6 or array.max() > 1 + 1e-6:
        raise CrowdInputError("The model input must be finite floats in [0, 1] (or uint8 0–255).")
    return np.rint(np.clip(array, 0, 1) * 255).astype(np.uint8).tobytes()



def check_png(canvas_png) -> bytes:
    if not isinstance(canvas_png, (bytes, bytearray, memoryview)):
        raise CrowdInputError(
            f"The canvas picture must be PNG bytes (make it with inputs.canvas_thumbnail_png), not {type(canvas_png).__name__}.")
    png = bytes(canvas_png)
    if len(png) > MAX_STORED_PNG_BYTES:
        raise CrowdInputError(
            f"The canvas picture is {len(png):,} bytes, over the {MAX_STORED_PNG_BYTES:,} kept per digit; "
            "make it with inputs.canvas_thumbnail_png.")
    if not png.startswith(PNG_MAGIC):
        raise CrowdInputError("The canvas picture is not a PNG (bad signature); make it with inputs.canvas_thumbnail_png.")
    from PIL import Image

    try:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
            image.verify()
    except Exception as exc:  # Pillow raises many kinds for a broken file; each means "not a PNG"
        raise CrowdInputError(f"The canvas picture is not a readable PNG ({exc}).") from None
    return png



def check_verdicts(probabilities, model_files) -> list[tuple[str, str, str, str]]:
    if not isinstance(probabilities, Mapping) or not probabilities:
        raise CrowdInputError("Give at least one model's probabilities, as {'ann': ten floats, 'cnn': ten floats}.")
    if not isinstance(model_files, Mapping) or set(model_files) != set(probabilities):
        raise CrowdInputError(
            f"model_files must name the file of each model that judged the digit: keys {sorted(probabilities)}, "
            f"got {sorted(model_files) if isinstance(model_files, Mapping) else _short(model_files)}.")
    rows = []
    for kind, probs in probabilities.items():
        if not isinstance(kind, str) or not _KIND_RE.match(kind):
            raise CrowdInputError(f"A model kind is a short lowercase name such as 'ann' or 'cnn', got {_short(kind)}.")
        try:
            p = np.asarray(probs, dtype=np.float64)
        except (TypeError, ValueError):
            raise CrowdInputError(f"The {kind} probabilities must be ten numbers.") from None
        if p.shape != (10,):
            raise CrowdInputError(f"The {kind} probabilities must be ten numbers (one per digit), got shape {p.shape}.")
        if not np.all(np.isfinite(p)):
            raise CrowdInputError(f"The {kind} probabilities contain NaN or infinity; the model's output is broken.")
        if p.min() < -1e-6 or p.max() > 1 + 1e-6 or abs(p.sum() - 1) > 1e-3:
            raise CrowdInputError(
                f"The {kind} probabilities must lie in [0, 1] and sum to 1 (a softmax output); they sum to {p.sum():.4f}.")
        file = model_files[kind]
        if (not isinstance(file, (tuple, list)) or len(file) != 2 or not isinstance(file[0], str)
                or not 0 < len(file[0]) <= 100 or not isinstance(file[1], str) or not _SHA256_RE.match(file[1])):
            raise CrowdInputError(
                f"model_files[{kind!r}] must be (model name, SHA-256 hex of its file), "
                f"as registry.file_hash(name) gives; got {_short(file)}.")
        rows.append((kind, json.dumps([float(x) for x in p]), file[0], file[1]))
    return rows



def check_title(title) -> str | None:
    if title is None:
        return None
    if not isinstance(title, str) or not title.strip() or len(title.strip()) > _MAX_TITLE:
        raise CrowdInputError(f"A talk title is 1–{_MAX_TITLE} characters of text, got {_short(title)}.")
    return title.strip()
