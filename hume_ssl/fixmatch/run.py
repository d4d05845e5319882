"""`hume-ssl train-fixmatch`: the Python API behind the command.

`train_fixmatch_run` validates seeds and data before it writes anything, trains with
`FixMatchTrainer` (checkpointing into the run folder) and exports the EMA model:
  config.json   resolved config (units in "units"), seeds source, data counts, versions
  metrics.csv   one row per log interval (see fixmatch.trainer.CSV_FIELDS)
  curves.png    losses, mask rate, pseudo-label and test accuracy (from metrics.csv)
  metrics.json  final summary: last and median test ACC (test_acc_interval: the median's 95%
                interval from the test images' sampling alone, core.metrics.accuracy_interval),
                evaluations, seed accuracy, the training clock across resumes
                (elapsed_s_total; seconds: this process's)
  checkpoint.pt everything needed for --resume
  model.pt      plain state dict of the EMA model: hume_ssl.models.classifier.build_classifier(
                model.json arch, k).load_state_dict(torch.load(...)), as `predict` does
  model.json    arch, init, k, dataset, normalisation, input size (and model_input_size, the
                size images are resized to), label ids, class names
  config.json also records the recipe (fixmatch/recipes.py) and the linear probe's accuracy;
  metrics.json probe_test_acc, fixmatch_minus_probe, below_probe
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np

from hume_ssl.core import distributed
from hume_ssl.core.device import local_rank, resolve_device
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import (
    array_hash,
    atomic_save_state_dict,
    atomic_write_json,
    check_writable_dir,
)
from hume_ssl.core.metrics import ACCURACY_KIND, accuracy_interval, label_accuracy
from hume_ssl.core.params import check_value, units_of, warn_renamed
from hume_ssl.core.versions import versions
from hume_ssl.data.images import IMAGE_SIZE_BOUNDS, channel_stats, load_split, split_exists
from hume_ssl.fixmatch.config import FixMatchConfig, bn_momentum_for
from hume_ssl.fixmatch.probe import fit_probe, start_head
from hume_ssl.fixmatch.recipes import RECIPES
from hume_ssl.fixmatch.trainer import FixMatchTrainer
from hume_ssl.models.classifier import EncoderClassifier, Init, resolve_init
from hume_ssl.seeds.artifact import check_seeds_match, order_hashes, read_seeds
from hume_ssl.train.budget import budget_use, length_record
from hume_ssl.train.loop import say_warning
from hume_ssl.train.resume import (
    check_resume,
    check_run_folder,
    cleanup_on_early_failure,
    report_disk_full,
    run_lock,
)


def train_fixmatch_run(
    out: str | Path,
    cfg: FixMatchConfig,
    seeds: Optional[str | Path] = None,
    indices: Optional[str | Path] = None,
    seed_labels: Optional[str | Path] = None,
    dataset: Optional[str] = None,
    resume: bool = False,
    callback=None,
    data_root: Optional[str | Path] = None,
    labels: Optional[str | Path] = None,
    image_size: Optional[int] = None,
    k: Optional[int] = None,
) -> dict:
    """Train FixMatch on the seeds (a seeds folder, or `indices` with their `seed_labels`:
    pseudo-labels, never ground truth) and every other train image; `labels` is the old name
    of `seed_labels`. `image_size`: resize and center-crop every train and test image to this
    side first (needed when their sizes differ; `predict` applies it too). `k`: the classes of
    `indices` seeds on data with no labels or class list (a seeds folder's seeds.json says)."""
    if labels is not None:
        warn_renamed("train_fixmatch_run(labels=)", "seed_labels=")
        seed_labels = labels
    _check_seed_inputs(seeds, indices, seed_labels, k)
    if k is not None and cfg.oracle_labels:
        raise HumeSSLError("--k with --oracle-labels: the ground truth's classes are the "
                           "dataset's; drop --k.")
    check_value("--image-size", image_size, IMAGE_SIZE_BOUNDS, whole=True)
    check_value("--k", k, "[2, inf)", whole=True)
    init = resolve_init(cfg.init, cfg.input_size) if cfg.init else None  # once, passed down
    cfg = cfg.resolve(init)
    with run_lock(Path(out), "train-fixmatch", take=distributed.is_main()), \
            report_disk_full(Path(out)), cleanup_on_early_failure(Path(out)):
        return _train_fixmatch_run(Path(out), cfg, init, seeds, indices, seed_labels, dataset,
                                   resume, callback, data_root, image_size, k)


def _train_fixmatch_run(out, cfg, init, seeds, indices, labels, dataset, resume, callback,
                        data_root, image_size, k_given) -> dict:
    s = read_seeds(seeds, indices, labels, dataset)
    if s.lines is not None and not s.source.get("origin"):  # a CSV from elsewhere
        say_warning(callback, f"{s.source['indices']}: no seeds_origin.json beside it (`export "
                    "--format csv` writes one), so its indices are not checked against "
                    f"{s.dataset}: an image added, removed or renamed since the seeds were made "
                    "would shift them onto other images.")
    if k_given is not None:  # --indices seeds: the classes the user names
        s.k, s.source["k_from"] = k_given, "--k"
    train = load_split(s.dataset, s.split, data_root, image_size)
    if train.skipped:  # as `seed` skipped them: the seeds' indices count readable files only
        say_warning(callback, f"{train.skipped} unreadable image files of {s.dataset} skipped, "
                    "as `seed` skipped them.")
    n = len(train.images)
    check_seeds_match(s, n, order_hashes(train) if s.order_hash else ())
    y = _training_labels(s, train, cfg)
    k, k_from = _num_classes(s, train, y, cfg)
    unseeded = [int(c) for c in np.setdiff1d(np.arange(k), y)]  # classes no seed carries
    if unseeded:
        message = (f"{len(unseeded)} of {k} classes have no seeds ({_listed(unseeded)}): "
                   "FixMatch never learns to predict them; seeds in more clusters would teach "
                   "them (`seed --shortage`: fill for the consensus rule, relax for the hume "
                   "rule).")
        say_warning(callback, message)
    unlabeled = _unlabeled_rows(s, n, cfg)
    test = (load_split(s.dataset, "test", data_root, image_size)
            if split_exists(s.dataset, "test", data_root) else None)
    # what the run learns from: a resume must use the same (checked before anything is written)
    identity = {"seeds": array_hash(s.indices, y), "train_order": train.order_hash,
                "n_unlabeled": int(len(unlabeled)), "image_size": image_size, "k": k}
    if distributed.init(resolve_device(cfg.device, local_rank())):  # torchrun: the same run
        distributed.check_same("the seeds, data and options", {  # on every rank
            **identity, "dataset": s.dataset, "out": str(out), "resume": resume,
            **cfg.to_dict()})
    out = check_writable_dir(out)
    check_run_folder(out, resume, "FixMatch")
    if resume:
        check_resume(out, cfg.to_dict(), FixMatchConfig.RESUME_KEYS, identity, "seeds or data",
                     "pass the same --seeds/--indices/--seed-labels/--oracle-labels/"
                     "--image-size/--k")
    seed_acc = None
    if train.labels is not None:
        seed_acc = label_accuracy(s.labels, train.labels[s.indices], cfg.oracle_labels)
    mean, std = _normalisation(init, cfg, s, train.images, image_size)
    record = _run_record(cfg, init, s, (k, k_from), seed_acc, train, unlabeled, test, mean, std,
                         image_size)
    record["classes_without_seeds"] = unseeded
    trainer = FixMatchTrainer(
        cfg, train.images, s.indices, y, unlabeled, k, out, truth=train.labels,
        test_images=None if test is None else test.images,
        test_truth=None if test is None else test.labels,
        aligned=cfg.oracle_labels, mean=mean, std=std, callback=callback, identity=identity,
        init=init,
    )
    record["device"] = str(trainer.device)
    record["world_size"] = trainer.world
    probe = _probe(trainer, cfg, s, y, k, test)
    record["probe"] = None if probe is None else {
        **probe.to_dict(), "head_from_probe": RECIPES[cfg.recipe].head == "probe"}
    if trainer.rank == 0:
        atomic_write_json(out / "config.json", record)
    t0 = time.perf_counter()
    trainer.fit(resume=resume)
    median = trainer.median_test_acc()  # (None: never evaluated)
    summary = {
        "out": str(Path(out).resolve()),
        "steps": trainer.step,
        "steps_this_run": trainer.step - trainer.start_step,  # 0: resumed a finished run
        "total_steps": trainer.total_steps,  # the schedule's length (--budget-minutes: its fit)
        "seconds": time.perf_counter() - t0,  # this process's
        "elapsed_s_total": trainer.elapsed(),  # the run's training clock, across resumes
        "bn_momentum_used": bn_momentum_for(cfg, trainer.total_steps),  # for the run's length
        "device": str(trainer.device),
        "seed_label_acc_vs_truth": seed_acc,
        "test_acc_last": trainer.evals[-1][1] if trainer.evals else None,
        "test_acc_median": median,
        "test_acc_median_of": min(cfg.eval_median_of, len(trainer.evals)),
        "test_acc_kind": ACCURACY_KIND[cfg.oracle_labels],
        "test_acc_interval": accuracy_interval(  # of the median: the test images' sampling
            median, 0 if test is None else len(test.images)),
        "budget": budget_use(cfg.budget_minutes, trainer.elapsed(), callback,
                             "training") if trainer.rank == 0 else None,
        "n_test": None if test is None else int(len(test.images)),  # (None: no test split)
        "evals": [{"step": st, "test_acc": a} for st, a in trainer.evals],
        **_versus_probe(probe, median),
    }
    if trainer.rank == 0:
        names = train.classes if cfg.oracle_labels else s.class_names  # the labels' names
        export_model(out, trainer, s, k, mean, std, image_size, names)
        atomic_write_json(out / "metrics.json", summary)
    return summary


def _listed(ids: list[int], shown: int = 20) -> str:
    """The first `shown` ids, comma-separated ("..." after them)."""
    return ", ".join(map(str, ids[:shown])) + (" ..." if len(ids) > shown else "")


def _probe(trainer: FixMatchTrainer, cfg: FixMatchConfig, s, y, k: int, test):
    """The linear-probe baseline on the seeds in the pretrained encoder's frozen features
    (before any step); when the recipe says so, the classifier's feature scale and its head
    start from it (fixmatch/probe.py start_head). None without --init: there the features are
    random and the head stays the paper's."""
    model = trainer.model
    if not cfg.init or not isinstance(model, EncoderClassifier):
        return None
    recipe = RECIPES[cfg.recipe]
    model.frozen_bn = trainer.ema.module.frozen_bn = recipe.frozen_bn
    if not cfg.probe and recipe.head != "probe" and not recipe.unit_features:
        return None  # --no-probe, and the recipe (ssl) starts nothing from the probe
    scored = cfg.probe and test is not None
    probe = fit_probe(model.encoder, trainer.data, s.indices, y, k, trainer.mean, trainer.std,
                      trainer.device, cfg.input_size,
                      test.images if scored else None, test.labels if scored else None,
                      cfg.oracle_labels, min(cfg.eval_batch_size, 256))
    from_probe = recipe.head == "probe"
    start_head(model, probe, from_probe, recipe.unit_features)
    start_head(trainer.ema.module, probe, from_probe, recipe.unit_features)
    trainer.reference_acc = probe.test_acc  # drawn in curves.png
    return probe


def _versus_probe(probe, fixmatch_acc) -> dict:
    """metrics.json's comparison with the probe: a run that ends below it says so."""
    if probe is None:
        return {"probe_test_acc": None}
    out = {"probe_test_acc": probe.test_acc, "probe_seconds": probe.seconds}
    if probe.test_acc is not None and fixmatch_acc is not None:
        out["fixmatch_minus_probe"] = fixmatch_acc - probe.test_acc
        out["below_probe"] = bool(fixmatch_acc < probe.test_acc)
    return out


def _check_seed_inputs(seeds, indices, seed_labels, k=None) -> None:
    """One source of seeds: conflicting inputs are refused, never silently overridden."""
    if seeds is not None and (indices is not None or seed_labels is not None):
        raise HumeSSLError(
            "give either --seeds DIR or --indices (with --seed-labels), not both: --seeds "
            "would be used and the others ignored."
        )
    if seeds is not None and k is not None:
        raise HumeSSLError("--k is for --indices seeds: a seeds folder's seeds.json gives k; "
                           "drop --k.")
    if indices is not None and seed_labels is not None and str(indices).lower().endswith(".csv"):
        raise HumeSSLError(
            f"--indices {indices} is a CSV whose rows carry the labels; drop --seed-labels "
            "(or pass the indices as .npy with --seed-labels)."
        )


def _num_classes(s, train, y: np.ndarray, cfg: FixMatchConfig) -> tuple[int, str]:
    """(k, where it came from): k, the classes the model outputs, is the seeds' (seeds.json
    "k"), else the dataset's (its class list, or its labels); never guessed from the largest
    seed label. The training labels must lie in 0..k-1."""
    data_k = (len(train.classes) if train.classes else
              int(train.labels.max()) + 1 if train.labels is not None else None)
    if cfg.oracle_labels:  # ground-truth ids (_training_labels checked there are some)
        k, source = data_k, f"the classes of {s.dataset}"
    elif s.source.get("k_from") == "seeds.json":
        k, source = s.k, f"k in {s.source['seeds']}/seeds.json"
    elif s.source.get("k_from") == "--k":
        k, source = s.k, "--k"
    elif data_k is not None:
        k, source = data_k, f"the classes of {s.dataset}"
    else:
        raise HumeSSLError(
            f"cannot tell the number of classes: the seeds give no k and {s.dataset}:{s.split} "
            "has no class list or labels; pass --k K (the number of clusters the seeds were "
            "labeled with), or a seeds folder whose seeds.json gives \"k\"."
        )
    if y.min() < 0 or y.max() >= k:
        bad = int(np.flatnonzero((y < 0) | (y >= k))[0])
        raise HumeSSLError(
            f"seed labels span {y.min()}..{y.max()} but k = {k} ({source}): every label must "
            f"lie in 0..{k - 1} (e.g. {s.where(bad)}: label {y[bad]}); fix the labels"
            + {"seeds.json": " (or k in seeds.json).", "--k": " (or --k)."}.get(
                s.source.get("k_from"), ".")
        )
    return int(k), source


def _training_labels(s, train, cfg: FixMatchConfig) -> np.ndarray:
    """The seeds' training labels: their pseudo-labels, or with --oracle-labels the ground
    truth at the seed indices (comparison only)."""
    if not cfg.oracle_labels:
        return s.labels
    if train.labels is None:
        raise HumeSSLError(
            f"--oracle-labels needs ground truth, but {s.dataset}:{s.split} has none."
        )
    return train.labels[s.indices]


def _unlabeled_rows(s, n: int, cfg: FixMatchConfig) -> np.ndarray:
    """The train rows FixMatch uses unlabeled: every non-seed (or every row, when asked)."""
    is_seed = np.zeros(n, bool)
    is_seed[s.indices] = True
    unlabeled = np.arange(n) if cfg.include_seeds_in_unlabeled else np.flatnonzero(~is_seed)
    if len(unlabeled) == 0:
        raise HumeSSLError(
            f"every one of the {n} images of {s.dataset}:{s.split} is a seed, so the "
            "unlabeled set is empty; FixMatch needs unlabeled images (use fewer seeds)."
        )
    return unlabeled


def _normalisation(init: Optional[Init], cfg: FixMatchConfig, s, images: np.ndarray,
                   image_size: Optional[int]):
    """Input mean and std (3,): a pretrained encoder's own (its image size must match), else
    the train split's channel statistics."""
    if init is not None and not init.resizable and init.input_size != images.shape[1]:
        if image_size:  # the size is the option's, not the files'
            raise HumeSSLError(
                f"--init {cfg.init} was trained on {init.input_size} px images but "
                f"--image-size {image_size} resizes {s.dataset}:{s.split} to {image_size} px; "
                f"pass --image-size {init.input_size} (or drop it where the images are all "
                f"{init.input_size} px).")
        raise HumeSSLError(
            f"--init {cfg.init} was trained on {init.input_size} px images but "
            f"{s.dataset}:{s.split} has {images.shape[1]} px images; pass --image-size "
            f"{init.input_size} (the images resized to the encoder's size), pretrain at this "
            "size (`pretrain --image-size`), or drop --init."
        )
    return (np.asarray(init.mean), np.asarray(init.std)) if init else channel_stats(images)


def _run_record(cfg: FixMatchConfig, init: Optional[Init], s, k: tuple[int, str], seed_acc, train,
                unlabeled: np.ndarray, test, mean, std, image_size: Optional[int]) -> dict:
    """config.json: the resolved config with units, the init, the seeds (`k`: (k, where it
    came from)) and the data."""
    return {
        "command": "train-fixmatch",
        "fixmatch": cfg.to_dict(),
        "init": None if init is None else init.to_dict(),
        "recipe": {"name": cfg.recipe, **RECIPES[cfg.recipe].to_dict(), "lr": cfg.lr,
                   "encoder_lr_scale": cfg.encoder_lr_scale, "warmup": cfg.warmup,
                   "layer_decay": cfg.layer_decay},
        "units": units_of(FixMatchConfig),
        "length": length_record("fixmatch.steps", cfg.budget_minutes),
        "seeds": {  # (the seed-labels file as labels_file: "labels" says which labels trained)
            **{"labels_file" if key == "labels" else key: v for key, v in s.source.items()},
            "dataset": s.dataset,
            "split": s.split,
            "n_seeds": int(len(s.indices)),
            "k": k[0],
            "k_from": k[1],  # (before: seeds.json's "k_from" kept under --oracle-labels)
            "labels": "ground truth (oracle)" if cfg.oracle_labels else "pseudo-labels",
            "seed_label_acc_vs_truth": seed_acc,
        },
        "data": {
            "n_train": len(train.images),
            "n_unlabeled": int(len(unlabeled)),
            "n_test": None if test is None else len(test.images),
            "image_shape": list(train.images.shape[1:]),
            "image_size": image_size,  # --image-size: images resized to it (None: as they are)
            "mean": mean.tolist(),
            "std": std.tolist(),
            "test_labels_used_for": "evaluation only",
        },
        "versions": versions(),
    }


def export_model(out: Path, trainer: FixMatchTrainer, s, k: int, mean, std,
                 image_size: Optional[int] = None,
                 class_names: Optional[list[str]] = None) -> None:
    """model.pt (EMA weights, plain state dict) + model.json (what `predict` needs);
    `class_names`: the names of the label ids (the dataset's for --oracle-labels, else the
    seeds' when a person named their clusters)."""
    atomic_save_state_dict(out / "model.pt", trainer.ema.module)
    cfg = trainer.cfg
    atomic_write_json(
        out / "model.json",
        {
            "arch": cfg.arch,
            "init": cfg.init,
            "k": k,
            "dataset": s.dataset,
            "split": s.split,
            "input_size": list(trainer.data.shape[-2:]),
            "image_size": image_size,  # predict resizes every image to it first (--image-size)
            "model_input_size": cfg.input_size,  # images are resized to it (None: as they are)
            "normalization": {
                "mean": list(map(float, mean)),
                "std": list(map(float, std)),
                "input": "RGB in [0, 1], then (x - mean) / std",
            },
            "label_ids": "ground-truth class ids"
            if cfg.oracle_labels
            else "seed pseudo-label (cluster) ids",
            "label_ids_are_classes": cfg.oracle_labels,  # predict scores plain accuracy
            "class_names": class_names,
            "weights": "EMA",
            "steps": trainer.step,
        },
    )
