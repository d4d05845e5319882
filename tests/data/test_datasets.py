"""Dataset registry: names, splits, image folders, npz layouts, bad inputs."""

import io

import numpy as np
import pytest
from PIL import Image

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.data.datasets import load_dataset, load_images_uint8
from hume_ssl.data.image_dataset import from_array
from hume_ssl.data.rgb import to_rgb_uint8


def _save(path, arr, fmt="PNG"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt)


def test_unknown_dataset_suggests_closest():
    with pytest.raises(HumeSSLError, match="Did you mean 'cifar10'") as e:
        load_dataset("cifar1O")
    assert "imagefolder:PATH" in str(e.value)


def test_the_registry_is_one_name_to_loader_table(monkeypatch):
    from hume_ssl.data import datasets as D

    assert all(callable(e.load) and e.description for e in D.DATASETS.values())
    calls = []

    def toy(name, split, root, strict):
        calls.append((name, split, strict))
        return [from_array(name, s, np.full((2 + i, 4, 4, 3), i, np.uint8))
                for i, s in enumerate(split.split("+"))]

    monkeypatch.setitem(D.DATASETS, "toy", D.DatasetEntry(toy, "two, then three, images"))
    ds = load_dataset("toy", "train+test", strict=True)
    assert calls == [("toy", "train+test", True)] and "toy" in D.dataset_names()
    assert len(ds) == 5 and ds.split == "train+test" and ds[4].max() == 1


def test_unknown_split():
    with pytest.raises(HumeSSLError, match="Did you mean 'train'"):
        load_dataset("cifar10", "trian")


def test_imagefolder_classes_gray_rgba_and_skips(tmp_path):
    rng = np.random.default_rng(0)
    _save(tmp_path / "cat" / "a.png", rng.integers(0, 255, (8, 8), dtype=np.uint8))  # gray
    _save(tmp_path / "cat" / "b.png", rng.integers(0, 255, (8, 8, 4), dtype=np.uint8))  # RGBA
    _save(tmp_path / "dog" / "c.jpg", rng.integers(0, 255, (10, 6, 3), dtype=np.uint8), "JPEG")
    (tmp_path / "dog" / "broken.jpg").write_bytes(b"not an image")
    (tmp_path / "dog" / "empty.png").write_bytes(b"")
    (tmp_path / "dog" / "notes.txt").write_text("ignored")
    ds = load_dataset(f"imagefolder:{tmp_path}")
    assert len(ds) == 3 and ds.class_names == ["cat", "dog"]
    assert ds.labels.tolist() == [0, 0, 1]
    assert ds.info["skipped"] == 2 and ds.info["ignored_non_image"] == 1
    for i in range(3):
        assert ds[i].dtype == np.uint8 and ds[i].ndim == 3 and ds[i].shape[2] == 3
    assert ds.image_size is None
    with pytest.raises(HumeSSLError, match="unreadable image .*broken.jpg"):
        load_dataset(f"imagefolder:{tmp_path}", strict=True)


def test_imagefolder_flat_unlabeled_and_empty(tmp_path):
    _save(tmp_path / "x.png", np.zeros((4, 4, 3), np.uint8))
    ds = load_dataset(f"imagefolder:{tmp_path}")
    assert len(ds) == 1 and ds.labels is None and ds.class_names is None
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HumeSSLError, match="no readable images"):
        load_dataset(f"imagefolder:{empty}")
    with pytest.raises(HumeSSLError, match="single split, 'train', not 'test': pass --split "
                       "train"):  # before: "ask for split 'train'", naming no option
        load_dataset(f"imagefolder:{tmp_path}", "test")
    with pytest.raises(HumeSSLError, match="folder not found: .*nope"):  # before: "single split"
        load_dataset(f"imagefolder:{tmp_path / 'nope'}", "test")


