"""Frozen-backbone feature extraction with an index-safe, resumable on-disk cache.

    fs = extract_features("npz:../shared/data/cifar10_{split}_jpeg.npz", "train",
                          "torchvision:squeezenet1_1", weights="squeezenet1_1_imagenet.pth")
    fs.features   # (N, d) float32, memory-mapped; row i is sample i of the dataset
    fs.meta       # the JSON sidecar: dataset, split, N, backbone, weights, preprocessing, ...

The cache lives under `cache_dir` ($HUME_SSL_CACHE, else ~/.cache/hume-ssl): one .npy per
dataset split + backbone, keyed by everything that changes the numbers, with a JSON sidecar
(layout and key: hume_ssl.features.cache). A killed run resumes from the rows marked written.

Every loader item carries its index; features are scattered into the preallocated memmap by
index and the run asserts every row was written (as dinov2's extract_features does).

Under torchrun (`torchrun --nproc_per_node N -m hume_ssl features ...`) the ranks first
check that they see the same dataset, backbone and options; rank 0 prepares the cache (resume
or fresh start) and preallocates the memmap; the rows still to compute are cut into the batches
one process would run and batch j goes to rank j mod N, so every row is computed in the same
batch as by one process (bit-equal on the CPU); each rank scatters its rows into the shared
memmap and saves its own written-rows marker; once all are done rank 0 checks every row and
writes the sidecar. The cache folder must be one file system that every rank sees.
"""

from __future__ import annotations

import os
import time
import warnings
from contextlib import nullcontext
from typing import Callable, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from hume_ssl.core import distributed
from hume_ssl.core.device import resolve_device
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import check_writable_dir
from hume_ssl.core.params import check_value
from hume_ssl.data.datasets import load_dataset
from hume_ssl.data.image_dataset import ImageDataset
from hume_ssl.data.images import PIL_INTERPOLATION, resize_crop, resized_size
from hume_ssl.features.cache import (  # noqa: F401  (cached_features: re-exported)
    FeatureCache,
    FeatureSet,
    cache_meta,
    cached_features,
    check_cache_dir,
    default_cache_dir,
)
from hume_ssl.models.backbones import (
    INPUT_SIZE_BOUNDS,
    BackboneSpec,
    Preprocessing,
    load_backbone,
    resolve_backbone,
)

CHECKPOINT_SECONDS = 20.0  # save the written-rows marker at most this often
CPU_WARN_IMAGES = 2000  # warn that the CPU is slow above this many images to extract
# the allowed values of the loader's numbers (the `features` options declare them from here)
LOADER_BOUNDS = {"batch_size": "[1, inf)", "num_workers": "[0, inf)",
                 "input_size": INPUT_SIZE_BOUNDS}  # input_size: pixels
BATCH_SIZE = {"cuda": 256, "cpu": 64}  # images per forward pass when none is given
MAX_WORKERS = {"cuda": 8, "cpu": 4}  # DataLoader workers when none are given: up to the cores
# on a GPU, up to half of them on the CPU (at least 1)


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


def resize_as_pil(x: torch.Tensor, size: tuple[int, int], interpolation: str) -> torch.Tensor:
    """(B, 3, H, W) float in 0..255 -> (B, 3, h, w) as PIL's resize gives it: antialiased
    bilinear or bicubic (PIL's kernels), the width first, then the height, each pass rounded
    to uint8 levels (one float pass differed by up to 8 levels at 32 -> 292 px); nearest in
    one pass ("nearest-exact": PIL's pixel centres); another name is bicubic, as on the host
    (data.images.resize_crop)."""
    if interpolation == "nearest":
        return F.interpolate(x, size=size, mode="nearest-exact")
    if interpolation not in PIL_INTERPOLATION:  # the host's fallback (data.images.resize_crop)
        interpolation = "bicubic"
    for step in ((x.shape[-2], size[1]), size):  # (H, w), then (h, w)
        if tuple(x.shape[-2:]) != tuple(step):
            x = F.interpolate(x, size=step, mode=interpolation, antialias=True,
                              align_corners=False).round_().clamp_(0, 255)
    return x


