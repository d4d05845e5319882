"""Feature extraction: row order, the cache (reuse, invalidation, corruption, resume), CLI,
and a real pretrained space on the shared CIFAR-10 copy."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import hume_ssl.features.extract as F
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.data.datasets import load_dataset

SQ = "torchvision:squeezenet1_1"


class ReadIndex(nn.Module):
    """Reads back the index encoded in a constant image: (B, 3, S, S) normalised -> (B, 2)."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.calls = 0

    def forward(self, x):
        self.calls += x.shape[0]
        px = (x * self.std + self.mean)[:, :2].mean(dim=(2, 3)) * 255  # (B, 2) channel values
        return px.round()


@pytest.fixture
def tiny_model(monkeypatch):
    """Replace the backbone by ReadIndex; returns a dict with the last model built."""
    made = {}

    def fake_load(b, device="cpu", **k):
        m = ReadIndex(b.preprocessing.mean, b.preprocessing.std)
        made["model"] = m
        return m

    monkeypatch.setattr(F, "load_backbone", fake_load)
    return made


def _index_npz(path, n, size=6):
    i = np.arange(n)
    img = np.zeros((n, size, size, 3), np.uint8)
    img[..., 0] = (i % 256)[:, None, None]
    img[..., 1] = (i // 256)[:, None, None]
    np.savez(path, images=img, labels=i % 3)
    return f"npz:{path}"


def _ids(fs):
    f = np.asarray(fs.features)
    return (f[:, 0] + 256 * f[:, 1]).astype(int)


def test_row_order_with_two_workers(tmp_path, tiny_model):
    name = _index_npz(tmp_path / "d.npz", 300)
    fs = F.extract_features(name, "train", SQ, random_init=True, cache_dir=tmp_path / "c",
                            num_workers=2, batch_size=16, progress=False, input_size=16)
    assert fs.features.shape == (300, 2) and fs.meta["complete"]
    np.testing.assert_array_equal(_ids(fs), np.arange(300))
    assert fs.labels.tolist() == (np.arange(300) % 3).tolist()


def test_imagefolder_pil_path_two_workers(tmp_path, tiny_model):
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(40):  # varying sizes -> the per-image PIL path in the workers
        a = np.zeros((8 + i % 5, 10, 3), np.uint8)
        a[..., 0] = i
        Image.fromarray(a).save(root / f"{i:03d}.png")
    Image.fromarray(np.full((9, 9), 3, np.uint8)).save(root / "gray.png")
    fs = F.extract_features(f"imagefolder:{root}", "train", SQ, random_init=True,
                            cache_dir=tmp_path / "c", num_workers=2, batch_size=7,
                            progress=False, input_size=16)
    np.testing.assert_array_equal(np.asarray(fs.features)[:40, 0], np.arange(40))
    assert np.asarray(fs.features)[40, 0] == 3  # grayscale read as RGB
    assert fs.meta["preprocessing"]["resize_backend"] == "pil"


def test_cache_reused_and_invalidated(tmp_path, tiny_model, monkeypatch):
    name = _index_npz(tmp_path / "d.npz", 50)
    kw = dict(cache_dir=tmp_path / "c", num_workers=0, progress=False, input_size=16)
    fs = F.extract_features(name, "train", SQ, random_init=True, **kw)
    mtime = fs.path.stat().st_mtime_ns

    def boom(*a, **k):
        raise AssertionError("recomputed")

    monkeypatch.setattr(F, "load_backbone", boom)
    again = F.extract_features(name, "train", SQ, random_init=True, **kw)  # no recompute: boom
    assert again.path == fs.path and again.path.stat().st_mtime_ns == mtime
    # anything that changes the numbers changes the cache file
    with pytest.raises(AssertionError, match="recomputed"):  # preprocessing
        F.extract_features(name, "train", SQ, random_init=True, **{**kw, "input_size": 24})
    w = tmp_path / "w.pth"
    import torchvision

    torch.save(torchvision.models.squeezenet1_1().state_dict(), w)
    with pytest.raises(AssertionError, match="recomputed"):  # weights
        F.extract_features(name, "train", SQ, weights=str(w), **kw)
    np.savez(tmp_path / "d.npz", images=np.zeros((50, 6, 6, 3), np.uint8))
    with pytest.raises(AssertionError, match="recomputed"):  # dataset content / order
        F.extract_features(name, "train", SQ, random_init=True, **kw)


def test_corrupt_cache_is_recomputed(tmp_path, tiny_model):
    name = _index_npz(tmp_path / "d.npz", 40)
    kw = dict(cache_dir=tmp_path / "c", num_workers=0, progress=False, input_size=16)
    fs = F.extract_features(name, "train", SQ, random_init=True, **kw)
    path = fs.path
    del fs
    with open(path, "r+b") as f:  # truncate: shape no longer matches the sidecar
        f.truncate(path.stat().st_size - 8)
    with pytest.warns(UserWarning, match="recomputing"):
        fs = F.extract_features(name, "train", SQ, random_init=True, **kw)
    np.testing.assert_array_equal(_ids(fs), np.arange(40))
    side = path.with_suffix(".json")
    side.write_text("{not json")
    with pytest.warns(UserWarning, match="recomputing"):
        fs = F.extract_features(name, "train", SQ, random_init=True, **kw)
    assert tiny_model["model"].calls == 40


def _killed_at_30_of_100(tmp_path, monkeypatch) -> tuple[str, dict]:
    """An extraction of 100 images stopped (Ctrl-C) after 30 rows: (the dataset, its keywords)."""
    name = _index_npz(tmp_path / "d.npz", 100)
    kw = dict(cache_dir=tmp_path / "c", num_workers=0, progress=False, input_size=16,
              batch_size=10)
    monkeypatch.setattr(F, "CHECKPOINT_SECONDS", 0.0)

    def die(event, info):
        if info["done"] >= 30:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        F.extract_features(name, "train", SQ, random_init=True, callback=die, **kw)
    return name, kw


def test_killed_extraction_resumes(tmp_path, tiny_model, monkeypatch):
    name, kw = _killed_at_30_of_100(tmp_path, monkeypatch)
    fs = F.extract_features(name, "train", SQ, random_init=True, **kw)
    assert tiny_model["model"].calls == 70  # only the rows not yet written
    np.testing.assert_array_equal(_ids(fs), np.arange(100))
    assert not Path(str(fs.path).replace(".npy", ".written.npy")).exists()


def test_an_unfinished_cache_left_under_other_images_is_named(tmp_path, tiny_model,
                                                               monkeypatch):
    """Before: an extraction stopped (say at a truncated image, then removed) left its partial
    cache under the old images' key for good, without a word."""
    name, kw = _killed_at_30_of_100(tmp_path, monkeypatch)
    (old,) = [p for p in (tmp_path / "c").rglob("*.npy") if ".written" not in p.name]
    _index_npz(tmp_path / "d.npz", 99)  # the images changed: a new key, a new extraction
    with pytest.warns(UserWarning, match=rf"1 unfinished feature caches .*/{old.name}"):
        fs = F.extract_features(name, "train", SQ, random_init=True, **kw)
    assert Path(fs.path) != old and old.exists()  # named, not deleted


def test_an_unfinished_cache_is_refused_as_label_and_seed_input(tmp_path, tiny_model,
                                                               monkeypatch):
    """Before: the .npy of an interrupted extraction (unwritten rows all zeros, its sidecar
    "complete": false) went into `label --phi1` and `seed --phi1` without a word."""
    from typer.testing import CliRunner

    from hume_ssl.cli import app
    from hume_ssl.features.cache import load_feature_file

    name, kw = _killed_at_30_of_100(tmp_path, monkeypatch)
    (npy,) = [p for p in (tmp_path / "c").rglob("*.npy") if ".written" not in p.name]
    with pytest.raises(HumeSSLError, match=r"unfinished feature cache .*complete: false.*"
                                           r"hume-ssl features .* --backbone .*--random-init "
                                           r"--input-size 16"):
        load_feature_file(npy, "phi1")
    for cmd in (["label", "--k", "2"], ["seed", "--k", "2"]):
        res = CliRunner().invoke(app, [*cmd, "--phi1", str(npy), "--phi2", str(npy), "--out",
                                       str(tmp_path / cmd[0])])
        assert res.exit_code == 2 and "unfinished feature cache" in res.output, res.output
        assert not (tmp_path / cmd[0]).exists()
    fs = F.extract_features(name, "train", SQ, random_init=True, **kw)  # finished: accepted
    assert Path(fs.path) == npy and load_feature_file(npy, "phi1").shape[0] == 100


def test_an_edited_cache_or_one_of_replaced_images_is_refused_as_seed_input(tmp_path,
                                                                           tiny_model):
    """Before: `seed DATASET --phi1 F --phi2 F` took a cache file of `features` whose rows were
    edited after it was written, or whose images were replaced since (same names, other
    bytes), without a word, though `features` itself would have extracted them again."""
    from PIL import Image

    from hume_ssl.features.cache import load_feature_file
    from hume_ssl.seeds.inputs import resolve_spaces

    def draw(path, value):
        Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(path)

    for c in range(2):
        (tmp_path / "imgs" / f"c{c}").mkdir(parents=True)
        for i in range(6):
            draw(tmp_path / "imgs" / f"c{c}" / f"{i}.png", 40 * c + i)
    name = f"imagefolder:{tmp_path / 'imgs'}"
    kw = dict(cache_dir=tmp_path / "c", num_workers=0, progress=False, input_size=16)
    npy = Path(F.extract_features(name, "train", SQ, random_init=True, **kw).path)

    def spaces():
        return resolve_spaces(name, (SQ, SQ), npy, npy, {}, lambda m: None)

    assert spaces()[0].shape[0] == 12  # as `features` wrote it: accepted
    x = np.load(npy, mmap_mode="r+")  # one row of the file edited
    row = x[3].copy()
    x[3] += 1.0
    x.flush()
    with pytest.raises(HumeSSLError, match=r"do not match the checksum .* --force"):
        load_feature_file(npy, "phi1")
    x[3] = row  # the row back: accepted again
    x.flush()
    del x
    assert spaces()[0].shape[0] == 12
    draw(tmp_path / "imgs" / "c0" / "3.png", 200)  # the same 12 names, one image replaced
    with pytest.raises(HumeSSLError, match="as it was: its images changed since"):
        spaces()


def test_real_model_and_cli(tmp_path):
    from typer.testing import CliRunner

    from hume_ssl.cli import app

    torch.set_num_threads(1)
    name = _index_npz(tmp_path / "d.npz", 12, size=8)
    args = ["features", name, "--backbone", f"{SQ}:logits", "--random-init", "--cache-dir",
            str(tmp_path / "c"), "--device", "cpu", "--num-workers", "0", "--input-size", "32"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "N=12 images, d=1000 features" in res.output and "images/s" in res.output
    res = CliRunner().invoke(app, args)
    assert "cached" in res.output
    help_text = CliRunner().invoke(app, ["features", "--help"]).output
    assert "images/s" in help_text and "pixels" in help_text


def test_bad_device(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(HumeSSLError, match="CUDA is not available"):
        F.extract_features(_index_npz(tmp_path / "d.npz", 4), "train", SQ, random_init=True,
                           cache_dir=tmp_path, device="cuda", progress=False)


# --------------------------------------------------------------- real shared data
def _shared_data() -> Path:
    env = os.environ.get("HUME_SSL_SHARED")
    root = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared"
    data = root / "data" if (root / "data").is_dir() else root
    if not (data / "cifar10_train_jpeg.npz").is_file() or \
            not (data / "squeezenet1_1_imagenet.pth").is_file():
        pytest.skip(f"shared CIFAR-10 / SqueezeNet weights not found under {data}")
    return data


@pytest.mark.slow
def test_squeezenet_pretrained_space_beats_random(tmp_path):
    """Linear probe on 2,000 train / 1,000 test shared CIFAR-10 images at 128 px."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    data = _shared_data()
    torch.set_num_threads(1)
    name = f"npz:{data}/cifar10_{{split}}_jpeg.npz"
    rng = np.random.default_rng(0)
    sets = {s: load_dataset(name, s) for s in ("train", "test")}
    sub = {s: ds.subset(np.sort(rng.choice(len(ds), n, replace=False)))
           for (s, ds), n in zip(sets.items(), (2000, 1000))}
    acc = {}
    for tag, weights in (("pretrained", str(data / "squeezenet1_1_imagenet.pth")),
                         ("random", "random")):
        fs = {s: F.extract_features(ds, s, SQ, weights=weights, cache_dir=tmp_path,
                                    device="cpu", num_workers=1, progress=False,
                                    input_size=128) for s, ds in sub.items()}
        sc = StandardScaler().fit(fs["train"].features)
        clf = LogisticRegression(max_iter=2000, C=0.1).fit(
            sc.transform(fs["train"].features), fs["train"].labels)
        acc[tag] = clf.score(sc.transform(fs["test"].features), fs["test"].labels)
    print("linear probe accuracy", acc)
    assert acc["pretrained"] >= 0.60
    assert acc["pretrained"] >= acc["random"] + 0.15


def test_nan_rows_in_the_cache_are_extracted_again_and_force_ignores_the_cache(tmp_path,
                                                                                 tiny_model):
    name = _index_npz(tmp_path / "d.npz", 40)
    kw = dict(cache_dir=tmp_path / "c", num_workers=0, progress=False, input_size=16)
    fs = F.extract_features(name, "train", SQ, random_init=True, **kw)
    path = fs.path
    del fs
    poisoned = np.load(path, mmap_mode="r+")
    poisoned[3] = np.nan  # same shape and size: only the values are bad
    poisoned.flush()
    del poisoned
    with pytest.warns(UserWarning, match="NaN or inf rows"):
        fs = F.extract_features(name, "train", SQ, random_init=True, **kw)
    assert not fs.cached and np.isfinite(np.asarray(fs.features)).all()
    np.testing.assert_array_equal(_ids(fs), np.arange(40))
    assert F.extract_features(name, "train", SQ, random_init=True, **kw).cached
    assert not F.extract_features(name, "train", SQ, random_init=True, force=True, **kw).cached


def test_an_image_dataset_is_its_own_split(tmp_path):
    """Before: extract_features(ImageDataset of 'train', "test", ...) returned the train
    features, meta split 'train', without a word."""
    from hume_ssl.data.image_dataset import from_array

    ds = from_array("mine", "train", np.zeros((6, 8, 8, 3), np.uint8))
    with pytest.raises(HumeSSLError, match="split 'test': the ImageDataset given is mine's "
                       "'train' split"):
        F.extract_features(ds, "test", "pixels:8", cache_dir=tmp_path / "c", device="cpu")
    fs = F.extract_features(ds, backbone="pixels:8", cache_dir=tmp_path / "c", device="cpu")
    assert fs.meta["split"] == "train" and fs.features.shape[0] == 6


@pytest.mark.parametrize("interpolation, mean_levels", [("bicubic", 0.02), ("bilinear", 0.1)])
def test_the_device_resize_gives_the_host_resize_pil_s_pixels(interpolation, mean_levels):
    """Same-size images are resized on the device (preprocess_batch raw), others by PIL on the
    host (resize_crop): the model must see the same input either way. Before: one float pass,
    0.29 levels off on average and up to 8 levels at 32 -> 292 px bicubic."""
    from hume_ssl.data.images import resize_crop
    from hume_ssl.models.backbones import Preprocessing

    rng = np.random.default_rng(0)
    imgs = np.stack([np.asarray(Image.fromarray(b).resize((32, 32), Image.BILINEAR))
                     for b in rng.integers(0, 256, (8, 8, 8, 3)).astype(np.uint8)])
    pre = Preprocessing(260, 292, interpolation, (0.5,) * 3, (0.5,) * 3)
    raw = F.preprocess_batch(torch.from_numpy(imgs), pre, raw=True)  # (8, 3, 260, 260)
    host = np.stack([resize_crop(im, 292, 260, interpolation) for im in imgs])
    ref = F.preprocess_batch(torch.from_numpy(host), pre, raw=False)
    levels = (raw - ref).abs() * 0.5 * 255  # (x / 255 - 0.5) / 0.5: a level is 2 / 255
    assert raw.shape == ref.shape == (8, 3, 260, 260)
    assert float(levels.max()) <= 2.01 and float(levels.mean()) < mean_levels


def test_the_device_nearest_resize_gives_pil_s_pixels():
    from hume_ssl.data.images import resize_crop
    from hume_ssl.models.backbones import Preprocessing

    img = np.random.default_rng(0).integers(0, 256, (1, 375, 500, 3)).astype(np.uint8)
    pre = Preprocessing(224, 256, "nearest", (0.5,) * 3, (0.5,) * 3)
    raw = F.preprocess_batch(torch.from_numpy(img), pre, raw=True)
    host = resize_crop(img[0], 256, 224, "nearest")[None].copy()  # (1, 224, 224, 3)
    host = F.preprocess_batch(torch.from_numpy(host), pre, raw=False)
    assert torch.equal(raw, host)  # (before: torch's "nearest" sampled other pixels)


def test_the_longer_side_is_truncated_as_torchvision_resizes():
    """torchvision's Resize(256) on a 640 x 427 image gives 383 x 256 (int, not round: 384)."""
    from hume_ssl.data.images import resize_crop, resized_size

    assert resized_size(427, 640, 256) == (256, 383)
    assert resized_size(640, 427, 256) == (383, 256)
    assert resized_size(32, 32, 292) == (292, 292)
    from torchvision import transforms as T

    img = np.random.default_rng(0).integers(0, 256, (427, 640, 3)).astype(np.uint8)
    tv = T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BILINEAR),
                    T.CenterCrop(224)])(Image.fromarray(img))
    assert np.array_equal(resize_crop(img, 256, 224, "bilinear"), np.asarray(tv))


