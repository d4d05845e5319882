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


def _api_defaults():
    from hume_ssl.demo.run import DemoSettings, demo_run
    from hume_ssl.features.extract import extract_features
    from hume_ssl.fixmatch.predict import predict_run
    from hume_ssl.fixmatch.run import train_fixmatch_run
    from hume_ssl.pretrain.run import pretrain_run
    from hume_ssl.seeds.export import export_run
    from hume_ssl.seeds.run import seed_run

    settings = {f.name: f.default for f in dataclasses.fields(DemoSettings)}
    return [("FeatureInputs", extract_features, {}), ("PredictInputs", predict_run, {}),
            ("PretrainInputs", pretrain_run, {}), ("FixMatchInputs", train_fixmatch_run, {}),
            ("ExportInputs", export_run, {}), ("SeedInputs", seed_run, {}),
            ("DemoInputs", demo_run, settings)]


def test_cli_defaults_are_the_python_apis():
    """An option the CLI declares and the function it calls also takes has one default (the
    two were typed apart: a change to one would leave the other behind)."""
    import inspect

    import hume_ssl.cli.inputs as inputs

    checked = 0
    for cls_name, fn, extra in _api_defaults():
        params = {n: p.default for n, p in inspect.signature(fn).parameters.items()
                  if p.default is not inspect.Parameter.empty}
        params.update(extra)
        for f in dataclasses.fields(getattr(inputs, cls_name)):
            if f.name not in params or f.default is dataclasses.MISSING or f.default is ...:
                continue
            if (cls_name, f.name) == ("FeatureInputs", "split") and params["split"] is None:
                continue  # the API's None: "train" for a name, an ImageDataset's own split
            api = params[f.name]
            api = ",".join(api) if isinstance(api, tuple) else api  # backbone pairs
            cli = str(f.default) if isinstance(f.default, type(inputs.Path())) else f.default
            api = str(api) if isinstance(api, type(inputs.Path())) else api
            assert cli == api, f"{cls_name}.{f.name}: CLI {f.default!r}, API {params[f.name]!r}"
            checked += 1
    assert checked >= 20
