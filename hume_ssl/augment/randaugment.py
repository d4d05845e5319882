"""FixMatch's weak and strong augmentations as batched tensor ops with per-sample random draws.

Images are float tensors (B, 3, H, W) in [0, 1] on any device; every random parameter is drawn
per sample from a `torch.Generator` on that device, so a step never leaves the device. Each op
matches its `torchvision.transforms.v2.functional` counterpart for the same parameters (see
tests/augment/test_randaugment.py); the geometric ops (rotate, shear, translate) share one batched
inverse-affine grid and one `grid_sample` per RandAugment slot.

weak   = random horizontal flip (p=0.5) + translate by up to 12.5% with reflect padding
strong = weak + RandAugment (2 ops per sample drawn from FIXMATCH_OPS, random magnitude each)
         + Cutout (a gray square of side 0.5 * width at a random centre)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.transforms.v2.functional import equalize as _tv_equalize

from hume_ssl.augment.pixels import (  # noqa: F401 (brightness, color, contrast: RandAugment ops)
    blend,
    brightness,
    color,
    contrast,
    gray,
    hflip,
    per_sample,
    uniform,
)

# FixMatch's RandAugment pool (Sohn et al. 2020, Table 12) with its magnitude ranges
FIXMATCH_OPS: dict[str, tuple[float, float]] = {
    "identity": (0.0, 0.0),
    "autocontrast": (0.0, 0.0),
    "brightness": (0.05, 0.95),  # blend factor with black
    "color": (0.05, 0.95),  # saturation factor (blend with grayscale)
    "contrast": (0.05, 0.95),  # blend factor with the mean gray level
    "equalize": (0.0, 0.0),
    "posterize": (4.0, 8.0),  # bits kept (each whole number equally likely: posterize_bits)
    "rotate": (-30.0, 30.0),  # degrees, counter-clockwise
    "sharpness": (0.05, 0.95),  # blend factor with a 3x3 smoothed image
    "shear_x": (-0.3, 0.3),  # shear coefficient (tan of the shear angle)
    "shear_y": (-0.3, 0.3),
    "solarize": (0.0, 1.0),  # threshold, image range [0, 1]
    "translate_x": (-0.3, 0.3),  # fraction of the width
    "translate_y": (-0.3, 0.3),  # fraction of the height
}
OP_NAMES = list(FIXMATCH_OPS)
GEOMETRIC = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
FILL = 0.5  # gray for pixels uncovered by geometric ops and for Cutout (PIL's (128,128,128))


# ---------------------------------------------------------------- pixel ops, (B,3,H,W) -> same
def autocontrast(x: torch.Tensor) -> torch.Tensor:
    lo = x.amin(dim=(-2, -1), keepdim=True)
    hi = x.amax(dim=(-2, -1), keepdim=True)
    flat = hi == lo
    scale = torch.where(flat, torch.ones_like(hi), 1.0 / (hi - lo).clamp_min(1e-12))
    lo = torch.where(flat, torch.zeros_like(lo), lo)
    return ((x - lo) * scale).clamp(0.0, 1.0)


def _to_u8(x: torch.Tensor) -> torch.Tensor:
    return x.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)


def equalize(x: torch.Tensor) -> torch.Tensor:
    return _tv_equalize(_to_u8(x)).to(x.dtype) / 255.0  # torchvision's kernel is batched already


def posterize(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    keep = bits.to(torch.int64).clamp(1, 8)
    mask = ((1 << keep) - 1) << (8 - keep)  # (B,) e.g. 4 bits -> 0b11110000
    return (_to_u8(x).to(torch.int64) & mask.view(-1, 1, 1, 1)).to(x.dtype) / 255.0


def sharpness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    a, b = 1.0 / 13.0, 5.0 / 13.0
    k = torch.tensor([[a, a, a], [a, b, a], [a, a, a]], dtype=x.dtype, device=x.device)
    blurred = F.conv2d(x, k.expand(x.shape[1], 1, 3, 3), groups=x.shape[1])  # (B,3,H-2,W-2)
    inner = x[..., 1:-1, 1:-1]
    f = per_sample(factor, x)
    out = x.clone()
    out[..., 1:-1, 1:-1] = inner + (1.0 - f) * (blurred - inner)  # border pixels stay as is
    return out.clamp(0.0, 1.0)


def solarize(x: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= per_sample(threshold, x), 1.0 - x, x)


# ---------------------------------------------------------------- geometric ops
def inverse_affine(angle, tx, ty, shear_x, shear_y, cx, cy) -> torch.Tensor:
    """Batched torchvision `_get_inverse_affine_matrix` (scale 1): (B,) tensors -> (B, 2, 3).

    Angles in degrees, translations in pixels, centre (cx, cy) in pixels relative to the image
    centre. The matrix maps output pixel coordinates to input coordinates.
    """
    rot, sx, sy = torch.deg2rad(angle), torch.deg2rad(shear_x), torch.deg2rad(shear_y)
    a = torch.cos(rot - sy) / torch.cos(sy)
    b = -torch.cos(rot - sy) * torch.tan(sx) / torch.cos(sy) - torch.sin(rot)
    c = torch.sin(rot - sy) / torch.cos(sy)
    d = -torch.sin(rot - sy) * torch.tan(sx) / torch.cos(sy) + torch.cos(rot)
    m0, m1, m3, m4 = d, -b, -c, a
    m2 = m0 * (-cx - tx) + m1 * (-cy - ty) + cx
    m5 = m3 * (-cx - tx) + m4 * (-cy - ty) + cy
    return torch.stack([m0, m1, m2, m3, m4, m5], dim=-1).view(-1, 2, 3)


def warp(x: torch.Tensor, theta: torch.Tensor, fill: float = FILL) -> torch.Tensor:
    """Nearest-neighbour warp of (B,C,H,W) by per-sample inverse matrices (B,2,3), gray fill."""
    B, C, H, W = x.shape
    dt = x.dtype
    xs = torch.linspace((1.0 - W) * 0.5, (W - 1.0) * 0.5, W, device=x.device, dtype=dt)
    ys = torch.linspace((1.0 - H) * 0.5, (H - 1.0) * 0.5, H, device=x.device, dtype=dt)
    base = torch.stack(
        [xs.expand(H, W), ys.view(H, 1).expand(H, W), torch.ones(H, W, device=x.device, dtype=dt)],
        dim=-1,
    ).view(1, H * W, 3)  # pixel centres, origin at centre
    scale = torch.tensor([0.5 * W, 0.5 * H], device=x.device, dtype=dt)
    grid = (base.expand(B, -1, -1) @ theta.to(dt).transpose(1, 2)) / scale  # (B, H*W, 2)
    with_mask = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
    out = F.grid_sample(
        with_mask, grid.view(B, H, W, 2), mode="nearest", padding_mode="zeros", align_corners=False
    )
    img, mask = out[:, :C], out[:, C:]
    return torch.where(mask < 0.5, torch.full_like(img, fill), img)


def geometric_theta(op: str, m: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """Inverse affine (B,2,3) of one geometric RandAugment op with per-sample magnitudes m."""
    z = torch.zeros_like(m)
    corner_x, corner_y = torch.full_like(m, -W * 0.5), torch.full_like(m, -H * 0.5)
    if op == "rotate":  # about the image centre, counter-clockwise like torchvision's rotate
        return inverse_affine(-m, z, z, z, z, z, z)
    if op == "shear_x":  # about the top-left corner, as PIL and torchvision's RandAugment
        return inverse_affine(z, z, z, torch.rad2deg(torch.atan(m)), z, corner_x, corner_y)
    if op == "shear_y":
        return inverse_affine(z, z, z, z, torch.rad2deg(torch.atan(m)), corner_x, corner_y)
    if op == "translate_x":  # whole pixels, as torchvision's RandAugment
        return inverse_affine(z, torch.trunc(m * W), z, z, z, z, z)
    if op == "translate_y":
        return inverse_affine(z, z, torch.trunc(m * H), z, z, z, z)
    raise ValueError(f"not a geometric op: {op}")


# ---------------------------------------------------------------- flips, crops, cutout
def reflect_translate(x: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Shift by integer (dx, dy) per sample with reflect padding = pad-and-crop at (p+dy, p+dx)."""
    B, C, H, W = x.shape

    def reflect(i: torch.Tensor, n: int) -> torch.Tensor:  # index reflection without edge repeat
        period = 2 * (n - 1)
        i = torch.remainder(i, period)
        return torch.where(i >= n, period - i, i)

    rows = reflect(torch.arange(H, device=x.device).view(1, H) + dy.view(B, 1), H)  # (B, H)
    cols = reflect(torch.arange(W, device=x.device).view(1, W) + dx.view(B, 1), W)  # (B, W)
    b = torch.arange(B, device=x.device).view(B, 1, 1)
    out = x.permute(0, 2, 3, 1)[b, rows.view(B, H, 1), cols.view(B, 1, W)]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def cutout(
    x: torch.Tensor, cy: torch.Tensor, cx: torch.Tensor, size: int, fill: float = FILL
) -> torch.Tensor:
    """Gray square of side `size` centred at (cy, cx) per sample, clipped at the borders."""
    B, C, H, W = x.shape
    y0, x0 = (cy - size // 2).view(B, 1, 1), (cx - size // 2).view(B, 1, 1)
    r = torch.arange(H, device=x.device).view(1, H, 1)
    c = torch.arange(W, device=x.device).view(1, 1, W)
    inside = (r >= y0) & (r < y0 + size) & (c >= x0) & (c < x0 + size)  # (B, H, W)
    return torch.where(inside.unsqueeze(1), torch.full_like(x, fill), x)


# ---------------------------------------------------------------- the two pipelines
def weak_augment(x: torch.Tensor, g: torch.Generator, translate: float = 0.125) -> torch.Tensor:
    """Flip (p=0.5) + reflect-padded random crop of up to `translate` * size pixels per side."""
    B, _, H, W = x.shape
    pad_y, pad_x = int(round(translate * H)), int(round(translate * W))
    flip = uniform(B, g, x.device) < 0.5
    dy = torch.randint(-pad_y, pad_y + 1, (B,), generator=g, device=x.device)
    dx = torch.randint(-pad_x, pad_x + 1, (B,), generator=g, device=x.device)
    return reflect_translate(hflip(x, flip), dx, dy)


def posterize_bits(m: torch.Tensor) -> torch.Tensor:
    """(B,) whole bits from magnitudes m (B,) drawn uniformly in FIXMATCH_OPS' posterize range
    [lo, hi]: each of lo..hi equally likely (rounding gave lo and hi half the others' share)."""
    lo, hi = FIXMATCH_OPS["posterize"]
    return torch.floor(lo + (m - lo) * (hi - lo + 1) / (hi - lo)).clamp(max=hi)


def apply_op(x: torch.Tensor, op: str, m: torch.Tensor) -> torch.Tensor:
    """One RandAugment op on the whole batch with per-sample magnitudes m (B,)."""
    if op == "identity":
        return x
    if op in GEOMETRIC:
        return warp(x, geometric_theta(op, m, x.shape[-2], x.shape[-1]))
    fn = {
        "autocontrast": lambda: autocontrast(x),
        "equalize": lambda: equalize(x),
        "brightness": lambda: brightness(x, m),
        "color": lambda: color(x, m),
        "contrast": lambda: contrast(x, m),
        "posterize": lambda: posterize(x, posterize_bits(m)),
        "sharpness": lambda: sharpness(x, m),
        "solarize": lambda: solarize(x, m),
    }
    return fn[op]()


def randaugment(x: torch.Tensor, g: torch.Generator, n_ops: int = 2) -> torch.Tensor:
    """`n_ops` slots; each sample draws its op and magnitude per slot (no host sync).

    Pixel ops run on the whole batch and are selected per sample with masks; the geometric ops
    of a slot are folded into one affine matrix per sample and one grid_sample.
    """
    B, _, H, W = x.shape
    eye = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], device=x.device).expand(B, 2, 3)
    geo_ids = torch.tensor([OP_NAMES.index(n) for n in GEOMETRIC], device=x.device)
    for _ in range(n_ops):
        op_id = torch.randint(0, len(OP_NAMES), (B,), generator=g, device=x.device)
        u = uniform(B, g, x.device)
        theta = eye.clone()
        out = x
        for i, name in enumerate(OP_NAMES):
            lo, hi = FIXMATCH_OPS[name]
            m = lo + (hi - lo) * u
            chosen = op_id == i
            if name in GEOMETRIC:
                theta = torch.where(chosen.view(B, 1, 1), geometric_theta(name, m, H, W), theta)
            elif name != "identity":
                out = torch.where(chosen.view(B, 1, 1, 1), apply_op(x, name, m), out)
        is_geo = torch.isin(op_id, geo_ids)
        x = torch.where(is_geo.view(B, 1, 1, 1), warp(x, theta), out)
    return x


def strong_augment(
    x: torch.Tensor, g: torch.Generator, n_ops: int = 2, cutout_frac: float = 0.5,
    translate: float = 0.125,
) -> torch.Tensor:
    """The strong view (B, 3, H, W): weak_augment (flip, shift up to `translate`), `n_ops`
    RandAugment slots, then a Cutout square of side cutout_frac x the shorter side."""
    x = randaugment(weak_augment(x, g, translate), g, n_ops)
    B, _, H, W = x.shape
    cy = torch.randint(0, H, (B,), generator=g, device=x.device)
    cx = torch.randint(0, W, (B,), generator=g, device=x.device)
    return cutout(x, cy, cx, max(1, int(cutout_frac * min(H, W))))
