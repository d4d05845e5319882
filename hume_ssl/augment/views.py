"""MoCo v2 / SimCLR views as batched tensor ops with per-sample random draws.

One view (MoCo v2, Chen et al. 2020; the order of torchvision's recipe):
    RandomResizedCrop(scale 0.2-1, ratio 3/4-4/3) -> ColorJitter(0.4, 0.4, 0.4, 0.1) with p=0.8
    -> RandomGrayscale(p=0.2) -> GaussianBlur(sigma 0.1-2, kernel ~10% of the side) with p=0.5
    -> RandomHorizontalFlip(p=0.5)
Images are (B, 3, H, W) tensors on any device; every parameter is drawn per sample from a
`torch.Generator` on that device, so a view never syncs with the host and has no per-image
Python loop. Each op matches its `torchvision.transforms.v2.functional` counterpart for the
same parameters (tests/augment/test_views.py); the one difference is that the crop's resize is
bilinear without antialiasing (torchvision's tensor default antialiases when downsampling).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from hume_ssl.augment import (
    pixels as px,  # brightness, contrast, color blend + clamp as torchvision
)
from hume_ssl.augment.pixels import to_float
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.params import check_bounds, setting


@dataclass
class ViewConfig:
    """One SSL view: random resized crop, flip, colour jitter, grayscale, blur (MoCo v2 recipe)."""

    crop_scale: tuple[float, float] = setting((0.2, 1.0), "Crop area range (0 < low <= high "
                                              "<= 1).", unit="fraction of the image area",
                                              flag=None)
    crop_ratio: tuple[float, float] = setting((3 / 4, 4 / 3), "Crop aspect ratio range (0 < "
                                              "low <= high).", unit="width / height", flag=None)
    flip_p: float = setting(0.5, "Horizontal flip probability.", unit="probability",
                            bounds="[0, 1]", flag=None)
    jitter_p: float = setting(0.8, "Probability of colour jitter (all 4 ops, random order).",
                              unit="probability", bounds="[0, 1]", flag=None)
    brightness: float = setting(0.4, "Brightness factor drawn in [1 - b, 1 + b].",
                                bounds="[0, inf)", flag=None)
    contrast: float = setting(0.4, "Contrast factor drawn in [1 - c, 1 + c].", bounds="[0, inf)",
                              flag=None)
    saturation: float = setting(0.4, "Saturation factor drawn in [1 - s, 1 + s].",
                                bounds="[0, inf)", flag=None)
    hue: float = setting(0.1, "Hue shift drawn in [-h, h].", unit="fraction of the colour wheel",
                         bounds="[0, 0.5]", flag=None)
    grayscale_p: float = setting(0.2, "Grayscale probability.", unit="probability",
                                 bounds="[0, 1]", flag=None)
    blur_p: float = setting(0.5, "Gaussian blur probability.", unit="probability",
                            bounds="[0, 1]", flag=None)
    blur_sigma: tuple[float, float] = setting((0.1, 2.0), "Blur sigma range, drawn per sample "
                                              "(0 < low <= high).", unit="pixels", flag=None)
    blur_min_size: int = setting(64, "Blur only when the output side is at least this (no blur "
                                 "at 32 px).", unit="pixels (output side)", bounds="[1, inf)",
                                 flag=None)

    def validate(self) -> ViewConfig:
        """Every field in its range, each range a (low, high) pair in order; changes nothing.
        Errors name the field as view.NAME (before: flip_p=2 or crop_scale=(1, 0.2) trained)."""
        try:
            check_bounds(self)
        except HumeSSLError as e:
            raise HumeSSLError(f"view.{e}") from None
        for name, top in (("crop_scale", 1.0), ("crop_ratio", None), ("blur_sigma", None)):
            v = getattr(self, name)
            ok = (isinstance(v, (tuple, list)) and len(v) == 2
                  and all(isinstance(x, numbers.Real) and math.isfinite(x) for x in v)
                  and 0 < v[0] <= v[1] and (top is None or v[1] <= top))
            if not ok:
                raise HumeSSLError(f"view.{name} {v!r}: give (low, high) with 0 < low <= high"
                                   + (f" <= {top:g}" if top else "") + ".")
        return self


def _rand(shape: tuple[int, ...], g: torch.Generator, lo: float, hi: float) -> Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=g, device=g.device)


# ---------------------------------------------------------------- random resized crop
def sample_crop_boxes(
    B: int, H: int, W: int, g: torch.Generator,
    scale: tuple[float, float] = (0.2, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-sample integer boxes (top, left, h, w), each (B,) float, as RandomResizedCrop.

    torchvision tries up to 10 (area, log-ratio) draws and keeps the first box that fits; here
    all 10 are drawn at once (B, 10) and the first fitting one is picked by argmax.
    """
    area = _rand((B, 10), g, scale[0], scale[1]) * (H * W)  # (B, 10) pixels^2
    r = torch.exp(_rand((B, 10), g, math.log(ratio[0]), math.log(ratio[1])))  # (B, 10) w/h
    w = torch.round(torch.sqrt(area * r))
    h = torch.round(torch.sqrt(area / r))
    fits = (w > 0) & (w <= W) & (h > 0) & (h <= H)  # (B, 10)
    first = fits.int().argmax(dim=1, keepdim=True)  # first fitting draw (0 when none fits)
    w, h = w.gather(1, first).squeeze(1), h.gather(1, first).squeeze(1)  # (B,)
    # fallback when no draw fits: torchvision's central crop clipped to the ratio range
    if W / H < min(ratio):
        fw, fh = W, int(round(W / min(ratio)))
    elif W / H > max(ratio):
        fw, fh = int(round(H * max(ratio))), H
    else:
        fw, fh = W, H
    any_fit = fits.any(dim=1)
    w = torch.where(any_fit, w, torch.full_like(w, fw))
    h = torch.where(any_fit, h, torch.full_like(h, fh))
    u = torch.rand(2, B, generator=g, device=g.device)
    # uniform integer offsets in [0, H - h]; the min guards float rounding of u * n up to n
    top = torch.minimum(torch.floor(u[0] * (H - h + 1)), H - h)
    left = torch.minimum(torch.floor(u[1] * (W - w + 1)), W - w)
    top = torch.where(any_fit, top, torch.div(H - h, 2, rounding_mode="floor"))
    left = torch.where(any_fit, left, torch.div(W - w, 2, rounding_mode="floor"))
    return top, left, h, w


