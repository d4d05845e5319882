"""What the feature cache's identity and checksum cost on a cached call.

    python recipes/bench_cache_identity.py                 # the shared CIFAR-10 JPEG copy
    python recipes/bench_cache_identity.py --npz PATH --rows 50000 --dim 768

A cached `features` call hashes every image's bytes (the cache key, `ImageDataset.
content_hash`, sha256) and scans the cached rows (checksum + NaN/inf check, one pass). The
table puts each beside its baseline in the same run: the identity before (the sample names,
`order_hash`), blake2b over the same bytes (the other fast stdlib hash: slower where the CPU
has SHA instructions), and the NaN/inf-only scan a cached call did before.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np

from hume_ssl.data.datasets import load_dataset
from hume_ssl.features import cache as C

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10_train_jpeg.npz"


def _best(fn, repeat: int = 3) -> float:
    """Best wall-clock seconds of `repeat` calls (the first warms the page cache)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _blake2b(*arrays: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        mv = memoryview(np.ascontiguousarray(a).reshape(-1).view(np.uint8))
        for i in range(0, len(mv), 16 << 20):
            h.update(mv[i : i + (16 << 20)])
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--npz", type=Path, default=SHARED, help="an npz dataset (JPEG layout)")
    ap.add_argument("--rows", type=int, default=50_000, help="rows of the synthetic cache file")
    ap.add_argument("--dim", type=int, default=512, help="features per row of that file")
    args = ap.parse_args()

    z = np.load(args.npz)
    data, off = z["jpeg_bytes"], z["offsets"]
    name = f"npz:{args.npz}"
    rows = []

    def fresh():
        return load_dataset(name, "train")

    t_load = _best(fresh)
    t_names = _best(lambda: fresh().order_hash) - t_load
    t_content = _best(lambda: fresh().content_hash) - t_load
    t_blake = _best(lambda: _blake2b(data, off))
    mb = (data.nbytes + off.nbytes) / 1e6
    rows += [
        (f"identity before: names ({len(off) - 1:,} images)", t_names, "-"),
        (f"identity now: sha256 of every image's bytes ({mb:.0f} MB)", t_content,
         f"{mb / max(t_content, 1e-9):.0f} MB/s"),
        ("baseline: blake2b of the same bytes", t_blake, f"{mb / max(t_blake, 1e-9):.0f} MB/s"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.npy"
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                        shape=(args.rows, args.dim))
        arr[:] = np.random.default_rng(0).standard_normal(arr.shape, np.float32)
        arr.flush()
        cached = np.load(path, mmap_mode="r")
        fb = cached.nbytes / 1e6
        t_finite = _best(lambda: all(np.isfinite(cached[i : i + C.CHECK_ROWS]).all()
                                     for i in range(0, len(cached), C.CHECK_ROWS)))
        t_scan = _best(lambda: C.scan_rows(cached))
        rows += [
            (f"cached rows before: NaN/inf scan ({args.rows:,} x {args.dim}, {fb:.0f} MB)",
             t_finite, f"{fb / max(t_finite, 1e-9):.0f} MB/s"),
            ("cached rows now: checksum + NaN/inf scan, one pass", t_scan,
             f"{fb / max(t_scan, 1e-9):.0f} MB/s"),
        ]
    print(f"dataset: {args.npz} (np.load + listing: {t_load:.3f} s, not counted below)\n")
    print("| step of a cached `features` call | seconds | rate |\n|---|---|---|")
    for what, sec, rate in rows:
        print(f"| {what} | {sec:.3f} | {rate} |")


if __name__ == "__main__":
    from common import run_recipe

    run_recipe(main)
