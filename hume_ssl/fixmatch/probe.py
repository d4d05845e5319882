"""The baseline every FixMatch run must beat: a logistic-regression probe on the seeds in the
init's frozen feature space, evaluated on the test split (seconds, against minutes of training).

The probe sees the encoder as training starts (eval mode, the images resized and normalised as
in training, no augmentation). Its weights, mapped back from standardised to raw features, can
start the classifier's head (the cnn and vit recipes: LP-FT, Kumar et al. 2022), so FixMatch's
first pseudo-labels are the probe's and not a random head's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from hume_ssl.core.metrics import accuracy_from_counts
from hume_ssl.train.evaluate import batched_forward

PROBE_C = 1.0  # inverse L2 strength of the logistic regression on standardised features


@dataclass
class Probe:
    """A fitted probe: its accuracies, and the head it implies on raw features."""

    test_acc: Optional[float]  # on the test split (ACC after Hungarian map unless aligned)
    seed_acc: float  # on the seeds it was fitted to (their labels)
    seconds: float
    feature_norm: float  # mean L2 norm of the seeds' features
    weight: np.ndarray  # (k, d) float32: logits = features @ weight.T + bias
    bias: np.ndarray  # (k,) float32

    def to_dict(self) -> dict:
        return {"test_acc": self.test_acc, "seed_acc": self.seed_acc, "seconds": self.seconds,
                "feature_norm": self.feature_norm,
                "model": f"logistic regression (C={PROBE_C}) on standardised frozen features"}


def fit_logistic(feats: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(weight (k, d), bias (k,)) of a multinomial logistic regression on standardised `feats`
    (n, d), expressed on the raw features; classes absent from y get a bias far below."""
    from sklearn.linear_model import LogisticRegression

    mu, sd = feats.mean(0), feats.std(0)
    sd = np.where(sd > 1e-6, sd, 1.0)
    z = (feats - mu) / sd
    classes = np.unique(y)
    weight, bias = np.zeros((k, feats.shape[1])), np.full(k, -1e4)
    if len(classes) == 1:  # one class: predict it everywhere
        bias[classes[0]] = 0.0
        return weight.astype(np.float32), bias.astype(np.float32)
    lr = LogisticRegression(C=PROBE_C, max_iter=2000).fit(z, y)
    coef, icpt = lr.coef_, lr.intercept_
    if len(classes) == 2:  # sklearn's binary form: one row for classes[1]
        coef, icpt = np.stack([-coef[0] / 2, coef[0] / 2]), np.array([-icpt[0] / 2, icpt[0] / 2])
    weight[classes] = coef / sd
    bias[classes] = icpt - (coef / sd) @ mu
    return weight.astype(np.float32), bias.astype(np.float32)


@torch.no_grad()
def fit_probe(encoder: torch.nn.Module, images: np.ndarray | torch.Tensor, seed_idx, seed_y,
              k: int, mean: torch.Tensor, std: torch.Tensor, device: torch.device,
              input_size: Optional[int] = None, test_images=None, test_truth=None,
              aligned: bool = False, batch_size: int = 256) -> Probe:
    """Fit the probe on encoder(images[seed_idx]) -> seed_y and score it on the test split
    (when given: without it, the probe serves start_head only).
    images: (N, H, W, 3) uint8 on the host or (N, 3, H, W) uint8 on the device."""
    t0 = time.perf_counter()
    was_training = encoder.training
    encoder.eval()

    def feats(x) -> np.ndarray:
        return batched_forward(encoder, x, mean, std, device, batch_size,
                               input_size=input_size).cpu().numpy()

    idx = torch.as_tensor(np.asarray(seed_idx), dtype=torch.long)
    x = images[idx.to(images.device)] if torch.is_tensor(images) else images[idx.numpy()]
    f = feats(x)  # (n, d)
    y = np.asarray(seed_y)
    weight, bias = fit_logistic(f, y, k)
    seed_acc = float(np.mean((f @ weight.T + bias).argmax(1) == y))
    test_acc = None
    if test_images is not None and test_truth is not None:
        pred = (feats(test_images) @ weight.T + bias).argmax(1)
        truth = np.asarray(test_truth)
        counts = np.zeros((k, int(max(truth.max(), 0)) + 1))
        np.add.at(counts, (pred, truth), 1)
        test_acc = accuracy_from_counts(counts, aligned)
    encoder.train(was_training)
    norm = float(np.linalg.norm(f, axis=1).mean())
    return Probe(test_acc, seed_acc, time.perf_counter() - t0, norm, weight, bias)


@torch.no_grad()
def start_head(model: torch.nn.Module, probe: Probe, from_probe: bool,
               unit_features: bool = True) -> None:
    """With `unit_features`, scale an EncoderClassifier's features to unit mean norm (its
    feature_scale; else it stays 1) and, with `from_probe`, start its head (d -> k) from the
    probe's weights (the same logits)."""
    scale = 1.0 / max(probe.feature_norm, 1e-12) if unit_features else 1.0
    model.feature_scale.fill_(scale)
    if from_probe:
        fc = model.fc
        fc.weight.copy_(torch.as_tensor(probe.weight / scale, dtype=fc.weight.dtype))
        fc.bias.copy_(torch.as_tensor(probe.bias, dtype=fc.bias.dtype))
