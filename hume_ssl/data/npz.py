"""`npz:PATH` datasets: one .npz file per split, either `images` (uint8 N x H x W [x C]) or the
JPEG layout (`jpeg_bytes` + `offsets`, image i is jpeg_bytes[offsets[i]:offsets[i + 1]]), with
optional `labels`, `classes` and `names`."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image, UnidentifiedImageError

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.data.identity import content_digest
from hume_ssl.data.image_dataset import ImageDataset, from_array
from hume_ssl.data.rgb import to_rgb_uint8


def _decode_jpeg(buf: np.ndarray, i: int, path: Path) -> np.ndarray:
    """Image i of an npz's JPEG layout, or an error naming the image and the file."""
    try:
        return to_rgb_uint8(Image.open(io.BytesIO(buf.tobytes())))
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        why = "not a readable image" if isinstance(e, UnidentifiedImageError) else e
        raise HumeSSLError(f"image {i} of {path} cannot be decoded ({type(e).__name__}: "
                           f"{why}); re-encode that image (jpeg_bytes[offsets[{i}]:offsets"
                           f"[{i + 1}]]) or drop it from the file.") from None


def _check_offsets(off: np.ndarray, n_bytes: int, path: Path) -> None:
    """The JPEG layout's offsets: N + 1 non-decreasing positions inside jpeg_bytes."""
    if off.ndim != 1 or len(off) < 1:
        raise HumeSSLError(f"{path}: `offsets` must be a 1-D array of N + 1 positions; got shape "
                           f"{off.shape}.")
    bad = np.flatnonzero(np.diff(off) < 0)
    if off[0] < 0 or off[-1] > n_bytes or bad.size:
        where = (f"image {bad[0]} has offsets[{bad[0]}]={off[bad[0]]} > offsets[{bad[0] + 1}]="
                 f"{off[bad[0] + 1]}" if bad.size else
                 f"offsets[0]={off[0]}, offsets[-1]={off[-1]} for {n_bytes} bytes")
        raise HumeSSLError(f"{path}: `offsets` must rise from >= 0 to at most len(jpeg_bytes) "
                           f"({n_bytes}), image i being jpeg_bytes[offsets[i]:offsets[i + 1]]; "
                           f"{where}. Rewrite the file's offsets.")


def npz_labels(y: np.ndarray, path: Path) -> Optional[np.ndarray]:
    """An npz's `labels`: (N,) whole-number class ids, or None where every one is negative
    (-1 for "unlabeled": the data has no ground truth)."""
    whole = y.dtype.kind in "iub" or (y.dtype.kind == "f" and bool(np.isfinite(y).all())
                                       and np.array_equal(y, np.round(y)))
    if y.ndim != 1 or not whole:
        raise HumeSSLError(f"{path}: `labels` holds {y.dtype} values of shape {y.shape}; it must "
                           "be one whole-number class id per image (0, 1, 2, ...; class names "
                           "go in `classes`), or be left out for unlabeled images.")
    unknown = int((y < 0).sum())
    if len(y) and unknown == len(y):
        return None
    if unknown:  # the metrics of every stage read each row's class: a -1 would count as one
        first = int(np.flatnonzero(y < 0)[0])
        raise HumeSSLError(f"{path}: `labels` holds {unknown} negative labels of {len(y)} (e.g. "
                           f"{y[first]} at image {first}): a split is labeled throughout or not "
                           "at all (every label -1). Drop `labels` (or set all to -1), or keep "
                           "the labeled images in a file of their own (e.g. the test split).")
    return y


def load_npz(path: Path, name: str, split: str) -> ImageDataset:
    if not path.is_file():
        raise HumeSSLError(f"{name}: file not found: {path}. An npz dataset is one file per "
                           "split; use a {split} placeholder for train/test files.")
    try:
        z = np.load(path, allow_pickle=False)
        keys = set(z.files)
    except Exception as e:
        raise HumeSSLError(f"{name}: cannot read {path} as .npz ({e}).") from e
    labels = npz_labels(z["labels"], path) if "labels" in keys else None
    classes = [c.decode() if isinstance(c, bytes) else str(c)
               for c in z["classes"].tolist()] if "classes" in keys else None
    info = {"path": str(path.resolve())}
    if "jpeg_bytes" in keys and "offsets" in keys:
        data, off = z["jpeg_bytes"], z["offsets"].astype(np.int64)
        _check_offsets(off, len(data), path)
        names = raw_names = None
        if "names" in keys:
            raw_names = z["names"]
            names = [s.decode() if isinstance(s, bytes) else str(s) for s in raw_names.tolist()]
        first = _decode_jpeg(data[off[0]:off[1]], 0, path) if len(off) > 1 else None

        def get(i: int) -> np.ndarray:
            return _decode_jpeg(data[off[i]:off[i + 1]], i, path)

        return ImageDataset(name, split, len(off) - 1, get, labels=labels, class_names=classes,
                            sample_ids=names,
                            image_size=None if first is None else first.shape[:2], info=info,
                            content=lambda: content_digest(data, off, labels, raw_names,
                                                           text=f"jpeg:{split}"))
    if "images" not in keys:
        raise HumeSSLError(f"{name}: {path} has keys {sorted(keys)}; expected `images` (uint8 "
                           "N x H x W [x C]) or the JPEG layout `jpeg_bytes` + `offsets`.")
    return from_array(name, split, z["images"], labels, classes, info)
