"""The on-disk feature cache: one (N, d) float32 .npy per dataset split + backbone, a JSON
sidecar, and while an extraction runs a written-rows marker.

    features/<dataset>/<split>/<backbone>-<key>.npy           (N, d) float32
    features/<dataset>/<split>/<backbone>-<key>.json          sidecar; "complete": true when done
    features/<dataset>/<split>/<backbone>-<key>.written.npy   (N,) bool rows done, while running
    features/<dataset>/<split>/<backbone>-<key>.written.rank<R>.npy   the same, one per torchrun
                                                                      rank (each writes its own)

`key` hashes everything that changes the numbers (see `cache_meta`), the bytes of every image
included (`ImageDataset.content_hash`). `FeatureCache` owns the three files of one key: it finds
a complete cache or prepares a resume or a fresh start, takes rows scattered by sample index,
saves the marker, and finishes by asserting every row was written (hume_ssl.features.extract
drives it). A complete cache's sidecar holds a checksum of the rows (`checksum`, sha256),
verified on every read: an edited or damaged file is extracted again. The whole file is
allocated on disk before any row is written: a full disk is an error before the work, never a
crash (SIGBUS) of a memory-mapped write.
Under torchrun rank 0 opens, allocates and seals; every rank writes its own rows into the
shared memmap and its own marker file (`shard`), and the rows done are the union of every
marker found (a resume on any number of ranks).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from hume_ssl.core.device import resolve_device
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import (
    advisory_lock,
    atomic_save_npy,
    atomic_write_json,
    config_hash,
    load_array,
)
from hume_ssl.core.params import Bounds
from hume_ssl.core.versions import versions
from hume_ssl.data.image_dataset import ImageDataset
from hume_ssl.models.backbones import INPUT_SIZE_BOUNDS, BackboneSpec

CACHE_FORMAT = 2  # 2: the key covers every image's bytes; the sidecar holds a checksum
CHECK_ROWS = 65536  # rows per block of the checksum and finiteness scan


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


FEATURES = "features"  # the cache folder's sub-folder of feature files

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


def check_cache_dir(cache_dir: Path) -> Path:
    """The cache folder, or an error when the path is a file (before any work)."""
    for p in (cache_dir, *cache_dir.parents):
        if p.exists():
            if not p.is_dir():
                raise HumeSSLError(f"--cache-dir {cache_dir}: {p} is a file, not a folder; give "
                                   "a folder (it is created if missing).")
            break
    return cache_dir


def cache_meta(ds: ImageDataset, b: BackboneSpec, cache_dir: Path, raw: bool,
               dev: torch.device, fmt: int = CACHE_FORMAT) -> dict:
    """The sidecar's keyed part: dataset name, split, N, sample-order hash and the hash of every
    image's bytes, backbone and output, weights identity, resolved preprocessing, resize backend
    and compute dtype; `key` is their hash. `fmt=1`: the key of the older format (no content
    hash), to recognise its caches."""
    amp = "fp32"
    if dev.type == "cuda":
        amp = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    content = {"content_hash": ds.content_hash} if fmt >= 2 else {}
    keyed = {
        "format": fmt,
        "dataset": ds.name, "split": ds.split, "N": len(ds), "order_hash": ds.order_hash,
        **content,
        "backbone": b.spec, "model": f"{b.source}:{b.model_name}", "output": b.output,
        "weights": b.weights_identity(cache_dir),
        "preprocessing": {**b.preprocessing.to_dict(),
                          "crop": "center",
                          # torch-pil: the device resize rounds to uint8 levels after each axis
                          # as PIL does (before: "torch", one float pass)
                          "resize_backend": "torch-pil" if raw else "pil"},
        "compute_dtype": amp,
    }
    key = config_hash(keyed, 12)
    return {**keyed, "key": key, "dtype": "float32"}


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


def scan_rows(arr: np.ndarray, chunk: int = CHECK_ROWS) -> tuple[str, bool]:
    """(checksum, all finite) of a (memory-mapped) (N, d) float32 matrix, in one pass of row
    blocks: sha256 (32 hex digits) of its shape and rows."""
    h = hashlib.sha256(str(arr.shape).encode())
    finite = True
    for i in range(0, len(arr), chunk):
        block = np.ascontiguousarray(arr[i : i + chunk])  # (chunk, d)
        h.update(memoryview(block.reshape(-1).view(np.uint8)))
        finite = finite and bool(np.isfinite(block).all())
    return h.hexdigest()[:32], finite


def _allocate_file(path: Path, n_bytes: int) -> None:
    """Reserve `n_bytes` on disk for `path` (created or extended), so that writes through a
    memory map can never hit a full disk (which kills the process with SIGBUS)."""
    with open(path, "r+b" if path.exists() else "w+b") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, n_bytes)
            return
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise
        except AttributeError:  # no posix_fallocate on this platform
            pass
    need = n_bytes - path.stat().st_blocks * 512  # the file system cannot reserve: check room
    if shutil.disk_usage(path.parent).free < need:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def _read_sidecar(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def load_feature_file(path: str | os.PathLike, what: str) -> np.ndarray:
    """A feature matrix passed by path (`label`/`seed` --phi1, --phi2, ...): `load_array`, but
    a cache file of `features` is checked against its sidecar: an unfinished one ("complete":
    false: some rows are still zeros) is refused, naming the command that finishes it, and so
    is a complete one whose rows no longer match the sidecar's checksum (edited or damaged)."""
    x = load_array(path, what)
    side = Path(path).with_suffix(".json")
    meta = _read_sidecar(side) if side.is_file() else None
    if not isinstance(meta, dict):
        return x
    if meta.get("complete") is False:
        raise HumeSSLError(f"{what} {path} is an unfinished feature cache (its {side.name} says "
                           f"complete: false; unwritten rows are zeros): run {_rerun(meta)} "
                           "again to finish it (it resumes), then pass the file.")
    if meta.get("complete") and meta.get("checksum") and x.dtype == np.float32 and x.ndim == 2:
        if scan_rows(x)[0] != meta["checksum"]:
            raise HumeSSLError(
                f"{what} {path}: its rows do not match the checksum in {side.name} (the file was "
                f"edited or damaged after `features` wrote it): run {_rerun(meta)} with --force "
                f"to extract it again, or remove {side.name} to use the file as it is.")
    return x


