"""`hume-ssl pretrain`: Python API behind the command, and the run folder it writes.

  config.json    resolved config (units in "units"), data counts, versions
  metrics.csv    one row per log interval and per kNN evaluation (see pretrain.CSV_FIELDS)
  metrics.json   kNN accuracy against step and wall-clock time, final figures
  checkpoint.pt  everything needed for --resume
  backbone.pt    plain state dict of the query encoder (torchvision layout, no head)
  backbone.json  arch, feature dim, preprocessing (size, mean, std): what `ssl:RUN` loads
"""

from __future__ import annotations

import io
import platform
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from hume_ssl import __version__
from hume_ssl.checkpoint import CHECKPOINT
from hume_ssl.errors import HumeSSLError
from hume_ssl.fixmatch import channel_stats
from hume_ssl.fixmatch_data import ImageSplit, split_exists
from hume_ssl.io import atomic_write_bytes, atomic_write_json, check_writable_dir
from hume_ssl.pretrain import PretrainConfig, Pretrainer

BACKBONE_FORMAT = "hume-ssl-ssl-backbone/1"
UNITS = {
    "epochs": "passes over the split",
    "budget_minutes": "minutes of wall-clock time (schedule fitted to it)",
    "batch_size": "images per step (two views each)",
    "lr": "SGD lr at step 0 (cosine decay to 0)",
    "queue_size": "keys",
    "moco_momentum": "key-encoder EMA per step",
    "knn_every": "epochs",
    "log_every": "steps",
    "checkpoint_every": "steps",
    "view.crop_scale": "fraction of the image area",
    "view.hue": "fraction of the colour wheel",
    "view.blur_sigma": "pixels",
    "view.blur_min_size": "pixels (output side)",
}


def load_square(dataset: str, split: str, size: Optional[int] = None):
    """(images (N, S, S, 3) uint8, labels or None). Images of one square size load as they are;
    with `size`, or when sizes differ, each is resized (shorter side -> S, bilinear) and
    center-cropped to S x S."""
    from hume_ssl.backbones import Preprocessing
    from hume_ssl.datasets import load_dataset
    from hume_ssl.features import _pil_resize_crop

    ds = load_dataset(dataset, split)
    shape = ds.image_size
    if size is None and shape is not None and shape[0] == shape[1]:
        return np.asarray(ds.images_uint8(), dtype=np.uint8), ds.labels
    if size is None:
        raise HumeSSLError(f"{dataset}:{split} images are not all square of one size "
                           f"({'various sizes' if shape is None else f'{shape[0]}x{shape[1]}'}); "
                           "pass --image-size S to resize and center-crop them to S x S.")
    pre = Preprocessing(size, size, "bilinear", (0.0,) * 3, (1.0,) * 3)
    out = np.empty((len(ds), size, size, 3), np.uint8)
    for i in range(len(ds)):
        out[i] = _pil_resize_crop(np.asarray(ds[i]), pre)
    return out, ds.labels


def pretrain_run(
    dataset: str,
    out: str | Path,
    cfg: PretrainConfig,
    split: str = "train",
    resume: bool = False,
    callback=None,
    image_size: Optional[int] = None,
) -> dict:
    """Pretrain on `dataset`'s `split` (labels never used for training); export the encoder.

    `image_size`: resize + center-crop every image to this side first (needed when the images
    are not all square of one size); the exported backbone records it.
    """
    cfg.validate()
    images, labels = load_square(dataset, split, image_size)  # (N, S, S, 3) uint8
    test = None
    if labels is not None and split != "test" and split_exists(dataset, "test"):
        t_images, t_labels = load_square(dataset, "test", image_size or images.shape[1])
        if t_labels is not None:
            test = ImageSplit(t_images, t_labels)
    out = check_writable_dir(out)
    if (out / CHECKPOINT).exists() and not resume:
        raise HumeSSLError(f"{out} already holds a pretraining run ({CHECKPOINT}); pass --resume "
                           "to continue it, or choose a new --out.")
    mean, std = channel_stats(images)
    trainer = Pretrainer(cfg, images, out, mean, std, train_labels=labels,
                         test_images=None if test is None else test.images,
                         test_labels=None if test is None else test.labels, callback=callback)
    atomic_write_json(out / "config.json", {
        "command": "pretrain",
        "dataset": dataset,
        "split": split,
        "pretrain": cfg.to_dict(),
        "units": UNITS,
        "data": {"n_train": len(images), "image_shape": list(images.shape[1:]),
                 "mean": mean.tolist(), "std": std.tolist(),
                 "n_test": None if test is None else len(test.images),
                 "labels_used_for": "kNN monitor only" if test is not None else "nothing"},
        "device": str(trainer.device),
        "steps_per_epoch": trainer.steps_per_epoch,
        "versions": {"hume_ssl": __version__, "torch": torch.__version__,
                     "python": platform.python_version()},
    })
    t0 = time.perf_counter()
    trainer.fit(resume=resume)
    export_backbone(out, trainer, dataset, split, mean, std, images.shape[1])
    summary = {
        "out": str(out),
        "steps": trainer.step,
        "epochs": trainer.step / trainer.steps_per_epoch,
        "seconds": time.perf_counter() - t0,
        "elapsed_s_total": trainer.elapsed(),
        "device": str(trainer.device),
        "knn_acc_last": trainer.evals[-1][2] if trainer.evals else None,
        "knn": [{"step": s, "elapsed_s": t, "knn_acc": a} for s, t, a in trainer.evals],
        "knn_setup": f"k={cfg.knn_k}, cosine, weights exp(sim/{cfg.knn_temperature}), "
                     f"memory bank = {dataset}:{split}, queries = {dataset}:test",
    }
    atomic_write_json(out / "metrics.json", summary)
    return summary


