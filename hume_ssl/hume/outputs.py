"""The files `label` (and `seed`, under hume/) write for a fitted Hume: documented, atomic.

Also reads ground-truth label files (evaluation only) with clear errors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import atomic_save_npy, atomic_write_json, load_array
from hume_ssl.core.metrics import clustering_metrics
from hume_ssl.core.versions import versions
from hume_ssl.hume.estimator import Hume

OUTPUT_FILES = {
    "labelings.npy": "(R, N) int64: every restart's labels, aligned to the best restart",
    "labels.npy": "(N,) int64: ensemble labels (majority vote)",
    "agreement.npy": "(N,) float32: share of restarts voting for the ensemble label",
    "scores.npy": "(R,) float32: label-free restart score (higher is better)",
    "margins.npy": "(N,) float32: top-1 minus top-2 cosine logit under the best restart",
    "encoders.npy": "(R, k, d1) float32: task encoders, rows in aligned class order",
    "phi1_mean.npy": "(d1,) float32: mean subtracted from space 1 before L2-normalising",
    "test_labelings.npy": "(R, M) int64: restarts' labels of the test rows (if given)",
    "test_labels.npy": "(M,) int64: ensemble labels of the test rows (if given)",
    "test_agreement.npy": "(M,) float32: agreement on the test rows (if given)",
    "test_margins.npy": "(M,) float32: margins of the test rows under the best restart (if "
    "given)",
    "config.json": "resolved config, sample count, input hash, versions, timings, diagnostics "
    "(label-free, with a verdict)",
    "metrics.json": "ACC/ARI/NMI of the ensemble and each restart (if labels were given)",
}


def load_labels(path: str | Path, n: int, what: str = "labels") -> np.ndarray:
    y = np.asarray(load_array(path, what))
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise HumeSSLError(
            f"{what} file {path} must hold a 1-D integer array; got {y.dtype} {y.shape}."
        )
    if len(y) != n:
        raise HumeSSLError(
            f"{what} file {path} has {len(y)} entries but the features have {n} rows; "
            "give the labels of the same samples in the same order."
        )
    return check_class_ids(y, f"{what} file {path}")


def check_class_ids(y: np.ndarray, source: str) -> np.ndarray:
    """(N,) int64 ground-truth class ids, or an error (before any work) when one is negative."""
    y = np.asarray(y).astype(np.int64)
    bad = np.flatnonzero(y < 0)
    if bad.size:
        raise HumeSSLError(
            f"{source} holds negative labels ({bad.size} of them, e.g. {y[bad[0]]} at index "
            f"{bad[0]}); ground truth must be class ids 0, 1, 2, ...: fix or drop those rows.")
    return y


def write_label_outputs(model: Hume, out: Path, record: dict, y=None, y_test=None):
    """Write a fitted model's documented outputs into `out` (atomically); metrics if y given.

    Each file is written atomically; if one fails (a full disk), the outputs this call wrote
    are removed again so the folder never mixes two runs' outputs, and the error is re-raised.
    HUME's restart chunks (`out/chunks/`) are never touched: a re-run resumes from them.
    """
    written: list[Path] = []
    try:
        return _write_label_outputs(model, Path(out), record, y, y_test, written)
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise


def _write_label_outputs(model, out: Path, record: dict, y, y_test, written: list[Path]):
    # an earlier run's record goes first: stopped below, the folder holds no config.json that
    # lists files this run replaced or removed (before: it did, after a Ctrl-C mid-write)
    (out / "config.json").unlink(missing_ok=True)
    files = {
        "labelings.npy": model.labelings_,
        "labels.npy": model.labels_,
        "agreement.npy": model.agreement_,
        "scores.npy": model.scores_,
        "margins.npy": model.margins_,
        "encoders.npy": model.encoders_,
    }
    if model.phi1_mean_ is not None:
        files["phi1_mean.npy"] = model.phi1_mean_
    if model.test_labels_ is not None:
        files["test_labelings.npy"] = model.test_labelings_
        files["test_labels.npy"] = model.test_labels_
        files["test_agreement.npy"] = model.test_agreement_
        files["test_margins.npy"] = model.test_margins_
    for name, arr in files.items():
        written.append(atomic_save_npy(out / name, arr))
    metrics = None
    if y is not None:
        per = [clustering_metrics(lab, y) for lab in model.labelings_]
        metrics = {
            "ensemble": clustering_metrics(model.labels_, y),
            "best_restart": per[model.best_restart_],
            "restarts": per,
            "restart_acc_mean": float(np.mean([m["acc"] for m in per])),
            "restart_acc_max": float(np.max([m["acc"] for m in per])),
        }
    if y_test is not None and model.test_labels_ is not None:  # with or without train labels
        metrics = metrics or {}
        metrics["test_ensemble"] = clustering_metrics(model.test_labels_, y_test)
        metrics["test_best_restart"] = clustering_metrics(
            model.test_labelings_[model.best_restart_], y_test)
    if metrics is not None:
        written.append(atomic_write_json(out / "metrics.json", metrics))
    full = {
        **record,
        "hume": model.config.to_dict(),
        "n_samples": model.n_samples_,
        "input_hash": model.input_hash_,
        "test_hash": model.test_hash_,
        "best_restart": model.best_restart_,
        "diagnostics": model.diagnostics_,
        "versions": versions(),
        "outputs": {
            k: v
            for k, v in OUTPUT_FILES.items()
            if k in files or k == "config.json" or (k == "metrics.json" and metrics)
        },
    }
    written.append(atomic_write_json(out / "config.json", full))
    for name in OUTPUT_FILES.keys() - full["outputs"].keys():  # an earlier run's, now stale:
        (out / name).unlink(missing_ok=True)  # its metrics.json would contradict this run
    return metrics
