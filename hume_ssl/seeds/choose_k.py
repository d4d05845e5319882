"""`seed --k auto`: the number of classes chosen over a range of k by how far HUME's restarts
agree (their mean pairwise ARI, chance-corrected at every k), each k's row saved as it is scored
(k_auto.json) so that a repeated or interrupted scan reuses them; and the HUME config of a run
with a given k (`hume_config`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from hume_ssl.core import distributed
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import (
    array_hash,
    atomic_write_json,
    check_writable_dir,
    config_hash,
    read_json,
)
from hume_ssl.core.params import check_known, is_whole, rename_params
from hume_ssl.hume.config import HumeConfig
from hume_ssl.hume.estimator import Hume, check_inputs
from hume_ssl.seeds.inputs import Log

K_RANGE = "2-20"  # the k tried by `seed --k auto` (inclusive)
MAX_RESTARTS = 20  # `--k auto` fits each k with at most this many restarts
# what --k auto maximises, a column of each k's row: the restarts' mean pairwise ARI. Chosen on
# `python recipes/k_auto_benchmark.py` (docs/seed_evidence.md "Choosing k"): the median
# restart score, chance-corrected (the column "corrected", the criterion before), chose k = 3
# on digits and 2 on Fashion-MNIST (10 classes each); the ARI 11 and 10.
CRITERION = "restart_ari"
# HUME settings that change no row of --k auto: left out of its record key (not the chunk
# fingerprint's list, hume.estimator: there n_restarts and score_rows are per-restart neutral,
# here they change each k's row: its restarts' agreement and median score)
RESOURCES = ("device", "chunk_size", "memory_budget_gib", "checkpoint_every")


def hume_config(hume: Optional[HumeConfig], defaults: dict,
                k: Optional[int | str]) -> Optional[HumeConfig]:
    """HUME's config from `hume`, or `defaults` with a whole-number k; None when k is "auto"
    (choose_k, once the spaces are read) or left to the dataset. Every option is checked before
    any work."""
    if "k" in defaults:
        raise HumeSSLError("hume_defaults holds k: pass the number of classes as k= (a whole "
                           "number or 'auto'), the other HUME fields in hume_defaults.")
    if hume is not None and (k is not None or defaults):
        raise HumeSSLError("give either hume=HumeConfig(...) or k= / hume_defaults=, not both: "
                           "the config's k and fields would be used and the others ignored.")
    # a misspelt field named as such (before: a raw TypeError, after the data was read)
    defaults = rename_params(defaults, HumeConfig.RENAMED, stacklevel=5)
    check_known(defaults, [f for f in HumeConfig.field_names() if f != "k"],
                "hume_defaults (HumeConfig field)")
    HumeConfig(**defaults).validate()  # (k: later)
    if hume is not None:
        hume.validate()
        return hume
    if k == "auto":  # (the rest of its checks: parse_k_range, choose_k)
        check_auto_restarts(defaults.get("n_restarts", HumeConfig.n_restarts))
    if k is not None and k != "auto":
        if isinstance(k, str) and k.strip().isdigit():  # the command line's text
            k = int(k)
        elif not is_whole(k):  # (before: int(k) made 2.7 a 2 and True a 1)
            raise HumeSSLError(f"--k {k!r}: give a whole number or 'auto'.")
        return HumeConfig(**{**defaults, "k": int(k)}).validate()
    return None


def check_auto_restarts(restarts: int) -> int:
    """--k auto compares each k's restarts: it needs at least 2."""
    if restarts < 2:
        raise HumeSSLError(f"--k auto with --restarts {restarts}: it compares restarts, so it "
                           f"needs at least 2 (at most {MAX_RESTARTS} are used).")
    return restarts


def parse_k_range(k_range: str) -> tuple[int, int]:
    """"LO-HI" -> (LO, HI), 2 <= LO <= HI; checked before any feature is read."""
    try:
        lo, hi = (int(v) for v in k_range.split("-"))
    except ValueError:
        raise HumeSSLError(f"--k-range {k_range!r}: write it as LO-HI, e.g. 2-20.") from None
    if not 2 <= lo <= hi:
        raise HumeSSLError(f"--k-range {k_range!r}: need 2 <= LO <= HI.")
    return lo, hi


