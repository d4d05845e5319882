"""`hume-ssl label`: HUME on two feature files, written to one run folder.

Python API behind the CLI command: `label_run(...)` validates everything before it writes
anything, fits `Hume` with restart chunks checkpointed under `out/chunks/`, and writes the
documented outputs (see README "Outputs of `label`") atomically.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Optional

import numpy as np

from hume_ssl import __version__
from hume_ssl.config import HumeConfig
from hume_ssl.errors import HumeSSLError
from hume_ssl.hume import Callback, Hume
from hume_ssl.io import (
    atomic_save_npy,
    atomic_write_json,
    check_features,
    check_writable_dir,
    load_array,
)
from hume_ssl.metrics import clustering_metrics

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
    "config.json": "resolved config, sample count, input hash, versions, timings",
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
    return y.astype(np.int64)


def label_run(
    phi1: str | Path,
    phi2: str | Path,
    out: str | Path,
    config: HumeConfig,
    labels: Optional[str | Path] = None,
    phi1_test: Optional[str | Path] = None,
    phi2_test: Optional[str | Path] = None,
    labels_test: Optional[str | Path] = None,
    transductive: bool = False,
    callback: Optional[Callback] = None,
) -> dict:
    """Run HUME on feature files and write the run folder. Returns a summary dict."""
    x1, x2 = load_array(phi1, "phi1"), load_array(phi2, "phi2")
    t1 = load_array(phi1_test, "phi1-test") if phi1_test else None
    t2 = load_array(phi2_test, "phi2-test") if phi2_test else None
    y = load_labels(labels, x1.shape[0]) if labels else None
    if labels_test and t1 is None:
        raise HumeSSLError("--labels-test needs --phi1-test and --phi2-test.")
    y_test = load_labels(labels_test, t1.shape[0], "test labels") if labels_test else None
    # Validate everything before the run folder is touched: a bad input writes nothing.
    x1, x2 = check_features(x1, "phi1"), check_features(x2, "phi2")
    if x1.shape[0] != x2.shape[0]:
        raise HumeSSLError(
            f"phi1 has {x1.shape[0]} rows but phi2 has {x2.shape[0]}; both must hold the same "
            "samples in the same order (row i = sample i)."
        )
    if (t1 is None) != (t2 is None):
        raise HumeSSLError("give both --phi1-test and --phi2-test, or neither.")
    n_fit = x1.shape[0] + (t1.shape[0] if (t1 is not None and transductive) else 0)
    config.validate(n_samples=n_fit)
    out = check_writable_dir(out)
    model = Hume(config, checkpoint_dir=out, callback=callback)
    t0 = time.perf_counter()
    model.fit(x1, x2, t1, t2, transductive=transductive)
    seconds = time.perf_counter() - t0

    record = {
        "command": "label",
        "inputs": {
            "phi1": str(phi1),
            "phi2": str(phi2),
            "phi1_test": str(phi1_test or ""),
            "phi2_test": str(phi2_test or ""),
            "labels_used_for": "evaluation only",
        },
        "mode": "transductive" if transductive else "inductive",
        "dims": {"d1": int(x1.shape[1]), "d2": int(x2.shape[1])},
        "n_test": None if t1 is None else int(t1.shape[0]),
        "seconds": round(seconds, 3),
    }
    metrics = write_label_outputs(model, out, record, y, y_test)

    summary = {
        "out": str(out),
        "seconds": seconds,
        "best_restart": model.best_restart_,
        "mean_agreement": float(model.agreement_.mean()),
        "clusters_used_min": int(model.n_clusters_used_.min()),
    }
    if metrics is not None:
        summary["metrics"] = metrics
    summary["model"] = model
    return summary


def write_label_outputs(model: Hume, out: Path, record: dict, y=None, y_test=None):
    """Write a fitted model's documented outputs into `out` (atomically); metrics if y given."""
    import torch

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
    for name, arr in files.items():
        atomic_save_npy(Path(out) / name, arr)
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
        if y_test is not None and model.test_labels_ is not None:
            metrics["test_ensemble"] = clustering_metrics(model.test_labels_, y_test)
        atomic_write_json(Path(out) / "metrics.json", metrics)
    full = {
        **record,
        "hume": model.config.to_dict(),
        "n_samples": model.n_samples_,
        "input_hash": model.input_hash_,
        "test_hash": model.test_hash_,
        "best_restart": model.best_restart_,
        "versions": {
            "hume_ssl": __version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "outputs": {
            k: v
            for k, v in OUTPUT_FILES.items()
            if k in files or k == "config.json" or (k == "metrics.json" and metrics)
        },
    }
    atomic_write_json(Path(out) / "config.json", full)
    return metrics
