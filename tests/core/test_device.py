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


def test_devices_no_path_runs_on_are_refused_by_name():
    """Before: device='meta' passed and failed inside training ("META device type not an
    accelerator") or predict's autocast."""
    for bad in ("meta", "xla"):
        with pytest.raises(HumeSSLError, match=f"bad device '{bad}': use auto, cpu, cuda"):
            resolve_device(bad)


def test_random_states_past_64_bits_wrap_to_a_torch_seed():
    from hume_ssl.core.device import torch_seed

    assert torch_seed(7) == 7 and torch_seed(2**64 - 1) == 2**64 - 1  # unchanged below 2**64
    torch.Generator().manual_seed(torch_seed(2**64 * 1000 + 3))  # before: Overflow ValueError
