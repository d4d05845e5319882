"""MoCo v2 pieces: InfoNCE on hand-made vectors, split BatchNorm, key shuffle, queue, momentum."""

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import sgd_losses

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.models.encoders import SplitBatchNorm2d, build_encoder, split_batchnorm
from hume_ssl.pretrain.methods.mocov2 import MoCo, infonce_loss


def test_infonce_loss_on_hand_made_vectors():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    k = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # row 0: positive = itself; row 1: orthogonal
    queue = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    loss, acc = infonce_loss(q, k, queue, temperature=0.5)
    # row 0 logits [2, 0, -2]; row 1 logits [0, 2, 0]
    want0 = -math.log(math.exp(2) / (math.exp(2) + 1 + math.exp(-2)))
    want1 = -math.log(1 / (1 + math.exp(2) + 1))
    assert loss.item() == pytest.approx((want0 + want1) / 2, rel=1e-6)
    assert acc.item() == 0.5


def test_infonce_loss_falls_after_a_few_gradient_steps():
    """solo-learn's loss test: queries trained by InfoNCE alone move towards their positives
    and away from the queue, so the loss falls and the positive wins."""
    g = torch.Generator().manual_seed(0)
    k = F.normalize(torch.randn(16, 8, generator=g), dim=1)
    queue = F.normalize(torch.randn(32, 8, generator=g), dim=1)
    w = torch.randn(16, 8, generator=g).requires_grad_(True)
    losses, acc = sgd_losses(lambda: infonce_loss(F.normalize(w, dim=1), k, queue, 0.2), [w])
    assert losses[-1] < 0.2 * losses[0] and all(b < a for a, b in zip(losses, losses[1:]))
    assert acc.item() == 1.0


def test_split_batchnorm_normalises_each_group_and_is_plain_bn_in_eval():
    torch.manual_seed(0)
    bn = SplitBatchNorm2d(3, splits=2, momentum=0.5)
    x = torch.randn(8, 3, 4, 4) + torch.arange(8.0).view(8, 1, 1, 1)  # groups differ in mean
    y = bn(x)
    for j in range(2):  # group j = samples j, j+2, ...
        g = x[j::2]
        want = (g - g.mean((0, 2, 3), keepdim=True)) / torch.sqrt(
            g.var((0, 2, 3), unbiased=False, keepdim=True) + bn.eps)
        torch.testing.assert_close(y[j::2], want, rtol=1e-4, atol=1e-5)
    means = torch.stack([x[j::2].mean((0, 2, 3)) for j in range(2)]).mean(0)
    torch.testing.assert_close(bn.running_mean, 0.5 * means, rtol=1e-5, atol=1e-6)
    plain = torch.nn.BatchNorm2d(3)
    plain.load_state_dict(bn.state_dict())  # same state layout as BatchNorm2d
    bn.eval(), plain.eval()
    torch.testing.assert_close(bn(x), plain(x))
    with pytest.raises(HumeSSLError, match="divisible"):
        bn.train()(torch.randn(5, 3, 2, 2))


def test_split_batchnorm_conversion_keeps_state_dict_keys():
    enc, dim = build_encoder("resnet18_cifar")
    keys = set(enc.state_dict())
    split_batchnorm(enc, 4)
    assert dim == 512 and set(enc.state_dict()) == keys
    assert any(isinstance(m, SplitBatchNorm2d) for m in enc.modules())
    assert enc(torch.randn(8, 3, 8, 8)).shape == (8, 512)


def test_keys_come_back_in_input_order_and_queue_wraps():
    torch.manual_seed(0)
    m = MoCo("resnet18_cifar", dim=8, queue_size=6, bn_splits=1).eval()  # eval: BN per sample
    x = torch.randn(4, 3, 8, 8)
    k_id = m.key(x, torch.arange(4))
    k_perm = m.key(x, torch.tensor([2, 0, 3, 1]))
    torch.testing.assert_close(k_perm, k_id)
    keys = F.normalize(torch.randn(4, 8), dim=1)
    m.enqueue(keys)
    m.enqueue(keys + 1)
    assert m.ptr == 2
    torch.testing.assert_close(m.queue[:2], keys[2:] + 1)  # rows 4, 5 wrapped to 0, 1
    torch.testing.assert_close(m.queue[2:4], keys[2:])


def test_momentum_update_moves_keys_towards_queries():
    torch.manual_seed(0)
    m = MoCo("resnet18_cifar", dim=8, queue_size=16, momentum=0.9, bn_splits=1)
    pq = next(m.encoder_q.parameters())
    pk = next(m.encoder_k.parameters())
    torch.testing.assert_close(pq, pk)  # the key encoder starts as a copy
    with torch.no_grad():
        pq.add_(1.0)
    before = pk.clone()
    m.momentum_update()
    torch.testing.assert_close(pk, 0.9 * before + 0.1 * pq)
    assert not pk.requires_grad


def test_the_contrastive_logits_are_float32_under_bf16_autocast():
    """Under autocast a matmul runs in bf16 whatever its inputs' dtype: MoCo's negatives and
    SimCLR's logits were bf16 on CUDA (checked here with the CPU's bf16 autocast)."""
    import torch.nn.functional as F

    from hume_ssl.pretrain.methods.mocov2 import infonce_loss
    from hume_ssl.pretrain.methods.simclr import nt_xent_loss

    g = torch.Generator().manual_seed(0)
    q, k, queue = (F.normalize(torch.randn(n, 32, generator=g), dim=1) for n in (16, 16, 256))
    ref = infonce_loss(q, k, queue, 0.1)[0], nt_xent_loss(q, k, 0.5)[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = infonce_loss(q, k, queue, 0.1)[0], nt_xent_loss(q, k, 0.5)[0]
    for a, b in zip(got, ref):
        assert a.dtype == torch.float32 and float(abs(a - b)) < 1e-5