def preprocess_batch(x: torch.Tensor, pre: Preprocessing, raw: bool) -> torch.Tensor:
    """(B, H, W, 3) uint8 on the device -> (B, 3, S, S) float normalised model input. raw:
    the images are still to be resized and cropped, here as resize_crop does it on the host
    (torchvision's sizes, PIL's resampling)."""
    x = x.permute(0, 3, 1, 2).float()
    if raw:
        h, w = x.shape[-2:]
        size = resized_size(h, w, pre.resize_size)
        if size != (h, w):
            x = resize_as_pil(x, size, pre.interpolation)
        c = pre.input_size
        top, left = int(round((size[0] - c) / 2)), int(round((size[1] - c) / 2))
        x = x[:, :, top:top + c, left:left + c]
    x = x.div_(255.0)
    mean = torch.tensor(pre.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(pre.std, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


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


def extract_features(
    dataset: Union[str, ImageDataset],
    split: Optional[str] = None,
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
    """Features of every image of `dataset` (name or ImageDataset) with a frozen backbone;
    `split`: of a name, "train" when None; an ImageDataset is its own split (another is an
    error).

    Returns the cached FeatureSet when one matches (instant); otherwise extracts, writing rows
    into the memory-mapped cache as it goes (a killed run resumes). `weights`: a local weights
    file, "random", or None for the pretrained download. `batch_size` in images (default 256 on
    GPU, 64 on CPU); `num_workers` DataLoader processes decoding/resizing images. `input_size`
    overrides the backbone's crop size (e.g. 128 for quick CPU runs; part of the cache key).
    `callback(event, info)` gets "batch" events with {"done", "total", "images_per_s"}.
    `force`: ignore (and replace) a cached file. A cached file with NaN or inf rows is
    extracted again.
    """
    for name, value in (("batch_size", batch_size), ("num_workers", num_workers),
                        ("input_size", input_size)):  # before any work
        check_value("--" + name.replace("_", "-"), value, LOADER_BOUNDS[name], whole=True)
    b = resolve_backbone(backbone, weights, random_init, input_size)  # before the download
    if isinstance(dataset, ImageDataset) and split not in (None, dataset.split):
        raise HumeSSLError(f"split {split!r}: the ImageDataset given is {dataset.name}'s "
                           f"{dataset.split!r} split; pass that dataset's {split!r} split, or "
                           "leave split out.")  # (before: its own split, without a word)
    ds = dataset if isinstance(dataset, ImageDataset) else load_dataset(
        dataset, split or "train", data_root, strict=strict)
    if len(ds) == 0:
        raise HumeSSLError(f"{ds.name} ({ds.split}) has no images.")
    cache_root = check_cache_dir(default_cache_dir(cache_dir))
    dev = resolve_device(device)
    batch_size, num_workers = loader_sizes(dev, batch_size, num_workers)
    raw = ds.image_size is not None  # same-size images: resized batched on the device
    cache = FeatureCache(cache_root, cache_meta(ds, b, cache_root, raw, dev))
    world, rank = _join(dev, cache, batch_size, force)
    if not cache.side.exists():  # certainly a miss: a cache that cannot be written is named
        check_writable_dir(cache.npy.parent, create=False, option="--cache-dir")  # at once
    hit = cache.complete() if rank == 0 and not force else None  # a hit needs no lock
    if hit is not None:
        cache.drop_stale_markers()
    with cache.exclusive() if rank == 0 and hit is None else nullcontext():  # one at a time
        found = hit or (cache.open(force) if rank == 0 else None)  # rank 0 prepares the files
        if world > 1:  # every rank learns rank 0's finding and the rows left to compute
            complete, cache.written = distributed.broadcast(
                (found is not None, None if found is not None else cache.written))
            if complete and rank:
                found = cache.complete()
        if found is not None:
            return FeatureSet(*found, cache.npy, ds.labels, cached=True)
        # a miss writes: an unwritable cache said before the model loads (before: a raw OSError
        # from the memmap's mkdir; a read-only cache still serves the features it holds)
        check_writable_dir(cache.npy.parent, create=False, option="--cache-dir")
        older = None if cache.written.any() else cache.older_format(
            cache_meta(ds, b, cache_root, raw, dev, fmt=1))
        if older is not None and rank == 0:
            warnings.warn(f"{older} was written by an older hume-ssl, whose cache key did not "
                          "cover the image bytes, so it may hold features of other images; "
                          "extracting again (delete that file and its .json to free the space).",
                          stacklevel=2)
        todo = len(ds) - int(cache.written.sum())
        if dev.type == "cpu" and todo > CPU_WARN_IMAGES and rank == 0:
            warnings.warn(f"extracting {todo} images with {b.spec} on the CPU can take a long "
                          "time; use --device cuda if you have a GPU.", stacklevel=2)

        model = load_backbone(b, device=dev)
        amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cache.meta["compute_dtype"])
        rows = np.flatnonzero(~cache.written)
        if world > 1:  # rank 0 preallocates the memmap before any rank writes a row
            if rank == 0 and cache.out is None:
                with torch.inference_mode():
                    cache.allocate(_feature_dim(model, ds, b, dev, raw, amp_dtype))
            distributed.barrier()
            if rank:
                cache.attach()
            cache.shard(rank)
            rows = _rank_rows(rows, batch_size, rank, world)
        loader = torch.utils.data.DataLoader(
            _IndexedRows(ds, rows, b.preprocessing, raw),
            batch_size=batch_size, shuffle=False, num_workers=num_workers,
            pin_memory=dev.type == "cuda", persistent_workers=False, drop_last=False)
        t0 = time.perf_counter()
        label = f"{b.spec} on {ds.name}:{ds.split}" + (f" (rank 0 of {world})" if world > 1 else "")
        total = len(ds) if world == 1 else len(rows)
        with _progress_bar(progress and rank == 0, total, total - len(rows), label) as bar, \
                torch.inference_mode(), cache.marker_on_exit():
            n_new = _extract_rows(model, loader, cache, b, dev, raw, t0, bar, callback)
        if world > 1:  # every rank's rows are in; rank 0 collects the markers and seals
            cache.save_marker()
            n_new = sum(distributed.all_gather(n_new))
            distributed.barrier()
            if rank:
                distributed.barrier()  # wait for rank 0's sidecar
                return FeatureSet(*cache.complete(), cache.npy, ds.labels)
            cache.written = cache.read_markers()
        cache.close()
        seconds = time.perf_counter() - t0
        features = cache.seal(
            seconds=round(seconds, 3), images_per_s=round(n_new / max(seconds, 1e-9), 2),
            device=str(dev), batch_size=batch_size, num_workers=num_workers, processes=world,
            dataset_info={k: (v[:20] if isinstance(v, list) else v)
                          for k, v in ds.info.items() if k != "parts"},
            class_names=ds.class_names, has_labels=ds.labels is not None)
        distributed.barrier()  # torchrun: the other ranks read the sealed cache now
        return FeatureSet(features, cache.meta, cache.npy, ds.labels)


def _join(dev: torch.device, cache: FeatureCache, batch_size: int, force: bool
          ) -> tuple[int, int]:
    """(world size, rank): under torchrun the process group joined and every rank checked to
    see the same dataset, backbone and options (all stop, nothing written, when one differs)."""
    if not distributed.init(dev):
        return 1, 0
    m = cache.meta
    distributed.check_same("the dataset, backbone and options", {
        **{k: m.get(k) for k in ("dataset", "split", "N", "order_hash", "content_hash",
                                 "backbone", "weights", "preprocessing", "compute_dtype")},
        "cache_file": str(cache.npy.resolve()), "batch_size": batch_size, "force": force})
    return distributed.world_size(), distributed.rank()


def _rank_rows(rows: np.ndarray, batch_size: int, rank: int, world: int) -> np.ndarray:
    """This rank's share of `rows`: cut into the batches one process runs, batch j to rank
    j mod world (so each row meets the same batch as in one process)."""
    batches = [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
    mine = batches[rank::world]
    return np.concatenate(mine) if mine else rows[:0]


def _feature_dim(model, ds: ImageDataset, b: BackboneSpec, dev: torch.device, raw: bool,
                 amp_dtype: Optional[torch.dtype]) -> int:
    """d, from one image's forward: rank 0 preallocates the cache before any rank writes."""
    _, img = _IndexedRows(ds, np.zeros(1, dtype=np.int64), b.preprocessing, raw)[0]
    return int(_forward(model, img[None], b, dev, raw, amp_dtype).shape[1])


def loader_sizes(dev: torch.device, batch_size: Optional[int] = None,
                 num_workers: Optional[int] = None) -> tuple[int, int]:
    """Images per forward pass and DataLoader workers: as given, else by device and cores
    (BATCH_SIZE, MAX_WORKERS)."""
    cpu_n, kind = os.cpu_count() or 1, "cuda" if dev.type == "cuda" else "cpu"
    if batch_size is None:
        batch_size = BATCH_SIZE[kind]
    if num_workers is None:
        num_workers = min(MAX_WORKERS[kind], cpu_n if kind == "cuda" else max(1, cpu_n // 2))
    return batch_size, num_workers


def _forward(model: torch.nn.Module, imgs: torch.Tensor, b: BackboneSpec, dev: torch.device,
             raw: bool, amp_dtype: Optional[torch.dtype]) -> np.ndarray:
    """(B, H, W, 3) uint8 images -> (B, d) float32 features."""
    x = preprocess_batch(imgs.to(dev, non_blocking=True), b.preprocessing, raw)
    if amp_dtype is not None:
        with torch.autocast(dev.type, dtype=amp_dtype):
            y = model(x)
    else:
        y = model(x)
    if y.ndim != 2:
        y = y.flatten(1)
    return y.float().cpu().numpy()


def _batches(loader):
    """The loader's batches; an error raised in a worker process (an undecodable image) is
    re-raised as its own one-line message, not torch's wrapped worker traceback."""
    it = iter(loader)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except HumeSSLError as e:
            text = str(e).strip()
            if text.startswith("Caught HumeSSLError"):  # torch's ExceptionWrapper
                raise HumeSSLError(text.splitlines()[-1].split("HumeSSLError: ", 1)[-1]) from None
            raise
        yield batch


def _extract_rows(model, loader, cache: FeatureCache, b: BackboneSpec, dev: torch.device,
                  raw: bool, t0: float, bar, callback) -> int:
    """Run every batch of the loader into the cache (the marker saved at most every
    CHECKPOINT_SECONDS); the number of rows computed."""
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cache.meta["compute_dtype"])
    n_new, last_ckpt = 0, time.perf_counter()
    for idx, imgs in _batches(loader):
        y = _forward(model, imgs, b, dev, raw, amp_dtype)
        idx = idx.numpy()
        cache.write(idx, y, b.spec)
        n_new += len(idx)
        rate = n_new / max(time.perf_counter() - t0, 1e-9)
        if bar is not None:
            bar.update(bar.task_ids[0], advance=len(idx), rate=f"{rate:.1f} images/s")
        if time.perf_counter() - last_ckpt > CHECKPOINT_SECONDS:
            cache.save_marker()
            last_ckpt = time.perf_counter()
        if callback:
            callback("batch", {"done": int(cache.written.sum()), "total": len(cache.written),
                               "images_per_s": rate})
    return n_new
