"""`hume-ssl label`: HUME on two feature files, written to one run folder.

Python API behind the CLI command: `label_run(...)` validates everything before it writes
anything, fits `Hume` with restart chunks checkpointed under `out/chunks/`, and writes the
documented outputs (see README "Outputs of `label`") atomically. Under torchrun every rank
checks it holds the same inputs and options before anything is written, the ranks split the
restarts, and rank 0 writes the outputs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from hume_ssl.core import distributed
from hume_ssl.core.device import resolve_device
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import array_hash, check_not_other_run, check_writable_dir
from hume_ssl.features.cache import load_feature_file
from hume_ssl.hume.config import HumeConfig
from hume_ssl.hume.estimator import Callback, Hume, check_inputs
from hume_ssl.hume.outputs import load_labels, write_label_outputs


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
    x1, x2 = load_feature_file(phi1, "phi1"), load_feature_file(phi2, "phi2")
    t1 = load_feature_file(phi1_test, "phi1-test") if phi1_test else None
    t2 = load_feature_file(phi2_test, "phi2-test") if phi2_test else None
    y = load_labels(labels, x1.shape[0]) if labels else None
    if labels_test and t1 is None:
        raise HumeSSLError("--labels-test needs --phi1-test and --phi2-test.")
    y_test = load_labels(labels_test, t1.shape[0], "test labels") if labels_test else None
    # Validate everything before the run folder is touched: a bad input writes nothing.
    x1, x2, _, _ = check_inputs(x1, x2)  # both spaces checked, holding the same rows
    if (t1 is None) != (t2 is None):
        raise HumeSSLError("give both --phi1-test and --phi2-test, or neither.")
    if transductive and t1 is None:
        raise HumeSSLError("--transductive fits on the train and test rows: pass --phi1-test "
                           "and --phi2-test with it, or drop it.")
    n_fit = x1.shape[0] + (t1.shape[0] if (t1 is not None and transductive) else 0)
    config.validate(n_samples=n_fit)
    input_hash = array_hash(x1, x2)
    if distributed.init(resolve_device(config.device)):  # torchrun: same inputs on every rank
        distributed.check_same("the inputs (hash of phi1, phi2, test files) and options", (
            input_hash, array_hash(t1, t2) if t1 is not None else None, transductive,
            config.to_dict()))
    created = not Path(out).exists()
    check_not_other_run(out, "label", "label run")  # (before: its config.json overwritten,
    out = check_writable_dir(out)  # its metrics.json removed as stale)
    model = Hume.from_config(config, checkpoint_dir=out, callback=callback)
    t0 = time.perf_counter()
    try:
        model.fit(x1, x2, t1, t2, transductive=transductive, input_hash=input_hash)
    except BaseException:  # refused inputs (constant rows), a crash, Ctrl-C: no empty folder
        if created:  # (finished restart chunks are files: they stay for a re-run to resume)
            _remove_empty_dirs(out)
        raise
    seconds = time.perf_counter() - t0
    if not distributed.is_main():  # rank 0 writes the outputs; the others are done
        return {"out": str(out), "seconds": seconds, "model": model, "rank": distributed.rank()}

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
        "diagnostics": model.diagnostics_,
    }
    if metrics is not None:
        summary["metrics"] = metrics
    summary["model"] = model
    return summary


def _remove_empty_dirs(root: Path) -> None:
    """Remove `root` and the folders under it when none of them holds a file."""
    dirs = sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
    if any(p.is_file() for p in root.rglob("*")):
        return
    for d in [*dirs, root]:
        try:
            d.rmdir()
        except OSError:  # torchrun: another rank removed it first (or it is not empty)
            pass
