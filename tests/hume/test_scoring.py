import numpy as np
import pytest
import torch

from hume_ssl.hume.scoring import cv_scores


def test_true_labeling_beats_random_and_collapsed(blobs):
    _, phi2, y = blobs
    rng = np.random.default_rng(0)
    labs = torch.tensor(np.stack([y, rng.permutation(y), np.zeros_like(y)]))
    s = cv_scores(torch.tensor(phi2), labs, k=3, folds=5)
    assert s[0] > 0.95
    assert s[1] < 0.6
    assert abs(s[2].item() - 1 / 3) < 1e-6  # a single used cluster scores 1/k


def _dense_reference(phi2, labels, k, folds, ridge, random_state):
    """The score with explicit one-hot targets and dense predictions (the pre-0.2 formulation)."""
    from hume_ssl.hume.ridge import augment, regulariser

    x = torch.as_tensor(phi2, dtype=torch.float64)
    n, d = x.shape
    xa = augment(x)
    order = torch.from_numpy(np.random.default_rng([random_state, 31]).permutation(n))
    fold_of = torch.empty(n, dtype=torch.long)
    fold_of[order] = torch.arange(n) % folds
    # the penalty written out: ridge x the mean Gram eigenvalue of the 135 rows each of the 4
    # folds fits on (180 rows), i.e. ridge x 135 x the mean squared row norm / d
    assert (n, folds) == (180, 4)
    lam = ridge * 135 * float((x**2).sum(1).mean()) / d
    reg = regulariser(d + 1, lam, "cpu", torch.float64)
    out = []
    for lab in labels:
        y = torch.nn.functional.one_hot(lab, k).double()
        correct = np.zeros(k)
        for f in range(folds):
            te, tr = fold_of == f, fold_of != f
            w = torch.linalg.solve(xa[tr].T @ xa[tr] + reg, xa[tr].T @ y[tr])
            pred = (xa[te] @ w).argmax(1)
            for c in range(k):
                correct[c] += int(((pred == c) & (lab[te] == c)).sum())
        counts = np.bincount(lab.numpy(), minlength=k)
        out.append(np.mean(np.where(counts > 0, correct / np.maximum(counts, 1), 0.0)))
    return np.array(out)


def test_blockwise_score_equals_the_dense_one_hot_formulation(blobs):
    _, phi2, y = blobs
    rng = np.random.default_rng(1)
    labs = torch.tensor(np.stack([y, rng.permutation(y), (y + (rng.random(len(y)) < 0.3)) % 3]))
    ref = _dense_reference(phi2, labs, 3, 4, 0.1, 0)
    for block in (2**28, 1):  # all restarts at once, and one restart per prediction block
        got = cv_scores(torch.tensor(phi2), labs, 3, 4, 0.1, 0, block_bytes=block).numpy()
        assert np.allclose(got, ref, atol=1e-6)


def test_score_rows_rule():
    from hume_ssl.hume.scoring import score_rows

    assert score_rows(50_000, 10, 0, 0) is None  # CIFAR size: every row
    rows = score_rows(1_281_167, 1000, 0, 0)
    assert len(rows) == 400_000 and np.all(np.diff(rows) > 0)  # 400 per class, sorted, unique
    assert np.array_equal(rows, score_rows(1_281_167, 1000, 0, 0))  # fixed by random_state
    assert len(score_rows(5000, 10, 1000, 0)) == 1000  # an explicit size wins


def test_a_too_small_score_rows_names_the_rows_it_needs():
    """Before: "score_rows=3: ... at least 2 x cv_folds", a field name and a setting the CLI has
    no flag for."""
    from hume_ssl.core.errors import HumeSSLError
    from hume_ssl.hume.config import HumeConfig

    with pytest.raises(HumeSSLError, match=r"--score-rows 3: use 0 \(automatic\) or at least "
                       r"20 \(two rows per fold"):
        HumeConfig(k=3, score_rows=3).validate()
