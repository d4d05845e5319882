"""Image datasets by name: one registry, images as uint8 RGB by index, labels kept for metrics.

    ds = load_dataset("cifar10", "train")            # torchvision download into the data root
    ds = load_dataset("imagefolder:/data/imgs")       # class sub-folders give optional labels
    ds = load_dataset("npz:/x/cifar10_{split}_jpeg.npz", "test")
    ds[i]            # (H, W, 3) uint8 RGB, sample i in the dataset's own order
    ds.labels        # (N,) int64 or None; for evaluation only
    ds.order_hash    # changes when the samples or their order change
    ds.content_hash  # changes when any image's bytes change too (feature cache key)
    DATASETS["cifar10"].description   # the registry: name -> DatasetEntry(load, description)

Sample identity is the index in the dataset's own order, everywhere (features, labelings, seeds).
Splits: "train", "test" and "train+test" (train rows first). The data root is `data_root`, else
$HUME_SSL_DATA, else ~/.cache/hume-ssl/data.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import warnings
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Optional, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from hume_ssl.core.errors import HumeSSLError, unknown_choice

SPLITS = ("train", "test", "train+test")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp",
                    ".gif")
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")


def default_data_root(data_root: str | os.PathLike | None = None) -> Path:
    if data_root:
        return Path(data_root).expanduser()
    env = os.environ.get("HUME_SSL_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hume-ssl" / "data"


HIGH_DEPTH_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")  # PIL: 16/32-bit int, float


def _stretch_to_uint8(a: np.ndarray) -> np.ndarray:
    """Any integer or float array -> uint8 of the same shape by a per-image min-max stretch:
    the image's smallest finite value -> 0, its largest -> 255, linear and rounded in between.
    A constant image maps to 0, NaN and +-inf to 0. Per image, so grey levels are not
    comparable across images (a 12-bit image of values 1000..4200 spans 0..255)."""
    a = np.asarray(a, dtype=np.float64)
    finite = np.isfinite(a)
    if not finite.any():
        return np.zeros(a.shape, np.uint8)
    lo, hi = a[finite].min(), a[finite].max()
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    out = np.where(finite, np.round((a - lo) * scale), 0.0)
    return np.clip(out, 0, 255).astype(np.uint8)


def _stretch_array(a: np.ndarray) -> np.ndarray:
    """A non-uint8 gray (H, W [, 1]) or RGB (H, W, 3) array -> uint8 by the per-image stretch
    (over all three channels together, so colours keep their ratios)."""
    if a.dtype.kind not in "iuf":
        raise HumeSSLError(f"images must hold numbers (uint8, or integers / floats stretched to "
                           f"0..255 per image); got dtype {a.dtype}.")
    if a.ndim == 3 and a.shape[2] == 4:
        raise HumeSSLError(f"an RGBA image must be uint8 (0..255); got dtype {a.dtype}. Convert "
                           "it to uint8 or drop the alpha channel.")
    return _stretch_to_uint8(a)


def _pil_to_array(img: Image.Image) -> np.ndarray:
    """A PIL image -> (H, W) uint8 for 16-bit, 32-bit and float modes (stretched per image),
    else (H, W, 3) uint8 RGB with transparency composited on black."""
    if img.mode in HIGH_DEPTH_MODES:  # PIL's convert("RGB") would clip them at 255
        return _stretch_to_uint8(np.asarray(img))
    if img.mode != "RGB":
        if img.mode in ("RGBA", "LA", "P", "PA"):  # composite transparency on black
            img = img.convert("RGBA")
            bg = Image.new("RGBA", img.size, (0, 0, 0, 255))
            img = Image.alpha_composite(bg, img)
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8)


def to_rgb_uint8(img: np.ndarray | Image.Image) -> np.ndarray:
    """Any image (PIL, HxW gray, HxWx1, HxWx3, HxWx4 RGBA) -> (H, W, 3) uint8 RGB.

    8-bit images keep their values. 16-bit, 32-bit and float images (PIL modes I;16*, I, F, and
    non-uint8 arrays) are stretched per image to 0..255 (`_stretch_to_uint8`: min -> 0,
    max -> 255, a constant image -> 0) before gray is copied to the three channels.
    """
    a = _pil_to_array(img) if isinstance(img, Image.Image) else np.asarray(img)
    if a.dtype != np.uint8:
        a = _stretch_array(a)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise HumeSSLError(f"an image must be H x W [x 1|3|4]; got shape {a.shape}.")
    if a.shape[2] == 1:
        return np.repeat(a, 3, axis=2)
    if a.shape[2] == 4:  # RGBA: drop alpha (pixels premultiplied on black)
        rgb = a[:, :, :3].astype(np.uint16) * a[:, :, 3:4] // 255
        return rgb.astype(np.uint8)
    return a


def _names_hash(n: int, names: Sequence[str]) -> str:
    h = hashlib.sha256(f"N={n}\n".encode())
    for s in names:
        h.update(s.encode() + b"\n")
    return h.hexdigest()[:16]


def _array_order_hash(get: Callable[[int], np.ndarray], n: int,
                      labels: Optional[np.ndarray]) -> str:
    """N, labels, and the pixels of ~2,000 evenly spaced images: cheap, and order-sensitive."""
    h = hashlib.sha256(f"N={n}\n".encode())
    if labels is not None:
        h.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    step = max(1, n // 2048)
    for i in list(range(0, n, step)) + ([n - 1] if n else []):
        h.update(np.ascontiguousarray(get(i)).tobytes())
    return h.hexdigest()[:16]


HASH_CHUNK = 16 << 20  # bytes per update of the streaming content hash


def _hash_buffer(h, a: np.ndarray) -> None:
    """Stream an array's shape, dtype and raw bytes into `h` (16 MiB slices: a memory-mapped
    array is never loaded whole)."""
    a = np.ascontiguousarray(a)
    h.update(str((a.shape, a.dtype.str)).encode())
    flat = a.reshape(-1).view(np.uint8) if a.size else np.zeros(0, np.uint8)
    mv = memoryview(flat)
    for i in range(0, flat.size, HASH_CHUNK):
        h.update(mv[i : i + HASH_CHUNK])


def content_digest(*arrays: Optional[np.ndarray], text: str = "") -> str:
    """sha256 (32 hex digits) of `text` and every array's shape, dtype and bytes. sha256, not
    blake2b: with the SHA instructions of current CPUs it streams ~1.6x faster
    (recipes/bench_cache_identity.py)."""
    h = hashlib.sha256(text.encode())
    for a in arrays:
        if a is not None:
            _hash_buffer(h, a)
    return h.hexdigest()[:32]


def _files_digest(files: Sequence[Path], ids: Sequence[str]) -> str:
    """Each file's name, size and modification time (ns): a rewritten image changes its mtime.
    Reading every file's bytes would make a cached call on a large folder take minutes."""
    h = hashlib.sha256(f"N={len(files)}\n".encode())
    for p, i in zip(files, ids):
        st = p.stat()
        h.update(f"{i}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


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
                self._order_hash = _names_hash(self._n, self.sample_ids)
            else:
                self._order_hash = _array_order_hash(self._get, self._n, self.labels)
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
                    _hash_buffer(h, self.labels)
                for i in range(self._n):
                    _hash_buffer(h, np.asarray(self._get(i)))
                self._content_hash = h.hexdigest()[:32]
        return self._content_hash

    def images_uint8(self) -> np.ndarray:
        """All images as one (N, H, W, 3) uint8 array (same-size datasets only)."""
        if self._array is not None:
            return self._array
        if self.image_size is None:
            raise HumeSSLError(f"{self.name}: images differ in size; cannot stack them into one "
                               "array: train-fixmatch and pretrain take --image-size S to resize "
                               "and center-crop every image to S x S (predict applies a model's "
                               "own).")
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


def _npz_labels(y: np.ndarray, path: Path) -> Optional[np.ndarray]:
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


def _load_npz(path: Path, name: str, split: str) -> ImageDataset:
    if not path.is_file():
        raise HumeSSLError(f"{name}: file not found: {path}. An npz dataset is one file per "
                           "split; use a {split} placeholder for train/test files.")
    try:
        z = np.load(path, allow_pickle=False)
        keys = set(z.files)
    except Exception as e:
        raise HumeSSLError(f"{name}: cannot read {path} as .npz ({e}).") from e
    labels = _npz_labels(z["labels"], path) if "labels" in keys else None
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


# ---------------------------------------------------------------- image folders
def _hidden(name: str) -> bool:
    """Names an image folder passes over everywhere: dot-files and -folders, macOS's __MACOSX."""
    return name.startswith(".") or name == "__MACOSX"


def _is_image(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTENSIONS


def _walk(d: Path) -> Iterator[Path]:
    """The files below `d`, hidden paths passed over, in no set order."""
    return (p for p in d.rglob("*") if p.is_file() and
            not any(_hidden(part) for part in p.relative_to(d).parts))


def _files_under(d: Path) -> list[Path]:
    return sorted(_walk(d))


def _holds_image(d: Path) -> bool:
    return any(_is_image(p) for p in _walk(d))  # stops at the first image


def _folder_layout(root: Path) -> tuple[Optional[list[Path]], list[str]]:
    """(the class folders of `root`: its sub-folders holding an image file, sorted; or None for
    a flat, unlabeled folder, the names of the sub-folders passed over as holding no image).
    Hidden folders (.*, __MACOSX) are not classes. Raises on images beside class folders, and
    on a folder that only wraps the class folders one level down."""
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not _hidden(p.name))
    class_dirs = [d for d in subdirs if _holds_image(d)]
    if not class_dirs:
        return None, []
    empty = [d.name for d in subdirs if d not in class_dirs]
    stray = sorted(p.name for p in root.iterdir()
                   if p.is_file() and _is_image(p) and not _hidden(p.name))
    if stray:
        shown = ", ".join(stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
        raise HumeSSLError(f"{root}: {len(stray)} image file(s) beside the class folders "
                           f"({shown}); move them into a class folder or remove them (a folder "
                           "is either class sub-folders only, or flat and unlabeled).")
    if len(class_dirs) == 1:
        _check_not_a_wrapper(root, class_dirs[0])
    return class_dirs, empty


def _check_not_a_wrapper(root: Path, inner: Path) -> None:
    """One class folder whose images all sit in its own sub-folders: `root` wraps the class
    folders (wrap/images/<classes>/), which would read as a single class."""
    if any(_is_image(p) for p in inner.iterdir() if p.is_file() and not _hidden(p.name)):
        return
    nested = [d.name for d in sorted(inner.iterdir()) if d.is_dir() and not _hidden(d.name)]
    raise HumeSSLError(f"{root} holds one folder, {inner.name}/, whose sub-folders "
                       f"({', '.join(nested[:5])}{' ...' if len(nested) > 5 else ''}) look like "
                       f"the class folders: pass imagefolder:{inner} instead.")


def _list_folder(root: Path, strict: bool, classes: Optional[list[str]] = None
                 ) -> tuple[list[Path], list[Optional[int]], Optional[list[str]], dict,
                            Optional[tuple[int, int]]]:
    """(files, their class ids, class names, counts of files passed over, the (H, W) every
    image has or None): readable images only, each checked by its header. `classes`: the names
    that give the ids (every split's class folders), else this folder's own class folders."""
    class_dirs, empty = _folder_layout(root)
    if class_dirs is None:
        groups = [(None, _files_under(root))]
    else:
        classes = classes or [d.name for d in class_dirs]
        groups = [(classes.index(d.name), _files_under(d)) for d in class_dirs]
    if empty:
        warnings.warn(f"{root}: sub-folders with no image file are not classes: "
                      f"{', '.join(empty)} (dataset info['empty_folders']).", stacklevel=2)
    files, labels, skipped, ignored, sizes = [], [], [], 0, set()
    for c, paths in groups:
        for p in paths:
            if not _is_image(p):
                ignored += 1
                continue
            try:  # header only: cheap, catches non-images and empty files
                with Image.open(p) as im:
                    sizes.add(im.size[::-1])  # (H, W)
            except (UnidentifiedImageError, OSError, ValueError) as e:
                if strict:
                    raise HumeSSLError(f"unreadable image {p}: {e}. Remove or fix it, or drop "
                                       "--strict to skip unreadable files.") from e
                skipped.append(str(p.relative_to(root)))
                continue
            files.append(p)
            labels.append(c)
    counts = {"skipped_unreadable": skipped, "ignored_non_image": ignored, "empty_folders": empty}
    return (files, labels, classes if class_dirs else None, counts,
            sizes.pop() if len(sizes) == 1 else None)


def _load_folder(root: Path, name: str, split: str, strict: bool,
                 classes: Optional[list[str]] = None) -> ImageDataset:
    if root.is_file():
        raise HumeSSLError(f"{name}: {root} is a file, not a folder; give the folder that holds "
                           "the images (an .npz file is read as npz:PATH).")
    if not root.is_dir():
        raise HumeSSLError(f"{name}: folder not found: {root}.")
    files, labels, classes, counts, size = _list_folder(root, strict, classes)
    if not files:
        raise HumeSSLError(f"{name}: no readable images in {root} (extensions "
                           f"{', '.join(IMAGE_EXTENSIONS)}; {counts['ignored_non_image']} other "
                           f"files, {len(counts['skipped_unreadable'])} unreadable).")
    ids = [str(p.relative_to(root)) for p in files]

    def get(i: int) -> np.ndarray:
        try:
            with Image.open(files[i]) as im:
                return to_rgb_uint8(im)
        except (OSError, ValueError) as e:
            raise HumeSSLError(f"cannot decode {files[i]}: {e}. Remove or fix the file "
                               "(sample ids are fixed once listed) and re-run.") from e

    y = np.array(labels, np.int64) if classes else None
    return ImageDataset(name, split, len(files), get, labels=y,
                        class_names=classes, sample_ids=ids, image_size=size,
                        content=lambda: content_digest(y, text=_files_digest(files, ids)),
                        info={"path": str(root.resolve()), **counts,
                              "skipped": len(counts["skipped_unreadable"])})


def _has_splits(path: str, is_dir: bool) -> bool:
    """Whether `path` names per-split files or folders: a `{split}` placeholder, or a folder
    with a train/ sub-folder."""
    return "{split}" in path or (is_dir and (Path(path).expanduser() / "train").is_dir())


def _split_path(path: str, split: str) -> Path:
    """The file or folder of one split of a path that has splits (see `_has_splits`)."""
    if "{split}" in path:
        return Path(path.replace("{split}", split)).expanduser()
    return Path(path).expanduser() / split


def _split_paths(name: str, path: str, split: str, is_dir: bool) -> list[tuple[str, Path]]:
    """`{split}` in the path is replaced by the split; a folder with train/ and test/ sub-folders
    is split by them; otherwise the path is the one split, loaded as `train`."""
    if _has_splits(path, is_dir):
        return [(s, _split_path(path, s)) for s in split.split("+")]
    p = Path(path).expanduser()
    if split != "train":
        raise HumeSSLError(f"{name}: {p} is a single split; ask for split 'train', or put a "
                           "{split} placeholder in the path (e.g. npz:/x/data_{split}.npz) or "
                           "train/ and test/ sub-folders in it.")
    return [("train", p)]


def _shared_classes(path: str) -> Optional[list[str]]:
    """The class names of an image folder with splits: the sorted union of the train and test
    folders' class folders, so that a class name has one id in every split (test/ lacking a
    class does not shift the ids after it). None for a single folder, or no class folders."""
    if not _has_splits(path, is_dir=True):
        return None
    per_split: dict[str, set[str]] = {}
    for s in ("train", "test"):
        d = _split_path(path, s)
        if d.is_dir():
            per_split[s] = {p.name for p in _folder_layout(d)[0] or []}
    names = set().union(*per_split.values())
    only_test = sorted(names - per_split.get("train", names))
    if only_test:  # k from the class list counts them, though train holds none of them
        warnings.warn(f"{path}: class folders only in test/: {', '.join(only_test)}; they count "
                      "among the classes (pass --k to leave them out).", stacklevel=2)
    return sorted(names) or None


# ---------------------------------------------------------------- torchvision datasets
def _missing(name: str, root: Path, expected: str, err: Exception) -> HumeSSLError:
    return HumeSSLError(
        f"{name} is not in the data root {root} and could not be downloaded ({type(err).__name__}: "
        f"{err}). Expected {expected} under {root}. Put the files there (or pass --data-root / "
        "set HUME_SSL_DATA to where they are), or run once with network access.")


def _tv_download(cls_name: str, root: Path, name: str, expected: str, **kw) -> None:
    import torchvision.datasets as tvd

    try:
        getattr(tvd, cls_name)(str(root), download=True, **kw)
    except Exception as e:  # offline: URLError, RuntimeError, ...
        raise _missing(name, root, expected, e) from e


def _cifar(name: str, root: Path, split: str, variant: str) -> ImageDataset:
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


def _stl10(name: str, root: Path, split: str) -> ImageDataset:
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


def _fashion_mnist(name: str, root: Path, split: str) -> ImageDataset:
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


def _digits(name: str, root: Path, split: str) -> ImageDataset:
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


# ---------------------------------------------------------------- registry
Loader = Callable[[str, str, Path, bool], list[ImageDataset]]


class DatasetEntry(NamedTuple):
    """One registry row: `load(name, split, data_root, strict)` returns the split's parts (one
    dataset per part of "train+test"); `description` is for people."""

    load: Loader
    description: str


def _per_split(load_one: Callable[[str, Path, str], ImageDataset]) -> Loader:
    """A loader of one split -> a loader of "a+b" splits (one dataset per part)."""
    return lambda name, split, root, strict: [load_one(name, root, s) for s in split.split("+")]


def _load_path(name: str, split: str, root: Path, strict: bool) -> list[ImageDataset]:
    """`imagefolder:PATH` and `npz:PATH` (PATH absolute): the file or folder of each split."""
    kind, _, path = name.partition(":")
    parts = _split_paths(name, path, split, is_dir=kind == "imagefolder")
    if kind == "imagefolder":
        classes = _shared_classes(path)  # (k,) names: one id per name in every split
        return [_load_folder(p, name, s, strict, classes) for s, p in parts]
    return [_load_npz(p, name, s) for s, p in parts]


DATASETS: dict[str, DatasetEntry] = {
    "cifar10": DatasetEntry(
        _per_split(lambda name, root, s: _cifar(name, root, s, "10")),
        "CIFAR-10 (torchvision download): 50,000 train / 10,000 test, 32x32, 10 classes"),
    "cifar100": DatasetEntry(
        _per_split(lambda name, root, s: _cifar(name, root, s, "100")),
        "CIFAR-100 fine labels (100 classes)"),
    "cifar100-20": DatasetEntry(
        _per_split(lambda name, root, s: _cifar(name, root, s, "100-20")),
        "CIFAR-100 with its 20 coarse superclasses (the HUME paper's CIFAR-100-20)"),
    "stl10": DatasetEntry(
        _per_split(_stl10),
        "STL-10: 5,000 train / 8,000 test, 96x96; split `unlabeled` also accepted"),
    "fashion-mnist": DatasetEntry(
        _per_split(_fashion_mnist),
        "Fashion-MNIST, 28x28 gray (as RGB); also read from /usr/share/datasets/fashion-mnist"),
    "digits": DatasetEntry(
        _per_split(_digits),
        "scikit-learn's handwritten digits (ships with scikit-learn, offline): 1,297 train / "
        "500 test (fixed split, seed 0), 8x8 gray (as RGB), 10 classes"),
    "imagefolder:PATH": DatasetEntry(
        _load_path,
        "a folder of images; class sub-folders give labels; `{split}` in PATH or train/ test/ "
        "sub-folders give splits"),
    "npz:PATH": DatasetEntry(
        _load_path,
        "an .npz with `images` (uint8 N x H x W [x C]) [+ `labels`, `classes`], or the JPEG "
        "layout `jpeg_bytes` + `offsets` [+ `labels`, `names`, `classes`]; one split per file, "
        "`{split}` in PATH for train/test files"),
}


def dataset_names() -> list[str]:
    return list(DATASETS)


def load_dataset(name: str, split: str = "train", data_root: str | os.PathLike | None = None,
                 strict: bool = False) -> ImageDataset:
    """Resolve a dataset name (see DATASETS) to an ImageDataset of that split.

    `strict`: for image folders, fail on an unreadable image file instead of skipping it (the
    number skipped is in `ds.info["skipped"]`).
    """
    if split not in SPLITS and not (name == "stl10" and split == "unlabeled"):
        raise unknown_choice("split", split, SPLITS)
    kind, _, path = name.partition(":")
    if path and f"{kind}:PATH" in DATASETS:  # a path kind: the name holds the absolute path
        entry = DATASETS[f"{kind}:PATH"]
        name = f"{kind}:{os.path.abspath(os.path.expanduser(path))}"
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
