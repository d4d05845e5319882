"""Every value an option takes is named in its --help (the help texts describe each value, so
they are written by hand; this keeps them in step with the registries the code checks)."""

import dataclasses
import re

import pytest

from hume_ssl.cli.inputs import ExportInputs
from hume_ssl.core.params import help_of
from hume_ssl.fixmatch.config import FixMatchConfig
from hume_ssl.fixmatch.recipes import RECIPES
from hume_ssl.hume.config import ENCODER_INITS, HumeConfig
from hume_ssl.models.encoders import CIFAR_ARCHS
from hume_ssl.models.wrn import ARCHS as WRN_ARCHS
from hume_ssl.pretrain.config import PretrainConfig
from hume_ssl.pretrain.methods import METHODS
from hume_ssl.pretrain.methods.common import HEADS
from hume_ssl.seeds.config import BULK_OF, KNN_SPACES, RANKINGS, RULES, SHORTAGES, SeedConfig
from hume_ssl.seeds.export import FORMATS

CASES = [
    (FixMatchConfig, "arch", [*WRN_ARCHS, *CIFAR_ARCHS, "torchvision:NAME", "timm:NAME"]),
    (FixMatchConfig, "recipe", ["auto", *RECIPES]),
    (PretrainConfig, "arch", [*CIFAR_ARCHS, *WRN_ARCHS, "torchvision:NAME"]),
    (PretrainConfig, "method", list(METHODS)),
    (PretrainConfig, "head", list(HEADS)),
    (HumeConfig, "encoder_init", list(ENCODER_INITS)),
    (SeedConfig, "rule", list(RULES)),
    (SeedConfig, "knn_space", list(KNN_SPACES)),
    (SeedConfig, "shortage", list(SHORTAGES)),
    (SeedConfig, "bulk_of", list(BULK_OF)),
    (SeedConfig, "ranking", list(RANKINGS)),
    (ExportInputs, "format", list(FORMATS)),
]


@pytest.mark.parametrize("cls, name, values", CASES, ids=[f"{c.__name__}.{n}" for c, n, _ in CASES])
def test_every_value_is_named_in_the_help(cls, name, values):
    """Before: train-fixmatch --arch's help named resnet18_cifar only, where resnet34_cifar and
    resnet50_cifar are accepted too."""
    field = {f.name: f for f in dataclasses.fields(cls)}[name]
    text = help_of(field)
    missing = [v for v in values if not re.search(rf"(?<![\w:]){re.escape(v)}(?![\w])", text)]
    assert not missing, f"{cls.__name__}.{name}'s help lacks {missing}: {text}"
