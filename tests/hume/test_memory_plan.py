"""--memory-budget-gb and --chunk-size: a budget that cannot hold one lane, or a chunk larger than
the budget allows, is a clear error naming the smallest budget / the largest chunk that fits."""

import re

import pytest

from hume_ssl import Hume
from hume_ssl.core.errors import HumeSSLError


def test_budget_and_chunk_errors_name_what_fits(blobs):
    phi1, phi2, _ = blobs
    kw = dict(k=3, n_restarts=64, n_steps=2, device="cpu")
    with pytest.raises(HumeSSLError, match="smallest budget that fits") as e:
        Hume(memory_budget_gib=1e-6, **kw).fit(phi1, phi2)
    assert "(or lower --subset-size)" in str(e.value)  # the flag, not the field (before)
    assert "0.00 GiB" not in str(e.value)  # a walkthrough: "needs about 0.00 GiB, more than 0.00"
    smallest = float(re.search(r"--memory-budget-gib ([0-9.]+)", str(e.value)).group(1))
    with pytest.raises(HumeSSLError, match="largest chunk that fits") as e:
        Hume(memory_budget_gib=smallest, chunk_size=10**6, **kw).fit(phi1, phi2)
    largest = int(re.search(r"--chunk-size (\d+)\.", str(e.value)).group(1))
    assert 8 <= largest < 10**6 and largest % 8 == 0
    m = Hume(memory_budget_gib=smallest, chunk_size=largest, **kw).fit(phi1, phi2)  # both fit
    assert m.labelings_.shape[0] == 64


def test_cli_takes_the_budget(tmp_path, blobs):
    import numpy as np
    from typer.testing import CliRunner

    from hume_ssl.cli.app import app

    phi1, phi2, _ = blobs
    np.save(tmp_path / "a.npy", phi1), np.save(tmp_path / "b.npy", phi2)
    res = CliRunner().invoke(app, ["label", "--phi1", str(tmp_path / "a.npy"), "--phi2",
                                   str(tmp_path / "b.npy"), "--out", str(tmp_path / "run"),
                                   "--k", "3", "--restarts", "8", "--steps", "2", "--device",
                                   "cpu", "--memory-budget-gb", "0.000001"])
    assert res.exit_code != 0
    assert "smallest budget that fits" in str(res.exception) + res.output


def test_budget_counts_the_inner_solvers_n_by_n_hat_matrix():
    # with subsets of the whole dataset (N <= subset_size) the smoother form builds an N x N hat
    # matrix in float64 and keeps it in float32: 12 N^2 bytes (108 MB at N = 3,000) that the
    # plan must count, or --memory-budget-gb can be exceeded by far
    import numpy as np

    rng = np.random.default_rng(0)
    n = 3000
    phi1, phi2 = rng.standard_normal((n, 8), np.float32), rng.standard_normal((n, 8), np.float32)
    kw = dict(k=3, n_restarts=8, n_steps=1, device="cpu", memory_budget_gib=0.05)
    with pytest.raises(HumeSSLError, match="smallest budget that fits") as e:
        Hume(inner_solve="smoother", **kw).fit(phi1, phi2)
    smallest = float(re.search(r"--memory-budget-gib ([0-9.]+)", str(e.value)).group(1))
    assert smallest * 2**30 > 12 * n * n
    # subsets smaller than N use the direct solve: no N x N matrix, a far smaller budget fits
    m = Hume(inner_solve="smoother", subset_size=1000, **kw).fit(phi1, phi2)
    assert m.labelings_.shape == (8, n)


def test_the_primal_form_builds_no_n_by_n_matrix_and_the_plan_knows_it():
    # D = 9 < n_te = 300: `auto` solves through the (D x D) system, so no hat matrix is built
    # and the budget that the smoother's N x N matrix exceeds holds the whole fit
    import numpy as np
    import torch

    from hume_ssl.hume.config import HumeConfig
    from hume_ssl.hume.estimator import inner_bytes
    from hume_ssl.hume.ridge import RidgeInner
    from hume_ssl.hume.rows import Rows

    rng = np.random.default_rng(0)
    n = 3000
    phi1, phi2 = rng.standard_normal((n, 8), np.float32), rng.standard_normal((n, 8), np.float32)
    cfg = HumeConfig(k=3)
    assert inner_bytes(n, 8, cfg) < 0.01 * inner_bytes(n, 8, cfg.replace(inner_solve="smoother"))
    inner = RidgeInner.from_config(Rows(phi2, True, torch.device("cpu")), cfg)
    assert inner.form == "primal" and inner.z is None and inner.gram.shape == (9, 9)
    m = Hume(k=3, n_restarts=8, n_steps=1, device="cpu", memory_budget_gib=0.05).fit(phi1, phi2)
    assert m.labelings_.shape == (8, n)
