"""The datasets known by name: CIFAR-10/100 and STL-10 (torchvision's files, downloaded into
the data root when missing), Fashion-MNIST (idx files, also from the system's package) and
scikit-learn's digits (offline). Offline and missing, each says where to put the files."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path
from typing import Optional

import numpy as np

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.network import stall_timeout
from hume_ssl.data.identity import content_digest
from hume_ssl.data.image_dataset import ImageDataset, from_array

FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")


def _missing(name: str, root: Path, expected: str, err: Exception) -> HumeSSLError:
    return HumeSSLError(
        f"{name} is not in the data root {root} and could not be downloaded ({type(err).__name__}: "
        f"{err}). Expected {expected} under {root}. Put the files there (or pass --data-root / "
        "set HUME_SSL_DATA to where they are), or run once with network access.")


def _tv_download(cls_name: str, root: Path, name: str, expected: str, **kw) -> None:
    import torchvision.datasets as tvd

    try:
        with stall_timeout():
            getattr(tvd, cls_name)(str(root), download=True, **kw)
    except Exception as e:  # offline: URLError, RuntimeError, ...
        raise _missing(name, root, expected, e) from e


def cifar(name: str, root: Path, split: str, variant: str) -> ImageDataset:
    folder, fname = {"10": ("cifar-10-batches-py", "CIFAR10"),
                     "100": ("cifar-100-python", "CIFAR100")}[variant[:3].rstrip("-")]
    files = {"10": {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
             "100": {"train": ["train"], "test": ["test"]}}[variant[:3].rstrip("-")]
    d = root / folder
    if not all((d / f).is_file() for f in sum(files.values(), [])):
        url = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" if variant == "10"
               else "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz")
        _tv_download(fname, root, name, f"{folder}/ with {', '.join(sum(files.values(), []))} "
                     f"(the extracted {url})")
    key = {"10": "labels", "100": "fine_labels", "100-20": "coarse_labels"}[variant]
    imgs, labels = [], []
    for f in files[split]:
        with open(d / f, "rb") as fh:
            entry = pickle.load(fh, encoding="latin1")
        imgs.append(np.asarray(entry["data"], np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(entry[key], np.int64))
    meta_file, meta_key = {"10": ("batches.meta", "label_names"),
                           "100": ("meta", "fine_label_names"),
                           "100-20": ("meta", "coarse_label_names")}[variant]
    with open(d / meta_file, "rb") as fh:
        classes = pickle.load(fh, encoding="latin1")[meta_key]
    images = np.ascontiguousarray(np.concatenate(imgs).transpose(0, 2, 3, 1))
    return from_array(name, split, images, np.concatenate(labels), list(classes),
                      info={"root": str(root)})


def stl10(name: str, root: Path, split: str) -> ImageDataset:
    d = root / "stl10_binary"
    x_file = {"train": "train_X.bin", "test": "test_X.bin", "unlabeled": "unlabeled_X.bin"}[split]
    if not (d / x_file).is_file():
        _tv_download("STL10", root, name, f"stl10_binary/{x_file} (the extracted "
                     "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz)",
                     split=split)
    raw = np.memmap(d / x_file, dtype=np.uint8, mode="r").reshape(-1, 3, 96, 96)
    y_file = d / x_file.replace("_X", "_y")
    labels = np.fromfile(y_file, np.uint8).astype(np.int64) - 1 if y_file.is_file() else None
    classes = (d / "class_names.txt").read_text().split() if (d / "class_names.txt").is_file() \
        else None

    def get(i: int) -> np.ndarray:  # stored channel-major, each plane column-major
        return np.ascontiguousarray(raw[i].transpose(2, 1, 0))

    return ImageDataset(name, split, len(raw), get, labels=labels, class_names=classes,
                        image_size=(96, 96), info={"root": str(root)},
                        content=lambda: content_digest(raw, labels, text=f"stl10:{split}"))


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise HumeSSLError(f"{path} is not a uint8 idx file.")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]


def fashion_mnist(name: str, root: Path, split: str) -> ImageDataset:
    prefix = {"train": "train", "test": "t10k"}[split]
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    dirs = [root / "fashion-mnist", root / "FashionMNIST" / "raw", root,
            FASHION_MNIST_SYSTEM_DIR]

    def find() -> Optional[tuple[Path, Path]]:
        for d in dirs:
            for ext in ("", ".gz"):
                x, y = d / (stems[0] + ext), d / (stems[1] + ext)
                if x.is_file() and y.is_file():
                    return x, y
        return None

    found = find()
    if found is None:
        _tv_download("FashionMNIST", root, name, f"{stems[0]}[.gz] and {stems[1]}[.gz] in "
                     f"{root}/fashion-mnist/ or {FASHION_MNIST_SYSTEM_DIR}/ (apt-get install "
                     "dataset-fashion-mnist)", train=split == "train")
        found = find()
        if found is None:
            raise HumeSSLError(f"{name}: download finished but idx files not found in {root}.")
    return from_array(name, split, _read_idx(found[0]), _read_idx(found[1]), FASHION_CLASSES,
                      info={"files": [str(p) for p in found]})


DIGITS_TEST_SIZE = 500  # images of the fixed digits test split; the other 1,297 are train
DIGITS_SPLIT_SEED = 0  # numpy default_rng seed of the permutation that splits the 1,797 images


def digits(name: str, root: Path, split: str) -> ImageDataset:
    """scikit-learn's 1,797 8x8 handwritten digits (shipped with scikit-learn, no download):
    grey values 0..16 scaled to uint8 0..255 (round(v * 255 / 16)). The split is fixed: a
    permutation by default_rng(DIGITS_SPLIT_SEED); its last DIGITS_TEST_SIZE images are `test`,
    the rest `train`, each in ascending order of the original index."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.round(d.images * (255 / 16)).astype(np.uint8)  # (1797, 8, 8)
    perm = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(images))
    rows = np.sort(perm[-DIGITS_TEST_SIZE:] if split == "test" else perm[:-DIGITS_TEST_SIZE])
    return from_array(name, split, np.ascontiguousarray(images[rows]),
                      d.target[rows].astype(np.int64), [str(c) for c in range(10)],
                      info={"source": "sklearn.datasets.load_digits",
                            "original_index": rows.tolist()})
