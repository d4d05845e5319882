"""Seeds in USB (microsoft/Semi-supervised-learning, the `semilearn` package 0.3.x), trained on
OUR pseudo-labels, through USB's documented custom-data route:

    usb_datasets(seeds, algorithm, ...)  USB `BasicDataset`s: train_lb = the seed images with
                                         their pseudo-labels as targets, train_ulb = every other
                                         train image (no targets), eval = the test split with
                                         its ground truth (evaluation only) when it has labels
    train_usb(seeds_dir, ...)            get_config with `dataset` set to a name USB's
                                         get_dataset does not know (so it leaves the data to
                                         us), lb_dest_len/ulb_dest_len, loaders from
                                         get_data_loader, then Trainer(config, algorithm).fit

`hume-ssl export --format usb` writes a `train_usb.py` that calls `train_usb`. USB's own
loaders cannot take our labels: semilearn 0.3.2's `split_ssl_data` hard-codes
`load_exist=False` and `get_cifar` always uses torchvision's targets.

USB 0.3.2's Trainer is CUDA-only (torch.cuda.set_device, .cuda() on the model and every batch,
CUDA timing events). On a machine without CUDA, `train_usb` runs the same Trainer with those
calls mapped to the CPU for the duration of the run (`cuda_calls_on_cpu`); USB's training step
itself is unchanged.
"""

from __future__ import annotations

import inspect
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch

from hume_ssl.core.device import resolve_device
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import (
    atomic_save_npy,
    atomic_write_bytes,
    atomic_write_json,
    check_writable_dir,
)
from hume_ssl.core.metrics import cluster_acc
from hume_ssl.core.params import check_value
from hume_ssl.data.images import IMAGE_SIZE_BOUNDS, channel_stats, load_split, split_exists
from hume_ssl.seeds.artifact import (
    Seeds,
    check_seeds_match,
    order_hashes,
    read_seeds,
    seeds_sha,
)

EVAL_EVERY = 5000  # iterations between USB's evaluations and saves (USB's own default)
# semilearn 0.3.2 algorithms its Trainer cannot run on a custom dataset, each with its reason
NOT_BY_TRAINER = {
    "crmatch": "its set_data_loader builds loaders from USB's own datasets",
    "remixmatch": "its set_hooks reads the labeled set of USB's own datasets",
    "dash": "Trainer.fit skips its warmup, which sets rho_init",
}
USB_VERSIONS = "0.3"  # the semilearn releases this route is written against (0.3.x)
INSTALL_HINT = ("install USB into this environment: pip install -e \".[usb]\" in the hume-ssl "
                "checkout (semilearn 0.3.x and its dependencies)")


def require_semilearn():
    """The semilearn module, or an error naming the install command."""
    try:
        import semilearn
    except ImportError as e:
        raise HumeSSLError(f"USB (the semilearn package) is not importable ({e}); "
                           f"{INSTALL_HINT}.") from e
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("semilearn")
    except PackageNotFoundError:
        v = "unknown"
    if not v.startswith(USB_VERSIONS):
        import warnings

        warnings.warn(f"semilearn {v} is installed; this route is written for "
                      f"{USB_VERSIONS}.x and may not fit it.", stacklevel=2)
    return semilearn


def _transforms(img_size: int, mean, std, crop_ratio: float = 0.875) -> dict:
    """USB's CIFAR transforms (weak: reflect-padded crop + flip; strong: + USB's RandAugment(3,
    5)) at the images' size, normalised with the train split's channel statistics."""
    from semilearn.datasets.augmentation import RandAugment
    from torchvision import transforms as T

    pad = int(img_size * (1 - crop_ratio))
    norm = [T.ToTensor(), T.Normalize(list(mean), list(std))]
    weak = [T.RandomCrop(img_size, padding=pad, padding_mode="reflect"),
            T.RandomHorizontalFlip()]
    return {"transform": T.Compose(weak + norm),
            "strong_transform": T.Compose(weak + [RandAugment(3, 5)] + norm),
            "eval": T.Compose(norm)}


