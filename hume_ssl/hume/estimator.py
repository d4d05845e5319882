"""`Hume`: the scikit-learn-shaped estimator over the batched engine.

    model = Hume(k=10, n_restarts=100, random_state=0).fit(phi1, phi2)
    model.labels_, model.agreement_, model.labelings_, model.scores_

Restarts run in chunks; with `checkpoint_dir`, each finished chunk is saved (atomically) and a
re-run with the same inputs and config loads it instead of recomputing it.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from hume_ssl.core.device import resolve_device
from hume_ssl.core.errors import HumeSSLError, NotFittedError
from hume_ssl.core.io import (
    array_hash,
    atomic_save_npz,
    atomic_write_bytes,
    check_features,
    config_hash,
)
from hume_ssl.hume.config import HumeConfig
from hume_ssl.hume.engine import LANE, train_encoders
from hume_ssl.hume.ensemble import align, vote
from hume_ssl.hume.ridge import RidgeInner
from hume_ssl.hume.scoring import cv_scores

Callback = Callable[[str, dict], None]

# Settings that change no result: left out of the checkpoint fingerprint.
_RESULT_NEUTRAL = {"chunk_size", "memory_budget_gb", "device", "extra", "n_restarts",
                   "checkpoint_every"}
PARTIAL = "partial.pt"  # the unfinished chunk's state, in checkpoint_dir/chunks/


def normalise_features(
    x: np.ndarray, on: bool, device: torch.device, mean: np.ndarray | None = None
) -> torch.Tensor:
    """(N, d) features -> a float32 tensor (a copy), minus `mean`, rows L2-normalised if `on`."""
    x = np.asarray(x, dtype=np.float32)
    t = torch.tensor(x - mean if mean is not None else x, device=device)
    if on:
        norms = t.norm(dim=1, keepdim=True)
        if bool((norms == 0).any()):
            bad = (norms.squeeze(1) == 0).nonzero().squeeze(1)[:5].tolist()
            raise HumeSSLError(
                f"rows {bad} of the features are all zero and cannot be L2-normalised; "
                "drop those samples or pass normalize=False."
            )
        t = t / norms
    return t


class Hume:
    """HUME with many restarts at once. Parameters: any `HumeConfig` field as a keyword.

    Learned attributes (after `fit`), over the N fit rows:
        labelings_ (R, N) int64   every restart's hard labels, aligned to the best restart
        labels_ (N,) int64        ensemble labels (majority vote)
        agreement_ (N,) float32   share of restarts voting for labels_
        scores_ (R,) float32      label-free score (higher is better; see hume_ssl.hume.scoring)
        margins_ (N,) float32     top-1 minus top-2 cosine logit under the best encoder
        encoders_ (R, k, d1)      task encoders, rows permuted to the aligned class ids
        phi1_mean_ (d1,) or None  mean subtracted from space 1 before normalising (new rows too)
        best_restart_ int, n_clusters_used_ (R,), loss_curves_ (n_steps, R)
        test_labelings_, test_labels_, test_agreement_ when test features are given.
    """

    def __init__(
        self,
        config: Optional[HumeConfig] = None,
        *,
        checkpoint_dir: Optional[str | Path] = None,
        callback: Optional[Callback] = None,
        **params,
    ):
        self.config = (config or HumeConfig()).replace(**params)
        self.checkpoint_dir = checkpoint_dir
        self.callback = callback

    # ------------------------------------------------------------------ helpers
    def _emit(self, event: str, **info) -> None:
        if self.callback is not None:
            self.callback(event, info)

    def _fingerprint(self, input_hash: str) -> str:
        cfg = {k: v for k, v in self.config.to_dict().items() if k not in _RESULT_NEUTRAL}
        return config_hash({"cfg": cfg, "inputs": input_hash})

    def _chunk_size(self, n_rows: int, device: torch.device) -> int:
        """Restarts per chunk, in whole lanes. Memory is held one lane at a time (a lane's graph
        is freed after its backward), so a chunk may hold every restart; chunks are only the
        unit of the finished-results files."""
        cfg = self.config
        n = min(n_rows, cfg.subset_size)
        full_rows = cfg.n_subsets * n >= n_rows  # every row is labelled each step
        # float32 tensors per restart kept for backward: soft labels, gathers, predictions.
        per_lane = 4 * cfg.k * (12 * cfg.n_subsets * n + 6 * n_rows * full_rows) * LANE
        if cfg.memory_budget_gb > 0:
            budget = cfg.memory_budget_gb * 2**30
        elif device.type == "cuda":
            budget = 0.5 * torch.cuda.mem_get_info(device)[0]
        else:
            budget = float("inf")  # the CPU has no budget unless one is given
        if per_lane > budget:
            raise HumeSSLError(
                f"one lane of {LANE} restarts needs about {per_lane / 2**30:.2f} GiB, more than "
                f"the memory budget of {budget / 2**30:.2f} GiB; pass --memory-budget-gb "
                f"{per_lane / 2**30 * 1.1:.2f} or more, or lower subset_size."
            )
        size = cfg.chunk_size if cfg.chunk_size > 0 else cfg.n_restarts
        return LANE * -(-size // LANE)

    def _partial(self, fingerprint: str, ids: np.ndarray) -> Optional[dict]:
        """The saved state of an unfinished chunk of exactly these restarts, or None."""
        if self.checkpoint_dir is None:
            return None
        path = Path(self.checkpoint_dir) / "chunks" / PARTIAL
        if not path.exists():
            return None
        try:
            saved = torch.load(path, map_location="cpu", weights_only=False)
        except Exception:  # unreadable (killed mid-write elsewhere): start the chunk over
            path.unlink(missing_ok=True)
            return None
        if saved.get("fingerprint") != fingerprint or list(saved["ids"]) != ids.tolist():
            return None
        return saved["state"]

    def _save_partial(self, fingerprint: str, ids: np.ndarray, state: dict) -> None:
        buf = io.BytesIO()
        torch.save({"fingerprint": fingerprint, "ids": ids.tolist(), "state": state}, buf)
        atomic_write_bytes(Path(self.checkpoint_dir) / "chunks" / PARTIAL, buf.getvalue())

    def _load_chunks(self, fingerprint: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        done: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if self.checkpoint_dir is None:
            return done
        for path in sorted((Path(self.checkpoint_dir) / "chunks").glob("restarts_*.npz")):
            try:
                with np.load(path, allow_pickle=False) as z:
                    if str(z["fingerprint"]) != fingerprint:
                        raise HumeSSLError(
                            f"{path} was made from other inputs or settings than this run; "
                            "use another --out, or delete its chunks/ folder to start over."
                        )
                    for j, r in enumerate(z["restarts"]):
                        done[int(r)] = (z["encoders"][j], z["curves"][:, j])
            except HumeSSLError:
                raise
            except Exception:  # unreadable chunk (killed mid-write elsewhere): recompute it
                path.unlink(missing_ok=True)
        return done

    # ------------------------------------------------------------------ fit
    def fit(self, phi1, phi2, phi1_test=None, phi2_test=None, transductive: bool = False) -> Hume:
        phi1 = check_features(phi1, "phi1")
        phi2 = check_features(phi2, "phi2")
        if phi1.shape[0] != phi2.shape[0]:
            raise HumeSSLError(
                f"phi1 has {phi1.shape[0]} rows but phi2 has {phi2.shape[0]}; both must hold the "
                "same samples in the same order (row i = sample i)."
            )
        n_train = phi1.shape[0]
        has_test = phi1_test is not None or phi2_test is not None
        if has_test:
            if phi1_test is None or phi2_test is None:
                raise HumeSSLError("give both phi1_test and phi2_test, or neither.")
            phi1_test = check_features(phi1_test, "phi1_test")
            phi2_test = check_features(phi2_test, "phi2_test")
            if phi1_test.shape[0] != phi2_test.shape[0]:
                raise HumeSSLError(
                    f"phi1_test has {phi1_test.shape[0]} rows but phi2_test has "
                    f"{phi2_test.shape[0]}; they must describe the same test samples."
                )
            for a, b, nm in ((phi1, phi1_test, "phi1"), (phi2, phi2_test, "phi2")):
                if a.shape[1] != b.shape[1]:
                    raise HumeSSLError(
                        f"{nm}_test has {b.shape[1]} features but {nm} has {a.shape[1]}; "
                        "extract both with the same backbone."
                    )
        if transductive and has_test:
            fit1, fit2 = np.concatenate([phi1, phi1_test]), np.concatenate([phi2, phi2_test])
        else:
            fit1, fit2 = phi1, phi2
        cfg = self.config.validate(n_samples=fit1.shape[0])
        dev = resolve_device(cfg.device)
        t0 = time.perf_counter()

        self.n_samples_ = n_train
        self.input_hash_ = array_hash(phi1, phi2)
        self.test_hash_ = array_hash(phi1_test, phi2_test) if has_test else None
        fp_inputs = self.input_hash_ + (f"+{self.test_hash_}:{transductive}" if has_test else "")
        fingerprint = self._fingerprint(fp_inputs)

        # non-negative features (ReLU outputs) share one dominant direction that a bias-free
        # encoder cannot ignore; centring removes it (k-means is translation-invariant too)
        self.phi1_mean_ = fit1.mean(0, dtype=np.float64).astype(np.float32) if cfg.center else None
        mean2 = fit2.mean(0, dtype=np.float64).astype(np.float32) if cfg.center else None
        x1 = normalise_features(fit1, cfg.normalize_phi1, dev, self.phi1_mean_)  # (N_fit, d1)
        x2 = normalise_features(fit2, cfg.normalize_phi2, dev, mean2)  # (N_fit, d2)
        inner = RidgeInner(x2, cfg.subset_size, cfg.ridge)

        r_all = np.arange(cfg.n_restarts)
        done = {r: v for r, v in self._load_chunks(fingerprint).items() if r < cfg.n_restarts}
        todo = np.array([r for r in r_all if r not in done], dtype=np.int64)
        chunk = self._chunk_size(fit1.shape[0], dev)
        self._emit(
            "start",
            restarts=cfg.n_restarts,
            resumed=len(done),
            steps=cfg.n_steps,
            chunk=chunk,
            device=str(dev),
        )
        for a in range(0, len(todo), chunk):
            ids = todo[a : a + chunk]
            self._emit("chunk", restarts=ids.tolist())
            keep = self.checkpoint_dir is not None and cfg.checkpoint_every > 0
            enc, curve = train_encoders(
                x1,
                inner,
                ids,
                cfg,
                on_step=lambda s, loss, m=len(ids): self._emit(
                    "step", step=s, restarts=m, loss=float(loss.mean())
                ),
                state=self._partial(fingerprint, ids),
                save_state=(lambda st, ids=ids: self._save_partial(fingerprint, ids, st))
                if keep else None,
                save_every=cfg.checkpoint_every,
            )
            enc = enc.cpu().numpy()
            for j, r in enumerate(ids):
                done[int(r)] = (enc[j], curve[:, j])
            if self.checkpoint_dir is not None:
                name = f"restarts_{ids[0]:05d}-{ids[-1]:05d}.npz"
                atomic_save_npz(
                    Path(self.checkpoint_dir) / "chunks" / name,
                    restarts=ids,
                    encoders=enc,
                    curves=curve,
                    fingerprint=np.array(fingerprint),
                )
                (Path(self.checkpoint_dir) / "chunks" / PARTIAL).unlink(missing_ok=True)
        encoders = np.stack([done[r][0] for r in r_all]).astype(np.float32)  # (R, k, d1)
        self.loss_curves_ = np.stack([done[r][1] for r in r_all], axis=1)  # (n_steps, R)

        self._emit("scoring", restarts=cfg.n_restarts)
        w = torch.from_numpy(encoders).to(dev)
        with torch.no_grad():
            logits = torch.matmul(x1, w.transpose(1, 2))  # (R, N_fit, k)
            hard = logits.argmax(-1)  # (R, N_fit)
            scores = cv_scores(x2, hard, cfg.k, cfg.cv_folds, cfg.ridge, cfg.random_state)
        hard = hard.cpu().numpy()
        self.scores_ = scores.cpu().numpy()
        self.best_restart_ = int(np.argmax(self.scores_))
        aligned, perms = align(hard, self.best_restart_, cfg.k)
        inv = np.argsort(perms, axis=1)  # inv[r][new] = old
        self.encoders_ = np.take_along_axis(encoders, inv[:, :, None], axis=1)
        self.perms_ = perms
        self.n_clusters_used_ = np.array([len(np.unique(h)) for h in hard])
        labels, agreement = vote(aligned, cfg.k, self.best_restart_)
        best_logits = logits[self.best_restart_].cpu().numpy()
        top2 = np.sort(best_logits, axis=1)[:, -2:]
        margins = (top2[:, 1] - top2[:, 0]).astype(np.float32)

        self.labelings_, self.labels_ = aligned[:, :n_train], labels[:n_train]
        self.agreement_, self.margins_ = agreement[:n_train], margins[:n_train]
        self.test_labelings_ = self.test_labels_ = self.test_agreement_ = None
        if has_test:
            if transductive:
                self.test_labelings_ = aligned[:, n_train:]
                self.test_labels_, self.test_agreement_ = labels[n_train:], agreement[n_train:]
            else:
                self.test_labelings_ = self.predict_labelings(phi1_test)
                self.test_labels_, self.test_agreement_ = vote(
                    self.test_labelings_, cfg.k, self.best_restart_
                )
        self.fit_seconds_ = time.perf_counter() - t0
        self._emit("done", seconds=self.fit_seconds_)
        return self

    # ------------------------------------------------------------------ inference
    def _check_fitted(self) -> None:
        if not hasattr(self, "encoders_"):
            raise NotFittedError(
                "this Hume instance is not fitted yet; call fit(phi1, phi2) first."
            )

    def predict_labelings(self, phi1) -> np.ndarray:
        """Aligned hard labels (R, M) of new samples in space 1 from every restart's encoder."""
        self._check_fitted()
        phi1 = check_features(phi1, "phi1")
        if phi1.shape[1] != self.encoders_.shape[2]:
            raise HumeSSLError(
                f"phi1 has {phi1.shape[1]} features; the encoders expect {self.encoders_.shape[2]}."
            )
        cpu = torch.device("cpu")
        x = normalise_features(phi1, self.config.normalize_phi1, cpu, self.phi1_mean_)
        w = torch.from_numpy(self.encoders_)
        with torch.no_grad():
            return torch.matmul(x, w.transpose(1, 2)).argmax(-1).numpy()

    def predict(self, phi1) -> np.ndarray:
        """Ensemble labels (M,) of new samples (inductive use of the learned encoders)."""
        labs = self.predict_labelings(phi1)
        return vote(labs, self.config.k, self.best_restart_)[0]
