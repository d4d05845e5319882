"""Shared test fixtures: small real datasets and the location of ../shared/data."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def fit_until_interrupted(trainer, step: int):
    """Run trainer.fit() and stop it at the log event of `step` the way SIGTERM does (the
    trainer checkpoints and raises KeyboardInterrupt); returns the stopped trainer."""

    def stop(event, info):
        if event == "log" and info["step"] == step:
            trainer.request_stop()

    trainer.callback = stop
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert trainer.step == step
    return trainer


def strict_load(path):
    """json.loads that refuses NaN / Infinity tokens, as strict parsers (JavaScript, jq) do."""
    import json

    def refuse(token):
        raise ValueError(f"non-standard JSON token {token} in {path}")

    return json.loads(Path(path).read_text(), parse_constant=refuse)


def shared_data_dir() -> Path | None:
    """../shared/data beside the repository (or $HUME_SSL_SHARED), None when absent."""
    env = os.environ.get("HUME_SSL_SHARED")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if cand.is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def digits_views():
    """scikit-learn digits: phi1 = standardised pixels, phi2 = 512 RBF random Fourier features."""
    from sklearn.datasets import load_digits
    from sklearn.kernel_approximation import RBFSampler
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    phi1 = StandardScaler().fit_transform(x).astype(np.float32)
    phi2 = RBFSampler(gamma=1e-3, n_components=512, random_state=0).fit_transform(x)
    return phi1, phi2.astype(np.float32), y.astype(np.int64)


@pytest.fixture
def blobs():
    """Three well-separated Gaussian clusters seen through two random linear views."""
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 8)) * 4
    y = np.repeat(np.arange(3), 60)
    z = centers[y] + rng.normal(size=(180, 8))
    phi1 = (z @ rng.normal(size=(8, 12))).astype(np.float32)
    phi2 = (z @ rng.normal(size=(8, 16))).astype(np.float32)
    return phi1, phi2, y


def sgd_losses(loss_of, params, steps: int = 20, lr: float = 10.0):
    """The losses of `steps` plain SGD steps on `params` of `loss_of() -> (loss, acc)`, and the
    last acc: the loss tests of the pretrain methods (solo-learn's 'the loss falls' check)."""
    opt = torch.optim.SGD(params, lr=lr)
    losses = []
    for _ in range(steps):
        loss, acc = loss_of()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, acc


@contextmanager
def full_disk_after(n_checkpoints: int, monkeypatch):
    """The atomic writer (hume_ssl.core.io) fails with ENOSPC from the (n+1)-th checkpoint.pt
    on: a disk that fills up during a training run."""
    import errno

    import hume_ssl.core.io as io_mod

    real, seen = io_mod._atomic_file, [0]

    @contextmanager
    def writer(path):
        with real(path) as f:
            if Path(path).name == "checkpoint.pt":
                seen[0] += 1
                if seen[0] > n_checkpoints:
                    raise OSError(errno.ENOSPC, "No space left on device")
            yield f

    monkeypatch.setattr(io_mod, "_atomic_file", writer)
    yield
    monkeypatch.setattr(io_mod, "_atomic_file", real)


@pytest.fixture()
def fake_clock(monkeypatch):
    """FixMatch's budget clock reads 1 s of setup plus 0.1 s per step (evaluations take no
    time), so a budgeted run's plan does not move with the machine's load. A 6 s budget (0.1
    minutes) has 5 s left after the setup, and each timing phase ends at 5 / 4 / 2 = 0.625 s
    (train.budget.StepTimer): 5 warm-up steps, then 7 timed (0.7 s); fitted after 12 steps at
    2.2 s, it leaves 3.8 s, 36 more steps (whole intervals of 4): 48 in all."""
    from hume_ssl.fixmatch.trainer import FixMatchTrainer

    monkeypatch.setattr(FixMatchTrainer, "elapsed", lambda self: 1.0 + 0.1 * self.step)