def usb_datasets(seeds: Seeds, algorithm: str = "fixmatch",
                 data_root: Optional[str | Path] = None,
                 image_size: Optional[int] = None) -> dict:
    """USB datasets from our seeds: {"train_lb", "train_ulb", "eval" (or None), "info"};
    `image_size` S: every image resized (shorter side) and center-cropped to S x S, as
    train-fixmatch --image-size (an image folder of several sizes needs it).

    train_lb.targets are the seeds' pseudo-labels (cluster ids), never ground truth; row j of
    train_lb is train image seeds.indices[j]."""
    require_semilearn()
    from semilearn import BasicDataset

    train = load_split(seeds.dataset, seeds.split, data_root, size=image_size)
    images = train.images  # (N, H, W, 3) uint8
    check_seeds_match(seeds, len(images), order_hashes(train) if seeds.order_hash else ())
    idx = np.asarray(seeds.indices, np.int64)
    labels = np.asarray(seeds.labels, np.int64)
    test = (load_split(seeds.dataset, "test", data_root, size=image_size)
            if split_exists(seeds.dataset, "test", data_root) else None)
    if test is not None and test.labels is None:
        test = None
    k = max(int(seeds.k), int(labels.max()) + 1)  # the model's outputs: the seeds' clusters
    rest = np.setdiff1d(np.arange(len(images)), idx)  # (N - n_seeds,) unlabeled rows
    mean, std = channel_stats(images)
    tf = _transforms(int(images.shape[1]), mean, std)
    # keywords only: a later semilearn inserted `medium_transform` among the positional ones;
    # the labeled set gets the strong transform too, as USB's get_cifar (defixmatch reads it)
    lb = BasicDataset(alg=algorithm, data=images[idx], targets=labels, num_classes=k,
                      transform=tf["transform"], is_ulb=False,
                      strong_transform=tf["strong_transform"])
    ulb = BasicDataset(alg=algorithm, data=images[rest], targets=None, num_classes=k,
                       transform=tf["transform"], is_ulb=True,
                       strong_transform=tf["strong_transform"])
    ev = None
    if test is not None:
        # USB's own evaluation compares its outputs (cluster ids) with these targets: its
        # accuracy means nothing either way, but a class id past k (--k 5 on 10 classes) failed
        # its cross_entropy and lost the run, so it gets them modulo k; the summary's accuracy
        # is ours, from the true labels (info["eval_truth"]) after the Hungarian map
        ev = BasicDataset(alg=algorithm, data=test.images, targets=np.asarray(test.labels) % k,
                          num_classes=k, transform=tf["eval"], is_ulb=False)
    return {"train_lb": lb, "train_ulb": ulb, "eval": ev,
            "info": {"k": k, "img_size": int(images.shape[1]), "lb_index": idx,
                     "eval_truth": None if test is None else np.asarray(test.labels),
                     "ulb_index": rest, "mean": mean.tolist(), "std": std.tolist()}}


class _CpuEvent:
    """torch.cuda.Event's timing interface, on the host clock."""

    def __init__(self, *args, **kwargs):
        self.t = None

    def record(self, *args, **kwargs) -> None:
        self.t = time.perf_counter()

    def elapsed_time(self, end: _CpuEvent) -> float:  # milliseconds, as CUDA events
        return 1000.0 * (end.t - self.t)


@contextmanager
def cuda_calls_on_cpu() -> Iterator[None]:
    """For the duration: torch.cuda.set_device / synchronize do nothing, .cuda() of tensors and
    modules returns them unchanged (on the CPU), torch.cuda.Event times on the host."""
    patches = [(torch.cuda, "set_device", lambda *a, **k: None),
               (torch.cuda, "synchronize", lambda *a, **k: None),
               (torch.cuda, "Event", _CpuEvent),
               (torch.Tensor, "cuda", lambda self, *a, **k: self),
               (torch.nn.Module, "cuda", lambda self, *a, **k: self)]
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    try:
        for obj, name, value in patches:
            setattr(obj, name, value)
        yield
    finally:
        for obj, name, value in saved:
            setattr(obj, name, value)