def random_resized_crop(
    x: Tensor, top: Tensor, left: Tensor, h: Tensor, w: Tensor, size: int
) -> Tensor:
    """Crop (B,3,H,W) to per-sample boxes and resize to (B,3,size,size), bilinear.

    One affine grid maps each output pixel centre into its box; the grid is clamped to the
    box's outer pixel centres, as `resize` of the cropped image clamps at the crop's edges, so
    an integer box equals torchvision's `resized_crop(..., antialias=False)`.
    """
    B, C, H, W = x.shape
    top, left, h, w = (t.to(x.dtype) for t in (top, left, h, w))
    z = torch.zeros_like(w)
    theta = torch.stack(  # (B, 2, 3): normalised output coords -> normalised input coords
        [w / W, z, (2 * left + w) / W - 1, z, h / H, (2 * top + h) / H - 1], dim=1
    ).view(B, 2, 3)
    grid = F.affine_grid(theta, [B, C, size, size], align_corners=False)  # (B, S, S, 2) (x, y)
    lo = torch.stack([(2 * left + 1) / W - 1, (2 * top + 1) / H - 1], dim=1)  # (B, 2)
    hi = torch.stack([(2 * (left + w) - 1) / W - 1, (2 * (top + h) - 1) / H - 1], dim=1)
    grid = torch.minimum(torch.maximum(grid, lo.view(B, 1, 1, 2)), hi.view(B, 1, 1, 2))
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


