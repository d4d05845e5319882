"""Image datasets by name: one registry, images as uint8 RGB by index, labels kept for metrics.

    ds = load_dataset("cifar10", "train")            # torchvision download into the data root
    ds = load_dataset("imagefolder:/data/imgs")       # class sub-folders give optional labels
    ds = load_dataset("npz:/x/cifar10_{split}_jpeg.npz", "test")
    ds[i]            # (H, W, 3) uint8 RGB, sample i in the dataset's own order
    ds.labels        # (N,) int64 or None; for evaluation only
    ds.order_hash    # changes when the samples or their order change
    ds.content_hash  # changes when any image's bytes change too (feature cache key)
    DATASETS["cifar10"].description   # the registry: name -> DatasetEntry(load, description)

Beside it: `builtin` (the named datasets), `paths`, `folder` and `npz` (datasets named by a
path), `image_dataset` (`ImageDataset`), `rgb` (pixels to uint8 RGB), `identity` (the hashes).

Sample identity is the index in the dataset's own order, everywhere (features, labelings, seeds).
Splits: "train", "test" and "train+test" (train rows first). The data root is `data_root`, else
$HUME_SSL_DATA, else ~/.cache/hume-ssl/data.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import numpy as np

from hume_ssl.core.errors import HumeSSLError, unknown_choice
from hume_ssl.core.params import moved
from hume_ssl.data.builtin import cifar, digits, fashion_mnist, stl10
from hume_ssl.data.image_dataset import ImageDataset, concat
from hume_ssl.data.paths import load_path

SPLITS = ("train", "test", "train+test")


def default_data_root(data_root: str | os.PathLike | None = None) -> Path:
    if data_root:
        return Path(data_root).expanduser()
    env = os.environ.get("HUME_SSL_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hume-ssl" / "data"


Loader = Callable[[str, str, Path, bool], list[ImageDataset]]


class DatasetEntry(NamedTuple):
    """One registry row: `load(name, split, data_root, strict)` returns the split's parts (one
    dataset per part of "train+test"); `description` is for people."""

    load: Loader
    description: str


def _per_split(load_one: Callable[[str, Path, str], ImageDataset]) -> Loader:
    """A loader of one split -> a loader of "a+b" splits (one dataset per part)."""
    return lambda name, split, root, strict: [load_one(name, root, s) for s in split.split("+")]


DATASETS: dict[str, DatasetEntry] = {
    "cifar10": DatasetEntry(
        _per_split(lambda name, root, s: cifar(name, root, s, "10")),
        "CIFAR-10 (torchvision download): 50,000 train / 10,000 test, 32x32, 10 classes"),
    "cifar100": DatasetEntry(
        _per_split(lambda name, root, s: cifar(name, root, s, "100")),
        "CIFAR-100 fine labels (100 classes)"),
    "cifar100-20": DatasetEntry(
        _per_split(lambda name, root, s: cifar(name, root, s, "100-20")),
        "CIFAR-100 with its 20 coarse superclasses (the HUME paper's CIFAR-100-20)"),
    "stl10": DatasetEntry(
        _per_split(stl10),
        "STL-10: 5,000 train / 8,000 test, 96x96; split `unlabeled` also accepted"),
    "fashion-mnist": DatasetEntry(
        _per_split(fashion_mnist),
        "Fashion-MNIST, 28x28 gray (as RGB); also read from /usr/share/datasets/fashion-mnist"),
    "digits": DatasetEntry(
        _per_split(digits),
        "scikit-learn's handwritten digits (ships with scikit-learn, offline): 1,297 train / "
        "500 test (fixed split, seed 0), 8x8 gray (as RGB), 10 classes"),
    "imagefolder:PATH": DatasetEntry(
        load_path,
        "a folder of images; class sub-folders give labels; `{split}` in PATH or train/ test/ "
        "sub-folders give splits"),
    "npz:PATH": DatasetEntry(
        load_path,
        "an .npz with `images` (uint8 N x H x W [x C]) [+ `labels`, `classes`], or the JPEG "
        "layout `jpeg_bytes` + `offsets` [+ `labels`, `names`, `classes`]; one split per file, "
        "`{split}` in PATH for train/test files"),
}


def dataset_names() -> list[str]:
    return list(DATASETS)


def canonical_name(name: str, resolve_links: bool = False) -> str:
    """The name a loaded dataset carries (`ds.name`): a path kind's path made absolute
    (`imagefolder:data/x` -> `imagefolder:/abs/data/x`), a registry name as it is. With
    `resolve_links`, symbolic links in the path are followed too (to compare two names)."""
    kind, _, path = name.partition(":")
    if path and f"{kind}:PATH" in DATASETS:
        path = os.path.expanduser(path)
        return f"{kind}:{os.path.realpath(path) if resolve_links else os.path.abspath(path)}"
    return name


def same_dataset(a: Optional[str], b: Optional[str]) -> bool:
    """Whether two dataset names name the same images: a path kind's path resolved (relative
    and absolute paths, and a symbolic link and its target, alike)."""
    return (a is not None and b is not None
            and canonical_name(a, resolve_links=True) == canonical_name(b, resolve_links=True))


def load_dataset(name: str, split: str = "train", data_root: str | os.PathLike | None = None,
                 strict: bool = False) -> ImageDataset:
    """Resolve a dataset name (see DATASETS) to an ImageDataset of that split.

    `strict`: for image folders, fail on an unreadable image file instead of skipping it (the
    number skipped is in `ds.info["skipped"]`).
    """
    if not isinstance(name, str):  # an ImageDataset or array: extract_features takes those
        raise HumeSSLError(f"a dataset is named here (a registry name or npz:/imagefolder: "
                           f"path), not given as a {type(name).__name__}; save it as an npz "
                           "(np.savez(PATH, images=uint8 N x H x W x 3, labels=...): "
                           "docs/reference.md, Features) and pass npz:PATH.")
    if split not in SPLITS and not (name == "stl10" and split == "unlabeled"):
        raise unknown_choice("split", split, SPLITS)
    kind, _, path = name.partition(":")
    if path and f"{kind}:PATH" in DATASETS:  # a path kind: the name holds the absolute path
        entry = DATASETS[f"{kind}:PATH"]
        name = canonical_name(name)
    elif name in DATASETS:
        entry = DATASETS[name]
    else:
        raise unknown_choice("dataset", name, dataset_names())
    loaded = entry.load(name, split, default_data_root(data_root), strict)
    ds = loaded[0]
    for other in loaded[1:]:
        ds = concat(ds, other, split)
    ds.split = split
    return ds


def load_images_uint8(name: str, split: str = "train",
                      data_root: str | os.PathLike | None = None) -> np.ndarray:
    """All images of a small-image dataset as one (N, H, W, 3) uint8 array (e.g. for a
    GPU-resident training data path). Row i is sample i of `load_dataset(name, split)`."""
    return load_dataset(name, split, data_root).images_uint8()


# moved in 0.2 (each still imports from here, with a warning, until 0.3)
__getattr__ = moved(__name__, {
    "DIGITS_SPLIT_SEED": "hume_ssl.data.builtin",
    "DIGITS_TEST_SIZE": "hume_ssl.data.builtin",
    "FASHION_CLASSES": "hume_ssl.data.builtin",
    "FASHION_MNIST_SYSTEM_DIR": "hume_ssl.data.builtin",
    "HASH_CHUNK": "hume_ssl.data.identity",
    "content_digest": "hume_ssl.data.identity",
    "HIGH_DEPTH_MODES": "hume_ssl.data.rgb",
    "to_rgb_uint8": "hume_ssl.data.rgb",
    "IMAGE_EXTENSIONS": "hume_ssl.data.folder",
    "from_array": "hume_ssl.data.image_dataset",
})