def test_npz_images_split_placeholder_and_train_plus_test(tmp_path):
    tr = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4)  # gray N x H x W
    te = np.full((2, 4, 4, 3), 7, np.uint8)
    np.savez(tmp_path / "d_train.npz", images=tr, labels=np.arange(5))
    np.savez(tmp_path / "d_test.npz", images=te, labels=np.array([1, 2]))
    name = f"npz:{tmp_path}/d_{{split}}.npz"
    ds = load_dataset(name, "train+test")
    assert len(ds) == 7 and ds.labels.tolist() == [0, 1, 2, 3, 4, 1, 2]
    assert ds[0].shape == (4, 4, 3) and (ds[0][..., 0] == tr[0]).all()
    assert (ds[6] == 7).all()
    assert load_images_uint8(name, "test").shape == (2, 4, 4, 3)
    assert load_dataset(name, "train").order_hash != load_dataset(name, "test").order_hash


def _jpeg_npz(path, images, labels):
    blobs = []
    for im in images:
        b = io.BytesIO()
        Image.fromarray(im).save(b, format="JPEG", quality=95)
        blobs.append(np.frombuffer(b.getvalue(), np.uint8))
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    names = np.array([f"train/c/{i:04d}.jpg".encode() for i in range(len(images))])
    np.savez(path, jpeg_bytes=np.concatenate(blobs), offsets=offsets,
             labels=np.asarray(labels, np.int64), names=names,
             classes=np.array([b"zero", b"one"]))


def test_npz_jpeg_layout(tmp_path):
    imgs = [np.full((6, 6, 3), v, np.uint8) for v in (10, 120, 240)]
    _jpeg_npz(tmp_path / "j.npz", imgs, [0, 1, 1])
    ds = load_dataset(f"npz:{tmp_path}/j.npz")
    assert len(ds) == 3 and ds.class_names == ["zero", "one"] and ds.labels.tolist() == [0, 1, 1]
    assert ds.sample_ids[1] == "train/c/0001.jpg" and ds.image_size == (6, 6)
    for i, v in enumerate((10, 120, 240)):
        assert abs(int(ds[i].mean()) - v) <= 3
    with pytest.raises(HumeSSLError, match="expected `images`"):
        np.savez(tmp_path / "bad.npz", pixels=np.zeros(3))
        load_dataset(f"npz:{tmp_path}/bad.npz")


def test_rgb_conversion():
    assert to_rgb_uint8(np.zeros((3, 3), np.uint8)).shape == (3, 3, 3)
    rgba = np.full((2, 2, 4), 200, np.uint8)
    rgba[..., 3] = 0
    assert (to_rgb_uint8(rgba) == 0).all()


def test_missing_dataset_offline_message(tmp_path, monkeypatch):
    import socket

    import torchvision.datasets as tvd

    from hume_ssl.core.network import STALL_TIMEOUT_S

    def offline(*a, **k):  # torchvision's urlopen has no timeout: ours is set around it
        assert socket.getdefaulttimeout() == STALL_TIMEOUT_S
        raise OSError("Name or service not known")

    monkeypatch.setattr(tvd, "CIFAR10", offline)
    with pytest.raises(HumeSSLError, match="cifar-10-batches-py.*data_batch_1") as e:
        load_dataset("cifar10", "train", data_root=tmp_path)
    assert str(tmp_path) in str(e.value)


def test_fashion_mnist_idx_files(tmp_path):
    import gzip
    import struct

    d = tmp_path / "fashion-mnist"
    d.mkdir()
    x = np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28)
    with gzip.open(d / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">HBB3I", 0, 8, 3, 3, 28, 28) + x.tobytes())
    with gzip.open(d / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">HBBI", 0, 8, 1, 3) + bytes([4, 5, 6]))
    ds = load_dataset("fashion-mnist", "test", data_root=tmp_path)
    assert len(ds) == 3 and ds.labels.tolist() == [4, 5, 6]
    assert ds[2].shape == (28, 28, 3) and (ds[2][..., 1] == x[2]).all()


def test_digits_ships_offline_with_a_fixed_disjoint_split():
    from sklearn.datasets import load_digits

    d = load_digits()
    tr, te = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert (len(tr), len(te)) == (1297, 500) and tr.image_size == (8, 8)
    rows = {s: np.asarray(ds.info["original_index"]) for s, ds in (("train", tr), ("test", te))}
    assert not set(rows["train"]) & set(rows["test"])
    assert sorted(np.concatenate(list(rows.values())).tolist()) == list(range(1797))
    # grey 0..16 -> uint8 round(v * 255 / 16), as RGB; labels are sklearn's, kept for metrics
    img = te[3]
    assert img.shape == (8, 8, 3) and (img[..., 0] == img[..., 2]).all()
    expected = np.round(d.images[rows["test"][3]] * 255 / 16).astype(np.uint8)
    assert (img[..., 0] == expected).all() and img.max() == 255
    assert te.labels.tolist() == d.target[rows["test"]].tolist()
    assert len(tr.class_names) == 10
    # the split never changes: the test rows are pinned (a new seed or size would move them)
    assert rows["test"][:5].tolist() == [0, 1, 3, 4, 6]
    assert load_dataset("digits", "train").order_hash == tr.order_hash


