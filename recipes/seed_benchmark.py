"""Seed benchmark and the calibration of `seed`'s verdict, on feature sets with known labels.

    python recipes/seed_benchmark.py --out runs/seedbench                 # every set (CPU: ~1 h)
    python recipes/seed_benchmark.py --out runs/sb --sets digits digits-noise2
    python recipes/seed_benchmark.py --out runs/sb --sets user --phi1 A.npy --phi2 B.npy \
        --labels Y.npy

For every set it runs HUME (the `seed` defaults unless --restarts/--steps say otherwise) and prints
  clustering  ensemble ACC/ARI/NMI, k-means on each space
  precision   at 1/4/25/100/400 seeds per cluster: ours (the shipped selection), HUME random-N
              (mean and std of 20 draws of N random members per ensemble cluster), k-means
              nearest-N on each space; every selection variant (kNN space, neighbours, ranking)
  diagnostics the label-free statistics of hume_ssl.hume.diagnostics and the verdict
Then, over all sets, the calibration: for each candidate statistic, a threshold chosen leaving one
set out at a time ("warn below t" must warn where precision at 4 < 0.7 and must not where it is
>= 0.95), and whether each left-out set is judged right. Ground truth is used for evaluation only.

Sets (../shared/data is found as in the other recipes):
  digits          scikit-learn digits, the tests' views (standardised pixels / 512 RBF features)
  digits-noiseS   the same views with Gaussian noise of S x each feature's std added to both
  digits-r5       digits with 5 restarts only
  cifar-C         the shared CIFAR-10 feature pair (MoCo / SqueezeNet), classes 0..C-1 only
  cifar10-swap    the full pair with the spaces swapped (SqueezeNet / MoCo)
  user            --phi1/--phi2/--labels
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans

from hume_ssl.core.knn import knn_consistency, knn_search, l2_normalise
from hume_ssl.core.metrics import clustering_metrics, hungarian_map
from hume_ssl.hume.config import HumeConfig
from hume_ssl.hume.diagnostics import diagnose
from hume_ssl.hume.estimator import Hume
from hume_ssl.seeds.report import precision_curve
from hume_ssl.seeds.run import SeedConfig
from hume_ssl.seeds.selection import RANKINGS, SeedSelector

NS = (1, 4, 25, 100, 400)
DEFAULT_SETS = ("digits", "digits-noise1", "digits-noise1.5", "digits-noise2", "digits-r5",
                "cifar-2", "cifar-5", "cifar-10", "cifar10-swap")
STATS = ("agreement/above_0.5", "agreement/at_least_0.9", "agreement/mean", "pairwise_ari/mean",
         "clusters_full")


def digits_views():
    from sklearn.datasets import load_digits
    from sklearn.kernel_approximation import RBFSampler
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    phi1 = StandardScaler().fit_transform(x).astype(np.float32)
    phi2 = RBFSampler(gamma=1e-3, n_components=512, random_state=0).fit_transform(x)
    return phi1, phi2.astype(np.float32), y.astype(np.int64)


def load_set(name: str, args) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(phi1, phi2, labels, HUME overrides) of a named set."""
    if name.startswith("digits"):
        x1, x2, y = digits_views()
        over = {}
        if name.startswith("digits-noise"):
            s = float(name[len("digits-noise"):])
            rng = np.random.default_rng(0)
            x1 = x1 + s * x1.std(0) * rng.standard_normal(x1.shape).astype(np.float32)
            x2 = x2 + s * x2.std(0) * rng.standard_normal(x2.shape).astype(np.float32)
        if name == "digits-r5":
            over = {"n_restarts": 5}
        return x1.astype(np.float32), x2.astype(np.float32), y, over
    if name.startswith("cifar"):
        d = Path(args.shared) / "cifar10_features"
        if not d.is_dir():
            raise SystemExit(f"{d} not found: the cifar sets need ../shared/data/cifar10_features")
        a = np.load(d / "mocov2_r18_36ep_train.npy")
        b = np.load(d / "squeezenet1_1_224px_train.npy")
        y = np.load(d / "labels_train.npy")
        if name == "cifar10-swap":
            return b, a, y, {}
        c = int(name.split("-")[1])
        keep = y < c
        return a[keep], b[keep], y[keep], {}
    if name == "user":
        if not (args.phi1 and args.phi2 and args.labels):
            raise SystemExit("the user set needs --phi1, --phi2 and --labels")
        return np.load(args.phi1), np.load(args.phi2), np.load(args.labels).astype(np.int64), {}
    raise SystemExit(f"unknown set {name!r}; known: {', '.join(DEFAULT_SETS)}, digits-noiseS, "
                     "cifar-C, user")