# ---------------------------------------------------------------- colour
def adjust_hue(x: Tensor, factor: Tensor) -> Tensor:
    """Rotate the hue of (B,3,H,W) in [0, 1] by factor (B,) in [-0.5, 0.5] turns, via HSV."""
    r, gr, b = x.unbind(1)  # (B, H, W) each
    v = x.amax(1)
    delta = v - x.amin(1)
    gray = delta == 0
    s = torch.where(gray, torch.zeros_like(v), delta / torch.where(gray, torch.ones_like(v), v))
    d = torch.where(gray, torch.ones_like(delta), delta)
    h6 = torch.where(  # hue in sextants [0, 6): red, green or blue is the maximum
        v == r, (gr - b) / d, torch.where(v == gr, 2.0 + (b - r) / d, 4.0 + (r - gr) / d)
    )
    h6 = torch.remainder(h6 + 6.0 * px.per_sample(factor, x).squeeze(1), 6.0)  # (B, H, W)
    # HSV -> RGB: channel c = v - v * s * clamp(min(k, 4 - k), 0, 1), k = (n + h6) mod 6
    n = torch.arange(5.0, 0.0, -2.0, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)  # 5,3,1
    k = torch.remainder(n + h6.unsqueeze(1), 6.0)  # (B, 3, H, W)
    ramp = torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)
    return v.unsqueeze(1) * (1.0 - s.unsqueeze(1) * ramp)


JITTER_OPS = ("brightness", "contrast", "saturation", "hue")


def jitter_params(B: int, g: torch.Generator, cfg: ViewConfig) -> tuple[Tensor, Tensor, Tensor]:
    """Per-sample draws of ColorJitter: apply (B,) bool, factors (B, 4), order (B, 4).

    factors follow JITTER_OPS; order[:, k] is the op index applied in slot k (a permutation).
    """
    apply = px.uniform(B, g, g.device) < cfg.jitter_p
    cols = [_rand((B,), g, max(0.0, 1.0 - m), 1.0 + m)
            for m in (cfg.brightness, cfg.contrast, cfg.saturation)]
    cols.append(_rand((B,), g, -cfg.hue, cfg.hue))
    order = torch.rand(B, 4, generator=g, device=g.device).argsort(dim=1)  # random permutations
    return apply, torch.stack(cols, dim=1), order


def apply_jitter(x: Tensor, apply: Tensor, factors: Tensor, order: Tensor) -> Tensor:
    """4 slots; each computes all 4 ops on the batch and keeps, per sample, its slot's op."""
    out = x
    for slot in range(4):
        op = order[:, slot].view(-1, 1, 1, 1)  # (B, 1, 1, 1)
        f = factors
        candidates = (px.brightness(out, f[:, 0]), px.contrast(out, f[:, 1]),
                      px.color(out, f[:, 2]), adjust_hue(out, f[:, 3]))  # JITTER_OPS order
        new = candidates[3]  # (B, 3, H, W)
        for i in range(3):
            new = torch.where(op == i, candidates[i], new)
        out = new
    return torch.where(apply.view(-1, 1, 1, 1), out, x)


def color_jitter(x: Tensor, g: torch.Generator, cfg: ViewConfig) -> Tensor:
    """torchvision's ColorJitter applied with probability cfg.jitter_p, per sample."""
    return apply_jitter(x, *jitter_params(x.shape[0], g, cfg))


def random_grayscale(x: Tensor, g: torch.Generator, p: float) -> Tensor:
    """Replace each sample, with probability p, by its 3-channel ITU-R 601-2 luma."""
    pick = px.uniform(x.shape[0], g, x.device) < p
    return torch.where(pick.view(-1, 1, 1, 1), px.gray(x).expand_as(x), x)