def test_npz_labels_must_be_class_ids_and_all_minus_one_means_unlabeled(tmp_path):
    """Before: string labels gave `ValueError: invalid literal for int()` (a traceback), and
    labels all -1 (a common "unlabeled" marker) made `seed` refuse the data as mislabeled."""
    images = np.zeros((3, 4, 4, 3), np.uint8)
    np.savez(tmp_path / "s.npz", images=images, labels=np.array(["cat", "dog", "cat"]))
    with pytest.raises(HumeSSLError, match="labels` holds <U3 values.*class names go in "):
        load_dataset(f"npz:{tmp_path}/s.npz", "train")
    np.savez(tmp_path / "f.npz", images=images, labels=np.array([0.0, 1.5, 1.0]))
    with pytest.raises(HumeSSLError, match="whole-number class id"):
        load_dataset(f"npz:{tmp_path}/f.npz", "train")
    np.savez(tmp_path / "u.npz", images=images, labels=np.full(3, -1))
    assert load_dataset(f"npz:{tmp_path}/u.npz", "train").labels is None
    np.savez(tmp_path / "w.npz", images=images, labels=np.array([0.0, 1.0, 1.0]))
    assert load_dataset(f"npz:{tmp_path}/w.npz", "train").labels.tolist() == [0, 1, 1]


def test_npz_labels_partly_minus_one_are_refused_when_the_split_loads(tmp_path):
    """Before: a test split labeled on some rows (-1 elsewhere) gave train-fixmatch a wrong
    test ACC (a -1 counted as the last class), a traceback in predict, and a refusal in seed
    only after both feature extractions."""
    images = np.zeros((4, 4, 4, 3), np.uint8)
    np.savez(tmp_path / "p_test.npz", images=images, labels=np.array([0, -1, 1, -1]))
    with pytest.raises(HumeSSLError, match=r"holds 2 negative labels of 4 \(e.g. -1 at image "
                                           r"1\).*labeled throughout or not at all"):
        load_dataset(f"npz:{tmp_path}/p_{{split}}.npz", "test")


def test_an_imagefolder_of_one_image_size_loads_as_one_array(tmp_path):
    """Before: a folder's images were never of one size to the registry (`image_size` None), so
    train-fixmatch and predict refused every image folder ("images differ in size") and
    pretrain asked for --image-size on 8 x 8 PNGs."""
    from hume_ssl.data.images import load_split, load_square

    rng = np.random.default_rng(0)
    for i in range(3):
        _save(tmp_path / "train" / ("cat" if i < 2 else "dog") / f"{i}.png",
              rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    _save(tmp_path / "test" / "cat" / "t.png", np.zeros((8, 8, 3), np.uint8))
    ds = load_dataset(f"imagefolder:{tmp_path}", "train")
    assert ds.image_size == (8, 8) and "image_size" not in ds.info
    arr = ds.images_uint8()
    assert arr.shape == (3, 8, 8, 3) and (arr[2] == ds[2]).all()
    split = load_split(f"imagefolder:{tmp_path}", "train")  # what train-fixmatch reads
    assert split.images.shape == (3, 8, 8, 3) and split.labels.tolist() == [0, 0, 1]
    assert load_square(f"imagefolder:{tmp_path}", "test")[0].shape == (1, 8, 8, 3)  # pretrain
    _save(tmp_path / "train" / "dog" / "wide.png", np.zeros((8, 12, 3), np.uint8))
    assert load_dataset(f"imagefolder:{tmp_path}", "train").image_size is None  # mixed sizes


def test_16_bit_and_float_images_are_stretched_not_clipped(tmp_path):
    """Before: PIL's convert("RGB") clipped I;16 / I / F images, so a 12-bit microscopy PNG
    (1000..4200) loaded all white and a float image in [0, 1] as 0s and 1s."""
    ramp = np.linspace(1000, 4200, 64 * 64).reshape(64, 64).astype(np.uint16)  # 12-bit values
    Image.fromarray(ramp).save(tmp_path / "cell.png")  # mode I;16
    ds = load_dataset(f"imagefolder:{tmp_path}")
    img = ds[0]  # (64, 64, 3) uint8
    assert img.min() == 0 and img.max() == 255 and len(np.unique(img)) > 200
    assert (img[..., 0] == img[..., 2]).all() and img[0, 0, 0] < img[-1, -1, 0]
    f = Image.fromarray(np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32))  # mode F
    assert f.mode == "F" and len(np.unique(to_rgb_uint8(f))) > 200
    big = Image.frombytes("I;16B", (2, 1), np.array([[1000, 4200]], ">u2").tobytes())
    assert to_rgb_uint8(big)[0, :, 0].tolist() == [0, 255]
    assert to_rgb_uint8(np.array([[0.5, 1.0], [2.0, 0.5]])).tolist()[1][0] == [255] * 3
    assert (to_rgb_uint8(np.full((3, 3), 4000, np.uint16)) == 0).all()  # constant -> 0


