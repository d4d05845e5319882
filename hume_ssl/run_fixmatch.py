"""`hume-ssl train-fixmatch` and `hume-ssl predict`: Python API behind the CLI commands.

`train_fixmatch_run` validates seeds and data before it writes anything, trains with
`FixMatchTrainer` (checkpointing into the run folder) and exports the EMA model:
  config.json   resolved config (units in "units"), seeds source, data counts, versions
  metrics.csv   one row per log interval (see fixmatch.CSV_FIELDS)
  metrics.json  final summary: last and median test ACC, evaluations, seed accuracy
  checkpoint.pt everything needed for --resume
  model.pt      plain state dict of the EMA model (torch.load + WideResNet.load_state_dict)
  model.json    arch, k, dataset, normalisation, input size, label ids, class names
"""

from __future__ import annotations

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
from hume_ssl.fixmatch import (
    FixMatchConfig,
    FixMatchTrainer,
    channel_stats,
    predict_logits,
    resolve_device,
)
from hume_ssl.fixmatch_data import (
    check_seeds_match,
    load_images_uint8,
    order_hashes,
    read_seeds,
    split_exists,
)
from hume_ssl.io import (
    atomic_save_npy,
    atomic_write_bytes,
    atomic_write_json,
    check_writable_dir,
    read_json,
)
from hume_ssl.metrics import cluster_acc
from hume_ssl.wrn import build_model

UNITS = {
    "steps": "optimizer steps",
    "batch_size": "labeled images per step (global)",
    "mu": "unlabeled images per labeled image",
    "lr": "SGD lr at step 0 (cosine decay)",
    "weight_decay": "L2 coefficient",
    "threshold": "softmax probability",
    "ema_decay": "per step",
    "bn_momentum": "per step (raised to 10/steps on runs under 10,000 steps)",
    "translate": "fraction of image size",
    "cutout": "fraction of image size",
    "eval_every": "steps",
    "log_every": "steps",
    "checkpoint_every": "steps",
    "eval_batch_size": "images",
}


