"""The batched MoCo v2 view ops match torchvision.transforms.v2.functional per sample."""

import pytest
import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import RandomResizedCrop

import hume_ssl.augment.views as A

B, H, W = 8, 20, 24


@pytest.fixture(scope="module", autouse=True)
def one_thread():  # tiny tensors: intra-op threads only add contention on a shared machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def x():
    torch.manual_seed(0)
    img = torch.rand(B, 3, H, W)
    img[0, :, :4] = 0.5  # gray pixels (no hue, zero saturation)
    img[1, 0, :4], img[1, 1, :4] = 1.0, 1.0  # ties of the maximum between red and green
    return img


def _close(a, b, atol=1e-5):
    assert a.shape == b.shape
    torch.testing.assert_close(a, b, atol=atol, rtol=0)


def _boxes(*box):  # one box (top, left, h, w) for every sample: four (B,) float tensors
    return [torch.full((B,), float(v)) for v in box]


def _free_cfg(**kw):  # a view that only does what kw switches on: full-image crop, no flip
    base = dict(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0, jitter_p=0.0,
                grayscale_p=0.0, blur_p=0.0)
    return A.ViewConfig(**{**base, **kw})


def test_adjust_hue_matches_torchvision(x):
    factors = [-0.5, -0.3, -0.1, 0.0, 0.05, 0.25, 0.4, 0.5]
    got = A.adjust_hue(x, torch.tensor(factors))
    want = torch.stack([TF.adjust_hue(x[i], factors[i]) for i in range(B)])
    _close(got, want)


@pytest.mark.parametrize("k", [3, 7, 23])
def test_gaussian_blur_matches_torchvision(x, k):
    sigma = torch.tensor([0.1, 0.3, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0])
    got = A.gaussian_blur(x, sigma, kernel_size=k)
    want = torch.stack([TF.gaussian_blur(x[i], [k, k], [float(sigma[i])] * 2) for i in range(B)])
    _close(got, want)


def test_blur_kernel_size_is_ten_percent_odd():
    assert [A.blur_kernel_size(s) for s in (224, 96, 64, 32)] == [23, 9, 7, 3]
    x = torch.rand(2, 3, 64, 64)
    sigma = torch.tensor([1.0, 2.0])
    want = torch.stack([TF.gaussian_blur(x[i], [7, 7], [float(sigma[i])] * 2) for i in range(2)])
    _close(A.gaussian_blur(x, sigma), want)  # default kernel at 64 px: 7


# grid_sample's bilinear weights equal interpolate's for integer boxes; the sample positions
# pass through normalised [-1, 1] coordinates, which costs a few float32 ulps (~2e-6 seen), so
# 1e-5 is a tight bound that any off-by-half-pixel error (~1e-1 on random images) breaks.
@pytest.mark.parametrize(
    "box,size", [((2, 3, 10, 12), 24), ((0, 5, 7, 19), 31), ((1, 2, 15, 17), 8), ((0, 0, H, W), 37)]
)
def test_random_resized_crop_matches_torchvision(x, box, size):
    got = A.random_resized_crop(x, *_boxes(*box), size)
    want = TF.resized_crop(x, *box, [size, size], antialias=False)
    _close(got, want)


def test_random_resized_crop_invariants(x):
    _close(A.random_resized_crop(x[:, :, :, :H], *_boxes(0, 0, H, H), H), x[:, :, :, :H])
    top, left, h, w = 3, 2, 9, 13  # crop of the mirrored image = mirror of the mirrored box
    got = A.random_resized_crop(x.flip(-1), *_boxes(top, left, h, w), 16)
    want = A.random_resized_crop(x, *_boxes(top, W - left - w, h, w), 16).flip(-1)
    _close(got, want)
    boxes = [torch.tensor([0.0, 4.0]), torch.tensor([0.0, 6.0]), torch.tensor([H, 5.0]),
             torch.tensor([W, 7.0])]  # per-sample boxes in one call
    got = A.random_resized_crop(x[:2], *boxes, 12)
    _close(got[0], TF.resized_crop(x[0], 0, 0, H, W, [12, 12], antialias=False))
    _close(got[1], TF.resized_crop(x[1], 4, 6, 5, 7, [12, 12], antialias=False))


