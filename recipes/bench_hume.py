"""Benchmark HUME: speed against a faithful reference loop, accuracy under the same schedule.

    python recipes/bench_hume.py                       # all sections (~10 min on 2 CPU cores)
    python recipes/bench_hume.py --sections digits compare
    python recipes/bench_hume.py --device cuda --sections cifar-size compare-gpu
    OMP_NUM_THREADS=1 python recipes/bench_hume.py --sections inner-solve

Sections
  digits      shipped defaults (100 restarts) on scikit-learn digits (phi1 = standardised
              pixels, phi2 = 512 RBF random Fourier features): seconds, ACC, vs k-means.
  compare     same schedule, only the inner solver changed: closed-form ridge (ours) vs the
              reference's unrolled SGD (random-init linear model, 300 SGD steps at lr 1e-3 on
              soft-label cross-entropy, differentiated through), 5 seeds, final ACC per seed.
  cifar-size  N=50,000, phi1 512-d, phi2 1,000-d (random features): seconds per restart of
              ours (shipped defaults, 100 restarts batched, scoring included) and of the
              reference loop as published (20 subsets x 300 inner steps x 1000 outer steps,
              one restart at a time), both timed on a few steps and extrapolated; peak memory.
  compare-gpu like `compare` at N=5,000 (CIFAR-like random-projection views) on the GPU.
  defaults    the HUME defaults, one changed at a time (lr, gamma, tau, ridge, n_subsets,
              center, n_steps), on seed-benchmark sets (--defaults-sets; default digits,
              digits-noise1 and 5,000 rows of the shared CIFAR-10 pair), --defaults-restarts
              restarts each: ensemble ACC, mean restart ACC, majority share, seconds. The
              evidence behind README's "HUME defaults" table (docs/hume_evidence.md, "The
              defaults").
  inner-solve the inner solve's two forms and the lanes' two schedules in one run, CPU-sized:
              "before" = smoother form (n_te x n_tr map per split), one lane's graph after
              another; "after" = what ships: `inner_solve=auto` (primal form when D = d2 + 1 <
              n_te), all lanes in one graph on CUDA (one by one on the CPU); and the
              forms and schedules between. On a 10,000-row 64/128-d pair and the shared
              CIFAR-10 pair (50,000 x 512): setup and seconds per outer step (--inner-steps
              steps, 300 extrapolated), a torch.profiler per-step breakdown (top ops, operator
              calls per step), and ensemble ACC of both forms on seed-benchmark sets
              (--inner-acc-sets).
The faithful reference is re-implemented here from the paper's description, not copied.
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from hume_ssl import Hume
from hume_ssl.core.device import resolve_device
from hume_ssl.core.metrics import cluster_acc
from hume_ssl.hume.config import HumeConfig
from hume_ssl.hume.engine import train_encoders
from hume_ssl.hume.estimator import label_blocks
from hume_ssl.hume.ridge import RidgeInner
from hume_ssl.hume.rows import fit_rows
from hume_ssl.hume.scoring import cv_scores

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, run_recipe  # noqa: E402
from seed_benchmark import digits_views, load_set  # noqa: E402  (the benchmark sets)


class UnrolledSGDInner:
    """The reference inner loop, batched over restarts and subsets (same math, same order).

    Per outer step and subset: a fresh linear model (weights and bias uniform in
    +-1/sqrt(d), as torch's nn.Linear initialises), `steps` plain SGD steps at `lr` on the
    mean soft-label cross-entropy of the train part, kept in the autograd graph (second
    order, like MAML without the first-order shortcut); the error is the cross-entropy of
    the held-out part.
    """

    def __init__(self, phi2: torch.Tensor, steps: int = 300, lr: float = 1e-3, seed: int = 0):
        self.x, self.steps, self.lr = phi2, steps, lr
        self.gen = torch.Generator(device=phi2.device).manual_seed(seed)

    def prepare(self, idx_tr, idx_te):
        return idx_tr, idx_te

    def error(self, prep, y_tr, y_te, r):
        idx_tr, idx_te = prep
        x_tr, x_te = self.x[idx_tr], self.x[idx_te]  # (S, n_tr, d), (S, n_te, d)
        s, n_tr, d = x_tr.shape
        lanes, k = y_tr.shape[0], y_tr.shape[-1] // r  # y_tr (G, S, n_tr, r*k)
        bound = 1.0 / math.sqrt(d)
        dev, dt = self.x.device, self.x.dtype
        shape = (lanes, s, d, r * k)
        w = (torch.rand(shape, generator=self.gen, device=dev, dtype=dt) * 2 - 1) * bound
        b = (torch.rand(lanes, s, 1, r * k, generator=self.gen, device=dev, dtype=dt) * 2 - 1) \
            * bound
        for _ in range(self.steps):
            logits = (x_tr @ w + b).view(lanes, s, n_tr, r, k)
            g = (torch.softmax(logits, -1).view(lanes, s, n_tr, r * k) - y_tr) / n_tr  # dCE/dz
            w = w - self.lr * (x_tr.transpose(1, 2) @ g)
            b = b - self.lr * g.sum(2, keepdim=True)
        logp = torch.log_softmax((x_te @ w + b).view(lanes, s, -1, r, k), -1)
        return -(y_te.view(lanes, s, -1, r, k) * logp).sum(-1).mean(2)  # (G, S, R)


def peak_mem(dev: torch.device) -> str:
    if dev.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(dev) / 2**30:.2f} GiB GPU"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB RSS"


def run_restarts(phi1, phi2, cfg: HumeConfig, inner_kind: str, dev, restarts=(0,),
                 batch_lanes: Optional[bool] = None):
    """The engine on rows prepared as `Hume.fit` prepares them (centred when cfg.center,
    L2-normalised as cfg says), lanes scheduled as it schedules them (None: in one graph on
    CUDA only), with the inner solver `inner_kind` swapped in: (labels (R, N), seconds)."""
    x1, x2 = fit_rows(phi1, cfg, 1, dev), fit_rows(phi2, cfg, 2, dev)
    if inner_kind == "ridge":
        inner = RidgeInner.from_config(x2, cfg)
    else:
        inner = UnrolledSGDInner(x2.all(), seed=cfg.random_state)
    t = time.perf_counter()
    w, curve = train_encoders(x1, inner, np.asarray(restarts), cfg, batch_lanes=batch_lanes)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    with torch.no_grad():
        labels = np.concatenate([lab.cpu().numpy() for _, lab, _ in label_blocks(x1, w)], 1)
    return labels, time.perf_counter() - t


def section_digits(dev, encoder_init: str):
    from sklearn.cluster import KMeans

    phi1, phi2, y = digits_views()
    print(f"\n## digits (N=1797): shipped defaults, 100 restarts, encoder_init {encoder_init}")
    print("| seed | seconds | ensemble ACC | best-score restart ACC | mean restart ACC |")
    print("|---|---|---|---|---|")
    accs = []
    for seed in range(3):
        t = time.perf_counter()
        m = Hume(k=10, random_state=seed, device=str(dev), encoder_init=encoder_init).fit(
            phi1, phi2)
        dt = time.perf_counter() - t
        per = [cluster_acc(lab, y) for lab in m.labelings_]
        accs.append(cluster_acc(m.labels_, y))
        print(
            f"| {seed} | {dt:.1f} | {accs[-1]:.4f} | {per[m.best_restart_]:.4f} | "
            f"{np.mean(per):.4f} |"
        )
    km = {
        n: np.mean(
            [cluster_acc(KMeans(10, n_init=10, random_state=s).fit_predict(p), y) for s in range(3)]
        )
        for n, p in (("phi1", phi1), ("phi2", phi2))
    }
    print(
        f"mean ensemble ACC {np.mean(accs):.4f}; k-means ACC phi1 {km['phi1']:.4f}, "
        f"phi2 {km['phi2']:.4f}; peak {peak_mem(dev)}"
    )


def section_compare(dev, phi1, phi2, y, cfg: HumeConfig, seeds: int, title: str):
    print(f"\n## {title}: same schedule, inner solver only changed ({seeds} seeds, 1 restart)")
    print(
        f"schedule: steps={cfg.n_steps} subsets={cfg.n_subsets} subset_size="
        f"{min(cfg.subset_size, len(y))} lr={cfg.lr} tau={cfg.tau} gamma={cfg.gamma} "
        f"anneal={list(cfg.anneal_steps)}"
    )
    print("| seed | ridge ACC | ridge s | unrolled-SGD ACC | unrolled-SGD s |")
    print("|---|---|---|---|---|")
    rows = []
    for seed in range(seeds):
        c = cfg.replace(random_state=seed)
        lab_r, t_r = run_restarts(phi1, phi2, c, "ridge", dev)
        lab_s, t_s = run_restarts(phi1, phi2, c, "sgd", dev)
        rows.append((cluster_acc(lab_r[0], y), t_r, cluster_acc(lab_s[0], y), t_s))
        print(
            f"| {seed} | {rows[-1][0]:.4f} | {t_r:.1f} | {rows[-1][2]:.4f} | {t_s:.1f} |",
            flush=True,
        )
    a = np.array(rows)
    print(
        f"| mean | {a[:, 0].mean():.4f} | {a[:, 1].mean():.1f} | {a[:, 2].mean():.4f} | "
        f"{a[:, 3].mean():.1f} |"
    )


def section_cifar_size(dev, restarts: int):
    n, d1, d2, k = 50_000, 512, 1000, 10
    g = torch.Generator().manual_seed(0)
    phi1 = torch.randn(n, d1, generator=g).numpy()
    phi2 = torch.randn(n, d2, generator=g).numpy()
    print(f"\n## CIFAR-10 size (N={n}, d1={d1}, d2={d2}, k={k}) on {dev}")
    cfg = HumeConfig(k=k, n_restarts=restarts)

    def timed_steps(steps, inner_kind, r, c):
        c = c.replace(n_steps=steps)
        return run_restarts(phi1, phi2, c, inner_kind, dev, restarts=np.arange(r))[1]

    timed_steps(1, "ridge", restarts, cfg)  # warm-up
    t2, t6 = timed_steps(2, "ridge", restarts, cfg), timed_steps(6, "ridge", restarts, cfg)
    per_step = (t6 - t2) / 4
    x2 = fit_rows(phi2, cfg, 2, dev).all()  # space 2 as fit reads it
    labels = torch.randint(0, k, (restarts, n), generator=g).to(dev)
    t = time.perf_counter()
    cv_scores(x2, labels, k, cfg.cv_folds, cfg.ridge)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t_score = time.perf_counter() - t
    ours_total = per_step * cfg.n_steps + t_score
    ours_per_restart = ours_total / restarts
    print(
        f"ours: {per_step:.3f} s per outer step for {restarts} restarts batched; scoring "
        f"{t_score:.1f} s; {restarts} restarts x {cfg.n_steps} steps = {ours_total:.1f} s "
        f"-> {ours_per_restart:.2f} s per restart; peak {peak_mem(dev)}"
    )
    # Reference as published: 20 subsets of 10,000, 300 inner SGD steps, 1000 outer steps,
    # one restart and one subset at a time. Time one subset's inner loop + backward.
    ref = HumeConfig(
        k=k, n_subsets=1, subset_size=10_000, lr=1e-3, gamma=10.0, anneal_steps=(100, 200)
    )
    timed_steps(1, "sgd", 1, ref)  # warm-up
    t_sub = timed_steps(2, "sgd", 1, ref) / 2
    ref_per_restart = t_sub * 20 * 1000
    print(
        f"reference: {t_sub:.2f} s per (subset, outer step) -> 20 subsets x 1000 steps = "
        f"{ref_per_restart:.0f} s per restart ({ref_per_restart / 3600:.2f} h)"
    )
    print("| device | ours s/restart | reference s/restart | ratio | ours 100 restarts |")
    print("|---|---|---|---|---|")
    print(
        f"| {dev} | {ours_per_restart:.2f} | {ref_per_restart:.0f} | "
        f"{ref_per_restart / ours_per_restart:.0f}x | {ours_per_restart * 100:.0f} s |"
    )


def synthetic_views(folder: Path, n: int, d: int, k: int, seed: int = 0):
    """Two float16 memory-mapped views (N, d) of N samples in k classes, and the labels.

    Latent class centres (k, 128) plus unit noise, projected by a different random matrix per
    view with extra per-feature noise: class-structured, so ACC means something. Written once
    per size into `folder` (reused), in blocks: never a float32 (N, d) in memory.
    """
    folder.mkdir(parents=True, exist_ok=True)
    tag = f"n{n}_d{d}_k{k}_s{seed}"
    paths = [folder / f"view{v}_{tag}.npy" for v in (1, 2)]
    ypath = folder / f"labels_{tag}.npy"
    if not (all(p.exists() for p in paths) and ypath.exists()):
        rng = np.random.default_rng(seed)
        y = rng.permutation(np.arange(n) % k)
        centres = rng.normal(size=(k, 128)).astype(np.float32) * 1.5
        for v, path in enumerate(paths):
            proj = rng.normal(size=(128, d)).astype(np.float32) / np.sqrt(128)
            out = np.lib.format.open_memmap(path.with_suffix(".tmp.npy"), mode="w+",
                                            dtype=np.float16, shape=(n, d))
            for a in range(0, n, 65536):
                yb = y[a : a + 65536]
                z = centres[yb] + rng.normal(size=(len(yb), 128)).astype(np.float32)
                x = z @ proj + 0.5 * rng.normal(size=(len(yb), d)).astype(np.float32)
                out[a : a + 65536] = np.maximum(x, 0) if v == 1 else x  # view 1: ReLU-like
            out.flush()
            del out
            path.with_suffix(".tmp.npy").rename(path)
        np.save(ypath, y)
    return [np.load(p, mmap_mode="r") for p in paths], np.load(ypath)


def rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def measure(dev, x1, x2, y, k: int, restarts: int, steps: int, full_score: bool,
            score_rows: int = 0, encoder_init: str = HumeConfig.encoder_init) -> dict:
    """One Hume fit, timed by its own events: setup, seconds per outer step, scoring + voting."""
    t: dict[str, list] = {"step": []}

    def cb(event, info):
        if dev.type == "cuda" and event in ("start", "step", "scoring", "done"):
            torch.cuda.synchronize(dev)
        now = time.perf_counter()
        t.setdefault(event, []).append(now)

    if dev.type == "cuda":
        torch.zeros(1, device=dev)  # the CUDA context must exist before its stats are reset
        torch.cuda.reset_peak_memory_stats(dev)
    cfg = HumeConfig(k=k, n_restarts=restarts, n_steps=steps, device=str(dev),
                     score_rows=score_rows, encoder_init=encoder_init)
    t0 = time.perf_counter()
    m = Hume.from_config(cfg, callback=cb).fit(x1, x2)
    end = time.perf_counter()
    diffs = np.diff([t["start"][0]] + t["step"])
    per_step = float(np.median(diffs[1:] if len(diffs) > 1 else diffs))
    res = {
        "n": x1.shape[0], "d1": x1.shape[1], "d2": x2.shape[1], "k": k, "restarts": restarts,
        "steps": steps, "setup_s": t["start"][0] - t0, "per_step_s": per_step,
        "first_step_s": float(diffs[0]), "train_s": t["scoring"][0] - t["start"][0],
        "score_vote_s": end - t["scoring"][0], "total_s": end - t0,
        "acc": cluster_acc(m.labels_, y), "score_rows": m.score_rows_,
        "peak_rss_gib": rss_gib(),
        "peak_gpu_gib": torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda"
        else None,
        "verdict": m.diagnostics_["verdict"],
    }
    res["total_300_s"] = res["total_s"] + (300 - steps) * per_step
    if full_score and m.score_rows_ < x1.shape[0]:
        from scipy.stats import spearmanr

        x2r = fit_rows(x2, cfg, 2, dev)  # space 2 exactly as fit normalises it
        lab = torch.from_numpy(m.labelings_).to(dev)
        ts = time.perf_counter()
        full = cv_scores(x2r.all(), lab, k, cfg.cv_folds, cfg.ridge, cfg.random_state)
        full = full.cpu().numpy()
        res["full_score_s"] = time.perf_counter() - ts
        res["spearman"] = float(spearmanr(full, m.scores_)[0]) if restarts > 2 else None
        res["same_best"] = bool(int(np.argmax(full)) == int(np.argmax(m.scores_)))
    return res


def probe_step_seconds(dev, x1, x2, k: int, restarts: int) -> float:
    """Seconds per outer step of the engine alone (restarts batched), from steps 2-3."""
    cfg = HumeConfig(k=k, n_restarts=restarts, n_steps=3)
    r1, r2 = fit_rows(x1, cfg, 1, dev), fit_rows(x2, cfg, 2, dev)
    inner = RidgeInner.from_config(r2, cfg)
    marks = []

    def on_step(step, loss):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        marks.append(time.perf_counter())

    train_encoders(r1, inner, np.arange(restarts), cfg, on_step=on_step)
    del r1, r2, inner
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    return (marks[-1] - marks[0]) / (len(marks) - 1)


def imagenet_sizes(dev, args) -> tuple[int, int, int, int]:
    """(N, d, restarts, steps) of the ImageNet-size sections: the options, else GPU/CPU sizes."""
    gpu = dev.type == "cuda"
    return (args.imagenet_n or 1_281_167, args.imagenet_d or (1024 if gpu else 512),
            args.imagenet_restarts or (100 if gpu else 4),
            args.imagenet_steps or (300 if gpu else 5))


def section_imagenet_size(dev, args):
    """ImageNet-size HUME (N, d, k = 1.28M, 1,024, 1,000 on a GPU) next to CIFAR size."""
    n, d, r, steps = imagenet_sizes(dev, args)
    folder = Path(args.data_dir)
    print(f"\n## ImageNet size vs CIFAR size on {dev} (float16 memory-mapped inputs; "
          f"encoder_init {args.encoder_init})")
    rows = []
    for name, nn, dd, k in (("CIFAR-10 size", 50_000, d, 10), ("ImageNet size", n, d, 1000)):
        t = time.perf_counter()
        (x1, x2), y = synthetic_views(folder, nn, dd, k)
        print(f"{name}: data ready in {time.perf_counter() - t:.0f} s ({x1.dtype}, "
              f"{type(x1).__name__})", flush=True)
        run_steps = steps
        if args.train_budget and k == 1000:  # time 2 steps first; run what fits the budget
            per = probe_step_seconds(dev, x1, x2, k, r)
            run_steps = int(max(3, min(steps, args.train_budget // per)))
            print(f"probe: {per:.3f} s per outer step ({r} restarts) -> {run_steps} steps "
                  f"within --train-budget {args.train_budget} s", flush=True)
        rows.append((name, measure(dev, x1, x2, y, k, r, run_steps, args.full_score,
                                   args.score_rows, args.encoder_init)))
        print(rows[-1], flush=True)
    print("| size | N | d | k | restarts x steps | setup s | s / outer step | train s | "
          "score+vote s | total s | 100 x 300 s (extrapolated if fewer) | peak RSS GiB | "
          "peak GPU GiB | ACC | verdict |")
    print("|---" * 15 + "|")
    for name, m in rows:
        gpu_gib = "-" if m["peak_gpu_gib"] is None else f"{m['peak_gpu_gib']:.2f}"
        extra = "" if (m["restarts"], m["steps"]) == (100, 300) else " (extrapolated)"
        print(f"| {name} | {m['n']} | {m['d1']} | {m['k']} | {m['restarts']} x {m['steps']} | "
              f"{m['setup_s']:.1f} | {m['per_step_s']:.3f} | {m['train_s']:.1f} | "
              f"{m['score_vote_s']:.1f} | {m['total_s']:.1f} | "
              f"{m['total_300_s'] * (100 / m['restarts'] if m['restarts'] < 100 else 1):.0f}"
              f"{extra} | {m['peak_rss_gib']:.2f} | "
              f"{gpu_gib} | "
              f"{m['acc']:.3f} | {m['verdict']} |")
    for name, m in rows:
        if "spearman" in m:
            print(f"{name}: score on {m['score_rows']} of {m['n']} rows vs all rows "
                  f"({m['full_score_s']:.1f} s): Spearman {m['spearman']}, same best restart "
                  f"{m['same_best']}")


def section_score_subsample(dev, args):
    """How well the score on a row subset ranks restarts like the score on all rows."""
    from scipy.stats import spearmanr

    from hume_ssl.hume.scoring import score_rows

    n, d, r, steps = imagenet_sizes(dev, args)
    (x1, x2), y = synthetic_views(Path(args.data_dir), n, d, 1000)
    t = time.perf_counter()
    m = Hume(k=1000, n_restarts=r, n_steps=steps, device=str(dev),
             encoder_init=args.encoder_init).fit(x1, x2)
    print(f"\n## score on a row subset vs all rows: N={n}, d={d}, k=1000, {r} restarts x {steps} "
          f"steps, encoder_init {args.encoder_init} ({time.perf_counter() - t:.0f} s), "
          f"ensemble ACC {cluster_acc(m.labels_, y):.3f}")
    x2r = fit_rows(x2, m.config, 2, dev)
    lab = torch.from_numpy(m.labelings_).to(dev)

    def score(rows):
        sub = torch.arange(n) if rows is None else torch.from_numpy(rows)
        ts = time.perf_counter()
        s = cv_scores(x2r.take(sub.to(dev)), lab[:, sub.to(dev)], 1000).cpu().numpy()
        return s, time.perf_counter() - ts

    full, t_full = score(None)
    print("| rows | per class | seconds | Spearman vs all rows | same best restart |")
    print("|---|---|---|---|---|")
    for want in args.subsample_rows:
        rows = score_rows(n, 1000, want, 0)
        s, ts = score(rows)
        print(f"| {want} | {want / 1000:.0f} | {ts:.1f} | {spearmanr(s, full)[0]:.3f} | "
              f"{int(np.argmax(s)) == int(np.argmax(full))} |", flush=True)
    print(f"| all {n} | {n / 1000:.0f} | {t_full:.1f} | 1 | True |")


def pair_10k(seed: int = 0):
    """The issue's pair: 10,000 rows, a 64-d and a 128-d view of class-structured latents."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(10_000) % 10)
    z = rng.normal(size=(10, 32))[y] * 1.5 + rng.normal(size=(10_000, 32))
    x1 = np.maximum(z @ rng.normal(size=(32, 64)), 0) + 0.5 * rng.normal(size=(10_000, 64))
    x2 = z @ rng.normal(size=(32, 128)) + 0.5 * rng.normal(size=(10_000, 128))
    return x1.astype(np.float32), x2.astype(np.float32), y


def time_engine(x1, x2, cfg: HumeConfig, restarts: int, batch_lanes: Optional[bool], dev,
                profile: bool = False) -> dict:
    """Setup (normalising, the inner solver's one-off factors) and the median seconds per outer
    step of the engine alone; with `profile`, a torch.profiler table of the steps after the
    first (self CPU time per op and per step, operator calls per step)."""
    t0 = time.perf_counter()
    r1, r2 = fit_rows(x1, cfg, 1, dev), fit_rows(x2, cfg, 2, dev)
    inner = RidgeInner.from_config(r2, cfg)
    setup = time.perf_counter() - t0
    marks, prof = [], None

    def on_step(step, loss):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        marks.append(time.perf_counter())
        if prof is not None and step == 0:
            prof.start()  # the first step (warm-up) is left out of the profile

    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as tprofile

        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
        prof = tprofile(activities=acts)
    t1 = time.perf_counter()
    train_encoders(r1, inner, np.arange(restarts), cfg, on_step=on_step, batch_lanes=batch_lanes)
    if prof is not None:
        prof.stop()
    steps = np.diff([t1] + marks)
    out = {"form": inner.form, "setup_s": setup, "first_step_s": float(steps[0]),
           "per_step_s": float(np.median(steps[1:])), "profile": None}
    if prof is not None:
        n = cfg.n_steps - 1
        ev = prof.key_averages()
        calls = sum(e.count for e in ev if not e.key.startswith("ProfilerStep"))
        top = sorted(ev, key=lambda e: e.self_cpu_time_total, reverse=True)[:8]
        out["profile"] = {"calls_per_step": calls / n,
                          "top": [(e.key, e.self_cpu_time_total / 1e3 / n, e.count / n)
                                  for e in top]}
    return out


INNER_VARIANTS = [  # (name, inner_solve, batch_lanes, profiled)
    ("before: smoother, lanes one by one", "smoother", False, True),
    ("smoother, lanes in one graph", "smoother", True, False),
    ("primal, lanes one by one", "primal", False, False),
    ("auto, lanes in one graph", "auto", True, True),
    # what ships: train_encoders(batch_lanes=None) puts the lanes in one graph on CUDA only
    ("after (shipped): auto, lanes in one graph on CUDA only", "auto", None, True),
]


def section_inner_solve(dev, args):
    """Before/after of the inner solve's form and the lanes' schedule, in one run."""
    pairs = [("10,000 rows, 64/128-d (synthetic)", *pair_10k()[:2])]
    feats = Path(args.shared) / "cifar10_features"
    if feats.is_dir():
        pairs.append(("shared CIFAR-10 pair, 50,000 x 512",
                      np.load(feats / "mocov2_r18_36ep_train.npy"),
                      np.load(feats / "squeezenet1_1_224px_train.npy")))
    else:
        print(f"(skipped the CIFAR-10 pair: {feats} not found)")
    r, steps = args.inner_restarts, args.inner_steps
    print(f"\n## inner solve and lanes: {r} restarts, k = 10, {steps} outer steps timed "
          f"(median step after the first), 300 extrapolated; threads {torch.get_num_threads()}")
    print("| pair | variant | form | setup s | first step s | s per step | 300 steps s | "
          "speed-up vs before |")
    print("|---|---|---|---|---|---|---|---|")
    profiles = []
    for name, x1, x2 in pairs:
        base = None
        for vname, solve, batched, prof in INNER_VARIANTS:
            cfg = HumeConfig(k=10, n_restarts=r, n_steps=steps, inner_solve=solve,
                             encoder_init=args.encoder_init)
            res = time_engine(x1, x2, cfg, r, batched, dev, profile=prof)
            total = res["setup_s"] + res["first_step_s"] + 299 * res["per_step_s"]
            base = base or total
            print(f"| {name} | {vname} | {res['form']} | {res['setup_s']:.2f} | "
                  f"{res['first_step_s']:.3f} | {res['per_step_s']:.3f} | {total:.0f} | "
                  f"{base / total:.2f}x |", flush=True)
            if res["profile"]:
                profiles.append((name, vname, res["profile"]))
    for name, vname, p in profiles:
        print(f"\n### profile per outer step: {name}, {vname} "
              f"({p['calls_per_step']:.0f} operator calls per step)")
        print("| op | self CPU ms per step | calls per step |")
        print("|---|---|---|")
        for key, ms, calls in p["top"]:
            print(f"| {key} | {ms:.1f} | {calls:.0f} |")
    if not args.inner_acc_sets:
        return
    print(f"\n### ensemble ACC of both forms: {r} restarts x 300 steps, random_state 0.."
          f"{args.inner_acc_seeds - 1}, encoder_init {args.encoder_init}; "
          "ensemble ACC / mean restart ACC +- std (seconds)")
    print("| set | form | " + " | ".join(f"seed {s}" for s in range(args.inner_acc_seeds)) + " |")
    print("|---|---|" + "---|" * args.inner_acc_seeds)
    for set_name in args.inner_acc_sets:
        x1, x2, y, extra = load_set(set_name, args)
        for solve in ("smoother", "primal"):
            cells = []
            for seed in range(args.inner_acc_seeds):
                cfg = HumeConfig(k=int(y.max()) + 1, n_restarts=r, random_state=seed,
                                 inner_solve=solve, device=str(dev),
                                 encoder_init=args.encoder_init).replace(**extra)
                t = time.perf_counter()
                m = Hume.from_config(cfg).fit(x1, x2)
                accs = [cluster_acc(lab, y) for lab in m.labelings_]
                cells.append(f"{cluster_acc(m.labels_, y):.3f} / {np.mean(accs):.3f} +- "
                             f"{np.std(accs):.3f} ({time.perf_counter() - t:.0f} s)")
            print(f"| {set_name} | {solve} | " + " | ".join(cells) + " |", flush=True)


DEFAULT_VARIANTS = [  # (name, HumeConfig overrides): one default changed at a time
    ("shipped defaults", {}),
    ("lr 0.01", {"lr": 0.01}), ("lr 0.1", {"lr": 0.1}),
    ("gamma 1", {"gamma": 1.0}), ("gamma 10", {"gamma": 10.0}),
    ("tau 0.05", {"tau": 0.05}), ("tau 0.2", {"tau": 0.2}),
    ("ridge 0.03", {"ridge": 0.03}), ("ridge 0.3", {"ridge": 0.3}), ("ridge 1", {"ridge": 1.0}),
    ("n_subsets 4", {"n_subsets": 4}),
    ("anneal x0.1 at steps 100, 200", {"anneal_steps": (100, 200)}),
    ("center off", {"center": False}),
    ("n_steps 30", {"n_steps": 30}), ("n_steps 100", {"n_steps": 100}),
    ("n_steps 1000", {"n_steps": 1000}),
    ("encoder_init gaussian", {"encoder_init": "gaussian"}),
    ("encoder_init kmeans", {"encoder_init": "kmeans"}),
]


def section_defaults(dev, args):
    """Each HUME default against its neighbours, one at a time, on real feature sets."""
    names = [v for v, _ in DEFAULT_VARIANTS if not args.defaults_only or v in args.defaults_only]
    sets = {s: load_set(s, args) for s in args.defaults_sets}
    print(f"\n## defaults: {args.defaults_restarts} restarts each, random_state 0; per set: "
          "ensemble ACC / mean restart ACC / majority share (seconds)")
    print("| variant | " + " | ".join(sets) + " | mean ensemble ACC | mean restart ACC |")
    print("|---" * (len(sets) + 3) + "|")
    for name, over in DEFAULT_VARIANTS:
        if name not in names:
            continue
        cells, ens, rst = [], [], []
        for x1, x2, y, extra in sets.values():
            cfg = HumeConfig(k=int(y.max()) + 1, n_restarts=args.defaults_restarts,
                             device=str(dev)).replace(**{**extra, **over,
                                                         "n_restarts": args.defaults_restarts})
            t = time.perf_counter()
            m = Hume.from_config(cfg).fit(x1, x2)
            sec = time.perf_counter() - t
            e = cluster_acc(m.labels_, y)
            r = float(np.mean([cluster_acc(lab, y) for lab in m.labelings_]))
            maj = m.diagnostics_["agreement"]["majority"]  # as the verdict counts it
            ens.append(e), rst.append(r)
            cells.append(f"{e:.3f} / {r:.3f} / {maj:.3f} ({sec:.0f} s)")
        print(f"| {name} | " + " | ".join(cells) + f" | {np.mean(ens):.3f} | {np.mean(rst):.3f} |",
              flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--sections",
        nargs="+",
        default=["digits", "compare", "cifar-size"],
        choices=["digits", "compare", "cifar-size", "compare-gpu", "imagenet-size",
                 "score-subsample", "defaults", "inner-solve"],
    )
    ap.add_argument("--defaults-sets", nargs="+",
                    default=["digits", "digits-noise1", "cifar10-sub5000"],
                    help="seed-benchmark set names for `defaults`")
    ap.add_argument("--defaults-restarts", type=int, default=20)
    ap.add_argument("--defaults-only", nargs="*", default=[],
                    help="only these variant names (e.g. 'shipped defaults' 'ridge 1')")
    ap.add_argument("--shared", default=SHARED_DATA, help="../shared/data (the CIFAR-10 pair)")
    ap.add_argument("--imagenet-n", type=int, default=0, help="rows (0: 1,281,167)")
    ap.add_argument("--imagenet-d", type=int, default=0, help="dims (0: 1,024 GPU, 512 CPU)")
    ap.add_argument("--imagenet-restarts", type=int, default=0, help="0: 100 GPU, 4 CPU")
    ap.add_argument("--imagenet-steps", type=int, default=0, help="0: 300 GPU, 5 CPU")
    ap.add_argument("--data-dir", default="/tmp/hume_imagenet_size",
                    help="where the synthetic float16 views are written (reused)")
    ap.add_argument("--train-budget", type=float, default=0,
                    help="ImageNet size: seconds of outer steps to run (0: all --imagenet-steps); "
                    "the rest is extrapolated and labelled so")
    ap.add_argument("--subsample-rows", type=int, nargs="+",
                    default=[100_000, 200_000, 400_000, 640_000], help="score-subsample sizes")
    ap.add_argument("--score-rows", type=int, default=0, help="HumeConfig.score_rows (0: auto)")
    ap.add_argument("--full-score", action="store_true",
                    help="also score on all rows and compare with the subsampled score")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--compare-steps", type=int, default=150, help="outer steps in `compare`")
    ap.add_argument("--compare-subset", type=int, default=600, help="subset size in `compare`")
    ap.add_argument("--restarts", type=int, default=100, help="restarts in `cifar-size`")
    ap.add_argument("--inner-restarts", type=int, default=20, help="restarts in `inner-solve`")
    ap.add_argument("--inner-steps", type=int, default=4,
                    help="outer steps timed per variant in `inner-solve`")
    ap.add_argument("--inner-acc-sets", nargs="*", default=["digits", "cifar10-sub5000"],
                    help="seed-benchmark sets for the ACC check of `inner-solve` (none: skip)")
    ap.add_argument("--inner-acc-seeds", type=int, default=2)
    ap.add_argument("--encoder-init", choices=("gaussian", "kmeans"),
                    default=HumeConfig.encoder_init,
                    help="where HUME's restarts start in digits, imagenet-size, score-subsample "
                    "and inner-solve (the shipped default; gaussian: the start before "
                    "2026-12-03); `defaults` compares starts itself")
    args = ap.parse_args()
    dev = resolve_device(args.device)
    print(f"device {dev}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    if "digits" in args.sections:
        section_digits(dev, args.encoder_init)
    if "compare" in args.sections:
        phi1, phi2, y = digits_views()
        cfg = HumeConfig(k=10, n_steps=args.compare_steps, subset_size=args.compare_subset)
        section_compare(dev, phi1, phi2, y, cfg, args.seeds, "digits")
    if "compare-gpu" in args.sections:
        # 5,000 CIFAR-like samples: two noisy random projections of class-structured latents
        rng = np.random.default_rng(0)
        y = np.repeat(np.arange(10), 500)
        z = rng.normal(size=(10, 64))[y] * 1.5 + rng.normal(size=(5000, 64))
        phi1 = (z @ rng.normal(size=(64, 512))).astype(np.float32)
        phi2 = (z @ rng.normal(size=(64, 1000))).astype(np.float32)
        cfg = HumeConfig(k=10, n_steps=300)
        section_compare(dev, phi1, phi2, y, cfg, args.seeds, "N=5,000 synthetic")
    if "cifar-size" in args.sections:
        section_cifar_size(dev, args.restarts)
    if "imagenet-size" in args.sections:
        section_imagenet_size(dev, args)
    if "score-subsample" in args.sections:
        section_score_subsample(dev, args)
    if "defaults" in args.sections:
        section_defaults(dev, args)
    if "inner-solve" in args.sections:
        section_inner_solve(dev, args)


if __name__ == "__main__":
    run_recipe(main)