def train_usb(seeds_dir: str | Path, out: str | Path, algorithm: str = "fixmatch",
              net: str = "wrn_28_2", iterations: int = 2**20, batch_size: int = 64,
              uratio: int = 7, lr: float = 0.03, device: str = "auto", num_workers: int = 2,
              random_state: int = 0, dataset: Optional[str] = None,
              data_root: Optional[str | Path] = None, expected: Optional[dict] = None,
              image_size: Optional[int] = None) -> dict:
    """Train USB's `algorithm` on the seeds with USB's own Trainer; writes into `out`:
    USB's run folder (`out/usb`: log, latest_model.pth, model_best.pth), `lb_batches.npy`
    ((2, n) int64: the train index and the target of every labeled sample USB's train_step
    received) and `usb_summary.json`.

    `expected`: {"dataset", "order_hash", "seeds_sha"} of the seeds a train_usb.py was exported
    for (its dataset also names the images of seeds made from feature files); seeds of another
    dataset, or seeds changed since (a `seed` re-run into the same folder), are refused before
    any work."""
    expected = expected or {}
    seeds = read_seeds(seeds_dir=seeds_dir, dataset=dataset, dataset_optional=True)
    if seeds.dataset is None:  # seeds of feature files: the export named their images
        seeds.dataset = expected.get("dataset")
    if seeds.dataset is None:
        raise HumeSSLError(f"{seeds_dir}/seeds.json names no dataset (seeds of feature files); "
                           "pass dataset=NAME, the images the features are of.")
    if expected and (seeds.dataset != expected.get("dataset")
                     or (seeds.order_hash and expected.get("order_hash")
                         and seeds.order_hash != expected["order_hash"])):
        raise HumeSSLError(
            f"{seeds_dir} holds seeds of {seeds.dataset!r} (order {seeds.order_hash}), but this "
            f"train_usb.py was exported for {expected.get('dataset')!r} (order "
            f"{expected.get('order_hash')}); export those seeds first: hume-ssl export "
            f"{seeds_dir} --format usb, and run the train_usb.py it writes.")
    if expected.get("seeds_sha") and seeds_sha(seeds) != expected["seeds_sha"]:
        raise HumeSSLError(
            f"the seeds in {seeds_dir} ({len(seeds.indices)} now) changed since this "
            "train_usb.py was exported (its labeled_idx.npy holds the seeds it was written "
            f"for); export them again: hume-ssl export {seeds_dir} --format usb, and run the "
            "train_usb.py it writes.")
    for flag, value, bounds in (("--iterations", iterations, "[1, inf)"),
                                ("--batch-size", batch_size, "[1, inf)"),
                                ("--uratio", uratio, "[1, inf)"),
                                ("--num-workers", num_workers, "[0, inf)"),
                                ("--image-size", image_size, IMAGE_SIZE_BOUNDS),
                                ("--random-state", random_state, None)):
        check_value(flag, value, bounds, whole=True)  # (before: lr and float counts unchecked)
    check_value("--lr", lr, "(0, inf)")
    semilearn = require_semilearn()
    from semilearn.algorithms import name2alg

    names = sorted(n for n in name2alg.keys() if n not in NOT_BY_TRAINER)
    if algorithm in NOT_BY_TRAINER:
        raise HumeSSLError(f"USB algorithm {algorithm!r} does not train through USB's Trainer "
                           f"on custom data ({NOT_BY_TRAINER[algorithm]}); choose one of "
                           f"{', '.join(names)}.")
    if algorithm not in name2alg.keys():  # (semilearn's registry cannot be iterated itself)
        raise HumeSSLError(f"unknown USB algorithm {algorithm!r}; choose one of "
                           f"{', '.join(names)}.")
    dev = resolve_device(device, rank=0)  # auto, cpu, cuda, cuda:N (checked against the GPUs)
    if dev.type not in ("cpu", "cuda"):
        raise HumeSSLError(f"--device {device}: USB trains on CUDA or the CPU; pass --device "
                           "cpu (or auto).")
    data = usb_datasets(seeds, algorithm, data_root, image_size)
    info = data["info"]
    out = check_writable_dir(out)
    cuda = dev.type == "cuda"
    config = semilearn.get_config({
        "algorithm": algorithm, "net": net, "use_pretrain": False,
        "save_dir": str(out), "save_name": "usb", "overwrite": True,
        # evaluated and saved (latest_model.pth, model_best.pth) every EVAL_EVERY iterations
        "epoch": 1, "num_train_iter": iterations,
        "num_eval_iter": min(iterations, EVAL_EVERY),
        "num_log_iter": max(1, min(256, iterations)),
        "batch_size": batch_size, "eval_batch_size": 256, "uratio": uratio, "lr": lr,
        # a name get_dataset does not know: USB leaves the datasets to the caller
        "dataset": f"hume-ssl:{seeds.dataset}", "num_classes": info["k"],
        "num_labels": len(info["lb_index"]), "img_size": info["img_size"],
        "crop_ratio": 0.875, "data_dir": "", "num_workers": num_workers,
        "gpu": dev.index if cuda else None, "world_size": 1, "distributed": False,
        "multiprocessing_distributed": False, "seed": random_state,
    })
    config.lb_dest_len = len(data["train_lb"])
    config.ulb_dest_len = len(data["train_ulb"])
    torch.manual_seed(random_state)
    np.random.seed(random_state)
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    with (cuda_calls_on_cpu() if not cuda else _nothing()):
        alg = semilearn.get_algorithm(config, semilearn.get_net_builder(net, from_name=False),
                                      tb_log=None, logger=None)
        process = alg.process_batch

        def recording_process_batch(**batch):  # what USB's train_step is about to see
            if "idx_lb" in batch and "y_lb" in batch:
                seen.append((batch["idx_lb"].numpy().copy(), batch["y_lb"].numpy().copy()))
            return process(**batch)

        alg.process_batch = recording_process_batch
        loaders = [semilearn.get_data_loader(config, data["train_lb"], config.batch_size,
                                             num_workers=num_workers),
                   semilearn.get_data_loader(config, data["train_ulb"],
                                             config.batch_size * config.uratio,
                                             num_workers=num_workers)]
        eval_set = data["eval"] or data["train_lb"]
        eval_loader = semilearn.get_data_loader(config, eval_set, config.eval_batch_size,
                                                data_sampler=None, num_workers=num_workers,
                                                drop_last=False)
        trainer = semilearn.Trainer(config, alg)
        t0 = time.perf_counter()
        trainer.fit(loaders[0], loaders[1], eval_loader)
        seconds = time.perf_counter() - t0
        pred, _, _ = trainer.predict(eval_loader, use_ema_model=True, return_gt=True)
    lb_rows = np.concatenate([s[0] for s in seen]) if seen else np.zeros(0, np.int64)
    lb_targets = np.concatenate([s[1] for s in seen]) if seen else np.zeros(0, np.int64)
    lb_index = info["lb_index"][lb_rows]  # (n_seen,) train-split index of each labeled sample
    atomic_save_npy(out / "lb_batches.npy", np.stack([lb_index, lb_targets]))
    summary = {
        "command": "train_usb",
        "semilearn": _semilearn_version(),
        "algorithm": algorithm,
        "net": net,
        "iterations": int(alg.it),
        "seconds": round(seconds, 1),
        "device": "cuda" if cuda else "cpu (USB's CUDA calls mapped to the CPU)",
        "seeds": str(seeds_dir),
        "dataset": seeds.dataset,
        "n_labeled": len(info["lb_index"]),
        "n_unlabeled": len(info["ulb_index"]),
        "labels": "the seeds' pseudo-labels (cluster ids), not ground truth",
        "labeled_targets_equal_pseudo_labels": bool(np.array_equal(
            lb_targets, _pseudo_label_of(seeds, lb_index))) if len(lb_index) else None,
        "eval": ("test split, ground truth for evaluation only" if data["eval"] is not None
                 else "the labeled seeds (no labeled test split)"),
        "eval_acc_hungarian": (cluster_acc(pred, info["eval_truth"])
                               if data["eval"] is not None else None),
        "usb_run": str(out / "usb"),
    }
    atomic_write_json(out / "usb_summary.json", summary)
    return summary