def export_backbone(out: Path, trainer: Pretrainer, dataset: str, split: str, mean, std,
                    size: int) -> None:
    buf = io.BytesIO()
    enc = trainer.model.encoder_q
    torch.save({k: v.detach().cpu().contiguous() for k, v in enc.state_dict().items()}, buf)
    atomic_write_bytes(out / "backbone.pt", buf.getvalue())
    atomic_write_json(out / "backbone.json", {
        "format": BACKBONE_FORMAT,
        "arch": trainer.cfg.arch,
        "feature_dim": trainer.model.feat_dim,
        "method": trainer.cfg.method,
        "dataset": dataset,
        "split": split,
        "steps": trainer.step,
        "epochs": trainer.step / trainer.steps_per_epoch,
        "knn_acc": trainer.evals[-1][2] if trainer.evals else None,
        "preprocessing": {"input_size": int(size), "resize_size": int(size),
                          "interpolation": "bilinear", "mean": [float(v) for v in mean],
                          "std": [float(v) for v in std]},
    })


def read_backbone_meta(path: str | Path) -> tuple[dict, Path]:
    """(backbone.json contents, backbone.pt path) of a pretrain run folder (or its backbone.pt)."""
    import json

    p = Path(path).expanduser()
    folder = p.parent if p.suffix == ".pt" else p
    meta_path, weights = folder / "backbone.json", folder / "backbone.pt"
    if not meta_path.is_file() or not weights.is_file():
        raise HumeSSLError(f"ssl:{path}: no backbone.json + backbone.pt in {folder}; pass the "
                           "--out folder of a finished `hume-ssl pretrain` run.")
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as e:
        raise HumeSSLError(f"{meta_path} is not valid JSON ({e}).") from e
    if meta.get("format") != BACKBONE_FORMAT:
        raise HumeSSLError(f"{meta_path} is not a hume-ssl pretrain backbone ({BACKBONE_FORMAT}).")
    return meta, weights


@contextmanager
def pretrain_progress(console):
    """Rich progress line for pretrain: steps, loss, positive-pair accuracy, kNN, images/s."""
    from hume_ssl.progress import rich_progress

    progress = rich_progress(console)
    state: dict = {"knn": "-"}

    def callback(event: str, info: dict) -> None:
        if event == "start":
            state["task"] = progress.add_task("mocov2", total=info["total_steps"],
                                              completed=info["step"], info=f"on {info['device']}")
        elif event == "budget":
            progress.update(state["task"], total=info["total_steps"])
            console.print(f"budget: {info['epochs']} epochs = {info['total_steps']} steps at "
                          f"{info['s_per_step'] * 1e3:.0f} ms/step")
        elif event == "log":
            if info["knn_acc"] != "":
                state["knn"] = f"{info['knn_acc']:.4f}"
            loss = "-" if info["loss"] == "" else f"{info['loss']:.3f}"
            progress.update(state["task"], total=info["total_steps"], completed=info["step"],
                            info=f"epoch {info['epoch']:.1f} loss {loss} kNN {state['knn']} "
                                 f"{info['images_per_s']:.0f} img/s")

    with progress:
        yield callback