def precisions(ranked: dict, mapping: dict, y: np.ndarray) -> list[float]:
    """Precision at each N of NS (seeds.report's curve, at those N only)."""
    return precision_curve(ranked, mapping, y, ns=NS)[1].tolist()


def fit_set(name: str, args, out: Path) -> dict:
    """HUME + kNN of a set, cached as OUT/NAME.npz (the slow part; the analysis reads it)."""
    path = out / f"{name}.npz"
    if path.exists():
        with np.load(path) as z:
            return {key: z[key] for key in z.files}
    x1, x2, y, over = load_set(name, args)
    k = int(y.max()) + 1
    cfg = HumeConfig(k=k, random_state=args.seed, device=args.device)
    if args.restarts:
        cfg = cfg.replace(n_restarts=args.restarts)
    if args.steps:
        cfg = cfg.replace(n_steps=args.steps)
    cfg = cfg.replace(**over)
    t = time.perf_counter()
    m = Hume(cfg).fit(x1, x2)
    t_hume = time.perf_counter() - t
    kmax = max(args.knn)
    f = {"y": y, "labels": m.labels_, "agreement": m.agreement_, "margins": m.margins_,
         "scores": m.scores_, "labelings": m.labelings_.astype(np.int16),
         "hume_seconds": np.array(t_hume), "restarts": np.array(cfg.n_restarts)}
    for sp, x in (("phi1", x1), ("phi2", x2)):
        xn = l2_normalise(np.asarray(x, np.float32))
        f[f"nbrs_{sp}"] = knn_search(xn, kmax)[0].astype(np.int32)
        km = KMeans(k, n_init=3, random_state=args.seed).fit(xn)
        f[f"km_{sp}"] = km.labels_
        f[f"km_dist_{sp}"] = ((xn - km.cluster_centers_[km.labels_]) ** 2).sum(1)
    np.savez(path, **f)
    return f