# ---------------------------------------------------------------- blur
def blur_kernel_size(side: int) -> int:
    """Odd kernel of about 10% of the side, as SimCLR's: 23 at 224 px, 7 at 64 px. It reaches
    3 sigma at sigma 2 from 120 px; below, it cuts the widest blurs short, where MoCo v2's PIL
    blur (radius sigma) does not."""
    return (side // 10) // 2 * 2 + 1


def gaussian_blur(x: Tensor, sigma: Tensor, kernel_size: int | None = None) -> Tensor:
    """Blur (B,C,H,W) with per-sample sigma (B,) in pixels: separable, reflect padding.

    The 1-D kernel is torchvision's: taps at offsets i = -k//2 .. k//2 weighted
    exp(-i^2 / (2 sigma^2)) and normalised to sum 1.
    """
    B, C, H, W = x.shape
    k = kernel_size or blur_kernel_size(min(H, W))
    p = k // 2
    offsets = torch.linspace(-p, p, k, dtype=x.dtype, device=x.device) / math.sqrt(2.0)  # (k,)
    taps = torch.softmax(-(offsets / sigma.to(x.dtype).view(B, 1)) ** 2, dim=1)  # (B, k)
    taps = taps.repeat_interleave(C, dim=0)  # (B*C, k): one kernel per (sample, channel)
    y = F.pad(x, [p, p, p, p], mode="reflect").reshape(1, B * C, H + 2 * p, W + 2 * p)
    y = F.conv2d(y, taps.view(B * C, 1, 1, k), groups=B * C)  # (1, B*C, H+2p, W) rows
    y = F.conv2d(y, taps.view(B * C, 1, k, 1), groups=B * C)  # (1, B*C, H, W) columns
    return y.view(B, C, H, W)


# ---------------------------------------------------------------- views
def ssl_view(x_u8: Tensor, g: torch.Generator, cfg: ViewConfig, size: int | None = None,
             part: tuple[int, slice] | None = None) -> Tensor:
    """One view: (B,3,H,W) uint8 (or float in [0, 1]) -> (B,3,S,S) float in [0, 1], S=size or H.

    `part` = (n, rows): x holds only `rows` of a batch of n images (a torchrun rank's share);
    every draw is made for the whole batch, in the same order, and each row takes its own, so
    the rows come out as in the whole batch's view."""
    x = to_float(x_u8) if x_u8.dtype == torch.uint8 else x_u8
    _, _, H, W = x.shape
    B, rows = part if part is not None else (x.shape[0], slice(None))
    S = size or H
    box = sample_crop_boxes(B, H, W, g, cfg.crop_scale, cfg.crop_ratio)
    x = random_resized_crop(x, *(t[rows] for t in box), S)
    x = apply_jitter(x, *(t[rows] for t in jitter_params(B, g, cfg)))
    gray = (px.uniform(B, g, x.device) < cfg.grayscale_p)[rows]  # random_grayscale's draw
    x = torch.where(gray.view(-1, 1, 1, 1), px.gray(x).expand_as(x), x)
    if S >= cfg.blur_min_size:
        pick = (px.uniform(B, g, x.device) < cfg.blur_p)[rows]
        sigma = _rand((B,), g, *cfg.blur_sigma)[rows]
        x = torch.where(pick.view(-1, 1, 1, 1), gaussian_blur(x, sigma), x)
    return px.hflip(x, (px.uniform(B, g, x.device) < cfg.flip_p)[rows])


def two_views(
    x_u8: Tensor, g: torch.Generator, cfg: ViewConfig, size: int | None = None,
    part: tuple[int, slice] | None = None,
) -> tuple[Tensor, Tensor]:
    """Two independent views of the same images (the query and key of MoCo); `part` as in
    `ssl_view`."""
    x = to_float(x_u8) if x_u8.dtype == torch.uint8 else x_u8
    return ssl_view(x, g, cfg, size, part), ssl_view(x, g, cfg, size, part)
