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