def analyse(name: str, f: dict, args) -> dict:
    y, labels, agreement = f["y"], f["labels"], f["agreement"]
    k = int(y.max()) + 1
    diag = diagnose(labels, agreement, f["labelings"].astype(np.int64), f["scores"], k, args.seed)
    res = {"set": name, "n": int(len(y)), "k": k, "restarts": int(f["restarts"]),
           "hume_seconds": round(float(f["hume_seconds"]), 1), "diagnostics": diag,
           "ensemble": clustering_metrics(labels, y)}
    map_h = hungarian_map(labels, y)
    for sp in ("phi1", "phi2"):  # k-means on each space, nearest-N to the centroids
        kl, dist = f[f"km_{sp}"], f[f"km_dist_{sp}"]
        rank = {c: np.nonzero(kl == c)[0][np.argsort(dist[kl == c], kind="stable")]
                for c in range(k)}
        res[f"kmeans_{sp}"] = clustering_metrics(kl, y)
        res[f"kmeans_nearest_{sp}"] = precisions(rank, hungarian_map(kl, y), y)
    rng = np.random.default_rng(args.seed)  # HUME random-N
    draws = np.array([[precision_curve({c: rng.permutation(np.nonzero(labels == c)[0])
                                        for c in range(k)}, map_h, y, ns=[n])[1][0] for n in NS]
                      for _ in range(args.draws)])  # a fresh draw for every N
    res["random_mean"], res["random_std"] = draws.mean(0).tolist(), draws.std(0).tolist()
    cap = int(np.bincount(labels, minlength=k).max())
    variants = {}
    for kk in args.knn:
        share = {sp: knn_consistency(labels, f[f"nbrs_{sp}"][:, :kk]) for sp in ("phi1", "phi2")}
        share["both"] = np.minimum(share["phi1"], share["phi2"])
        for sp in ("phi2", "both"):
            for rk in RANKINGS:
                sel = SeedSelector(per_class=min(400, cap), ranking=rk, shortage="relax").fit(
                    labels, agreement, share[sp], f["margins"], k=k)
                base = SeedSelector(per_class=4, ranking=rk).fit(
                    labels, agreement, share[sp], f["margins"], k=k)
                ranked = sel.ranking()
                variants[f"{sp}/knn{kk}/{rk}"] = {
                    "precision": precisions(ranked, map_h, y),
                    "candidates": base.candidates_.tolist(),
                    "shipped_seeds_at_4": int(len(base.indices_)),
                    "seed_agreement_at_4": float(agreement[base.indices_].mean())
                    if len(base.indices_) else 0.0}
    res["variants"] = variants
    d = SeedConfig()
    res["ours_variant"] = f"{d.knn_space}/knn{d.n_neighbors}/{d.ranking}"
    ours = variants[res["ours_variant"]]
    diag["clusters_full"] = float(np.mean(np.array(ours["candidates"]) >= 4))
    share = knn_consistency(labels, f["nbrs_phi2"][:, : SeedConfig().n_neighbors])
    top = SeedSelector(per_class=4, ranking=d.ranking, shortage="relax").fit(
        labels, agreement, share, f["margins"], k=k).ranking()
    for c, cl in enumerate(diag["clusters"]):  # which clusters are unreliable, against truth
        cl["candidates"] = ours["candidates"][c]
        cl["reliable"] = cl["reliable"] and cl["candidates"] >= 4
        cl["precision_at_4"] = (float((y[top[c]] == map_h.get(c, -1)).mean())
                                if len(top[c]) else None)
        members = np.nonzero(labels == c)[0]
        cl["truth_purity"] = (float((y[members] == map_h.get(c, -1)).mean())
                              if len(members) else None)
    return res


def fmt(v) -> str:
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.3f}"


def get(d: dict, dotted: str):
    for part in dotted.split("/"):
        d = d.get(part) if isinstance(d, dict) else None
    return d


def print_set(r: dict) -> None:
    dg = r["diagnostics"]
    print(f"\n## {r['set']}: N={r['n']}, k={r['k']}, {r['restarts']} restarts "
          f"({r['hume_seconds']} s) -> verdict **{dg['verdict']}**: {dg['message']}")
    e, a, b = r["ensemble"], r["kmeans_phi1"], r["kmeans_phi2"]
    print(f"ensemble ACC/ARI/NMI {fmt(e['acc'])}/{fmt(e['ari'])}/{fmt(e['nmi'])}; k-means phi1 "
          f"{fmt(a['acc'])}/{fmt(a['ari'])}/{fmt(a['nmi'])}; phi2 {fmt(b['acc'])}/{fmt(b['ari'])}/"
          f"{fmt(b['nmi'])}")
    ag = dg["agreement"]
    print(f"agreement >0.5 {fmt(ag['above_0.5'])}, >=0.9 {fmt(ag['at_least_0.9'])}, =1 "
          f"{fmt(ag['all_1.0'])}, mean {fmt(ag['mean'])}; pairwise ARI "
          f"{fmt(dg['pairwise_ari'].get('mean'))}; scores {fmt(dg['scores']['min'])}.."
          f"{fmt(dg['scores']['max'])} (std {fmt(dg['scores']['std'])})")
    print("| per cluster | " + " | ".join(str(c["cluster"]) for c in dg["clusters"]) + " |")
    print("|---" * (len(dg["clusters"]) + 1) + "|")
    for key in ("size", "mean_agreement", "share_majority", "candidates", "truth_purity",
                "precision_at_4"):
        vals = [c.get(key) for c in dg["clusters"]]
        print(f"| {key} | " + " | ".join(str(v) if isinstance(v, int) else fmt(v) for v in vals)
              + " |")
    print("| flagged | " + " | ".join("" if c["reliable"] else "weak" for c in dg["clusters"])
          + " |")
    print("\n| precision at N per cluster | " + " | ".join(str(n) for n in NS) + " |")
    print("|---" * (len(NS) + 1) + "|")
    rows = [(f"**ours** ({r['ours_variant']})", r["variants"][r["ours_variant"]]["precision"])]
    rows.append(("HUME random-N mean", r["random_mean"]))
    rows.append(("HUME random-N std", r["random_std"]))
    rows += [(f"k-means nearest-N {sp}", r[f"kmeans_nearest_{sp}"]) for sp in ("phi1", "phi2")]
    rows += [(v, d["precision"]) for v, d in r["variants"].items() if v != r["ours_variant"]]
    for label, vals in rows:
        print(f"| {label} | " + " | ".join(fmt(v) for v in vals) + " |")


