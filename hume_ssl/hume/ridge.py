"""The inner solver: a closed-form ridge fit on space 2, shared by every restart.

For a train/held-out split of a subset, the ridge predictions on the held-out part are a fixed
linear map of the train labels, P_te = H @ Y_tr, where H = X_te (X_tr^T X_tr + L)^-1 X_tr^T
depends on the features only. So H is computed once per split and applied to all R restarts'
soft labels in one batched matmul; gradients flow into Y_tr and Y_te (not into H, which is
constant). X carries a bias column that the regulariser L leaves unpenalised.

When a subset is the whole dataset, every split's H follows from one hat matrix
Z = X (X^T X + L)^-1 X^T via the leave-set-out identity H = (I - Z_ee)^-1 Z_et, so each
split costs a small (n_te x n_te) solve instead of a (d x d) factorisation.
"""

from __future__ import annotations

import torch


def augment(x: torch.Tensor) -> torch.Tensor:
    """(..., n, d) -> (..., n, d+1) with a trailing column of ones (the bias)."""
    ones = torch.ones(*x.shape[:-1], 1, dtype=x.dtype, device=x.device)
    return torch.cat([x, ones], dim=-1)


def regulariser(d_aug: int, lam: float, device, dtype) -> torch.Tensor:
    """(D, D) diagonal ridge penalty, zero on the bias coordinate (the last one)."""
    diag = torch.full((d_aug,), float(lam), device=device, dtype=dtype)
    diag[-1] = 0.0
    return torch.diag(diag)


def ridge_lambda(ridge: float, n_fit: int, d: int, mean_sq_norm: float) -> float:
    """Scale-free penalty: `ridge` times the mean eigenvalue of the Gram matrix of n_fit rows."""
    return float(ridge) * n_fit * mean_sq_norm / max(d, 1)


def hat_matrix(xa: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """Z = Xa (Xa^T Xa + L)^-1 Xa^T for augmented features xa (n, D) -> (n, n)."""
    a = xa.T @ xa + reg  # (D, D)
    chol = torch.linalg.cholesky(a)
    return xa @ torch.cholesky_solve(xa.T, chol)  # (n, n)


def smoothers_from_hat(z: torch.Tensor, idx_tr: torch.Tensor, idx_te: torch.Tensor) -> torch.Tensor:
    """Held-out smoothers H (S, n_te, n_tr) of S splits of the rows of hat matrix z (n, n)."""
    z_ee = z[idx_te[:, :, None], idx_te[:, None, :]]  # (S, n_te, n_te)
    z_et = z[idx_te[:, :, None], idx_tr[:, None, :]]  # (S, n_te, n_tr)
    eye = torch.eye(z_ee.shape[-1], dtype=z.dtype, device=z.device)
    # an explicit (n_te x n_te) inverse then one GEMM beats n_tr triangular solves
    return torch.linalg.inv(eye - z_ee) @ z_et


def smoothers_direct(xa_tr: torch.Tensor, xa_te: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """H (S, n_te, n_tr) from augmented features xa_tr (S, n_tr, D) and xa_te (S, n_te, D)."""
    a = xa_tr.transpose(1, 2) @ xa_tr + reg  # (S, D, D)
    chol = torch.linalg.cholesky(a)
    return xa_te @ torch.cholesky_solve(xa_tr.transpose(1, 2), chol)  # (S, n_te, n_tr)


def mean_sq_norm(phi2) -> float:
    """Mean squared row norm of space 2 (a Rows, read block by block; 1 when normalised)."""
    total = 0.0
    for _, t in phi2.blocks():
        total += float((t.double() ** 2).sum())
    return total / phi2.n


class RidgeInner:
    """Ridge inner solver over the rows of space 2; `error` is the held-out squared error.

    Args:
        phi2: space 2 (hume_ssl.hume.rows.Rows: rows normalised as the config asks).
        subset_size: rows per subset (n, capped at N); the train part is the first `n_fit`.
        ridge: penalty relative to the mean eigenvalue of the Gram matrix of the `n_fit` rows
            each split really fits (see `ridge_lambda`), so its effect does not depend on N.
        n_fit: train rows per split (`HumeConfig.split_sizes`).
    """

    def __init__(self, phi2, subset_size: int, ridge: float, n_fit: int):
        n, d = phi2.n, phi2.d
        self.phi2 = phi2
        self.lam = ridge_lambda(ridge, n_fit, d, mean_sq_norm(phi2))
        self.reg = regulariser(d + 1, self.lam, phi2.device, torch.float32)
        # The full-data hat matrix serves every split when each subset is the whole dataset.
        self.z = (
            hat_matrix(augment(phi2.all()).double(), self.reg.double()).float()
            if subset_size >= n
            else None
        )

    @classmethod
    def from_config(cls, phi2, cfg) -> RidgeInner:
        """The inner solver of a HumeConfig: its subset size, ridge and train rows per split."""
        return cls(phi2, cfg.subset_size, cfg.ridge, cfg.split_sizes(phi2.n)[1])

    def prepare(self, idx_tr: torch.Tensor, idx_te: torch.Tensor) -> torch.Tensor:
        """Split smoothers H (S, n_te, n_tr), shared by all restarts."""
        if self.z is not None:
            return smoothers_from_hat(self.z, idx_tr, idx_te)
        return smoothers_direct(augment(self.phi2.take(idx_tr)), augment(self.phi2.take(idx_te)),
                                self.reg)

    @staticmethod
    def error(h: torch.Tensor, y_tr: torch.Tensor, y_te: torch.Tensor, r: int) -> torch.Tensor:
        """Generalisation error (S, R): mean held-out squared error of the ridge predictions.

        h (S, n_te, n_tr); y_tr (S, n_tr, R*k); y_te (S, n_te, R*k): restarts in columns.
        """
        p = torch.bmm(h, y_tr)  # (S, n_te, R*k)
        s, n_te, _ = p.shape
        return ((p - y_te) ** 2).view(s, n_te, r, -1).sum(-1).mean(1)