def choose_k(
    out: str | Path,
    x1: np.ndarray,
    x2: np.ndarray,
    k_range: str,
    base: dict,
    log: Log = print,
    max_restarts: int = MAX_RESTARTS,
    callback=None,
    input_hash: Optional[str] = None,
) -> int:
    """`--k auto`: fit HUME on the two spaces (x1 (N, D1), x2 (N, D2), the rows `seed` reads)
    for each k in `k_range` ("lo-hi") and pick the k whose restarts agree most (CRITERION: the
    mean ARI over pairs of restarts, Hume.diagnostics_; ARI is chance-corrected, 0 for
    unrelated labelings at any k). `input_hash`: the rows' array_hash when the caller has it
    (else computed), the key of the saved rows.

    `callback(event, info)` gets each fit's HUME events (the progress display).
    Each row also holds the median restart score and its chance-corrected value, (s - 1/k) /
    (1 - 1/k), the criterion before. A heuristic: each k's row is printed, and the table saved
    as k_auto.json, for a person to check.
    """
    lo, hi = parse_k_range(k_range)
    x1, x2, _, _ = check_inputs(x1, x2)
    n = x1.shape[0]
    if lo > n - 1:
        raise HumeSSLError(f"--k-range {k_range}: {n} samples allow k up to {n - 1} only; " + (
            f"lower the range (e.g. --k-range 2-{n - 1})." if n > 2
            else "--k auto needs at least 3 samples."))
    capped = hi > n - 1  # (then no k past the top can be tried)
    if capped:
        log(f"--k-range {k_range}: {n} samples allow k up to {n - 1} only")
        hi = n - 1
    restarts = check_auto_restarts(base.get("n_restarts", HumeConfig.n_restarts))
    settings = {**base, "n_restarts": min(restarts, max_restarts)}
    # each k's row is saved as it is scored; a re-run on the same rows and settings reuses them
    path = Path(out) / "k_auto.json"
    rows_hash = input_hash or array_hash(x1, x2)  # (each fit's too: hashed once)
    key = config_hash({"hume": {f: v for f, v in settings.items() if f not in RESOURCES},
                       "rows": rows_hash, "criterion": CRITERION})  # (older rows: no ARI)
    before = read_json(path) if path.is_file() else {}
    done = ({r["k"]: r for r in before.get("table", [])} if before.get("key") == key else {})
    todo = [k for k in range(lo, hi + 1) if k not in done]
    if todo:  # the k that needs the most memory: a budget too small is said before any fit
        Hume.from_config(HumeConfig(k=todo[0], **settings)).check_budget(x1, x2, todo[1:])
    check_writable_dir(out)
    rows = []

    def save(chosen: Optional[int]) -> None:  # the rows of other ranges kept, for a later scan
        if distributed.is_main():  # (torchrun: every rank fits its lanes of each k)
            table = {**done, **{r["k"]: r for r in rows}}
            atomic_write_json(path, {"key": key, "k_range": [lo, hi], "chosen": chosen,
                                     "table": [table[k] for k in sorted(table)]})

    for k in range(lo, hi + 1):
        if k in done:
            rows.append(done[k])
            log(f"{row_line(done[k])} (reused from {path})")
            continue
        m = Hume.from_config(HumeConfig(k=k, **settings), callback=callback).fit(
            x1, x2, input_hash=rows_hash)
        med = float(np.median(m.scores_))
        rows.append({"k": k, CRITERION: float(m.diagnostics_["pairwise_ari"]["mean"]),
                     "median_score": med, "corrected": (med - 1 / k) / (1 - 1 / k)})
        log(row_line(rows[-1]))
        save(None)
    top, tied = best_ks(rows, CRITERION)  # the smallest of them is chosen
    best = tied[0]
    save(best)
    log(f"--k auto chose k={best}" + (
        f" (tied with k={', '.join(map(str, tied[1:]))} at {top:.4f}: their restarts agree "
        "alike, and the smallest tied k is kept; pass --k to choose another)"
        if tied[1:] else f", where its restarts agree most (mean pairwise ARI {top:.4f}"
        + runner_up(rows, best) + f"; a heuristic: check the rows above, {path.name} holds "
        "them)") + range_edge(best, lo, hi, capped))
    return best


def best_ks(rows: list[dict], column: str) -> tuple[float, list[int]]:
    """The column's highest value over the rows, and the k that have it, smallest first
    (--k auto keeps the first)."""
    top = max(r[column] for r in rows)
    return top, sorted(r["k"] for r in rows if r[column] == top)


def range_edge(best: int, lo: int, hi: int, capped: bool = False) -> str:
    """What to try when the chosen k is an end of the range (but k = 2, the least there is, and
    a top `capped` at N - 1, the most): a k past it was not tried, and may agree more."""
    if lo == hi or best not in (lo, hi) or best == 2 or (best == hi and capped):
        return ""
    wider = f"{lo}-{2 * hi}" if best == hi else f"{max(2, lo // 2)}-{hi}"
    return (f"; k={best} is the {'top' if best == hi else 'bottom'} of --k-range {lo}-{hi}: a "
            f"k past it was not tried (e.g. --k-range {wider})")


def runner_up(rows: list[dict], best: int) -> str:
    """"; next: k=10 at 0.5863": the k whose restarts agree second most, so a close call is
    seen as one ("" with one k)."""
    others = [r for r in rows if r["k"] != best]
    if not others:
        return ""
    second = max(others, key=lambda r: (r[CRITERION], -r["k"]))
    return f"; next: k={second['k']} at {second[CRITERION]:.4f}"


def row_line(row: dict) -> str:
    """One k's line of the scan: its restarts' agreement (what is maximised) and score."""
    return (f"k={row['k']}: restarts agree (mean pairwise ARI) {row[CRITERION]:.4f}; median "
            f"score {row['median_score']:.4f}, chance-corrected {row['corrected']:.4f}")
