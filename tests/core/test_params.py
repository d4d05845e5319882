"""Settings' checks (hume_ssl.core.params): a whole-number setting and a bounded one say which
they need, by the field's type, not by the value's."""

import numpy as np
import pytest

from hume_ssl import Hume, HumeConfig
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.seeds.config import SeedConfig


@pytest.mark.parametrize("cfg,needle", [
    (HumeConfig(k=2.5), "--k 2.5: must be a whole number."),
    # the flag differs from the Python name: both named
    (HumeConfig(n_restarts=2.0), "--restarts 2.0: must be a whole number (Python: n_restarts)."),
    (SeedConfig(per_class=2.5), "--per-class 2.5: must be a whole number."),
    # a float setting given an int out of range is not "a whole number" (it was, by the value)
    (HumeConfig(lr=-1), "--lr -1: must be a finite number, above 0."),
    # a string passed float(): lr='0.1' fitted, tau='3' failed inside torch
    (HumeConfig(lr="0.1"), "--lr '0.1': must be a finite number, above 0."),
    (SeedConfig(min_knn="0.4"), "--min-knn '0.4': must be a number in [0, 1]."),
    # scikit-learn's idiom random_state=None failed inside torch
    (HumeConfig(random_state=None), "--random-state None: must be a whole number (e.g. 0, the "
                                    "default)."),
])
def test_counts_are_whole_numbers_and_ranges_say_what_they_need(cfg, needle):
    with pytest.raises(HumeSSLError) as e:
        cfg.validate()
    assert str(e.value) == needle


def test_a_zero_d_array_counts_as_its_number():
    from hume_ssl.fixmatch.config import FixMatchConfig

    assert FixMatchConfig(threshold=np.array(0.9)).resolve().threshold == 0.9  # as before


def test_numpy_integers_count_as_whole_numbers():
    assert HumeConfig(k=np.int64(3), n_restarts=np.int32(2)).validate().k == 3


def test_a_fractional_k_is_refused_before_the_fit_not_inside_torch():
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    with pytest.raises(HumeSSLError, match="--k 2.5: must be a whole number"):
        Hume(k=2.5, n_restarts=2, n_steps=2, device="cpu").fit(x, x[:, ::-1])


def test_help_states_the_range_a_setting_declares():
    """Before: `--help` gave units only; a range was learned from the error (--k 0: ...)."""
    import dataclasses

    from hume_ssl.core.params import help_of
    from hume_ssl.hume.config import HumeConfig

    f = {x.name: x for x in dataclasses.fields(HumeConfig)}
    assert help_of(f["k"]).endswith("Range: a whole number, at least 2.")
    assert help_of(f["subset_size"]).endswith("Unit: samples. Range: a whole number, at least 4.")
    assert help_of(f["train_fraction"]).endswith("Range: a number in (0, 1).")
    assert "Range" not in help_of(f["encoder_init"])  # no bounds, no range


def test_a_runs_units_come_from_its_settings_nested_ones_too():
    """config.json's "units" were a second dict beside the fields' own units (they had drifted:
    "fraction of image size" against "fraction of the image size")."""
    from hume_ssl.core.params import units_of
    from hume_ssl.fixmatch.config import FixMatchConfig
    from hume_ssl.pretrain.config import PretrainConfig

    pre, fix = units_of(PretrainConfig), units_of(FixMatchConfig())
    assert pre["epochs"] == "epochs" and pre["view.crop_scale"] == "fraction of the image area"
    assert fix["cutout"] == "fraction of the image size" and fix["steps"] == "steps"
    assert "lr" not in fix  # no unit declared: none written



@pytest.mark.parametrize("module", ["hume_ssl.data.datasets", "hume_ssl.seeds.run",
                                    "hume_ssl.seeds.consensus", "hume_ssl.fixmatch.trainer"])
def test_names_moved_by_the_module_splits_still_import_from_the_old_module_with_a_warning(
        module):
    import importlib

    old = importlib.import_module(module)
    assert old.__getattr__.homes  # what moved, and where to
    for name, home in old.__getattr__.homes.items():
        with pytest.warns(FutureWarning, match=f"use {home}.{name} "):
            got = getattr(old, name)
        assert got is getattr(importlib.import_module(home), name)
    with pytest.raises(AttributeError):
        _ = old.no_such_name


def test_the_old_units_dict_still_imports_with_a_warning():
    from hume_ssl.core.params import units_of
    from hume_ssl.fixmatch import config
    from hume_ssl.fixmatch.config import FixMatchConfig

    with pytest.warns(FutureWarning, match=r"units_of\(FixMatchConfig\)"):
        assert config.UNITS == units_of(FixMatchConfig)


@pytest.mark.parametrize("value, ok", [(1e38, True), (3.5e38, False), (1e300, False),
                                       (float("inf"), False)])
def test_a_number_past_float32s_range_is_refused_before_any_work(value, ok):
    """Before: --lr 1e300 passed the finite check and failed in the first optimizer step
    (RuntimeError: value cannot be converted to type float without overflow)."""
    from hume_ssl.core.params import check_value

    if ok:
        check_value("--lr", value, "(0, inf)")
    else:
        with pytest.raises(HumeSSLError, match="--lr .*: must be a finite number, above 0"):
            check_value("--lr", value, "(0, inf)")
    if value == 1e300:  # and an int past every float is one clear line, not an OverflowError
        with pytest.raises(HumeSSLError, match="beyond float32's largest"):
            check_value("--steps", 10**400, "[1, inf)", whole=True)
    if value == 1e300:
        with pytest.raises(HumeSSLError, match="beyond float32's largest, 3.4e\\+38"):
            check_value("--lr", value, "(0, inf)")