def _pseudo_label_of(seeds: Seeds, index: np.ndarray) -> np.ndarray:
    lookup = dict(zip(np.asarray(seeds.indices).tolist(), np.asarray(seeds.labels).tolist()))
    return np.array([lookup[i] for i in index.tolist()], np.int64)


def _semilearn_version() -> str:
    from importlib.metadata import version

    return version("semilearn")


@contextmanager
def _nothing() -> Iterator[None]:
    yield


# the train_usb arguments train_usb.py takes as options, with train_usb's defaults
SCRIPT_OPTIONS = ("algorithm", "net", "iterations", "batch_size", "uratio", "lr", "device",
                  "num_workers")
# train_usb.py as `export --format usb` writes it: @SEEDS@, @DEFAULTS@, @DATASET@,
# @ORDER_HASH@ and @SEEDS_SHA@ are filled in (repr of each)
TRAIN_USB_SCRIPT = '''#!/usr/bin/env python
"""Train a USB (semilearn 0.3.x) algorithm on hume-ssl seeds: the labeled set is the seed
images with OUR pseudo-labels, the unlabeled set every other train image, trained by USB's own
Trainer (hume_ssl.seeds.usb.train_usb). Written by `hume-ssl export --format usb`.

    pip install -e ".[usb]"          # in the hume-ssl checkout: semilearn 0.3.x
    python train_usb.py --help
"""
import argparse
import sys
from pathlib import Path

SEEDS = @SEEDS@
DEFAULTS = @DEFAULTS@  # train_usb's own, as of the export
EXPECTED = {"dataset": @DATASET@, "order_hash": @ORDER_HASH@, "seeds_sha": @SEEDS_SHA@}


def main() -> int:
    p = argparse.ArgumentParser(description="Train a USB algorithm on hume-ssl seeds.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--seeds", default=SEEDS, help="seeds folder (the exported one)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "usb_run"),
                   help="run folder: USB's log and models, lb_batches.npy, usb_summary.json")
    p.add_argument("--algorithm", default=DEFAULTS["algorithm"], help="a USB algorithm name")
    p.add_argument("--net", default=DEFAULTS["net"], help="a USB network name")
    p.add_argument("--iterations", type=int, default=DEFAULTS["iterations"],
                   help="training iterations (steps), at least 1")
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"],
                   help="labeled images per iteration, at least 1")
    p.add_argument("--uratio", type=int, default=DEFAULTS["uratio"],
                   help="unlabeled images per labeled one, at least 1")
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"], help="SGD learning rate, > 0")
    p.add_argument("--device", default=DEFAULTS["device"], help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--num-workers", type=int, default=DEFAULTS["num_workers"],
                   help="DataLoader worker processes, at least 0")
    p.add_argument("--data-root", default=None, help="where the dataset lives")
    p.add_argument("--image-size", type=int, default=None,
                   help="resize (shorter side) and center-crop every image to this many "
                        "pixels square: images of several sizes need it")
    a = p.parse_args()
    if a.seeds == SEEDS and not Path(SEEDS).is_dir():  # this folder copied elsewhere
        print(f"error: the seeds folder this script was exported from, {SEEDS}, is not "
              "here; pass --seeds PATH, that folder where it is now (copy it along).",
              file=sys.stderr)
        return 2
    try:
        from hume_ssl.core.errors import HumeSSLError
        from hume_ssl.seeds.usb import train_usb
    except ImportError as e:
        print(f"error: hume-ssl is not importable ({e}); run pip install -e \\".[usb]\\" in "
              "the hume-ssl checkout.", file=sys.stderr)
        return 2
    try:
        r = train_usb(a.seeds, a.out, algorithm=a.algorithm, net=a.net,
                      iterations=a.iterations, batch_size=a.batch_size, uratio=a.uratio,
                      lr=a.lr, device=a.device, num_workers=a.num_workers,
                      data_root=a.data_root, expected=EXPECTED, image_size=a.image_size)
    except HumeSSLError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"USB {r['algorithm']} (semilearn {r['semilearn']}): {r['iterations']} iterations "
          f"in {r['seconds']} s on {r['device']}; {r['n_labeled']} labeled ({r['labels']}), "
          f"{r['n_unlabeled']} unlabeled; labeled targets equal the pseudo-labels: "
          f"{r['labeled_targets_equal_pseudo_labels']}; eval ACC (Hungarian map) "
          f"{r['eval_acc_hungarian']}; outputs in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''


def write_train_usb(path: Path, seeds_dir: Path, seeds: Seeds) -> Path:
    """train_usb.py for these seeds: a thin argparse shell over `train_usb`."""
    defaults = {name: p.default for name, p in inspect.signature(train_usb).parameters.items()
                if name in SCRIPT_OPTIONS}  # written once: train_usb's signature
    text = (TRAIN_USB_SCRIPT.replace("@SEEDS@", repr(str(seeds_dir)))
            .replace("@DEFAULTS@", repr(defaults))
            .replace("@DATASET@", repr(seeds.dataset))
            .replace("@ORDER_HASH@", repr(seeds.order_hash))
            .replace("@SEEDS_SHA@", repr(seeds_sha(seeds))))
    return atomic_write_bytes(path, text.encode())
