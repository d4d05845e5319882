"""Frozen-backbone feature extraction with an index-safe, resumable on-disk cache.

    fs = extract_features("npz:../shared/data/cifar10_{split}_jpeg.npz", "train",
                          "torchvision:squeezenet1_1", weights="squeezenet1_1_imagenet.pth")
    fs.features   # (N, d) float32, memory-mapped; row i is sample i of the dataset
    fs.meta       # the JSON sidecar: dataset, split, N, backbone, weights, preprocessing, ...

Cache layout, under `cache_dir` ($HUME_SSL_CACHE, else ~/.cache/hume-ssl):
    features/<dataset>/<split>/<backbone>-<key>.npy           (N, d) float32
    features/<dataset>/<split>/<backbone>-<key>.json          sidecar; "complete": true when done
    features/<dataset>/<split>/<backbone>-<key>.written.npy   (N,) bool rows done, while running
`key` hashes everything that changes the numbers: dataset name, split, N and sample-order hash,
backbone and output, weights identity (file sha256 or pretrained tag), resolved preprocessing,
resize backend and compute dtype. A killed run resumes from the rows marked written.

Every loader item carries its index; features are scattered into the preallocated memmap by
index and the run asserts every row was written (as dinov2's extract_features does).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from hume_ssl.core.device import resolve_device
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import atomic_save_npy, atomic_write_json, config_hash
from hume_ssl.core.versions import versions
from hume_ssl.data.datasets import ImageDataset, load_dataset
from hume_ssl.data.images import resize_crop
from hume_ssl.models.backbones import BackboneSpec, Preprocessing, load_backbone, resolve_backbone

CACHE_FORMAT = 1
CHECKPOINT_SECONDS = 20.0  # save the written-rows marker at most this often


@dataclass
class FeatureSet:
    features: np.ndarray  # (N, d) float32 memmap
    meta: dict
    path: Path  # the .npy file
    labels: Optional[np.ndarray] = None  # (N,) int64 from the dataset, for evaluation only
    cached: bool = False  # True when this call found the features in the cache

    @property
    def n(self) -> int:
        return int(self.features.shape[0])

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get("HUME_SSL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hume-ssl"


def _slug(s: str, n: int = 60) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", s).strip("-")[:n] or "x"


def _dataset_slug(name: str) -> str:
    """Readable, unique folder name: short names as they are; long paths -> tail + hash."""
    if len(name) <= 40:
        return _slug(name)
    kind = name.split(":", 1)[0]
    tail = _slug(name.replace("{split}", "").rsplit("/", 1)[-1], 30)
    return f"{_slug(kind, 12)}-{tail}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


# ------------------------------------------------------------------------- data path
class _IndexedRows(torch.utils.data.Dataset):
    """Item j -> (dataset index rows[j], uint8 HWC image). Same-size datasets return the raw
    image (resized batched on the device); others are resized and cropped here, in a worker."""

    def __init__(self, ds: ImageDataset, rows: np.ndarray, pre: Preprocessing, raw: bool):
        self.ds, self.rows, self.pre, self.raw = ds, rows, pre, raw

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, j: int):
        i = int(self.rows[j])
        img = self.ds[i]
        if self.raw:
            if img.shape[:2] != tuple(self.ds.image_size):
                raise HumeSSLError(f"{self.ds.name}: image {i} is {img.shape[:2]}, expected "
                                   f"{self.ds.image_size} like the first one.")
        else:
            img = resize_crop(img, self.pre.resize_size, self.pre.input_size,
                              self.pre.interpolation)
        return i, torch.from_numpy(np.array(img, dtype=np.uint8, order="C"))


def preprocess_batch(x: torch.Tensor, pre: Preprocessing, raw: bool) -> torch.Tensor:
    """(B, H, W, 3) uint8 on the device -> (B, 3, S, S) float normalised model input."""
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    if raw:
        h, w = x.shape[-2:]
        s = pre.resize_size / min(h, w)
        size = (max(1, round(h * s)), max(1, round(w * s)))
        if size != (h, w):
            mode = pre.interpolation if pre.interpolation in ("bilinear", "bicubic") else "nearest"
            kw = {"antialias": True, "align_corners": False} if mode != "nearest" else {}
            x = F.interpolate(x, size=size, mode=mode, **kw).clamp_(0, 1)
        c = pre.input_size
        top, left = int(round((size[0] - c) / 2)), int(round((size[1] - c) / 2))
        x = x[:, :, top:top + c, left:left + c]
    mean = torch.tensor(pre.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(pre.std, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


# ------------------------------------------------------------------------- cache
def _cache_meta(ds: ImageDataset, b: BackboneSpec, cache_dir: Path, raw: bool,
                dev: torch.device) -> dict:
    amp = "fp32"
    if dev.type == "cuda":
        amp = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    keyed = {
        "format": CACHE_FORMAT,
        "dataset": ds.name, "split": ds.split, "N": len(ds), "order_hash": ds.order_hash,
        "backbone": b.spec, "model": f"{b.source}:{b.model_name}", "output": b.output,
        "weights": b.weights_identity(cache_dir),
        "preprocessing": {**b.preprocessing.to_dict(),
                          "crop": "center", "resize_backend": "torch" if raw else "pil"},
        "compute_dtype": amp,
    }
    key = config_hash(keyed, 12)
    return {**keyed, "key": key, "dtype": "float32"}


def _cache_paths(cache_dir: Path, meta: dict) -> tuple[Path, Path, Path]:
    folder = cache_dir / "features" / _dataset_slug(meta["dataset"]) / _slug(meta["split"])
    stem = f"{_slug(meta['backbone'], 40)}-{meta['key']}"
    return folder / f"{stem}.npy", folder / f"{stem}.json", folder / f"{stem}.written.npy"


def _open_valid(npy: Path, meta: dict) -> Optional[np.ndarray]:
    """The cached array if its file matches the sidecar (shape, dtype, byte size), else None."""
    try:
        arr = np.load(npy, mmap_mode="r", allow_pickle=False)
    except Exception:
        return None
    if (arr.dtype != np.float32 or arr.ndim != 2 or arr.shape[0] != meta["N"]
            or arr.shape[1] != meta.get("d") or npy.stat().st_size != meta.get("file_bytes")):
        return None
    return arr


def _all_finite(arr: np.ndarray, chunk: int = 65536) -> bool:
    """No NaN or inf in a (memory-mapped) feature matrix, checked in row chunks."""
    return all(np.isfinite(arr[i : i + chunk]).all() for i in range(0, len(arr), chunk))


def _read_sidecar(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _discard(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def cached_features(ds: ImageDataset, b: BackboneSpec, cache_dir: Path, device="auto",
                    ) -> Optional[FeatureSet]:
    """The complete cached FeatureSet for this dataset + backbone, or None."""
    dev = resolve_device(device) if isinstance(device, str) else device
    meta = _cache_meta(ds, b, cache_dir, ds.image_size is not None, dev)
    npy, side, _ = _cache_paths(cache_dir, meta)
    old = _read_sidecar(side) if side.exists() else None
    if old and old.get("complete") and old.get("key") == meta["key"]:
        arr = _open_valid(npy, old)
        if arr is not None:
            return FeatureSet(arr, old, npy, ds.labels, cached=True)
    return None


# ------------------------------------------------------------------------- extraction
def _progress_bar(enabled: bool, total: int, done: int, label: str):
    from contextlib import nullcontext

    if not enabled:
        return nullcontext(None)
    from rich.console import Console

    from hume_ssl.core.progress import rich_progress

    progress = rich_progress(Console(stderr=True), field="rate")
    progress.start()
    progress.add_task(label, total=total, completed=done, rate="")

    class _Ctx:
        def __enter__(self):
            return progress

        def __exit__(self, *exc):
            progress.stop()

    return _Ctx()


@contextmanager
def _save_marker_on_exit(state: Callable[[], tuple]):
    """On an interrupt or error, flush the rows done so far and mark them, for the resume."""
    try:
        yield
    except BaseException:
        out, written, marker = state()
        if out is not None:
            out.flush()
            atomic_save_npy(marker, written)
        raise


def extract_features(
    dataset: Union[str, ImageDataset],
    split: str = "train",
    backbone: str = "dinov2_vitb14",
    weights: Optional[str] = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    device: str = "auto",
    batch_size: Optional[int] = None,
    num_workers: Optional[int] = None,
    data_root: str | os.PathLike | None = None,
    progress: bool = True,
    random_init: bool = False,
    strict: bool = False,
    input_size: Optional[int] = None,
    callback: Optional[Callable[[str, dict], None]] = None,
    force: bool = False,
) -> FeatureSet:
    """Features of every image of `dataset` (name or ImageDataset) with a frozen backbone.

    Returns the cached FeatureSet when one matches (instant); otherwise extracts, writing rows
    into the memory-mapped cache as it goes (a killed run resumes). `weights`: a local weights
    file, "random", or None for the pretrained download. `batch_size` in images (default 256 on
    GPU, 64 on CPU); `num_workers` DataLoader processes decoding/resizing images. `input_size`
    overrides the backbone's crop size (e.g. 128 for quick CPU runs; part of the cache key).
    `callback(event, info)` gets "batch" events with {"done", "total", "images_per_s"}.
    `force`: ignore (and replace) a cached file. A cached file with NaN or inf rows is
    extracted again.
    """
    ds = dataset if isinstance(dataset, ImageDataset) else load_dataset(
        dataset, split, data_root, strict=strict)
    if len(ds) == 0:
        raise HumeSSLError(f"{ds.name} ({ds.split}) has no images.")
    b = resolve_backbone(backbone, weights, random_init, input_size)
    cache = default_cache_dir(cache_dir)
    dev = resolve_device(device)
    raw = ds.image_size is not None
    meta = _cache_meta(ds, b, cache, raw, dev)
    npy, side, marker = _cache_paths(cache, meta)

    old = _read_sidecar(side) if side.exists() else None
    out, written = None, None
    if force and (old is not None or npy.exists()):
        _discard(npy, side, marker)  # --force: extract again whatever the cache holds
        old = None
    if old and old.get("key") == meta["key"]:
        arr = _open_valid(npy, old)
        if arr is not None and old.get("complete"):
            if _all_finite(arr):
                return FeatureSet(arr, old, npy, ds.labels, cached=True)
            warnings.warn(f"cached features {npy} hold NaN or inf rows; extracting again.",
                          stacklevel=2)
            arr = None
            _discard(npy, side, marker)
        if arr is not None and marker.exists():  # resume a killed run
            try:
                written = np.load(marker, allow_pickle=False)
                if written.shape != (len(ds),) or written.dtype != bool:
                    written = None
            except Exception:
                written = None
            if written is not None:
                out = np.load(npy, mmap_mode="r+", allow_pickle=False)
                meta = {**old, **meta}
    if out is None:
        if npy.exists() or side.exists():
            warnings.warn(f"feature cache {npy} is incomplete or does not match its sidecar; "
                          "recomputing.", stacklevel=2)
        _discard(npy, side, marker)
        written = np.zeros(len(ds), dtype=bool)

    if dev.type == "cpu" and len(ds) - int(written.sum()) > 2000:
        warnings.warn(f"extracting {len(ds) - int(written.sum())} images on CPU: this can take a "
                      "long time (tens of images/s for a ViT-B); use --device cuda if you have a "
                      "GPU.", stacklevel=2)

    model = load_backbone(b, device=dev)
    cpu_n = os.cpu_count() or 1
    if batch_size is None:
        batch_size = 256 if dev.type == "cuda" else 64
    if num_workers is None:
        num_workers = min(8, cpu_n) if dev.type == "cuda" else max(1, min(4, cpu_n // 2))
    rows = np.flatnonzero(~written)
    loader = torch.utils.data.DataLoader(
        _IndexedRows(ds, rows, b.preprocessing, raw), batch_size=batch_size, shuffle=False,
        num_workers=num_workers, pin_memory=dev.type == "cuda",
        persistent_workers=False, drop_last=False)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(meta["compute_dtype"])

    t0, n_new, last_ckpt = time.perf_counter(), 0, time.perf_counter()
    label = f"{b.spec} on {ds.name}/{ds.split}"
    with _progress_bar(progress, len(ds), int(written.sum()), label) as bar, \
            torch.inference_mode(), _save_marker_on_exit(lambda: (out, written, marker)):
        for idx, imgs in loader:
            x = preprocess_batch(imgs.to(dev, non_blocking=True), b.preprocessing, raw)
            if amp_dtype is not None:
                with torch.autocast(dev.type, dtype=amp_dtype):
                    y = model(x)
            else:
                y = model(x)
            if y.ndim != 2:
                y = y.flatten(1)
            y = y.float().cpu().numpy()
            if out is None:  # first batch fixes d: preallocate the whole (N, d) memmap
                meta["d"] = int(y.shape[1])
                npy.parent.mkdir(parents=True, exist_ok=True)
                out = np.lib.format.open_memmap(npy, mode="w+", dtype=np.float32,
                                                shape=(len(ds), meta["d"]))
                meta.update(complete=False, versions=versions(),
                            file_bytes=None, created=time.strftime("%Y-%m-%dT%H:%M:%S"))
                out.flush()
                meta["file_bytes"] = npy.stat().st_size
                atomic_write_json(side, meta)
                atomic_save_npy(marker, written)
            elif y.shape[1] != out.shape[1]:
                raise HumeSSLError(f"{b.spec} returned {y.shape[1]} features, the cache "
                                   f"has {out.shape[1]}; delete {npy}.")
            idx = idx.numpy()
            out[idx] = y  # scatter by sample index: row order never depends on the loader
            written[idx] = True
            n_new += len(idx)
            rate = n_new / max(time.perf_counter() - t0, 1e-9)
            if bar is not None:
                bar.update(bar.task_ids[0], advance=len(idx), rate=f"{rate:.1f} images/s")
            if time.perf_counter() - last_ckpt > CHECKPOINT_SECONDS:
                out.flush()
                atomic_save_npy(marker, written)
                last_ckpt = time.perf_counter()
            if callback:
                callback("batch", {"done": int(written.sum()), "total": len(ds),
                                   "images_per_s": rate})
    if out is None:  # nothing left to compute: resumed with every row already written
        out = np.load(npy, mmap_mode="r+", allow_pickle=False)
    out.flush()
    missing = np.flatnonzero(~written)
    assert missing.size == 0, f"rows never written: {missing[:10]}"
    seconds = time.perf_counter() - t0
    meta.update(complete=True, seconds=round(seconds, 3),
                images_per_s=round(n_new / max(seconds, 1e-9), 2), device=str(dev),
                batch_size=batch_size, num_workers=num_workers,
                dataset_info={k: (v[:20] if isinstance(v, list) else v)
                              for k, v in ds.info.items() if k != "parts"},
                class_names=ds.class_names, has_labels=ds.labels is not None)
    out = None  # close the writable memmap
    atomic_write_json(side, meta)
    _discard(marker)
    return FeatureSet(np.load(npy, mmap_mode="r", allow_pickle=False), meta, npy, ds.labels)
