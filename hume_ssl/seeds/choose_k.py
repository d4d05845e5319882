"""`seed --k auto`: the number of classes chosen by HUME's label-free score over a range of k,
each k's row saved as it is scored (k_auto.json) so that a repeated or interrupted scan reuses
them; and the HUME config of a run (`hume_config`: a given k, "auto", or the dataset's)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import (
    array_hash,
    atomic_write_json,
    check_features,
    check_writable_dir,
    config_hash,
    read_json,
)
from hume_ssl.hume.config import HumeConfig
from hume_ssl.hume.estimator import Hume
from hume_ssl.seeds.inputs import Log, check_knn, resolve_spaces

K_RANGE = "2-20"  # the k tried by `seed --k auto` (inclusive)
# HUME settings that change no score of --k auto: left out of its record key (not the chunk
# fingerprint's list, hume.estimator: there n_restarts and score_rows are per-restart neutral,
# here they change each k's median score)
RESOURCES = ("device", "chunk_size", "memory_budget_gib", "checkpoint_every")


def hume_config(hume: Optional[HumeConfig], defaults: dict, k: Optional[int | str],
                 auto_k: Callable[[], int]) -> Optional[HumeConfig]:
    """HUME's config from `hume`, or `defaults` with k (a number, or "auto": `auto_k()`); None
    when k is left to the dataset. Every option is checked before any work."""
    if "k" in defaults:
        raise HumeSSLError("hume_defaults holds k: pass the number of classes as k= (a whole "
                           "number or 'auto'), the other HUME fields in hume_defaults.")
    if hume is not None and (k is not None or defaults):
        raise HumeSSLError("give either hume=HumeConfig(...) or k= / hume_defaults=, not both: "
                           "the config's k and fields would be used and the others ignored.")
    HumeConfig(**defaults).validate()  # (k: later)
    if hume is not None:
        hume.validate()
        return hume
    if k is not None and k != "auto":
        try:
            k = int(k)
        except ValueError:
            raise HumeSSLError(f"--k {k!r}: give a whole number or 'auto'.") from None
        return HumeConfig(**{**defaults, "k": k}).validate()
    if k == "auto":
        return HumeConfig(k=auto_k(), **defaults)
    return None


def choose_k(
    out: str | Path,
    dataset: Optional[str],
    backbones: tuple[str, str],
    phi1,
    phi2,
    k_range: str,
    base: dict,
    feature_kw: dict,
    log: Log = print,
    max_restarts: int = 20,
    callback=None,
    n_neighbors: int = 0,
) -> int:
    """`--k auto`: fit HUME for each k in `k_range` ("lo-hi") and pick the best label-free score.
    `n_neighbors`: the seed rule's --knn, checked against the rows before the first fit.

    `callback(event, info)` gets each fit's HUME events (the progress display).
    The score of each k is the median restart score made chance-corrected, (s - 1/k)/(1 - 1/k),
    so that larger k is not penalised merely for having more classes. A heuristic: the table
    it chose from is printed and saved as k_auto.json for a person to check.
    """
    try:
        lo, hi = (int(v) for v in k_range.split("-"))
    except ValueError:
        raise HumeSSLError(f"--k-range {k_range!r}: write it as LO-HI, e.g. 2-20.") from None
    if not 2 <= lo <= hi:
        raise HumeSSLError(f"--k-range {k_range!r}: need 2 <= LO <= HI.")
    x1, x2, _, _ = resolve_spaces(dataset, backbones, phi1, phi2, feature_kw, log)
    x1, x2 = check_features(x1, "phi1"), check_features(x2, "phi2")
    check_knn(n_neighbors, x1.shape[0])
    if lo > x1.shape[0] - 1:
        raise HumeSSLError(f"--k-range {k_range}: {x1.shape[0]} samples allow k up to "
                           f"{x1.shape[0] - 1} only; " + (
                               f"lower the range (e.g. --k-range 2-{x1.shape[0] - 1})."
                               if x1.shape[0] > 2 else "--k auto needs at least 3 samples."))
    if hi > x1.shape[0] - 1:
        log(f"--k-range {k_range}: {x1.shape[0]} samples allow k up to {x1.shape[0] - 1} only")
        hi = x1.shape[0] - 1
    settings = {**base, "n_restarts": min(base.get("n_restarts", 100), max_restarts)}
    # each k's row is saved as it is scored; a re-run on the same rows and settings reuses them
    path = check_writable_dir(out) / "k_auto.json"
    key = config_hash({"hume": {n: v for n, v in settings.items() if n not in RESOURCES},
                       "rows": array_hash(x1, x2)})
    before = read_json(path) if path.is_file() else {}
    done = ({r["k"]: r for r in before.get("table", [])} if before.get("key") == key else {})
    rows = []
    for k in range(lo, hi + 1):
        if k in done:
            rows.append(done[k])
            log(f"k={k}: median score {done[k]['median_score']:.4f} (reused from {path})")
            continue
        m = Hume.from_config(HumeConfig(k=k, **settings), callback=callback).fit(x1, x2)
        med = float(np.median(m.scores_))
        rows.append({"k": k, "median_score": med, "corrected": (med - 1 / k) / (1 - 1 / k)})
        log(f"k={k}: median score {med:.4f}, chance-corrected {rows[-1]['corrected']:.4f}")
        atomic_write_json(path, {"key": key, "chosen": None, "table": rows})
    best = max(rows, key=lambda r: r["corrected"])["k"]
    atomic_write_json(path, {"key": key, "chosen": best, "table": rows})
    log(f"--k auto chose k={best}")
    return best
