"""A feature space as HUME reads it: rows served centred and L2-normalised, a block at a time.

The matrix stays in the dtype it arrived in (float16 or float32): a memory-mapped `.npy` is
read row by row and never copied whole into float32, so N = 1.28M x 1,024 float16 costs its
2.6 GB once (on the compute device when it fits there, else in host memory) instead of a
float32 copy per space. Every consumer asks for rows:
    take(idx)    (..., d) float32 rows idx (a tensor of any shape), normalised
    blocks(b)    (start, (b, d) float32) over all rows in order, normalised
Normalising a row depends on that row alone, so any gather gives the same values as the whole
matrix normalised at once.
"""

from __future__ import annotations

from typing import Iterator, Optional

import numpy as np
import torch

from hume_ssl.core.errors import HumeSSLError

DEVICE_SHARE = 0.25  # hold the matrix on the GPU when it takes at most this share of free memory


def fits_on_device(x: np.ndarray, device: torch.device, taken: int = 0) -> bool:
    """Whether a feature matrix is held on the device (a GPU with room for it) or read from
    host memory (the CPU, or too large for the GPU); `taken`: bytes of the free memory that
    something not yet uploaded will take first."""
    return device.type == "cuda" and x.nbytes <= DEVICE_SHARE * (
        torch.cuda.mem_get_info(device)[0] - taken)


class Rows:
    """Rows of x (N, d) minus `mean` (d,) (None: no centring), L2-normalised if `normalize`."""

    def __init__(self, x: np.ndarray, normalize: bool, device: torch.device,
                 mean: Optional[np.ndarray] = None, block_rows: int = 65536,
                 name: str = "the features"):
        self.n, self.d = x.shape
        self.name = name  # phi1 / phi2: the input an error names
        self.device, self.normalize, self.block_rows = device, normalize, block_rows
        self.mean_row = mean  # (d,) as given, None: no centring
        self.mean = None if mean is None else torch.as_tensor(mean, dtype=torch.float32,
                                                              device=device)
        if fits_on_device(x, device):
            self.data, self.on_device = self._upload(x, device), True
        else:  # the CPU, or too large for the GPU: rows gathered by numpy (no copy of x is made)
            self.data, self.on_device = x, False
        self._check_norms()

    @staticmethod
    def _upload(x: np.ndarray, device: torch.device) -> torch.Tensor:
        """The matrix as a tensor on `device` in its own dtype, copied in row blocks."""
        out = torch.empty(x.shape, dtype=torch.from_numpy(x[:1].copy()).dtype, device=device)
        for a in range(0, x.shape[0], 65536):
            out[a : a + 65536] = torch.from_numpy(np.ascontiguousarray(x[a : a + 65536]))
        return out

    def _host(self, a: int, b: int) -> torch.Tensor:
        """Rows a:b of a host (possibly memory-mapped, read-only) matrix as a tensor."""
        return torch.from_numpy(np.array(self.data[a:b], copy=True)).to(self.device)

    def _raw(self, idx: torch.Tensor) -> torch.Tensor:
        if self.on_device:
            return self.data[idx.to(self.device)]
        flat = idx.reshape(-1).cpu().numpy()
        got = torch.from_numpy(np.ascontiguousarray(self.data[flat]))
        return got.view(*idx.shape, self.d).to(self.device)

    def _finish(self, t: torch.Tensor) -> torch.Tensor:
        t = t.float()
        if self.mean is not None:
            t = t - self.mean
        if self.normalize:
            t = t / t.norm(dim=-1, keepdim=True)
        return t

    def take(self, idx: torch.Tensor) -> torch.Tensor:
        """(*idx.shape, d) float32 normalised rows."""
        return self._finish(self._raw(idx))

    def blocks(self, block_rows: Optional[int] = None) -> Iterator[tuple[int, torch.Tensor]]:
        b = block_rows or self.block_rows
        for a in range(0, self.n, b):
            if self.on_device:
                raw = self.data[a : a + b]
            else:
                raw = self._host(a, a + b)
            yield a, self._finish(raw)

    def all(self) -> torch.Tensor:
        """(N, d) float32: every row (for small N only: this is a float32 copy)."""
        return torch.cat([t for _, t in self.blocks()])

    def _check_norms(self) -> None:
        if not self.normalize:
            return
        found = []  # per block: the (z,) indices of its zero rows
        for a, raw in self._raw_blocks():
            t = raw.float() - self.mean if self.mean is not None else raw.float()
            found.append((t.norm(dim=1) == 0).nonzero().squeeze(1).cpu() + a)
        zero = torch.cat(found)
        if len(zero) == 0:
            return
        what = "are all zero" if self.mean is None else "equal the mean row (all zero once centred)"
        flag = f"normalize_{self.name}" if self.name in ("phi1", "phi2") else "normalize_phi1/2"
        raise HumeSSLError(
            f"{self.name}: {len(zero)} of its {self.n} rows {what} (first: "
            f"{zero[:5].tolist()}) and cannot be L2-normalised"
            + ("; every row is the same: a constant feature file carries no information"
               if len(zero) == self.n else "")
            + ": check that it was extracted right (e.g. `hume-ssl features ... --force`), or "
            f"drop those samples (Python: {flag}=False, in Hume(...) or HumeConfig(...), "
            "skips the normalisation).")

    def _raw_blocks(self):
        for a in range(0, self.n, self.block_rows):
            if self.on_device:
                yield a, self.data[a : a + self.block_rows]
            else:
                yield a, self._host(a, a + self.block_rows)


def fit_rows(x: np.ndarray, cfg, space: int, device: torch.device) -> Rows:
    """Space `space` (1 or 2) as `Hume.fit` reads it: centred on its column mean when
    `cfg.center`, L2-normalised when `cfg.normalize_phi1` / `normalize_phi2` (a HumeConfig)."""
    normalize = cfg.normalize_phi1 if space == 1 else cfg.normalize_phi2
    return Rows(x, normalize, device, column_mean(x) if cfg.center else None, name=f"phi{space}")


def column_mean(x: np.ndarray, block_rows: int = 65536) -> np.ndarray:
    """(d,) float32 mean of the rows of x, accumulated in float64 a block at a time."""
    acc = np.zeros(x.shape[1], np.float64)
    for a in range(0, x.shape[0], block_rows):
        acc += x[a : a + block_rows].sum(0, dtype=np.float64)
    return (acc / x.shape[0]).astype(np.float32)
