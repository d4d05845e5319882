"""Device resolution: CUDA devices always come back indexed (torchrun's LOCAL_RANK included)."""

import pytest
import torch

from hume_ssl.core.device import resolve_device
from hume_ssl.core.errors import HumeSSLError


@pytest.fixture
def two_gpus(monkeypatch):
    """Pretend this machine has 2 GPUs: resolution only asks torch.cuda these two questions."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("LOCAL_RANK", raising=False)


def test_indexless_cuda_gets_an_index(two_gpus):
    # the bug: `--device cuda` gave torch.device("cuda") and torch.cuda.set_device refused it
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda").index == 0
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


def test_torchrun_local_rank_picks_the_gpu(two_gpus, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("auto") == torch.device("cuda", 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)  # an explicit index wins


def test_missing_gpu_index_and_bad_names(two_gpus, monkeypatch):
    with pytest.raises(HumeSSLError, match="has 2 GPU"):
        resolve_device("cuda:2")
    monkeypatch.setenv("LOCAL_RANK", "3")
    with pytest.raises(HumeSSLError, match="cuda:3"):
        resolve_device("cuda")
    with pytest.raises(HumeSSLError, match="bad device"):
        resolve_device("gpu0")


def test_cpu_and_no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(HumeSSLError, match="--device cpu"):
        resolve_device("cuda")
