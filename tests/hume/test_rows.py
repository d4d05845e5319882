import numpy as np
import pytest
import torch

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.io import check_features
from hume_ssl.hume.rows import Rows, column_mean


def test_memory_mapped_float16_stays_mapped_and_rows_match_the_whole_matrix(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 12)).astype(np.float16)
    np.save(tmp_path / "x.npy", x)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    checked = check_features(mm, "phi1")
    assert isinstance(checked, np.memmap) and checked.dtype == np.float16  # not copied
    mean = column_mean(checked)
    rows = Rows(checked, True, torch.device("cpu"), mean, block_rows=64)
    assert isinstance(rows.data, np.memmap)
    whole = torch.tensor(x.astype(np.float32) - mean)
    whole = whole / whole.norm(dim=1, keepdim=True)
    idx = torch.tensor([[5, 400, 7], [0, 499, 5]])
    assert torch.equal(rows.take(idx), whole[idx])
    assert torch.equal(rows.all(), whole)


def test_zero_rows_cannot_be_normalised():
    x = np.ones((10, 3), np.float32)
    x[4] = 0
    with pytest.raises(HumeSSLError, match=r"phi2: 1 of its 10 rows are all zero \(first: \[4\]\)"):
        Rows(x, True, torch.device("cpu"), name="phi2")


def test_check_features_converts_other_dtypes_and_finds_nan_in_any_block():
    x = np.arange(40, dtype=np.int64).reshape(20, 2)
    assert check_features(x, "phi").dtype == np.float32
    y = np.zeros((100, 2), np.float16)
    y[77, 1] = np.nan
    with pytest.raises(HumeSSLError, match=r"first: \[77\]"):
        check_features(y, "phi", block_rows=10)
