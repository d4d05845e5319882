"""FixMatch from an encoder that `hume-ssl pretrain` learned without labels beats the same
architecture from random init, at equal steps, on a small real subset of the shared CIFAR-10
(16 px, 25 true labels per class), over 3 random seeds with a margin larger than the
seed-to-seed spread, at the shipped --encoder-lr-scale. The setup is that of
recipes/fixmatch_encoder_lr.py (whose table, docs/fixmatch_evidence.md "From a pretrained
encoder", is the evidence for the default); run with `pytest -m slow -s` to see the figures.
Slow (about 7 minutes); skipped without ../shared."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import shared_data_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes"))
from fixmatch_encoder_lr import (  # noqa: E402  (the recipe's setup, shared with this test)
    cifar_subset,
    fixmatch_acc,
    pretrain_encoder,
    true_seeds,
)


@pytest.mark.slow
def test_fixmatch_from_the_pretrained_encoder_beats_random_init(tmp_path):
    shared = shared_data_dir()
    if shared is None:
        pytest.skip("../shared/data is absent")
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    data = cifar_subset(shared, tmp_path, rng)
    knn = pretrain_encoder(data, tmp_path / "ssl")
    seeds = true_seeds(tmp_path)
    acc = {"init": [], "random": []}
    for seed in range(3):  # the encoder at the shipped --encoder-lr-scale, random init at 1
        for name, init in (("init", f"ssl:{tmp_path / 'ssl'}"), ("random", None)):
            acc[name].append(fixmatch_acc(data, tmp_path / f"{name}{seed}", seeds, init, seed))
    a, r = np.array(acc["init"]), np.array(acc["random"])
    spread = max(a.max() - a.min(), r.max() - r.min())
    print(f"kNN-200 of the encoder: {[round(k['knn_acc'], 3) for k in knn]}; test ACC, "
          f"120 steps: from the encoder {a.round(3).tolist()}, random init "
          f"{r.round(3).tolist()}; margin {a.mean() - r.mean():.3f}, spread {spread:.3f}")
    assert a.mean() - r.mean() > spread, (acc, spread)