def calibrate(results: list[dict]) -> None:
    """Leave-one-set-out thresholds of "warn when statistic < t", per candidate statistic."""
    p4 = {r["set"]: r["variants"][r["ours_variant"]]["precision"][1] for r in results}
    print("\n## calibration (leave one set out): warn when the statistic < t")
    print("must warn: precision at 4 < 0.7; must not warn: >= 0.95; others: either")
    print("| statistic | " + " | ".join(r["set"] for r in results) + " | t (all sets) |")
    print("|---" * (len(results) + 2) + "|")
    print("| precision at 4 | " + " | ".join(fmt(p4[r["set"]]) for r in results) + " | |")
    for stat in STATS:
        vals = {r["set"]: get(r["diagnostics"], stat) for r in results}
        cells = []
        for r in results:
            rest = [s for s in vals if s != r["set"]]
            t = threshold({s: vals[s] for s in rest}, {s: p4[s] for s in rest})
            v, p = vals[r["set"]], p4[r["set"]]
            if t is None:
                ok = "no split"
            elif p < 0.7:
                ok = "ok" if v < t else "MISS"
            elif p >= 0.95:
                ok = "ok" if v >= t else "FALSE WARN"
            else:
                ok = "warn" if v < t else "pass"
            cells.append(f"{fmt(v)} (t={fmt(t)}: {ok})")
        print(f"| {stat} | " + " | ".join(cells) + f" | {fmt(threshold(vals, p4))} |")


def threshold(vals: dict, p4: dict):
    """Midpoint between the highest must-warn and the lowest must-pass value (None if they
    overlap, or if either group is empty)."""
    warn = [v for s, v in vals.items() if v is not None and p4[s] < 0.7]
    ok = [v for s, v in vals.items() if v is not None and p4[s] >= 0.95]
    if not warn or not ok or max(warn) >= min(ok):
        return None
    return (max(warn) + min(ok)) / 2


def main():
    here = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--shared",
                    default=os.environ.get("HUME_SSL_SHARED", here.parent / "shared" / "data"))
    ap.add_argument("--out", required=True, help="folder for results.json (one file per set)")
    ap.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS))
    ap.add_argument("--phi1"), ap.add_argument("--phi2"), ap.add_argument("--labels")
    ap.add_argument("--restarts", type=int, default=0, help="0: the seed default (100)")
    ap.add_argument("--steps", type=int, default=0, help="0: the seed default (300)")
    ap.add_argument("--knn", type=int, nargs="+", default=[10, 20, 50], help="neighbours")
    ap.add_argument("--draws", type=int, default=20, help="random-N draws")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reuse-only", action="store_true",
                    help="only the sets already fitted in OUT (re-analyse, no HUME)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.sets:
        if args.reuse_only and not (out / f"{name}.npz").exists():
            continue
        r = analyse(name, fit_set(name, args, out), args)  # finished sets are reused from OUT
        (out / f"{name}.json").write_text(json.dumps(r, indent=1))
        results.append(r)
        print_set(r)
    if len(results) > 2:
        calibrate(results)


if __name__ == "__main__":
    main()
