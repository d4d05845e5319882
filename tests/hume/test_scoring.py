import numpy as np
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
