"""One MoCo step of ours equals one step of MoCo's CIFAR-10 demo (re-implemented in
moco_demo_reference.py) on the same batch, views and shuffles: loss, gradients, queue after the
enqueue, and the BatchNorm running statistics of both encoders."""

import pytest
import torch
from moco_demo_reference import DemoMoCoStep

from hume_ssl.models.encoders import SplitBatchNorm2d
from hume_ssl.pretrain.methods.mocov2 import MoCo

B, SPLITS, K = 16, 4, 64


def bn_stats(module):
    return [t for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)
            or hasattr(m, "running_var") for t in (m.running_mean, m.running_var)]


@pytest.mark.parametrize("symmetric,head", [(False, "linear"), (True, "linear"), (True, "mlp"),
                                            (False, "mlp")])
def test_one_step_equals_the_demo(symmetric, head):
    torch.manual_seed(0)
    ours = MoCo("resnet18_cifar", dim=16, queue_size=K, momentum=0.9, temperature=0.1,
                bn_splits=SPLITS, symmetric=symmetric, head=head).double().train()
    assert any(isinstance(m, SplitBatchNorm2d) and m.splits == SPLITS for m in ours.modules())
    # a key encoder that differs from the query encoder, so the momentum update matters
    with torch.no_grad():
        for p in ours.encoder_k.parameters():
            p.add_(0.01 * torch.randn_like(p))
    ours.ptr = K // 2  # the symmetric step's 2B keys end exactly at K: the pointer wraps to 0
    ref = DemoMoCoStep(ours, SPLITS, symmetric)
    g = torch.Generator().manual_seed(1)
    va, vb = (torch.randn(B, 3, 8, 8, generator=g, dtype=torch.float64) for _ in range(2))
    perms = torch.stack([torch.randperm(B, generator=g) for _ in range(ours.n_shuffles)])
    out = ours(va, vb, perms)
    out["loss"].backward()
    ours.enqueue(out["keys"])
    ref_loss = ref.step(va, vb, perms)

    close = {"rtol": 1e-7, "atol": 1e-9}  # float64: equal but for summation order
    torch.testing.assert_close(out["loss"], ref_loss, **close)
    params = list(ours.encoder_q.parameters()) + list(ours.head_q.parameters())
    for p, r in zip(params, ref.query_params(), strict=True):
        torch.testing.assert_close(p.grad, r.grad, **close)
    torch.testing.assert_close(ours.queue, ref.queue, **close)
    assert ours.ptr == ref.ptr == (0 if symmetric else K // 2 + B)
    for a, b in zip(bn_stats(ours.encoder_q), bn_stats(ref.enc_q), strict=True):
        torch.testing.assert_close(a, b, **close)
    for a, b in zip(bn_stats(ours.encoder_k), bn_stats(ref.enc_k), strict=True):
        torch.testing.assert_close(a, b, **close)
    for a, b in zip(ours.encoder_k.parameters(), ref.enc_k.parameters(), strict=True):
        torch.testing.assert_close(a, b, **close)
