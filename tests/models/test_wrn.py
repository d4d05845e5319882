import pytest
import torch

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.models.wrn import build_model


def test_wrn28_2_size_and_shapes():
    m = build_model("wrn28_2", 10)
    n = sum(p.numel() for p in m.parameters())
    assert 1.4e6 < n < 1.55e6  # the paper's WRN-28-2 has 1.5M parameters
    m.eval()
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_wrn_bn_momentum_and_unknown_arch():
    m = build_model("wrn10_1", 3)
    bns = [x for x in m.modules() if isinstance(x, torch.nn.BatchNorm2d)]
    assert bns and all(b.momentum == 0.001 for b in bns)
    with pytest.raises(HumeSSLError, match="unknown --arch"):
        build_model("resnet50", 3)


def test_wrn_is_an_encoder_for_pretraining_without_its_head():
    from hume_ssl.models.encoders import build_encoder, split_batchnorm

    enc, d = build_encoder("wrn10_1")
    assert d == 64 and isinstance(enc.fc, torch.nn.Identity)
    # docs/reference.md: 77k weights, against ResNet-18's 11M (the demo's reason to pretrain a WRN
    # on a CPU)
    n = sum(p.numel() for p in enc.parameters())
    n18 = sum(p.numel() for p in build_encoder("resnet18_cifar")[0].parameters())
    print(f"wrn10_1 encoder: {n} weights; resnet18_cifar: {n18}")
    assert n == 77_200 and n18 == 11_168_832
    assert enc(torch.rand(4, 3, 8, 8)).shape == (4, 64)
    split_batchnorm(enc, 2)(torch.rand(4, 3, 8, 8))  # MoCo's split BN applies to it


def test_a_misspelt_arch_gets_the_close_name():
    """Before: `--arch wrn10-1` listed the architectures without naming wrn10_1, as the other
    registry options (--recipe, --split, backbones) do."""
    from hume_ssl.models.classifier import build_classifier
    from hume_ssl.models.encoders import build_encoder

    with pytest.raises(HumeSSLError, match="unknown --arch 'wrn10-1'. Did you mean 'wrn10_1'?"):
        build_classifier("wrn10-1", 3, 0.001, None)
    with pytest.raises(HumeSSLError, match="Did you mean 'resnet18_cifar'?"):
        build_encoder("resnet18-cifar")
    with pytest.raises(HumeSSLError, match="Did you mean 'wrn28_2'?"):
        build_model("wrn28-2", 3)