@pytest.mark.parametrize("hw", [(224, 224), (32, 64)])
def test_sample_crop_boxes_follow_random_resized_crop(hw):
    Hi, Wi = hw
    scale, ratio = (0.2, 1.0), (3 / 4, 4 / 3)
    g = torch.Generator().manual_seed(0)
    top, left, h, w = A.sample_crop_boxes(1000, Hi, Wi, g, scale, ratio)
    for t in (top, left, h, w):
        assert t.shape == (1000,) and torch.equal(t, t.round())
    assert (top >= 0).all() and (left >= 0).all() and (h >= 1).all() and (w >= 1).all()
    assert (top + h <= Hi).all() and (left + w <= Wi).all()
    # h and w are rounded from exact sizes: allow half a pixel each way on both
    lo_area, hi_area = (h - 0.5) * (w - 0.5) / (Hi * Wi), (h + 0.5) * (w + 0.5) / (Hi * Wi)
    assert (hi_area >= scale[0]).all() and (lo_area <= scale[1]).all()
    assert ((w + 0.5) / (h - 0.5) >= ratio[0]).all() and ((w - 0.5) / (h + 0.5) <= ratio[1]).all()
    # same distribution as torchvision's sampler (which rejects draws that do not fit)
    torch.manual_seed(0)
    tv = torch.tensor([RandomResizedCrop.get_params(torch.empty(1, Hi, Wi), scale, ratio)
                       for _ in range(1000)], dtype=torch.float32)  # (1000, 4) top, left, h, w
    for ours, theirs in ((h * w, tv[:, 2] * tv[:, 3]), (w / h, tv[:, 3] / tv[:, 2])):
        ours, theirs = ours / theirs.mean(), theirs / theirs.mean()
        assert abs(ours.mean() - 1) < 0.05 and abs(ours.std() - theirs.std()) < 0.05
    assert len(set(zip(top.tolist(), left.tolist()))) > 200  # offsets drawn per sample


def test_sample_crop_boxes_fall_back_to_central_crop():
    g = torch.Generator().manual_seed(0)
    top, left, h, w = A.sample_crop_boxes(5, 30, 60, g, scale=(2.0, 3.0), ratio=(3 / 4, 4 / 3))
    assert h.tolist() == [30.0] * 5 and w.tolist() == [40.0] * 5  # ratio clipped to 4/3
    assert top.tolist() == [0.0] * 5 and left.tolist() == [10.0] * 5


def test_color_jitter_with_zero_ranges_is_identity(x):
    cfg = _free_cfg(jitter_p=1.0, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
    _close(A.color_jitter(x, torch.Generator().manual_seed(0), cfg), x)


def test_color_jitter_matches_torchvision_in_the_drawn_order(x):
    cfg = _free_cfg(jitter_p=0.7)
    apply, factors, order = A.jitter_params(B, torch.Generator().manual_seed(2), cfg)
    ops = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)
    want = x.clone()
    for i in range(B):
        if apply[i]:
            for op in order[i].tolist():
                want[i] = ops[op](want[i], float(factors[i, op]))
    _close(A.apply_jitter(x, apply, factors, order), want)
    assert 0 < int(apply.sum()) < B and len({tuple(o) for o in order.tolist()}) > 2
    assert all(len(set(f)) == B for f in factors.T.tolist())  # factors drawn per sample
    lo = torch.tensor([0.6, 0.6, 0.6, -0.1])
    assert (factors >= lo).all() and (factors <= torch.tensor([1.4, 1.4, 1.4, 0.1])).all()
    g = torch.Generator().manual_seed(2)  # color_jitter draws the same parameters
    _close(A.color_jitter(x, g, cfg), want)


def test_random_grayscale(x):
    g = torch.Generator().manual_seed(0)
    _close(A.random_grayscale(x, g, 1.0), TF.rgb_to_grayscale(x, num_output_channels=3))
    assert torch.equal(A.random_grayscale(x, g, 0.0), x)
    out = A.random_grayscale(torch.rand(64, 3, 4, 4), g, 0.5)
    is_gray = (out[:, 0] == out[:, 1]).all(-1).all(-1) & (out[:, 1] == out[:, 2]).all(-1).all(-1)
    assert 10 < int(is_gray.sum()) < 54


