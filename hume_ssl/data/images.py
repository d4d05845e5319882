"""Images as arrays: resize + center crop, per-channel statistics, whole uint8 splits.

    split = load_split("cifar10", "train")      # ImageSplit: images (N, H, W, 3) uint8, labels
    images, labels, skipped = load_square("imagefolder:/x", "train", size=64)
Row i is sample i of `load_dataset(name, split)` everywhere (hume_ssl.data.datasets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from PIL import Image

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.data.datasets import DATASETS, load_dataset
from hume_ssl.data.paths import has_splits, split_path

PIL_INTERPOLATION = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}


@dataclass
class ImageSplit:
    images: np.ndarray  # (N, H, W, 3) uint8
    labels: Optional[np.ndarray]  # (N,) int64 ground truth (evaluation only), or None
    order_hash: Optional[str] = None  # the dataset's sample-order fingerprint
    classes: Optional[list[str]] = None
    sample_ids: Optional[list[str]] = None  # (N,) e.g. an image folder's file paths
    skipped: int = 0  # an image folder's unreadable files, left out of the N


def resized_size(a: int, b: int, resize_size: int) -> tuple[int, int]:
    """The sides (a, b) of an image after its shorter side is resized to resize_size, as
    torchvision's Resize(int) computes them: the longer side truncated, not rounded."""
    if a <= b:
        return resize_size, max(1, int(resize_size * b / a))
    return max(1, int(resize_size * a / b)), resize_size


def resize_crop(img: np.ndarray, resize_size: int, input_size: int,
                interpolation: str = "bilinear") -> np.ndarray:
    """(H, W, 3) uint8 -> (input_size, input_size, 3) uint8: shorter side -> resize_size
    (PIL, `interpolation`), then the center crop."""
    im = Image.fromarray(img)
    im = im.resize(resized_size(*im.size, resize_size),
                   PIL_INTERPOLATION.get(interpolation, Image.BICUBIC))
    w, h = im.size
    c = input_size
    left, top = int(round((w - c) / 2)), int(round((h - c) / 2))
    return np.asarray(im.crop((left, top, left + c, top + c)), dtype=np.uint8)


def channel_stats(images: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (3,) of (N, H, W, 3) uint8 images in [0, 1] units, in chunks."""
    s1, s2, n = np.zeros(3), np.zeros(3), 0
    for i in range(0, len(images), chunk):
        x = images[i : i + chunk].reshape(-1, 3).astype(np.float64) / 255.0
        s1, s2, n = s1 + x.sum(0), s2 + (x * x).sum(0), n + len(x)
    mean = s1 / n
    return mean, np.sqrt(np.maximum(s2 / n - mean * mean, 1e-12))


def load_split(dataset: str, split: str, data_root=None, size: Optional[int] = None
               ) -> ImageSplit:
    """Every image of a small-image split as one uint8 array, with its ground truth if known;
    with `size`, each image resized (shorter side -> S, bilinear) and center-cropped to S x S
    (images of several sizes need it)."""
    ds = load_dataset(dataset, split, data_root)
    images = (np.asarray(ds.images_uint8(), dtype=np.uint8) if size is None
              else _resized(ds, size))
    return ImageSplit(images, ds.labels, ds.order_hash, ds.class_names, ds.sample_ids,
                      int(ds.info.get("skipped", 0)))


def _resized(ds, size: int) -> np.ndarray:
    """(N, S, S, 3) uint8: every image of `ds` resized and center-cropped to S x S."""
    out = np.empty((len(ds), size, size, 3), np.uint8)
    for i in range(len(ds)):
        out[i] = resize_crop(np.asarray(ds[i]), size, size, "bilinear")
    return out


def split_exists(dataset: str, split: str, data_root=None) -> bool:
    """Whether `dataset` has `split`, without loading it. A registry dataset has its splits (a
    failed download is an error where the split is loaded, not a missing split: before, every
    error of a whole load was read as "no test split"); `imagefolder:`/`npz:` has `split` when
    the path names per-split folders or files and that one exists, else only `train`."""
    kind, _, path = dataset.partition(":")
    if not path or f"{kind}:PATH" not in DATASETS:  # a registry name (load_dataset's test)
        return True
    if not has_splits(path, is_dir=kind == "imagefolder"):
        return split == "train"
    return all(split_path(path, s).exists() for s in split.split("+"))


IMAGE_SIZE_BOUNDS = "[8, 1024]"  # --image-size: the side load_square resizes and crops to;
# 8: the smallest the project runs (the 8 x 8 digits; 1 and 2 crash FixMatch's augmentations);
# 1024: a split is held in memory at that side


def load_square(dataset: str, split: str, size: Optional[int] = None, data_root=None,
                strict: bool = False) -> tuple[np.ndarray, Optional[np.ndarray], int]:
    """(images (N, S, S, 3) uint8, labels or None, unreadable image files skipped: an image
    folder's; `strict`: fail on one instead). Images of one square size load as they are; with
    `size`, or when sizes differ, each is resized (shorter side -> S, bilinear) and
    center-cropped to S x S."""
    ds = load_dataset(dataset, split, data_root, strict=strict)
    skipped = int(ds.info.get("skipped", 0))
    shape = ds.image_size
    if size is None and shape is not None and shape[0] == shape[1]:
        return np.asarray(ds.images_uint8(), dtype=np.uint8), ds.labels, skipped
    if size is None:
        raise HumeSSLError(f"{dataset}:{split} images are not all square of one size "
                           f"({'various sizes' if shape is None else f'{shape[0]}x{shape[1]}'}); "
                           "pass --image-size S to resize and center-crop them to S x S.")
    return _resized(ds, size), ds.labels, skipped