def train_fixmatch_run(
    out: str | Path,
    cfg: FixMatchConfig,
    seeds: Optional[str | Path] = None,
    indices: Optional[str | Path] = None,
    labels: Optional[str | Path] = None,
    dataset: Optional[str] = None,
    resume: bool = False,
    callback=None,
) -> dict:
    cfg.validate()
    s = read_seeds(seeds, indices, labels, dataset)
    train = load_images_uint8(s.dataset, s.split)
    n = len(train.images)
    check_seeds_match(s, n, order_hashes(train) if s.order_hash else ())
    y = s.labels
    if cfg.oracle_labels:
        if train.labels is None:
            raise HumeSSLError(
                f"--oracle-labels needs ground truth, but {s.dataset}:{s.split} has none."
            )
        y = train.labels[s.indices]
    is_seed = np.zeros(n, bool)
    is_seed[s.indices] = True
    unlabeled = np.arange(n) if cfg.include_seeds_in_unlabeled else np.flatnonzero(~is_seed)
    if len(unlabeled) == 0:
        raise HumeSSLError(
            f"every one of the {n} images of {s.dataset}:{s.split} is a seed, so the "
            "unlabeled set is empty; FixMatch needs unlabeled images (use fewer seeds)."
        )
    k = max(s.k, int(y.max()) + 1)
    test = load_images_uint8(s.dataset, "test") if split_exists(s.dataset, "test") else None
    out = check_writable_dir(out)
    if (out / CHECKPOINT).exists() and not resume:
        raise HumeSSLError(
            f"{out} already holds a FixMatch run ({CHECKPOINT}); pass --resume to "
            "continue it, or choose a new --out."
        )
    seed_acc = None
    if train.labels is not None:
        seed_acc = (
            float(np.mean(s.labels == train.labels[s.indices]))
            if cfg.oracle_labels
            else cluster_acc(s.labels, train.labels[s.indices])
        )
    mean, std = channel_stats(train.images)
    record = {
        "command": "train-fixmatch",
        "fixmatch": cfg.to_dict(),
        "units": UNITS,
        "seeds": {
            **s.source,
            "dataset": s.dataset,
            "split": s.split,
            "n_seeds": int(len(s.indices)),
            "k": k,
            "labels": "ground truth (oracle)" if cfg.oracle_labels else "pseudo-labels",
            "seed_label_acc_vs_truth": seed_acc,
        },
        "data": {
            "n_train": n,
            "n_unlabeled": int(len(unlabeled)),
            "n_test": None if test is None else len(test.images),
            "image_shape": list(train.images.shape[1:]),
            "mean": mean.tolist(),
            "std": std.tolist(),
            "test_labels_used_for": "evaluation only",
        },
        "versions": {
            "hume_ssl": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }
    trainer = FixMatchTrainer(
        cfg,
        train.images,
        s.indices,
        y,
        unlabeled,
        k,
        out,
        truth=train.labels,
        test_images=None if test is None else test.images,
        test_truth=None if test is None else test.labels,
        aligned=cfg.oracle_labels,
        mean=mean,
        std=std,
        callback=callback,
    )
    record["device"] = str(trainer.device)
    record["world_size"] = trainer.world
    if trainer.rank == 0:
        atomic_write_json(out / "config.json", record)
    t0 = time.perf_counter()
    trainer.fit(resume=resume)
    summary = {
        "out": str(out),
        "steps": trainer.step,
        "seconds": time.perf_counter() - t0,
        "device": str(trainer.device),
        "seed_label_acc_vs_truth": seed_acc,
        "test_acc_last": trainer.evals[-1][1] if trainer.evals else None,
        "test_acc_median": trainer.median_test_acc(),
        "test_acc_median_of": min(cfg.eval_median_of, len(trainer.evals)),
        "test_acc_kind": "accuracy" if cfg.oracle_labels else "ACC after Hungarian map",
        "evals": [{"step": st, "test_acc": a} for st, a in trainer.evals],
    }
    if trainer.rank == 0:
        export_model(out, trainer, s, k, mean, std)
        atomic_write_json(out / "metrics.json", summary)
    return summary


def export_model(out: Path, trainer: FixMatchTrainer, s, k: int, mean, std) -> None:
    import io

    buf = io.BytesIO()
    torch.save({k_: v.detach().cpu() for k_, v in trainer.ema.module.state_dict().items()}, buf)
    atomic_write_bytes(out / "model.pt", buf.getvalue())
    cfg = trainer.cfg
    atomic_write_json(
        out / "model.json",
        {
            "arch": cfg.arch,
            "k": k,
            "dataset": s.dataset,
            "split": s.split,
            "input_size": list(trainer.data.shape[-2:]),
            "normalization": {
                "mean": list(map(float, mean)),
                "std": list(map(float, std)),
                "input": "RGB in [0, 1], then (x - mean) / std",
            },
            "label_ids": "ground-truth class ids"
            if cfg.oracle_labels
            else "seed pseudo-label (cluster) ids",
            "class_names": s.class_names,
            "weights": "EMA",
            "steps": trainer.step,
        },
    )


def predict_run(
    model_dir: str | Path,
    dataset: str,
    split: str = "test",
    out: Optional[str | Path] = None,
    device: str = "auto",
    batch_size: int = 1024,
) -> dict:
    """Label and confidence for every image of `dataset:split` with an exported model."""
    model_dir = Path(model_dir)
    meta = read_json(model_dir / "model.json")
    dev = resolve_device(device)
    model = build_model(meta["arch"], int(meta["k"]))
    try:
        model.load_state_dict(
            torch.load(model_dir / "model.pt", map_location="cpu", weights_only=True)
        )
    except Exception as e:
        raise HumeSSLError(
            f"cannot load {model_dir / 'model.pt'} ({e}); re-export it with train-fixmatch."
        ) from e
    model.to(dev)
    data = load_images_uint8(dataset, split)
    if list(data.images.shape[1:3]) != list(meta["input_size"]):
        raise HumeSSLError(
            f"{dataset}:{split} images are {data.images.shape[1:3]} px but the model "
            f"expects {meta['input_size']}; resize the images first."
        )
    norm = meta["normalization"]
    logits = predict_logits(
        model, data.images, torch.tensor(norm["mean"]), torch.tensor(norm["std"]), dev, batch_size
    )
    probs = torch.softmax(logits, 1)
    conf, lab = (t.cpu().numpy() for t in probs.max(1))
    out = Path(out) if out else model_dir / f"predictions_{split}"
    check_writable_dir(out)
    atomic_save_npy(out / "labels.npy", lab.astype(np.int64))
    atomic_save_npy(out / "confidence.npy", conf.astype(np.float32))
    names = meta.get("class_names")
    lines = ["index,label,confidence" + (",class_name" if names else "")]
    for i, (a, c) in enumerate(zip(lab, conf)):
        lines.append(f"{i},{a},{c:.6f}" + (f",{names[a]}" if names else ""))
    atomic_write_bytes(out / "predictions.csv", ("\n".join(lines) + "\n").encode())
    summary = {"out": str(out), "n": int(len(lab)), "dataset": dataset, "split": split}
    if data.labels is not None:
        summary["acc"] = (
            float(np.mean(lab == data.labels))
            if meta["label_ids"].startswith("ground")
            else cluster_acc(lab, data.labels)
        )
    return summary


@contextmanager
def fixmatch_progress(console):
    """Rich progress line for train-fixmatch: steps, losses, mask rate, accuracies."""
    from hume_ssl.progress import rich_progress

    progress = rich_progress(console)  # the task's description is "fixmatch"
    state: dict = {}
    last_test = [""]

    def fmt(v, spec=".3f"):
        return "-" if v == "" or v is None else format(v, spec)

    def callback(event: str, info: dict) -> None:
        if event == "start":
            state["task"] = progress.add_task(
                "fixmatch",
                total=info["steps"],
                completed=info["step"],
                info=f"on {info['device']} x{info['world']}",
            )
        elif event == "log":
            if info["test_acc"] != "":
                last_test[0] = info["test_acc"]
            progress.update(
                state["task"],
                completed=info["step"],
                info=(
                    f"loss_x {fmt(info['loss_x'])} loss_u {fmt(info['loss_u'])} "
                    f"mask {fmt(info['mask_rate'], '.2f')} pl_acc {fmt(info['pl_acc_masked'])} "
                    f"test {fmt(last_test[0])} {info['steps_per_s']:.1f} it/s"
                ),
            )

    with progress:
        yield callback