def test_8_bit_images_are_unchanged_by_the_high_depth_path():
    rng = np.random.default_rng(0)
    for arr in (rng.integers(0, 256, (5, 7), dtype=np.uint8),
                rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)):
        expected = np.asarray(Image.fromarray(arr).convert("RGB"))
        assert (to_rgb_uint8(Image.fromarray(arr)) == expected).all()
        assert (to_rgb_uint8(arr) == expected).all()


def test_class_ids_are_shared_by_train_and_test_when_test_lacks_a_class(tmp_path):
    """Before: test/ without c3 gave its c4 the id 3, which is train's c3."""
    for split, names in (("train", ["c1", "c2", "c3", "c4"]), ("test", ["c1", "c2", "c4"])):
        for c in names:
            _save(tmp_path / split / c / f"{split}.png", np.zeros((4, 4, 3), np.uint8))
    train = load_dataset(f"imagefolder:{tmp_path}", "train")
    test = load_dataset(f"imagefolder:{tmp_path}", "test")
    both = load_dataset(f"imagefolder:{tmp_path}", "train+test")
    assert train.class_names == test.class_names == both.class_names == ["c1", "c2", "c3", "c4"]
    assert train.labels.tolist() == [0, 1, 2, 3] and test.labels.tolist() == [0, 1, 3]
    by_name = {(ident.split("/")[0], int(y)) for ident, y in zip(both.sample_ids, both.labels)}
    assert by_name == {("c1", 0), ("c2", 1), ("c3", 2), ("c4", 3)}
    placeholder = load_dataset(f"imagefolder:{tmp_path}/{{split}}", "test")  # same by `{split}`
    assert placeholder.labels.tolist() == [0, 1, 3] and len(placeholder.class_names) == 4


