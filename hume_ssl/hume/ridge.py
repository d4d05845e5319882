"""The inner solver: a closed-form ridge fit on space 2, shared by every restart.

For a train/held-out split of a subset, the ridge predictions on the held-out part are a fixed
linear map of the train labels. Two equal ways to apply it (gradients flow into Y_tr and Y_te,
not into the feature-only factors, which are constants of the step):
    smoother  P_te = H @ Y_tr, H = X_te (X_tr^T X_tr + L)^-1 X_tr^T      (n_te x n_tr) per split
    primal    P_te = M @ (X_tr^T Y_tr), M = X_te (X_tr^T X_tr + L)^-1     (n_te x D) per split
X carries a bias column that the regulariser L leaves unpenalised; D = d2 + 1. The smoother
costs n_te x n_tr multiply-adds per restart column, the primal form D x (n_tr + n_te): it is the
cheaper one whenever D < n_te. `solve_form` picks, per config and data shape (never per chunk,
so every restart's rounding is the same whatever the chunk), the form with fewer multiply-adds.

When a subset is the whole dataset, the smoother of every split follows from one hat matrix
Z = X (X^T X + L)^-1 X^T via the leave-set-out identity H = (I - Z_ee)^-1 Z_et, and the primal
form's Gram matrix from the full one, X_tr^T X_tr = X^T X - X_te^T X_te (float64).
"""

from __future__ import annotations

import torch

from hume_ssl.hume.config import LANE  # restarts per lane: columns of one apply = LANE k


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


def primal_maps(gram_tr: torch.Tensor, xa_te: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """M (S, n_te, D) = X_te (G_tr + L)^-1 from the train Gram matrices gram_tr (S, D, D), the
    augmented held-out rows xa_te (S, n_te, D) and L (D, D); solved in float64, returned in the
    dtype of xa_te."""
    chol = torch.linalg.cholesky(gram_tr.double() + reg.double())  # (S, D, D)
    # (G + L) is symmetric, so M^T = (G + L)^-1 X_te^T
    return torch.cholesky_solve(xa_te.double().transpose(1, 2), chol).transpose(1, 2).to(
        xa_te.dtype)


def solve_cost(form: str, n_rows: int, n: int, n_tr: int, d_aug: int, columns: int,
               subsets: int, steps: int) -> float:
    """Multiply-adds per outer step of one inner-solve form ("primal" or "smoother"): the
    feature-only factors of S splits (one-off work spread over `steps`) plus forward and
    backward of one lane's `columns` restart columns. Depends on the config and the data's
    shape only, never on the chunk, so every chunk picks the same form."""
    n_te, dd, s = n - n_tr, d_aug, subsets
    whole = n >= n_rows
    if form == "smoother":
        apply = n_te * n_tr * columns
        if whole:  # hat matrix once, then per split an (n_te x n_te) inverse and a GEMM
            prep = n_te**3 + n_te * n_te * n_tr + (n_rows * n_rows * dd + n_rows * dd * dd) / steps
        else:  # Gram, a (D x n_tr) solve and the (n_te x n_tr) product
            prep = 2 * dd * dd * n_tr + n_te * dd * n_tr
    else:
        apply = dd * (n_tr + n_te) * columns
        gram = dd * dd * n_te + n_rows * dd * dd / steps if whole else dd * dd * n_tr
        prep = gram + dd**3 / 3 + n_te * dd * dd
    return s * (prep + 2 * apply)


def solve_form(n_rows: int, d2: int, cfg) -> str:
    """The inner-solve form of a HumeConfig (`cfg.inner_solve`, "auto": fewer multiply-adds)."""
    if cfg.inner_solve != "auto":
        return cfg.inner_solve
    n, n_tr = cfg.split_sizes(n_rows)
    cost = {f: solve_cost(f, n_rows, n, n_tr, d2 + 1, LANE * cfg.k, cfg.n_subsets,
                          cfg.n_steps) for f in ("primal", "smoother")}
    return min(cost, key=cost.get)


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
        form: "primal" or "smoother" (see the module docstring; `solve_form` picks one).
    """

    def __init__(self, phi2, subset_size: int, ridge: float, n_fit: int,
                 form: str = "smoother"):
        if form not in ("primal", "smoother"):
            raise ValueError(f"form={form!r}: use 'primal' or 'smoother'")
        n, d = phi2.n, phi2.d
        self.phi2, self.form = phi2, form
        self.lam = ridge_lambda(ridge, n_fit, d, mean_sq_norm(phi2))
        self.reg = regulariser(d + 1, self.lam, phi2.device, torch.float32)
        whole = subset_size >= n
        self.z = self.gram = None
        if whole and form == "smoother":  # the full-data hat matrix serves every split
            self.z = hat_matrix(augment(phi2.all()).double(), self.reg.double()).float()
        elif whole:  # the full Gram matrix, downdated per split by the held-out rows
            self.gram = torch.zeros(d + 1, d + 1, dtype=torch.float64, device=phi2.device)
            for _, t in phi2.blocks():
                xa = augment(t.double())  # (b, D)
                self.gram += xa.T @ xa

    @classmethod
    def from_config(cls, phi2, cfg) -> RidgeInner:
        """The inner solver of a HumeConfig: its subset size, ridge, train rows per split and
        form (`solve_form`)."""
        return cls(phi2, cfg.subset_size, cfg.ridge, cfg.split_sizes(phi2.n)[1],
                   solve_form(phi2.n, phi2.d, cfg))

    def prepare(self, idx_tr: torch.Tensor, idx_te: torch.Tensor):
        """The step's feature-only factors, shared by all restarts: ("smoother", H (S, n_te,
        n_tr)) or ("primal", X_tr (S, n_tr, D), M (S, n_te, D))."""
        if self.form == "smoother":
            if self.z is not None:
                return ("smoother", smoothers_from_hat(self.z, idx_tr, idx_te))
            return ("smoother", smoothers_direct(augment(self.phi2.take(idx_tr)),
                                                 augment(self.phi2.take(idx_te)), self.reg))
        xa_te = augment(self.phi2.take(idx_te))  # (S, n_te, D)
        xa_tr = augment(self.phi2.take(idx_tr))  # (S, n_tr, D)
        if self.gram is not None:
            x64 = xa_te.double()
            gram_tr = self.gram - x64.transpose(1, 2) @ x64  # (S, D, D)
        else:
            gram_tr = xa_tr.transpose(1, 2) @ xa_tr  # (S, D, D)
        return ("primal", xa_tr, primal_maps(gram_tr, xa_te, self.reg))

    @staticmethod
    def predict(prep, y_tr: torch.Tensor) -> torch.Tensor:
        """Held-out ridge predictions (G, S, n_te, C) of train labels y_tr (G, S, n_tr, C)."""
        if prep[0] == "smoother":
            return torch.matmul(prep[1], y_tr)  # (S, n_te, n_tr) @ (G, S, n_tr, C)
        _, xa_tr, m = prep
        return torch.matmul(m, torch.matmul(xa_tr.transpose(1, 2), y_tr))  # via (G, S, D, C)

    @classmethod
    def error(cls, prep, y_tr: torch.Tensor, y_te: torch.Tensor, r: int) -> torch.Tensor:
        """Generalisation error (G, S, r): mean held-out squared error of the ridge predictions.

        y_tr (G, S, n_tr, r*k); y_te (G, S, n_te, r*k): G lanes of r restarts in columns.
        """
        p = cls.predict(prep, y_tr)  # (G, S, n_te, r*k)
        g, s, n_te, _ = p.shape
        return ((p - y_te) ** 2).view(g, s, n_te, r, -1).sum(-1).mean(2)
