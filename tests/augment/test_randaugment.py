"""Each batched augmentation op matches torchvision.transforms.v2.functional per sample."""

import math

import pytest
import torch
import torchvision.transforms.v2.functional as TF

import hume_ssl.augment.randaugment as A

B, H, W = 6, 16, 16


@pytest.fixture(scope="module")
def imgs():
    torch.manual_seed(0)
    u8 = torch.randint(0, 256, (B, 3, H, W), dtype=torch.uint8)
    u8[0] = u8[0] // 2 + 40  # a low-contrast image for autocontrast / equalize
    return u8, u8.float() / 255.0


def _close(a, b, atol=1e-5):
    assert a.shape == b.shape
    torch.testing.assert_close(a, b, atol=atol, rtol=0)


@pytest.mark.parametrize(
    "name,ours,theirs,mags",
    [
        ("brightness", A.brightness, TF.adjust_brightness, [0.05, 0.3, 0.5, 0.7, 0.9, 0.95]),
        ("color", A.color, TF.adjust_saturation, [0.05, 0.3, 0.5, 0.7, 0.9, 0.95]),
        ("contrast", A.contrast, TF.adjust_contrast, [0.05, 0.3, 0.5, 0.7, 0.9, 0.95]),
        ("sharpness", A.sharpness, TF.adjust_sharpness, [0.05, 0.3, 0.5, 0.7, 0.9, 0.95]),
        ("solarize", A.solarize, TF.solarize, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    ],
)
def test_pixel_ops_match_torchvision(imgs, name, ours, theirs, mags):
    _, x = imgs
    got = ours(x, torch.tensor(mags))
    want = torch.stack([theirs(x[i], mags[i]) for i in range(B)])
    _close(got, want)


def test_autocontrast_equalize_posterize_match_torchvision(imgs):
    u8, x = imgs
    _close(A.autocontrast(x), TF.autocontrast(x))
    _close(A.equalize(x), TF.equalize(u8).float() / 255.0)
    bits = [4, 5, 6, 7, 8, 4]
    want = torch.stack([TF.posterize(u8[i], bits[i]) for i in range(B)]).float() / 255.0
    _close(A.posterize(x, torch.tensor(bits, dtype=torch.float32)), want)


def _tv_geometric(img, op, m):
    fill = [A.FILL] * 3
    if op == "rotate":
        return TF.rotate(img, m, fill=fill)
    if op == "shear_x":
        return TF.affine(img, 0.0, [0, 0], 1.0, [math.degrees(math.atan(m)), 0.0], fill=fill,
                         center=[0, 0])
    if op == "shear_y":
        return TF.affine(img, 0.0, [0, 0], 1.0, [0.0, math.degrees(math.atan(m))], fill=fill,
                         center=[0, 0])
    if op == "translate_x":
        return TF.affine(img, 0.0, [int(m * W), 0], 1.0, [0.0, 0.0], fill=fill)
    return TF.affine(img, 0.0, [0, int(m * H)], 1.0, [0.0, 0.0], fill=fill)


@pytest.mark.parametrize("op", A.GEOMETRIC)
def test_geometric_ops_match_torchvision(imgs, op):
    _, x = imgs
    lo, hi = A.FIXMATCH_OPS[op]
    mags = torch.linspace(lo, hi, B)
    got = A.apply_op(x, op, mags)
    want = torch.stack([_tv_geometric(x[i], op, float(mags[i])) for i in range(B)])
    # nearest-neighbour sampling may round a pixel centre lying exactly on a boundary differently
    mismatch = (got - want).abs().amax(1) > 1e-5
    assert mismatch.float().mean() < 0.01, f"{op}: {mismatch.float().mean():.3%} pixels differ"


def test_weak_translate_is_reflect_pad_and_crop(imgs):
    _, x = imgs
    dx, dy = torch.tensor([-2, -1, 0, 1, 2, 2]), torch.tensor([2, 0, -2, 1, -1, 0])
    got = A.reflect_translate(x, dx, dy)
    p = 2
    padded = TF.pad(x, [p, p, p, p], padding_mode="reflect")
    want = torch.stack([padded[i, :, p + dy[i]: p + dy[i] + H, p + dx[i]: p + dx[i] + W]
                        for i in range(B)])
    _close(got, want)
    flip = torch.tensor([True, False] * 3)
    want = torch.stack([TF.horizontal_flip(x[i]) if flip[i] else x[i] for i in range(B)])
    _close(A.hflip(x, flip), want)


def test_cutout_square():
    x = torch.zeros(2, 3, 8, 8)
    out = A.cutout(x, torch.tensor([4, 0]), torch.tensor([4, 0]), 4)
    assert (out[0, :, 2:6, 2:6] == A.FILL).all() and out[0].eq(A.FILL).sum() == 3 * 16
    assert out[1].eq(A.FILL).sum() == 3 * 4  # clipped at the corner


def test_random_draws_differ_per_sample_and_follow_generator():
    x = torch.rand(1, 3, 16, 16).expand(16, 3, 16, 16).contiguous()
    g = torch.Generator().manual_seed(0)
    w, s = A.weak_augment(x, g), A.strong_augment(x, g)
    for out in (w, s):
        distinct = {tuple(o.flatten()[::7].tolist()) for o in out}
        assert len(distinct) > 8, "identical inputs should get different augmentations"
        assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    g2 = torch.Generator().manual_seed(0)
    torch.testing.assert_close(A.weak_augment(x, g2), w)
    torch.testing.assert_close(A.strong_augment(x, g2), s)


def test_randaugment_selects_ops_per_sample():
    """With one op slot, each sample equals one of the ops applied at its own magnitude."""
    torch.manual_seed(1)
    x = torch.rand(32, 3, 16, 16)
    g = torch.Generator().manual_seed(3)
    out = A.randaugment(x, g, n_ops=1)
    g = torch.Generator().manual_seed(3)
    op_id = torch.randint(0, len(A.OP_NAMES), (32,), generator=g)
    u = torch.rand(32, generator=g)
    for i in range(32):
        name = A.OP_NAMES[int(op_id[i])]
        lo, hi = A.FIXMATCH_OPS[name]
        want = A.apply_op(x[i: i + 1], name, (lo + (hi - lo) * u[i: i + 1]))
        _close(out[i: i + 1], want)
    assert len(set(op_id.tolist())) > 5


def test_posterize_draws_each_bit_count_equally():
    """The paper's B in [4, 8]: before, rounding a uniform magnitude gave 4 and 8 bits half the
    share of 5, 6 and 7 (1/8 against 1/4)."""
    lo, hi = A.FIXMATCH_OPS["posterize"]
    m = lo + (hi - lo) * (torch.arange(10_000, dtype=torch.float32) + 0.5) / 10_000
    counts = torch.bincount(A.posterize_bits(m).long(), minlength=9)[4:]
    assert counts.tolist() == [2000] * 5


def test_strong_view_shifts_by_the_configured_translate():
    """Before: strong_augment's weak step used the default shift (0.125) whatever the trainer's
    `translate`; with translate 0, no op slot and a 1-pixel cutout the strong view is the image,
    flipped or not, but for one pixel."""
    x = torch.rand(8, 3, 16, 16)
    s = A.strong_augment(x, torch.Generator().manual_seed(0), n_ops=0, cutout_frac=0.0,
                         translate=0.0)
    for i in range(len(x)):
        off = min((s[i] != v).any(0).sum() for v in (x[i], x[i].flip(-1)))
        assert off <= 1, off
    s = A.strong_augment(x, torch.Generator().manual_seed(0), n_ops=0, cutout_frac=0.0)
    assert max(min((s[i] != v).any(0).sum() for v in (x[i], x[i].flip(-1)))
               for i in range(len(x))) > 1  # the default shift moves some image