def test_lite2_features_are_those_of_timm_s_own_transform(tmp_path):
    """`features` on real EfficientNet-Lite2 weights at --input-size 224 (CIFAR-10 images of
    one size: the device resize) gives the features of timm's create_transform on the same
    images. Before: resize 252, not 251, and one float resize pass (the shared
    effnet_lite2_224px_train10k.npy, extracted by that pipeline, has median cosine 0.989 to the
    reference on these rows)."""
    timm = pytest.importorskip("timm")
    from timm.data import create_transform, resolve_data_config

    data = _shared_data()
    if not (data / "tf_efficientnet_lite2_in1k.pth").is_file():
        pytest.skip(f"no tf_efficientnet_lite2_in1k.pth under {data}")
    torch.set_num_threads(1)
    ds = load_dataset(f"npz:{data}/cifar10_{{split}}_jpeg.npz", "train")
    rows = np.load(data / "cifar10_features" / "train10k_idx.npy")[:16]
    spec = f"timm:tf_efficientnet_lite2@{data}/tf_efficientnet_lite2_in1k.pth"
    sub = ds.subset(rows)
    ours = F.extract_features(sub, "train", spec, cache_dir=tmp_path, device="cpu",
                              num_workers=0, progress=False, input_size=224).features
    model = timm.create_model("tf_efficientnet_lite2")  # with its head, as the file holds it
    model.load_state_dict(torch.load(data / "tf_efficientnet_lite2_in1k.pth"))
    model.reset_classifier(0)  # (B, 1280) pooled features
    tf = create_transform(**resolve_data_config({"input_size": (3, 224, 224)}, model=model))
    with torch.no_grad():
        ref = model.eval()(torch.stack([tf(Image.fromarray(im)) for im in sub.images_uint8()]))
    ref = ref.numpy()
    cos = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    old = np.load(data / "cifar10_features" / "effnet_lite2_224px_train10k.npy")[:16]
    old = old.astype(np.float32)
    was = (old * ref).sum(1) / np.linalg.norm(old, axis=1) / np.linalg.norm(ref, axis=1)
    print(f"cosine to timm's transform: ours min {cos.min():.4f}; the shared file (extracted "
          f"before) median {np.median(was):.4f}, min {was.min():.4f}")
    assert cos.min() > 0.9999
