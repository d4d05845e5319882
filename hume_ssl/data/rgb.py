"""Any decoded image -> (H, W, 3) uint8 RGB, the one pixel format every stage reads.

8-bit images keep their values; 16-bit, 32-bit and float images (a 12-bit microscopy PNG) are
stretched per image to 0..255; gray is copied to three channels; transparency is composited
on black.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from hume_ssl.core.errors import HumeSSLError

HIGH_DEPTH_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")  # PIL: 16/32-bit int, float


def stretch_to_uint8(a: np.ndarray) -> np.ndarray:
    """Any integer or float array -> uint8 of the same shape by a per-image min-max stretch:
    the image's smallest finite value -> 0, its largest -> 255, linear and rounded in between.
    A constant image maps to 0, NaN and +-inf to 0. Per image, so grey levels are not
    comparable across images (a 12-bit image of values 1000..4200 spans 0..255)."""
    a = np.asarray(a, dtype=np.float64)
    finite = np.isfinite(a)
    if not finite.any():
        return np.zeros(a.shape, np.uint8)
    lo, hi = a[finite].min(), a[finite].max()
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    out = np.where(finite, np.round((a - lo) * scale), 0.0)
    return np.clip(out, 0, 255).astype(np.uint8)


def _stretch_array(a: np.ndarray) -> np.ndarray:
    """A non-uint8 gray (H, W [, 1]) or RGB (H, W, 3) array -> uint8 by the per-image stretch
    (over all three channels together, so colours keep their ratios)."""
    if a.dtype.kind not in "iuf":
        raise HumeSSLError(f"images must hold numbers (uint8, or integers / floats stretched to "
                           f"0..255 per image); got dtype {a.dtype}.")
    if a.ndim == 3 and a.shape[2] == 4:
        raise HumeSSLError(f"an RGBA image must be uint8 (0..255); got dtype {a.dtype}. Convert "
                           "it to uint8 or drop the alpha channel.")
    return stretch_to_uint8(a)


def _pil_to_array(img: Image.Image) -> np.ndarray:
    """A PIL image -> (H, W) uint8 for 16-bit, 32-bit and float modes (stretched per image),
    else (H, W, 3) uint8 RGB with transparency composited on black."""
    if img.mode in HIGH_DEPTH_MODES:  # PIL's convert("RGB") would clip them at 255
        return stretch_to_uint8(np.asarray(img))
    if img.mode != "RGB":
        if img.mode in ("RGBA", "LA", "P", "PA"):  # composite transparency on black
            img = img.convert("RGBA")
            bg = Image.new("RGBA", img.size, (0, 0, 0, 255))
            img = Image.alpha_composite(bg, img)
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8)


def to_rgb_uint8(img: np.ndarray | Image.Image) -> np.ndarray:
    """Any image (PIL, HxW gray, HxWx1, HxWx3, HxWx4 RGBA) -> (H, W, 3) uint8 RGB.

    8-bit images keep their values. 16-bit, 32-bit and float images (PIL modes I;16*, I, F, and
    non-uint8 arrays) are stretched per image to 0..255 (`stretch_to_uint8`: min -> 0,
    max -> 255, a constant image -> 0) before gray is copied to the three channels.
    """
    a = _pil_to_array(img) if isinstance(img, Image.Image) else np.asarray(img)
    if a.dtype != np.uint8:
        a = _stretch_array(a)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise HumeSSLError(f"an image must be H x W [x 1|3|4]; got shape {a.shape}.")
    if a.shape[2] == 1:
        return np.repeat(a, 3, axis=2)
    if a.shape[2] == 4:  # RGBA: drop alpha (pixels premultiplied on black)
        rgb = a[:, :, :3].astype(np.uint16) * a[:, :, 3:4] // 255
        return rgb.astype(np.uint8)
    return a
