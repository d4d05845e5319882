"""`features` under torchrun: 2 gloo processes on the CPU write the same bytes as one process,
a killed rank's rows are kept for the resume, and ranks that see different inputs stop before
anything is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import hume_ssl.features.extract as F
from hume_ssl.features.cache import FeatureCache

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
SQ = "torchvision:squeezenet1_1"
KW = dict(random_init=True, device="cpu", num_workers=0, batch_size=16, input_size=32,
          progress=False)


def _env():
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"  # torchrun's one thread per process; the reference uses it too
    env["PYTHONPATH"] = os.pathsep.join([str(__import__("pathlib").Path(F.__file__).parents[2]),
                                         env.get("PYTHONPATH", "")])
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(k, None)
    return env


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", images=rng.integers(0, 256, (90, 16, 16, 3), dtype=np.uint8),
             labels=np.arange(90) % 3)
    return f"npz:{tmp_path / 'd.npz'}"


def _reference(name, cache_dir):
    """One process, one thread: the features every torchrun run must reproduce bit for bit."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return np.asarray(F.extract_features(name, "train", SQ, cache_dir=cache_dir, **KW).features)
    finally:
        torch.set_num_threads(threads)


def _files(root):
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_two_gloo_processes_write_the_one_process_bytes(tmp_path, images):
    args = ["-m", "hume_ssl", "features", images, "--backbone", SQ, "--random-init",
            "--device", "cpu", "--num-workers", "0", "--batch-size", "16", "--input-size", "32",
            "--cache-dir", str(tmp_path / "two")]
    res = subprocess.run(TORCHRUN + args, capture_output=True, text=True, env=_env(), timeout=300)
    assert res.returncode == 0, res.stderr + res.stdout
    assert res.stdout.count("N=90 images, d=512 features") == 1  # rank 0 prints
    two = sorted((tmp_path / "two").rglob("*.npy"))
    assert len(two) == 1 and [p.suffix for p in two[0].parent.iterdir()].count(".npy") == 1
    meta = json.loads(two[0].with_suffix(".json").read_text())
    assert meta["complete"] and meta["processes"] == 2  # and no marker is left
    one = _reference(images, tmp_path / "one")
    assert np.array_equal(np.load(two[0]), one)  # bit-equal, not approximately


def test_ranks_markers_are_merged_and_rows_are_shared_by_batches(tmp_path):
    """The cache's view of a killed 2-rank run: the rows done are the union of every rank's
    marker; a batch of rows never straddles two ranks."""
    meta = {"N": 10, "dataset": "d", "split": "train", "backbone": "b", "key": "k"}
    cache = FeatureCache(tmp_path, meta)
    cache.allocate(2)
    for rank, rows in ((0, [0, 1, 2]), (1, [3, 4, 5])):
        part = FeatureCache(tmp_path, meta)
        part.attach()
        part.shard(rank)
        part.written = np.zeros(10, bool)
        part.written[rows] = True
        part.save_marker()
    assert {p.name.rsplit(".", 2)[-2] for p in cache._markers()} == {"written", "rank0", "rank1"}
    resumed = FeatureCache(tmp_path, meta)
    assert resumed.open() is None and resumed.written.tolist() == [True] * 6 + [False] * 4
    rows = np.arange(3, 40)
    shares = [F._rank_rows(rows, 8, r, 2) for r in (0, 1)]
    assert shares[0].tolist() == list(range(3, 11)) + list(range(19, 27)) + list(range(35, 40))
    assert sorted(np.concatenate(shares).tolist()) == rows.tolist()


@pytest.mark.slow
def test_a_killed_rank_leaves_its_rows_for_the_resume(tmp_path, images):
    script = tmp_path / "kill.py"
    script.write_text(
        "import os, signal\n"
        "import hume_ssl.features.extract as F\n"
        "F.CHECKPOINT_SECONDS = 0.0  # save each rank's marker after every batch\n"
        "rank = int(os.environ['RANK'])\n"
        "def die(event, info):\n"
        "    if rank == 1 and info['done'] >= 32:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)  # rank 1 dies after its 2nd batch\n"
        f"F.extract_features({images!r}, 'train', {SQ!r}, cache_dir={str(tmp_path / 'c')!r},"
        f" callback=die, **{KW!r})\n"
    )
    res = subprocess.run(TORCHRUN + [str(script)], capture_output=True, text=True, env=_env(),
                         timeout=300)
    assert res.returncode != 0
    npy = next(p for p in (tmp_path / "c").rglob("*.npy") if ".written" not in p.name)
    assert not json.loads(npy.with_suffix(".json").read_text())["complete"]
    rank1 = np.load(str(npy).replace(".npy", ".written.rank1.npy"))
    assert np.flatnonzero(rank1).tolist() == list(range(16, 32)) + list(range(48, 64))
    arr = np.load(npy, mmap_mode="r+")
    arr[rank1] = 7.0  # a sentinel: rows the resume must keep, not compute again
    arr.flush()
    del arr
    resumed = _reference(images, tmp_path / "c")  # resumed by one process
    one = _reference(images, tmp_path / "one")
    assert (resumed[rank1] == 7.0).all()
    assert np.array_equal(resumed[~rank1], one[~rank1])
    assert not list((tmp_path / "c").rglob("*.written*"))


def test_ranks_with_different_backbones_stop_and_write_nothing(tmp_path, images):
    script = tmp_path / "odd.py"
    script.write_text(
        "import os\n"
        "from hume_ssl.cli.app import main\n"
        "import sys\n"
        "size = '32' if os.environ['RANK'] == '0' else '48'  # rank 1: another preprocessing\n"
        f"sys.argv = ['hume-ssl', 'features', {images!r}, '--backbone', {SQ!r}, '--random-init',"
        f" '--device', 'cpu', '--num-workers', '0', '--input-size', size, '--cache-dir',"
        f" {str(tmp_path / 'c')!r}]\n"
        "main()\n"
    )
    res = subprocess.run(TORCHRUN + [str(script)], capture_output=True, text=True, env=_env(),
                         timeout=300)
    assert res.returncode != 0
    out = res.stderr + res.stdout
    assert out.count("disagree on the dataset, backbone and options") == 2, out  # both ranks
    assert "preprocessing" in out and "'input_size': 48" in out
    assert _files(tmp_path / "c") == []