def test_a_class_only_in_test_is_named_when_the_splits_load(tmp_path):
    for split, names in (("train", ["c1", "c2"]), ("test", ["c1", "c2", "c9"])):
        for c in names:
            _save(tmp_path / split / c / f"{split}.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.warns(UserWarning, match="class folders only in test/: c9"):
        train = load_dataset(f"imagefolder:{tmp_path}", "train")
    assert train.class_names == ["c1", "c2", "c9"]


def test_empty_and_hidden_folders_are_not_classes(tmp_path):
    _save(tmp_path / "cat" / "a.png", np.zeros((4, 4, 3), np.uint8))
    _save(tmp_path / "dog" / "b.png", np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / ".DS_Store").write_bytes(b"\0")
    _save(tmp_path / "__MACOSX" / "cat" / "._a.png", np.zeros((4, 4, 3), np.uint8))
    _save(tmp_path / ".thumbs" / "a.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.warns(UserWarning, match="no image file are not classes: empty, junk"):
        ds = load_dataset(f"imagefolder:{tmp_path}")
    assert ds.class_names == ["cat", "dog"] and ds.labels.tolist() == [0, 1]
    assert ds.info["empty_folders"] == ["empty", "junk"]


def test_an_image_beside_class_folders_is_an_error_naming_it(tmp_path):
    """Before: one stray image made the whole folder unlabeled, silently."""
    _save(tmp_path / "cat" / "a.png", np.zeros((4, 4, 3), np.uint8))
    _save(tmp_path / "dog" / "b.png", np.zeros((4, 4, 3), np.uint8))
    _save(tmp_path / "stray.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(HumeSSLError, match="image file.* beside the class folders \\(stray.png\\)"
                                           "; move them into a class folder or remove them"):
        load_dataset(f"imagefolder:{tmp_path}")


def test_a_folder_wrapping_the_class_folders_names_the_inner_folder(tmp_path):
    """Before: wrap/images/<classes> read as one class, "images", and failed later on --k 1."""
    for c in ("cat", "dog"):
        _save(tmp_path / "images" / c / "a.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(HumeSSLError, match=f"pass imagefolder:{tmp_path / 'images'} instead"):
        load_dataset(f"imagefolder:{tmp_path}")
    assert load_dataset(f"imagefolder:{tmp_path / 'images'}").class_names == ["cat", "dog"]


def test_a_dataset_object_where_a_name_is_needed_is_one_clear_error(tmp_path):
    """Before: seed_run, pretrain_run, train_fixmatch_run and predict_run given an ImageDataset
    failed with AttributeError: 'ImageDataset' object has no attribute 'partition'."""
    from hume_ssl.pretrain.config import PretrainConfig
    from hume_ssl.pretrain.run import pretrain_run

    ds = load_dataset("digits", "train")
    with pytest.raises(HumeSSLError, match="not given as a ImageDataset; save it as an npz"):
        pretrain_run(ds, tmp_path / "p", PretrainConfig(epochs=1, device="cpu"))
    assert not (tmp_path / "p").exists()


def test_an_image_past_pils_pixel_limit_is_skipped_or_named(tmp_path, monkeypatch):
    """Before: one image larger than PIL opens (a DecompressionBombError, not an OSError) ended
    the listing of the folder in a traceback."""
    from PIL import Image

    _save(tmp_path / "a" / "small.png", np.zeros((2, 2, 3), np.uint8))
    _save(tmp_path / "a" / "huge.png", np.zeros((8, 8, 3), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # 64 > 2 x 10 pixels: refused as a bomb
    ds = load_dataset(f"imagefolder:{tmp_path}")
    assert len(ds) == 1 and ds.info["skipped_unreadable"] == ["a/huge.png"]
    with pytest.raises(HumeSSLError, match="unreadable image .*huge.png.*exceeds limit"):
        load_dataset(f"imagefolder:{tmp_path}", strict=True)


def test_split_exists_answers_without_loading_and_never_hides_an_error(tmp_path, monkeypatch):
    """Before: split_exists loaded the whole split and read any error (an offline download, an
    unreadable image) as "no test split", so train-fixmatch and pretrain went on without one."""
    import hume_ssl.data.images as images
    from hume_ssl.data.images import split_exists

    def loaded(*a, **k):
        raise AssertionError("a split was loaded")

    monkeypatch.setattr(images, "load_dataset", loaded)
    assert split_exists("cifar10", "test")  # a registry dataset has its test split
    _save(tmp_path / "flat" / "a.png", np.zeros((4, 4, 3), np.uint8))
    assert split_exists(f"imagefolder:{tmp_path / 'flat'}", "train")
    assert not split_exists(f"imagefolder:{tmp_path / 'flat'}", "test")
    _save(tmp_path / "both" / "train" / "c" / "a.png", np.zeros((4, 4, 3), np.uint8))
    assert not split_exists(f"imagefolder:{tmp_path / 'both'}", "test")
    _save(tmp_path / "both" / "test" / "c" / "a.png", np.zeros((4, 4, 3), np.uint8))
    assert split_exists(f"imagefolder:{tmp_path / 'both'}", "test")
    np.savez(tmp_path / "d_train.npz", images=np.zeros((2, 4, 4, 3), np.uint8))
    assert split_exists(f"npz:{tmp_path / 'd_{split}.npz'}", "train")
    assert not split_exists(f"npz:{tmp_path / 'd_{split}.npz'}", "test")
