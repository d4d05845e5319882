"""The feature cache never serves features of other images or of an edited file; bad numbers,
a file as the cache folder, an undecodable image and a full disk are one-line errors."""

import errno
import io
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from typer.testing import CliRunner

import hume_ssl.features.cache as C
import hume_ssl.features.extract as F
from hume_ssl.cli import app
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.data.datasets import load_dataset

SQ = "torchvision:squeezenet1_1"


class MeanPixel(nn.Module):
    """(B, 3, S, S) normalised -> (B, 3): each channel's mean, in 0..255 pixel units."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.calls = 0

    def forward(self, x):
        self.calls += x.shape[0]
        return ((x * self.std + self.mean) * 255).mean(dim=(2, 3))


@pytest.fixture
def tiny_model(monkeypatch):
    made = {}

    def fake_load(b, device="cpu", **k):
        made["model"] = MeanPixel(b.preprocessing.mean, b.preprocessing.std)
        return made["model"]

    monkeypatch.setattr(F, "load_backbone", fake_load)
    return made


def _jpeg_npz(path, values, names=None, labels=None):
    """An npz in the JPEG layout: image i is a flat 8x8 image of gray level values[i]."""
    blobs = []
    for v in values:
        buf = io.BytesIO()
        Image.fromarray(np.full((8, 8, 3), v, np.uint8)).save(buf, format="JPEG", quality=100)
        blobs.append(np.frombuffer(buf.getvalue(), np.uint8))
    off = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    n = len(values)
    names = np.array([f"img{i}.jpg" for i in range(n)], "S12") if names is None else names
    labels = np.arange(n) % 2 if labels is None else labels
    np.savez(path, jpeg_bytes=np.concatenate(blobs), offsets=off, names=names, labels=labels)
    return f"npz:{path}", np.concatenate(blobs), off


KW = dict(num_workers=0, progress=False, input_size=16)


def test_rewritten_pixels_with_the_same_names_labels_and_n_are_extracted_again(tmp_path,
                                                                                  tiny_model):
    name, _, _ = _jpeg_npz(tmp_path / "d.npz", [10, 20, 30, 40])
    fs = F.extract_features(name, "train", SQ, random_init=True, cache_dir=tmp_path / "c", **KW)
    assert np.asarray(fs.features)[:, 0].round().tolist() == [10, 20, 30, 40]
    _jpeg_npz(tmp_path / "d.npz", [10, 20, 200, 40])  # other pixels, same names/labels/N
    again = F.extract_features(name, "train", SQ, random_init=True, cache_dir=tmp_path / "c",
                               **KW)
    assert not again.cached
    assert np.asarray(again.features)[:, 0].round().tolist() == [10, 20, 200, 40]


def test_a_marker_left_by_a_run_killed_while_sealing_goes_with_the_next_read(tmp_path,
                                                                            tiny_model):
    """Before: a kill between the sidecar's seal and the marker's removal left
    NAME.written.npy beside the complete cache for good: later runs served the cache and never
    removed it."""
    name, _, _ = _jpeg_npz(tmp_path / "d.npz", [10, 20, 30])
    fs = F.extract_features(name, "train", SQ, random_init=True, cache_dir=tmp_path / "c", **KW)
    marker = fs.path.with_name(fs.path.stem + ".written.npy")
    np.save(marker, np.ones(3, bool))  # what the killed run left
    again = F.extract_features(name, "train", SQ, random_init=True, cache_dir=tmp_path / "c",
                               **KW)
    assert again.cached and not marker.exists()


def test_content_hash_covers_images_the_strided_order_hash_skips(tmp_path):
    img = np.zeros((4100, 2, 2, 3), np.uint8)  # > 2 x 2,048: the order hash reads every 2nd
    np.savez(tmp_path / "a.npz", images=img)
    img[1] = 255
    np.savez(tmp_path / "b.npz", images=img)
    a, b = (load_dataset(f"npz:{tmp_path / f}") for f in ("a.npz", "b.npz"))
    assert a.order_hash == b.order_hash  # the sample-order fingerprint misses image 1 ...
    assert a.content_hash != b.content_hash  # ... the cache identity does not


def test_an_edited_cache_file_of_the_same_size_is_extracted_again(tmp_path, tiny_model):
    name, _, _ = _jpeg_npz(tmp_path / "d.npz", [10, 20, 30])
    fs = F.extract_features(name, "train", SQ, random_init=True, cache_dir=tmp_path / "c", **KW)
    assert len(json.loads(fs.path.with_suffix(".json").read_text())["checksum"]) == 32
    path, size = fs.path, fs.path.stat().st_size
    del fs
    edited = np.load(path, mmap_mode="r+")
    edited[1, 0] = 99.0  # finite, same shape and size
    edited.flush()
    del edited
    assert path.stat().st_size == size
    assert F.cached_features(load_dataset(name), F.resolve_backbone(
        SQ, None, True, 16), tmp_path / "c", "cpu") is None
    with pytest.warns(UserWarning, match="checksum"):
        fs = F.extract_features(name, "train", SQ, random_init=True, cache_dir=tmp_path / "c",
                                **KW)
    assert not fs.cached and np.asarray(fs.features)[1, 0].round() == 20


def test_a_cache_of_the_older_format_is_named_and_extracted_again(tmp_path, tiny_model):
    name, _, _ = _jpeg_npz(tmp_path / "d.npz", [10, 20, 30])
    ds, b = load_dataset(name), F.resolve_backbone(SQ, None, True, 16)
    old = C.FeatureCache(tmp_path / "c", C.cache_meta(ds, b, tmp_path / "c", True,
                                                      torch.device("cpu"), fmt=1))
    old.npy.parent.mkdir(parents=True)
    np.save(old.npy, np.zeros((3, 3), np.float32))
    old.side.write_text(json.dumps({**old.meta, "complete": True, "d": 3}))
    with pytest.warns(UserWarning, match="older hume-ssl"):
        fs = F.extract_features(ds, "train", SQ, random_init=True, cache_dir=tmp_path / "c",
                                **KW)
    assert np.asarray(fs.features)[:, 0].round().tolist() == [10, 20, 30]


@pytest.mark.parametrize("option,value,words", [
    ("--batch-size", "0", "--batch-size 0: must be a whole number, at least 1"),
    ("--num-workers", "-1", "--num-workers -1: must be a whole number, at least 0"),
    ("--input-size", "0", "--input-size 0: must be a whole number in [16, 1024]"),
    ("--input-size", "1", "--input-size 1"),
    ("--input-size", "10000", "--input-size 10000"),
])
def test_loader_numbers_are_checked_before_any_work(tmp_path, option, value, words):
    res = CliRunner().invoke(app, ["features", f"npz:{tmp_path}/missing.npz", "--cache-dir",
                                   str(tmp_path / "c"), option, value])
    assert res.exit_code == 2 and words in res.output, res.output
    assert "Traceback" not in res.output and not (tmp_path / "c").exists()
    with pytest.raises(HumeSSLError, match=option):
        F.extract_features(f"npz:{tmp_path}/missing.npz", **{option[2:].replace("-", "_"):
                                                             int(value)})


def test_a_file_as_cache_dir_is_one_line(tmp_path):
    name, _, _ = _jpeg_npz(tmp_path / "d.npz", [10])
    (tmp_path / "f").write_text("x")
    res = CliRunner().invoke(app, ["features", name, "--cache-dir", str(tmp_path / "f"),
                                   "--backbone", SQ, "--random-init"])
    assert res.exit_code == 2 and "is a file, not a folder" in res.output, res.output


def test_an_undecodable_jpeg_names_its_index_and_file_from_a_worker(tmp_path, tiny_model):
    name, data, off = _jpeg_npz(tmp_path / "d.npz", [10, 20, 30, 40])
    data = data.copy()
    data[off[2]:off[3]] = 7  # image 2: no longer a JPEG
    np.savez(tmp_path / "d.npz", jpeg_bytes=data, offsets=off, labels=np.arange(4) % 2)
    with pytest.raises(HumeSSLError, match=r"^image 2 of .*d\.npz cannot be decoded") as e:
        F.extract_features(name, "train", SQ, random_init=True, cache_dir=tmp_path / "c",
                           **{**KW, "num_workers": 1})
    assert "\n" not in str(e.value) and "Traceback" not in str(e.value)


def test_offsets_that_go_back_are_refused_with_the_image_index(tmp_path):
    _, data, off = _jpeg_npz(tmp_path / "d.npz", [10, 20, 30, 40])
    off = off.copy()
    off[2], off[3] = off[3], off[2]
    np.savez(tmp_path / "d.npz", jpeg_bytes=data, offsets=off)
    with pytest.raises(HumeSSLError, match=r"image 1 has offsets\[1\]=.*d\.npz|d\.npz.*image"):
        load_dataset(f"npz:{tmp_path / 'd.npz'}")


def test_imagefolder_of_a_file_says_it_is_a_file(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"x")
    with pytest.raises(HumeSSLError, match="is a file, not a folder"):
        load_dataset(f"imagefolder:{tmp_path / 'x.npz'}")


def test_a_full_disk_is_an_error_before_any_row_not_sigbus(tmp_path, tiny_model, monkeypatch):
    name, _, _ = _jpeg_npz(tmp_path / "d.npz", [10, 20, 30])

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(C.os, "posix_fallocate", full)
    with pytest.raises(HumeSSLError, match="no room for the feature cache.*--cache-dir"):
        F.extract_features(name, "train", SQ, random_init=True, cache_dir=tmp_path / "c", **KW)
    assert not list((tmp_path / "c").rglob("*.npy")) and not list((tmp_path / "c").rglob("*.json"))
    assert tiny_model["model"].calls <= 3  # the first batch only: nothing written


def test_the_cpu_warning_names_the_real_backbone(tmp_path, tiny_model, monkeypatch):
    name, _, _ = _jpeg_npz(tmp_path / "d.npz", [10, 20])
    monkeypatch.setattr(F, "CPU_WARN_IMAGES", 1)
    with pytest.warns(UserWarning) as rec:
        F.extract_features(name, "train", SQ, random_init=True, cache_dir=tmp_path / "c",
                           device="cpu", **KW)
    text = " ".join(str(w.message) for w in rec)
    assert SQ in text and "ViT" not in text


def test_a_weights_file_that_is_no_state_dict_says_what_it_should_be(tmp_path):
    np.save(tmp_path / "garbage.npy", np.arange(5))
    with pytest.raises(HumeSSLError, match=r"garbage\.npy .*should be a PyTorch state dict") as e:
        F.load_backbone(f"{SQ}@{tmp_path / 'garbage.npy'}")
    assert "\n" not in str(e.value)


def test_offline_hub_retries_are_not_printed_before_our_error(monkeypatch, caplog, capsys):
    import logging

    timm = pytest.importorskip("timm")

    def offline(*a, **k):
        for _ in range(5):  # what huggingface_hub logs while it retries
            logging.getLogger("huggingface_hub").warning("Retrying in 2s [Retry 2/5].")
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(timm, "create_model", offline)
    level = logging.getLogger("huggingface_hub").level
    with caplog.at_level(logging.WARNING), pytest.raises(HumeSSLError, match="Offline?"):
        F.load_backbone("dinov2_vits14")
    assert "Retrying" not in caplog.text + "".join(capsys.readouterr())
    assert logging.getLogger("huggingface_hub").level == level  # restored


def test_an_unwritable_cache_is_named_before_the_model_loads(tmp_path, monkeypatch):
    """Before: a raw OSError (Read-only file system) from the memmap's mkdir, after the data
    and the model were loaded. A cache that holds the features is still read."""
    ds = load_dataset("digits", "train")
    F.extract_features(ds, backbone="pixels:4", cache_dir=tmp_path / "c", progress=False)
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    monkeypatch.setattr(F, "load_backbone", None)  # never reached
    with pytest.raises(HumeSSLError, match=r"cannot be created .*choose another --cache-dir"):
        F.extract_features(ds, backbone="pixels:4", cache_dir=tmp_path / "new", progress=False)
    assert F.extract_features(ds, backbone="pixels:4", cache_dir=tmp_path / "c",
                              progress=False).cached  # a hit needs no writing


def test_a_second_extraction_of_the_same_cache_waits_for_the_first(tmp_path):
    """Before: two runs of the same features at once (a sweep of seed runs sharing a backbone)
    wrote one file together; a review sealed a cache `complete` with 5,232 of 6,000 rows zero,
    which every later run took. The second now waits, then reads the first's cache."""
    import threading
    import time

    ds = load_dataset("digits", "train")
    kw = dict(backbone="pixels:4", cache_dir=tmp_path, device="cpu", progress=False,
              batch_size=64, num_workers=0)
    started = threading.Event()

    def slow(event, info):  # the first extraction, a batch every 50 ms (about 1 s in all)
        started.set()
        time.sleep(0.05)

    first = threading.Thread(target=lambda: F.extract_features(ds, callback=slow, **kw))
    first.start()
    assert started.wait(30)
    with pytest.warns(UserWarning, match="another process is extracting these features"):
        second = F.extract_features(ds, **kw)
    first.join()
    assert second.cached and second.features.shape == (len(ds), 48)  # the first's rows
    assert (np.abs(np.asarray(second.features)).sum(1) > 0).all()  # none left at zero


def test_a_cache_stopped_before_its_sidecar_leaves_no_reserved_file(tmp_path, monkeypatch):
    """Before: a full disk (or a Ctrl-C) between reserving the .npy and writing its sidecar left
    the full-size file behind, without a sidecar."""
    ds = load_dataset("digits", "train")

    def full(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(C, "atomic_write_json", full)
    with pytest.raises(OSError):
        F.extract_features(ds, backbone="pixels:4", cache_dir=tmp_path, progress=False)
    assert not [p for p in (tmp_path / "features").rglob("*") if p.suffix in (".npy", ".json")]