def _rerun(meta: dict) -> str:
    """The `hume-ssl features` command that wrote a cache, as far as its sidecar says."""
    if not {"dataset", "split", "backbone"} <= set(meta):
        return "the `hume-ssl features` command that wrote it"
    backbone, weights = meta["backbone"], meta.get("weights") or {}
    size = (meta.get("preprocessing") or {}).get("input_size")
    own_size = backbone.startswith("pixels")  # pixels:SIZE: the size is in the name
    return (f"`hume-ssl features {meta['dataset']} --split {meta['split']} --backbone {backbone}"
            + (f" --weights {weights['path']}" if weights.get("kind") == "file"
               and not backbone.startswith("ssl:") else "")  # an ssl: run names its own file
            + (" --random-init" if weights.get("kind") == "random" else "")
            + (f" --input-size {size}" if size and not own_size
               and size in Bounds.parse(INPUT_SIZE_BOUNDS) else "")
            + "` (and any other option it was started with)")


def _read_marker(path: Path, n: int) -> Optional[np.ndarray]:
    """The (n,) bool written-rows marker, or None when it is missing or unreadable."""
    try:
        written = np.load(path, allow_pickle=False)
    except Exception:
        return None
    return written if written.shape == (n,) and written.dtype == bool else None


def _discard(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


class FeatureCache:
    """The .npy, sidecar and written-rows marker of one cache key.

    `meta` is the sidecar to write; `out` the writable (N, d) memmap once the width is known;
    `written` (N,) bool the rows done (set by `open`)."""

    def __init__(self, cache_dir: Path, meta: dict):
        self.meta, self.n, self.root = meta, int(meta["N"]), cache_dir
        folder = cache_dir / FEATURES / _dataset_slug(meta["dataset"]) / _slug(meta["split"])
        stem = f"{_slug(meta['backbone'], 40)}-{meta['key']}"
        self.npy, self.side = folder / f"{stem}.npy", folder / f"{stem}.json"
        self.marker = folder / f"{stem}.written.npy"
        self.own_marker = self.marker  # the marker this process saves (one per rank: `shard`)
        self.out: Optional[np.memmap] = None
        self.written: Optional[np.ndarray] = None

    def exclusive(self):
        """One process per cache file while it is looked up and extracted: a second run of the
        same features (a sweep of `seed` runs sharing a backbone) waits here, then finds them
        complete. Before, both wrote the file at once, and one could seal a cache of zero rows.
        An advisory lock on `STEM.lock` (core.io.advisory_lock)."""
        def busy() -> None:
            warnings.warn(f"another process is extracting these features ({self.npy}); "
                          "waiting for it to finish.", stacklevel=5)

        return advisory_lock(self.npy.with_suffix(".lock"), busy)

    def shard(self, rank: int) -> None:
        """Under torchrun: save this rank's rows to its own marker file, never another's."""
        self.own_marker = self.marker.with_name(
            self.marker.name.removesuffix(".npy") + f".rank{rank}.npy")

    def _markers(self) -> list[Path]:
        """Every written-rows marker on disk: one process's, and those of torchrun ranks."""
        ranks = self.marker.parent.glob(self.marker.name.removesuffix(".npy") + ".rank*.npy")
        return [p for p in [self.marker, *sorted(ranks)] if p.exists()]

    def read_markers(self) -> Optional[np.ndarray]:
        """(N,) bool: the union of the rows every readable marker holds (None when none is)."""
        found = [m for m in (_read_marker(p, self.n) for p in self._markers()) if m is not None]
        return np.logical_or.reduce(found) if found else None

    def complete(self) -> Optional[tuple[np.ndarray, dict]]:
        """(the cached array, its sidecar) when this key's cache is complete and intact (its
        checksum verified)."""
        old = _read_sidecar(self.side) if self.side.exists() else None
        if old and old.get("complete") and old.get("key") == self.meta["key"]:
            arr = _open_valid(self.npy, old)
            if arr is not None and scan_rows(arr) == (old.get("checksum"), True):
                return arr, old
        return None

    def drop_stale_markers(self) -> None:
        """A complete cache's markers (a run killed while sealing left them): removed where the
        cache can be written, kept where it cannot (a read-only cache is only read)."""
        try:
            _discard(*self._markers())
        except OSError:
            pass

    def older_format(self, old_meta: dict) -> Optional[Path]:
        """The .npy of a complete cache of the same data and backbone written by an older
        format (whose key did not cover the image bytes), if there is one."""
        old = FeatureCache(self.root, old_meta)
        meta = _read_sidecar(old.side) if old.side.exists() else None
        return old.npy if meta and meta.get("complete") and old.npy.exists() else None

    def open(self, force: bool = False) -> Optional[tuple[np.ndarray, dict]]:
        """(array, sidecar) of a complete cache with finite rows; otherwise None, with the
        rows to compute in `written`: a killed run's marked rows (resume), or none (the old
        files removed: `force`, NaN/inf rows, or files that do not match their sidecar)."""
        old = _read_sidecar(self.side) if self.side.exists() else None
        if force and (old is not None or self.npy.exists()):
            _discard(self.npy, self.side, *self._markers())  # --force: extract again
            old = None
        if old and old.get("key") == self.meta["key"]:
            arr = _open_valid(self.npy, old)
            if arr is not None and old.get("complete"):
                checksum, finite = scan_rows(arr)
                if finite and checksum == old.get("checksum"):
                    _discard(*self._markers())  # a run killed while sealing left its marker
                    return arr, old
                why = ("hold NaN or inf rows" if not finite else
                       "do not match the checksum in their sidecar (edited or damaged on disk)")
                warnings.warn(f"cached features {self.npy} {why}; extracting again.",
                              stacklevel=3)
                arr = None
                _discard(self.npy, self.side, *self._markers())
            if arr is not None and self._markers():  # resume a killed run (any rank's rows)
                self.written = self.read_markers()
                if self.written is not None:
                    self.out = np.load(self.npy, mmap_mode="r+", allow_pickle=False)
                    self.meta = {**old, **self.meta}
        if self.out is None:
            if self.npy.exists() or self.side.exists():
                warnings.warn(f"feature cache {self.npy} is incomplete or does not match its "
                              "sidecar; recomputing.", stacklevel=3)
            _discard(self.npy, self.side, *self._markers())
            self.written = np.zeros(self.n, dtype=bool)
            self._warn_abandoned()
        return None

    def _warn_abandoned(self) -> None:
        """Name the unfinished caches of this data and backbone under other keys (a run stopped
        before the images or options changed: it never resumes), which only take disk space."""
        left = []
        for side in sorted(self.npy.parent.glob(f"{_slug(self.meta['backbone'], 40)}-*.json")):
            meta = _read_sidecar(side)
            npy = side.with_suffix(".npy")
            if (side != self.side and isinstance(meta, dict) and meta.get("complete") is False
                    and meta.get("backbone") == self.meta["backbone"] and npy.exists()):
                left.append((npy, npy.stat().st_blocks * 512))
        if left:
            warnings.warn(
                f"{len(left)} unfinished feature caches of {self.meta['dataset']}:"
                f"{self.meta['split']} with {self.meta['backbone']} under other images or "
                f"options take {sum(b for _, b in left) / 2**20:.1f} MiB: "
                + ", ".join(str(p) for p, _ in left)
                + " (each resumes only with its own images and options; delete a .npy with its "
                ".json and .written.npy once no run needs it).",
                stacklevel=3)

    def allocate(self, d: int) -> None:
        """Reserve the whole (N, d) file on disk, map it, and write the sidecar (incomplete) and
        marker. A disk without room for it: an error naming the size, nothing left behind."""
        self.meta["d"] = d
        self.npy.parent.mkdir(parents=True, exist_ok=True)
        try:  # a sparse file: its header and its last byte
            out = np.lib.format.open_memmap(self.npy, mode="w+", dtype=np.float32,
                                            shape=(self.n, d))
            _allocate_file(self.npy, self.npy.stat().st_size)
        except OSError as e:
            out = None
            _discard(self.npy)
            if e.errno != errno.ENOSPC:
                raise
            free = shutil.disk_usage(self.npy.parent).free
            raise HumeSSLError(
                f"no room for the feature cache: {self.npy} needs "
                f"{(4 * self.n * d) / 2**20:.1f} MiB, {free / 2**20:.1f} MiB are free there; "
                "free space or give --cache-dir on a larger disk, then run the same command "
                "again (nothing was extracted).") from None
        self.out = out
        try:  # stopped before the sidecar and marker are down (a full disk, Ctrl-C): no
            # reserved file is left without them (before: the full-size .npy was)
            self.meta.update(complete=False, versions=versions(),
                             file_bytes=None, created=time.strftime("%Y-%m-%dT%H:%M:%S"))
            self.out.flush()
            self.meta["file_bytes"] = self.npy.stat().st_size
            atomic_write_json(self.side, self.meta)
            atomic_save_npy(self.marker, self.written)
        except BaseException:
            self.out = None
            _discard(self.npy, self.side, self.marker)
            raise

    def write(self, idx: np.ndarray, rows: np.ndarray, spec: str) -> None:
        """Scatter rows (b, d) to the sample indices idx (b,): row order never depends on the
        loader. The first batch fixes d."""
        if self.out is None:
            self.allocate(int(rows.shape[1]))
        elif rows.shape[1] != self.out.shape[1]:
            raise HumeSSLError(f"{spec} returned {rows.shape[1]} features, the cache "
                               f"has {self.out.shape[1]}; delete {self.npy}.")
        self.out[idx] = rows
        self.written[idx] = True

    def attach(self) -> None:
        """Open the (N, d) memmap another rank allocated, for writing this rank's rows."""
        self.out = np.load(self.npy, mmap_mode="r+", allow_pickle=False)

    def save_marker(self) -> None:
        self.out.flush()  # rows reach the file before the marker says they are there
        atomic_save_npy(self.own_marker, self.written)

    @contextmanager
    def marker_on_exit(self):
        """On an interrupt or error, flush the rows done so far and mark them, for the resume."""
        try:
            yield
        except BaseException:
            if self.out is not None:
                self.save_marker()
            raise

    def close(self) -> None:
        """Flush the rows and assert every one was written."""
        if self.out is None:  # nothing left to compute: resumed with every row already written
            self.out = np.load(self.npy, mmap_mode="r+", allow_pickle=False)
        self.out.flush()
        missing = np.flatnonzero(~self.written)
        assert missing.size == 0, f"rows never written: {missing[:10]}"

    def seal(self, **meta) -> np.ndarray:
        """Complete the sidecar (with `meta` and the rows' checksum) and drop the marker; the
        features (N, d), memory-mapped read-only."""
        self.out = None  # close the writable memmap
        arr = np.load(self.npy, mmap_mode="r", allow_pickle=False)
        self.meta.update(complete=True, checksum=scan_rows(arr)[0], **meta)
        atomic_write_json(self.side, self.meta)
        _discard(*self._markers())
        return arr


def cached_features(ds: ImageDataset, b: BackboneSpec, cache_dir: Path, device="auto",
                    ) -> Optional[FeatureSet]:
    """The complete cached FeatureSet for this dataset + backbone, or None."""
    dev = resolve_device(device) if isinstance(device, str) else device
    cache = FeatureCache(cache_dir, cache_meta(ds, b, cache_dir, ds.image_size is not None, dev))
    found = cache.complete()
    return None if found is None else FeatureSet(*found, cache.npy, ds.labels, cached=True)
