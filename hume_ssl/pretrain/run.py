"""`hume-ssl pretrain`: Python API behind the command, and the run folder it writes.

  config.json    resolved config (units in "units"), data counts, versions
  metrics.csv    one row per log interval and per kNN evaluation (see trainer.CSV_FIELDS)
  curves.png     the metrics.csv curves, redrawn at every checkpoint
  metrics.json   kNN accuracy against step and wall-clock time, final figures
  checkpoint.pt  everything needed for --resume
  backbone.pt    plain state dict of the query encoder (torchvision layout, no head)
  backbone.json  arch, feature dim, preprocessing (size, mean, std): what `ssl:RUN` loads
                 (the artifact's format: hume_ssl.models.ssl_backbone)

Under torchrun (`torchrun --nproc_per_node N -m hume_ssl pretrain ...`) the ranks first
check that they load the same images with the same options (all stop, nothing written, when
one differs); rank 0 writes every file.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from hume_ssl.core import distributed
from hume_ssl.core.device import resolve_device
from hume_ssl.core.io import array_hash, atomic_write_json, check_writable_dir
from hume_ssl.core.params import check_value, units_of
from hume_ssl.core.versions import versions
from hume_ssl.data.images import IMAGE_SIZE_BOUNDS, channel_stats, load_square, split_exists
from hume_ssl.models.ssl_backbone import write_backbone
from hume_ssl.pretrain.config import MOCO_ONLY, PretrainConfig
from hume_ssl.pretrain.trainer import Pretrainer
from hume_ssl.train.budget import budget_use, length_record
from hume_ssl.train.loop import say_warning
from hume_ssl.train.resume import (
    check_resume,
    check_run_folder,
    cleanup_on_early_failure,
    report_disk_full,
    run_lock,
)


def pretrain_run(
    dataset: str,
    out: str | Path,
    cfg: PretrainConfig,
    split: str = "train",
    resume: bool = False,
    callback=None,
    image_size: Optional[int] = None,
    data_root: Optional[str | Path] = None,
    strict: bool = False,
) -> dict:
    """Pretrain on `dataset`'s `split` (labels never used for training); export the encoder.

    `image_size`: resize + center-crop every image to this side first (needed when the images
    are not all square of one size); the exported backbone records it. `data_root`: where
    registry datasets live. `strict`: fail on an unreadable image file of an image folder
    (else it is skipped, counted in config.json and warned about).
    """
    check_value("--image-size", image_size, IMAGE_SIZE_BOUNDS, whole=True)
    cfg = cfg.resolve()
    with run_lock(Path(out), "pretrain", take=distributed.is_main()), \
            report_disk_full(Path(out)), cleanup_on_early_failure(Path(out)):
        return _pretrain_run(dataset, Path(out), cfg, split, resume, callback, image_size,
                             data_root, strict)


def _pretrain_run(dataset, out, cfg, split, resume, callback, image_size, data_root,
                  strict) -> dict:
    images, labels, skipped = load_square(dataset, split, image_size, data_root,
                                          strict)  # (N, S, S, 3) uint8
    if skipped:  # said through the callback (the CLI's display), else as a Python warning
        message = (f"{skipped} unreadable image files of {dataset} skipped (config.json "
                   "data.skipped_unreadable; --strict fails instead)")
        say_warning(callback, message)
    test_images = test_labels = None
    # the kNN monitor's queries are the test images: never when they are trained on (and so in
    # the memory bank: --split test or train+test)
    if (labels is not None and "test" not in split.split("+")
            and split_exists(dataset, "test", data_root)):
        test_images, test_labels, _ = load_square(dataset, "test",
                                                  image_size or images.shape[1], data_root)
        if test_labels is None:
            test_images = None
    # what the run learns from: a resume must use the same images (checked before config.json)
    identity = {"dataset": dataset, "split": split, "images": array_hash(images)}
    if distributed.init(resolve_device(cfg.device)):  # torchrun: the same run on every rank
        distributed.check_same("the images and options", {
            **identity, "out": str(out), "resume": resume, "image_size": image_size,
            **cfg.to_dict()})
    out = check_writable_dir(out)
    check_run_folder(out, resume, "pretraining")
    if resume:
        check_resume(out, cfg.to_dict(), PretrainConfig.RESUME_KEYS, identity, "images",
                     "pass the same dataset, split and --image-size")
    mean, std = channel_stats(images)
    trainer = Pretrainer(cfg, images, out, mean, std, train_labels=labels,
                         test_images=test_images, test_labels=test_labels, callback=callback)
    trainer.identity = identity
    main = trainer.rank == 0
    record = {
        "command": "pretrain",
        "dataset": dataset,
        "split": split,
        "pretrain": {k: v for k, v in cfg.to_dict().items()  # MoCo's settings only where used
                     if cfg.method == "mocov2" or k not in MOCO_ONLY},
        "units": units_of(PretrainConfig),
        "length": length_record("pretrain.epochs", cfg.budget_minutes),
        "data": {"n_train": len(images), "skipped_unreadable": skipped,
                 "image_shape": list(images.shape[1:]),
                 "image_size": image_size,  # --image-size: resized to it (None: as they are)
                 "mean": mean.tolist(), "std": std.tolist(),
                 "n_test": None if test_images is None else len(test_images),
                 "labels_used_for": "kNN monitor only" if test_images is not None else "nothing"},
        "device": str(trainer.device),
        "processes": trainer.world,
        "steps_per_epoch": trainer.steps_per_epoch,
        "versions": versions(),
    }
    if main:
        atomic_write_json(out / "config.json", record)
    t0 = time.perf_counter()
    trainer.fit(resume=resume)
    knn_last = trainer.evals[-1][2] if trainer.evals else None
    if not main:  # torchrun: rank 0 exports the backbone and writes metrics.json
        return {"out": str(out), "steps": trainer.step, "rank": trainer.rank}
    write_backbone(out, trainer.model.encoder_q, {
        "arch": cfg.arch,
        "feature_dim": trainer.model.feat_dim,
        "method": cfg.method,
        "dataset": dataset,
        "split": split,
        "steps": trainer.step,
        "epochs": trainer.step / trainer.steps_per_epoch,
        "knn_acc": knn_last,
        "preprocessing": {"input_size": int(images.shape[1]),
                          "resize_size": int(images.shape[1]), "interpolation": "bilinear",
                          "mean": [float(v) for v in mean], "std": [float(v) for v in std]},
    })
    used_k = min(cfg.knn_neighbors, len(images)) if trainer.monitor else None
    summary = {
        "out": str(Path(out).resolve()),
        "steps": trainer.step,
        "epochs": trainer.step / trainer.steps_per_epoch,
        "steps_this_run": trainer.step - trainer.start_step,  # 0: resumed a finished run
        "total_steps": trainer.total_steps,  # the schedule's length (--budget-minutes: its fit)
        "seconds": time.perf_counter() - t0,
        "elapsed_s_total": trainer.elapsed(),
        "device": str(trainer.device),
        "budget": budget_use(cfg.budget_minutes, trainer.elapsed(), callback,
                             "pretraining") if trainer.rank == 0 else None,
        "knn_acc_last": knn_last,
        "knn_neighbors_used": used_k,  # the k of "kNN-k": the bank may hold fewer
        "knn": [{"step": s, "elapsed_s": t, "knn_acc": a} for s, t, a in trainer.evals],
        "collapse_suspected_at_steps": trainer.collapse_steps,
        "knn_setup": (f"k={used_k}, cosine, weights exp(sim/{cfg.knn_temperature}), "
                      f"memory bank = {dataset}:{split}, queries = {dataset}:test"
                      if trainer.monitor else None),  # None: no monitor ran
    }
    atomic_write_json(out / "metrics.json", summary)
    return summary
