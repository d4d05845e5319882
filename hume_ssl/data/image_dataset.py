"""`ImageDataset`: N images of one split addressed by index (`ds[i]` is (H, W, 3) uint8 RGB),
with optional labels, class names and sample ids; `concat` (train+test) and `from_array`."""

from __future__ import annotations

import hashlib
from typing import Callable, Optional, Sequence

import numpy as np
from PIL import Image

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.data.identity import (
    array_order_hash,
    content_digest,
    hash_buffer,
    names_hash,
)
from hume_ssl.data.rgb import to_rgb_uint8


class ImageDataset:
    """N images of one split, addressed by index; `ds[i]` is (H, W, 3) uint8 RGB.

    `image_size` is (H, W) when every image has the same size (small-image datasets), else None.
    `content` computes the content hash (every image's bytes, the labels and the order); without
    it every image is decoded and hashed.
    """

    def __init__(self, name: str, split: str, n: int, get: Callable[[int], np.ndarray], *,
                 labels: Optional[np.ndarray] = None, class_names: Optional[list[str]] = None,
                 sample_ids: Optional[list[str]] = None,
                 image_size: Optional[tuple[int, int]] = None,
                 array: Optional[np.ndarray] = None, info: Optional[dict] = None,
                 content: Optional[Callable[[], str]] = None):
        self.name, self.split, self._n, self._get = name, split, int(n), get
        self._content, self._content_hash = content, None
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.class_names = class_names
        self.sample_ids = sample_ids
        self.image_size = image_size
        self._array = array  # (N, H, W, 3) uint8 when the whole split is one array
        self.info = info or {}
        if self.labels is not None and len(self.labels) != self._n:
            raise HumeSSLError(f"{name}: {len(self.labels)} labels for {self._n} images.")
        self._order_hash: Optional[str] = None

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> np.ndarray:
        if not -self._n <= i < self._n:
            raise IndexError(i)
        return to_rgb_uint8(self._get(int(i) % self._n))

    def pil(self, i: int) -> Image.Image:
        return Image.fromarray(self[i])

    @property
    def order_hash(self) -> str:
        """Hash of the sample order: of the per-sample names where known, else of N, the labels
        and a strided sample of the pixels."""
        if self._order_hash is None:
            if self.sample_ids is not None:
                self._order_hash = names_hash(self._n, self.sample_ids)
            else:
                self._order_hash = array_order_hash(self._get, self._n, self.labels)
        return self._order_hash

    @property
    def content_hash(self) -> str:
        """Hash of every image's bytes (the file's encoded bytes, or the pixels), the labels and
        the order: the feature cache's identity of the data."""
        if self._content_hash is None:
            if self._content is not None:
                self._content_hash = self._content()
            else:
                h = hashlib.sha256(f"N={self._n}\n".encode())
                if self.labels is not None:
                    hash_buffer(h, self.labels)
                for i in range(self._n):
                    hash_buffer(h, np.asarray(self._get(i)))
                self._content_hash = h.hexdigest()[:32]
        return self._content_hash

    def images_uint8(self) -> np.ndarray:
        """All images as one (N, H, W, 3) uint8 array (same-size datasets only)."""
        if self._array is not None:
            return self._array
        if self.image_size is None:
            raise HumeSSLError(f"{self.name}: images differ in size; cannot stack them into one "
                               "array: train-fixmatch, pretrain and train_usb.py take --image-size "
                               "S to resize and center-crop every image to S x S (predict "
                               "applies the --image-size a model was trained with; for a model "
                               "trained without one, resize the images to its input size first).")
        out = np.empty((self._n, *self.image_size, 3), np.uint8)
        for i in range(self._n):
            out[i] = self[i]
        return out

    def subset(self, indices: Sequence[int]) -> ImageDataset:
        """The rows `indices` of this dataset, in that order, as a new dataset (its own sample
        identity: row j is sample indices[j] of the parent; ids and hash say so)."""
        idx = np.asarray(indices, dtype=np.int64)
        parent = self
        tag = hashlib.sha256(idx.tobytes()).hexdigest()[:8]
        ids = ([self.sample_ids[i] for i in idx] if self.sample_ids is not None
               else [f"{self.order_hash}/{i}" for i in idx])
        return ImageDataset(f"{self.name}[subset-{len(idx)}-{tag}]", self.split, len(idx),
                            lambda j: parent._get(int(idx[j])),
                            labels=None if self.labels is None else self.labels[idx],
                            class_names=self.class_names, sample_ids=ids,
                            image_size=self.image_size,
                            array=None if self._array is None else self._array[idx],
                            info={**self.info, "subset_of": self.name, "indices_sha": tag},
                            content=lambda: content_digest(idx, text=parent.content_hash))

    def __repr__(self) -> str:
        k = len(self.class_names) if self.class_names else 0
        return (f"ImageDataset({self.name!r}, split={self.split!r}, N={self._n}, "
                f"labels={'yes' if self.labels is not None else 'no'}, classes={k})")


def concat(a: ImageDataset, b: ImageDataset, split: str) -> ImageDataset:
    """Rows of `a`, then rows of `b` (train+test)."""
    na = len(a)
    labels = (np.concatenate([a.labels, b.labels])
              if a.labels is not None and b.labels is not None else None)
    ids = a.sample_ids + b.sample_ids if a.sample_ids and b.sample_ids else None
    size = a.image_size if a.image_size == b.image_size else None
    arr = (np.concatenate([a._array, b._array])
           if a._array is not None and b._array is not None else None)

    def get(i: int) -> np.ndarray:
        return a._get(i) if i < na else b._get(i - na)

    info = {**a.info, "parts": [a.info, b.info]}
    ds = ImageDataset(a.name, split, na + len(b), get, labels=labels,
                      class_names=a.class_names, sample_ids=ids, image_size=size, array=arr,
                      info=info, content=lambda: content_digest(
                          text=f"{a.content_hash}+{b.content_hash}"))
    if ids is None:  # combine the parts' hashes instead of re-hashing pixels
        ds._order_hash = hashlib.sha256((a.order_hash + b.order_hash).encode()).hexdigest()[:16]
    return ds


# ---------------------------------------------------------------- array-backed datasets
def from_array(name: str, split: str, images: np.ndarray, labels=None, class_names=None,
               info=None) -> ImageDataset:
    """A dataset over one uint8 array N x H x W [x C]; its content hash streams the whole
    array's bytes."""
    images = np.asarray(images) if not isinstance(images, np.memmap) else images
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise HumeSSLError(f"{name}: images must be a uint8 array N x H x W [x C]; got "
                           f"{images.dtype} {images.shape}.")
    if images.ndim == 4 and images.shape[3] not in (1, 3, 4):
        raise HumeSSLError(f"{name}: images N x H x W x C need C in 1, 3 or 4; got "
                           f"{images.shape}.")
    rgb = images if images.ndim == 4 and images.shape[3] == 3 else None
    return ImageDataset(name, split, len(images), images.__getitem__, labels=labels,
                        class_names=class_names, image_size=tuple(images.shape[1:3]),
                        array=rgb, info=info,
                        content=lambda: content_digest(images, labels, text=f"array:{split}"))