def test_flip_probability_per_sample():
    imgs = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    x = imgs.float() / 255.0
    g = torch.Generator().manual_seed(0)
    _close(A.ssl_view(imgs, g, _free_cfg(flip_p=1.0)), x.flip(-1))
    out = A.ssl_view(imgs, g, _free_cfg(flip_p=0.5))
    flipped = (out - x.flip(-1)).flatten(1).abs().amax(1) < 1e-6
    kept = (out - x).flatten(1).abs().amax(1) < 1e-6
    assert (flipped ^ kept).all() and 16 < int(flipped.sum()) < 48


def _u8_copies(n=16, side=32):
    torch.manual_seed(3)
    return torch.randint(0, 256, (1, 3, side, side), dtype=torch.uint8).expand(n, -1, -1, -1)


@pytest.mark.parametrize("size", [None, 48])
def test_views_shape_range_and_per_sample_draws(size):
    imgs = _u8_copies()
    v1, v2 = A.two_views(imgs, torch.Generator().manual_seed(0), A.ViewConfig(), size)
    S = size or imgs.shape[-1]
    for v in (v1, v2):
        assert v.shape == (16, 3, S, S) and v.dtype == torch.float32
        assert v.min() >= 0 and v.max() <= 1
        distinct = {tuple(o.flatten()[::37].tolist()) for o in v}
        assert len(distinct) == 16, "copies of one image should get different views"
    assert ((v1 - v2).abs().flatten(1).amax(1) > 0.05).all(), "the two views should differ"


def test_views_are_deterministic_given_the_seed():
    imgs = _u8_copies(8)
    a = A.two_views(imgs, torch.Generator().manual_seed(5), A.ViewConfig(), 64)
    b = A.two_views(imgs, torch.Generator().manual_seed(5), A.ViewConfig(), 64)
    c = A.two_views(imgs, torch.Generator().manual_seed(6), A.ViewConfig(), 64)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_blur_is_skipped_below_blur_min_size():
    imgs = _u8_copies(4)
    x = imgs.float() / 255.0
    g = torch.Generator().manual_seed(0)
    _close(A.ssl_view(imgs, g, _free_cfg(blur_p=1.0, blur_min_size=33)), x)
    blurred = A.ssl_view(imgs, g, _free_cfg(blur_p=1.0, blur_min_size=32))

    def tv(img):  # total variation: blurring smooths
        return img.diff(dim=-1).abs().mean()

    assert tv(blurred) < 0.8 * tv(x)
    # the 7-tap kernel at 64 px: a blurred view equals gaussian_blur with some sigma in range
    big = torch.rand(1, 3, 64, 64).expand(4, -1, -1, -1)
    out = A.ssl_view(big, g, _free_cfg(blur_p=1.0, blur_sigma=(1.5, 1.5)))
    _close(out, A.gaussian_blur(big, torch.full((4,), 1.5), kernel_size=7))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_views_on_cuda_without_host_sync():
    imgs = _u8_copies(32, 64).cuda()
    g = torch.Generator(device="cuda").manual_seed(0)
    torch.cuda.set_sync_debug_mode("error")  # any device -> host copy raises
    try:
        v1, v2 = A.two_views(imgs, g, A.ViewConfig(), 96)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert v1.device.type == "cuda" and v1.shape == (32, 3, 96, 96)
    cpu = A.two_views(imgs.cpu(), torch.Generator().manual_seed(0), A.ViewConfig(), 96)
    assert cpu[0].shape == v1.shape


def test_a_ranks_share_of_the_views_is_the_whole_batchs_rows():
    """torchrun: a rank that holds rows r, r + 2, ... of a batch draws the whole batch's
    parameters and gets exactly the whole batch's views of its rows (and so does a 1-row
    share: per-sample draws, no batch-dependent op)."""
    x = torch.randint(0, 256, (8, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator()
                      .manual_seed(1))
    whole = A.two_views(x, torch.Generator().manual_seed(0), A.ViewConfig())
    for rows in (slice(0, 8, 2), slice(1, 8, 2), slice(5, 6)):
        part = A.two_views(x[rows], torch.Generator().manual_seed(0), A.ViewConfig(),
                           part=(8, rows))
        for w, p in zip(whole, part):
            assert torch.equal(p, w[rows])
