"""`--init` from any features backbone: specs, resizing on the device, the recipes (optimizer,
layer decay, warm-up, clipping, frozen BatchNorm), micro-batches, the linear-probe baseline,
predict, and the bad inputs (each leaves no run folder)."""

import json

import numpy as np
import pytest
import torch
from conftest import shared_data_dir
from test_fixmatch import tiny_cfg, toy  # noqa: F401 (fixture)

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.fixmatch.config import FixMatchConfig, lr_at
from hume_ssl.fixmatch.loss import fixmatch_step
from hume_ssl.fixmatch.microbatch import accumulate_step
from hume_ssl.fixmatch.predict import predict_run
from hume_ssl.fixmatch.probe import fit_logistic, fit_probe, start_head
from hume_ssl.fixmatch.recipes import RECIPES, param_groups
from hume_ssl.fixmatch.run import train_fixmatch_run
from hume_ssl.models.classifier import EncoderClassifier, init_classifier, resolve_init


@pytest.fixture()
def squeeze_file(tmp_path):
    """A squeezenet1_1 state dict (random weights, fixed seed) as a local weights file."""
    import torchvision

    torch.manual_seed(0)
    path = tmp_path / "sq.pth"
    torch.save(torchvision.models.squeezenet1_1().state_dict(), path)
    return path


@pytest.fixture()
def vit_file(tmp_path):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    path = tmp_path / "vit.pth"
    torch.save(timm.create_model("vit_tiny_patch16_224").state_dict(), path)
    return path


def test_every_features_spec_resolves_with_its_preprocessing():
    pytest.importorskip("timm")
    d = resolve_init("dinov2_vits14")
    assert (d.arch, d.input_size, d.family, d.resizable) == ("dinov2_vits14", 224, "vit", True)
    c = resolve_init("clip_vit_b16")
    assert c.family == "vit" and c.mean[0] == pytest.approx(0.4815, abs=1e-3)
    e = resolve_init("timm:tf_efficientnet_lite2", input_size=64)
    assert (e.arch, e.input_size, e.family, e.mean) == ("timm:tf_efficientnet_lite2", 64,
                                                       "cnn", (0.5, 0.5, 0.5))
    assert resolve_init("timm:tf_efficientnet_lite2").input_size == 260  # timm's own size
    t = resolve_init("torchvision:squeezenet1_1")
    assert (t.arch, t.input_size, t.family) == ("torchvision:squeezenet1_1", 224, "cnn")
    # the recipe follows the family and is recorded in the resolved config
    assert FixMatchConfig(init="dinov2_vits14").resolve().recipe == "vit"
    cnn = FixMatchConfig(init="torchvision:squeezenet1_1", input_size=32).resolve()
    assert (cnn.recipe, cnn.lr, cnn.encoder_lr_scale, cnn.input_size) == ("cnn", 0.03, 0.1, 32)
    assert FixMatchConfig().resolve().recipe == "scratch"


def test_bad_specs_list_the_choices_and_name_the_fix():
    with pytest.raises(HumeSSLError, match="unknown backbone 'resnet_50'.*Valid: .*ssl:RUN_DIR"):
        resolve_init("resnet_50")
    with pytest.raises(HumeSSLError, match="without :logits"):
        resolve_init("torchvision:squeezenet1_1:logits")
    pytest.importorskip("timm")
    with pytest.raises(HumeSSLError, match="14 px patches cannot take 100 px.*98 or 112"):
        resolve_init("dinov2_vits14", input_size=100)
    with pytest.raises(HumeSSLError, match="--input-size applies with --init"):
        FixMatchConfig(arch="wrn28_2", input_size=64).resolve()
    # before: ignored without --init (bit-identical runs) and recorded in config.json
    with pytest.raises(HumeSSLError, match="--encoder-lr-scale applies .*--init.*drop it"):
        FixMatchConfig(encoder_lr_scale=0.5).resolve()
    with pytest.raises(HumeSSLError, match="--encoder-lr-scale and --layer-decay apply"):
        FixMatchConfig(encoder_lr_scale=0.5, layer_decay=0.5).resolve()
    assert FixMatchConfig().resolve().resolve().encoder_lr_scale == 1.0  # a resolved one passes
    with pytest.raises(HumeSSLError, match="--recipe cnn fine-tunes a pretrained encoder"):
        FixMatchConfig(recipe="cnn").resolve()


def test_weights_of_another_architecture_name_both(squeeze_file):
    pytest.importorskip("timm")
    with pytest.raises(HumeSSLError, match=rf"{squeeze_file.name} does not fit "
                                           r"timm:tf_efficientnet_lite2"):
        init_classifier(f"timm:tf_efficientnet_lite2@{squeeze_file}", 10)


def test_offline_init_names_the_file_to_fetch(monkeypatch):
    timm = pytest.importorskip("timm")

    def offline(*a, pretrained=False, **k):
        raise FileNotFoundError("cannot find the requested files in the local cache")

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(HumeSSLError, match=r"Offline\?.*huggingface.co/timm/vit_small_patch14"
                                           r".*dinov2_vits14@FILE"):
        init_classifier("dinov2_vits14", 10)


def test_layer_decay_and_warmup():
    timm = pytest.importorskip("timm")
    enc = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=32)
    model = EncoderClassifier(enc, 192, 10)
    groups = param_groups(model, 5e-4, 1.0, 0.5)
    scale = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    assert scale[id(enc.pos_embed)] == pytest.approx(0.5**13)  # embeddings: 12 blocks + 1 below
    assert scale[id(enc.blocks[0].attn.qkv.weight)] == pytest.approx(0.5**12)
    assert scale[id(enc.blocks[11].attn.qkv.weight)] == pytest.approx(0.5)
    assert scale[id(model.fc.weight)] == 1.0 and scale[id(enc.norm.weight)] == 1.0
    cfg = FixMatchConfig(steps=100, lr=0.1, warmup=0.1).resolve()
    assert lr_at(cfg, 0) == pytest.approx(0.01) and lr_at(cfg, 9) == pytest.approx(
        0.1 * np.cos(7 * np.pi * 9 / 1600))


def test_warmup_under_a_budget_starts_low_and_only_rises_to_the_cosine():
    """While a budget is timed, the lr stays at the first step's of a warm-up over the --steps
    bound (not the full lr); once fitted (200 steps, timed until 25) the warm-up runs over the
    fitted steps from there, then the cosine. Before: the timed steps ramped over the bound and
    the fitted run's warm-up counted from step 0 (over by step 25), so the lr jumped 4x."""
    from types import SimpleNamespace

    from hume_ssl.fixmatch.trainer import FixMatchTrainer

    cfg = FixMatchConfig(steps=1000, lr=0.1, warmup=0.1, budget_minutes=1).resolve()
    timing = SimpleNamespace(cfg=cfg, budget_timer=object())
    fitted = SimpleNamespace(cfg=cfg, budget_timer=None, total_steps=200, schedule_start=25)
    lrs = [FixMatchTrainer._lr(timing, s) for s in range(25)]
    lrs += [FixMatchTrainer._lr(fitted, s) for s in range(25, 200)]
    w = 18  # ceil(0.1 x 175): the warm-up over the fitted steps
    assert lrs[0] == pytest.approx(0.1 / 100) and lrs[24] == pytest.approx(0.1 / 100)
    assert lrs[25] == pytest.approx(0.1 / w)  # the fitted warm-up's first step
    assert all(b >= a for a, b in zip(lrs[:25 + w], lrs[1:25 + w]))
    assert max(b - a for a, b in zip(lrs, lrs[1:])) == pytest.approx(0.1 / w, rel=0.01)
    assert lrs[25 + w - 1] == pytest.approx(0.1 * np.cos(7 * np.pi * (w - 1) / (16 * 175)))
    assert all(b <= a for a, b in zip(lrs[25 + w - 1:], lrs[25 + w:]))
    assert lrs[-1] == pytest.approx(0.1 * np.cos(7 * np.pi * 174 / (16 * 175)))


def test_layer_decay_is_refused_where_there_are_no_vit_blocks():
    """Before: --layer-decay with a ResNet init was ignored, with a WRN one the WRN's `blocks`
    were taken for a ViT's (its stem at the top lr), and config.json said it applied."""
    from hume_ssl.models.classifier import Init

    def init(family):
        return Init("ssl:run", "wrn10_1", 32, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), family)

    with pytest.raises(HumeSSLError, match="--layer-decay 0.5 applies to a ViT encoder's "
                       "blocks; --init ssl:run is a ssl encoder: drop --layer-decay."):
        FixMatchConfig(init="ssl:run", layer_decay=0.5).resolve(init=init("ssl"))
    with pytest.raises(HumeSSLError, match="drop --layer-decay and --recipe vit"):
        FixMatchConfig(init="ssl:run", recipe="vit").resolve(init=init("cnn"))
    assert FixMatchConfig(init="ssl:run", layer_decay=0.5).resolve(init=init("vit")).layer_decay \
        == 0.5


def test_vit_embeddings_keep_their_decay_rule_and_hybrids_get_the_cnn_recipe():
    """A ViT's position embedding and class token get no weight decay (timm's and USB's
    no_weight_decay; before: decayed), CLIP's norm_pre (ln_pre) sits with the embeddings (before:
    at the top lr, 8,192x theirs); the hybrids named *vit* (repvit, mobilevit, fastvit) have
    BatchNorm stages and no ViT blocks: the cnn recipe (before: vit's, no layer decay applied
    while config.json said 0.5, BatchNorm training)."""
    timm = pytest.importorskip("timm")
    enc = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=32, pre_norm=True)
    model = EncoderClassifier(enc, 192, 10)
    groups = param_groups(model, 5e-4, 1.0, 0.5)
    decay = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    scale = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    assert decay[id(enc.pos_embed)] == decay[id(enc.cls_token)] == 0.0
    assert decay[id(enc.blocks[0].attn.qkv.weight)] == 5e-4
    assert scale[id(enc.norm_pre.weight)] == scale[id(enc.pos_embed)] == pytest.approx(0.5**13)
    for hybrid in ("timm:repvit_m0_9", "timm:levit_128", "timm:maxvit_tiny_tf_224"):
        assert resolve_init(hybrid, check_weights=False).family == "cnn", hybrid
    for vit in ("timm:vit_tiny_patch16_224", "timm:deit_tiny_patch16_224", "clip_vit_b16",
                "timm:naflexvit_base_patch16_gap"):  # (naflexvit: not of a fixed input size)
        assert resolve_init(vit, check_weights=False).family == "vit", vit
    with pytest.raises(HumeSSLError, match="no `blocks`.*pass --layer-decay 1"):
        param_groups(EncoderClassifier(torch.nn.Linear(4, 4), 4, 2), 5e-4, 1.0, 0.5)


def test_micro_batches_give_the_whole_batch_gradient():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.GELU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(4, 3))
    B, U = 4, 8
    x, y = torch.randn(B + 2 * U, 3, 8, 8), torch.randint(0, 3, (B,))
    grads, outs = [], []
    for parts in (1, 2, 4):
        net.zero_grad()
        out = accumulate_step(lambda xj, yj, b, u: fixmatch_step(net, xj, yj, b, u, 0.0, 1.0),
                              x, y, B, U, parts)
        grads.append([p.grad.clone() for p in net.parameters()])
        outs.append(out)
    for g, o in zip(grads[1:], outs[1:]):
        for a, b in zip(grads[0], g):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(o["loss_u"], outs[0]["loss_u"].detach())
        assert torch.equal(o["pseudo"], outs[0]["pseudo"])
    with pytest.raises(HumeSSLError, match="--micro-batches 5 is more than the 4 labeled"):
        accumulate_step(lambda *a: None, x, y, B, U, 5)


def test_probe_head_reproduces_the_probe():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(30, 6)) * 40 + 5  # features of large norm, as ImageNet CNNs give
    y = np.arange(30) % 3
    f[np.arange(30), y] += 200
    w, b = fit_logistic(f, y, 4)  # class 3 has no seed: never predicted
    assert ((f @ w.T + b).argmax(1) == y).all() and (b[3] < -1e3)
    img = np.zeros((30, 1, 1, 3), np.uint8)
    img[np.arange(30), 0, 0, y] = 255  # the class is the lit channel
    probe = fit_probe(torch.nn.Flatten(), img, np.arange(30), y, 4, torch.zeros(3),
                      torch.ones(3), torch.device("cpu"), test_images=img[:9],
                      test_truth=(y[:9] + 1) % 3)  # cluster ids: a permutation
    assert probe.seed_acc == 1.0 and probe.test_acc == 1.0
    model = EncoderClassifier(torch.nn.Identity(), 6, 4)
    probe.weight, probe.bias, probe.feature_norm = w, b, 50.0
    start_head(model, probe, from_probe=True)
    assert float(model.feature_scale) == pytest.approx(1 / 50)
    torch.testing.assert_close(model(torch.tensor(f, dtype=torch.float32)),
                               torch.tensor(f @ w.T + b, dtype=torch.float32), rtol=1e-4,
                               atol=1e-2)


def test_run_from_a_torchvision_file_resizes_probes_and_predicts(toy, squeeze_file):  # noqa: F811
    root, seeds, idx, y = toy
    out = root / "fm_sq"
    cfg = tiny_cfg(arch=None, init=f"torchvision:squeezenet1_1@{squeeze_file}", input_size=24,
                   steps=3, eval_every=3)
    res = train_fixmatch_run(out, cfg, seeds=seeds)
    rec = json.loads((out / "config.json").read_text())
    assert rec["fixmatch"]["input_size"] == 24 and rec["recipe"]["name"] == "cnn"
    assert rec["recipe"]["frozen_bn"] and rec["init"]["family"] == "cnn"
    assert 0.0 <= rec["probe"]["test_acc"] <= 1.0 and rec["probe"]["head_from_probe"]
    m = json.loads((out / "metrics.json").read_text())
    assert m["probe_test_acc"] == rec["probe"]["test_acc"]
    assert m["below_probe"] == (m["test_acc_median"] < m["probe_test_acc"])
    meta = json.loads((out / "model.json").read_text())
    assert meta["model_input_size"] == 24 and meta["normalization"]["mean"][0] == 0.485
    pred = predict_run(out, meta["dataset"], "test")  # rebuilt from the init spec, resized
    assert pred["n"] == 30 and pred["acc"] == pytest.approx(res["test_acc_last"])
    # --resume with another --init stays refused, and changes nothing
    before = (out / "config.json").read_text()
    other = squeeze_file.with_name("other.pth")
    other.write_bytes(squeeze_file.read_bytes())
    with pytest.raises(HumeSSLError, match="cannot --resume: init="):
        train_fixmatch_run(out, tiny_cfg(arch=None, init=f"torchvision:squeezenet1_1@{other}",
                                         input_size=24, steps=3), seeds=seeds, resume=True)
    assert (out / "config.json").read_text() == before


def test_run_from_a_vit_uses_the_vit_recipe_in_micro_batches(toy, vit_file):  # noqa: F811
    root, seeds, idx, y = toy
    out = root / "fm_vit"
    cfg = tiny_cfg(arch=None, init=f"timm:vit_tiny_patch16_224@{vit_file}", input_size=32,
                   steps=2, eval_every=2, micro_batches=2)
    train_fixmatch_run(out, cfg, seeds=seeds)
    rec = json.loads((out / "config.json").read_text())
    assert rec["recipe"]["name"] == "vit" and rec["recipe"]["optimizer"] == "adamw"
    assert rec["fixmatch"]["layer_decay"] == 0.5 and rec["fixmatch"]["micro_batches"] == 2
    opt = torch.load(out / "checkpoint.pt", weights_only=False)["optimizer"]
    assert "exp_avg" in next(iter(opt["state"].values()))  # AdamW
    assert min(g["lr_scale"] for g in opt["param_groups"]) == pytest.approx(0.5**13)


def test_bad_inits_leave_no_run_folder(toy, squeeze_file, vit_file):  # noqa: F811
    root, seeds, idx, y = toy
    cases = [("nonsense:x", "unknown backbone"),
             (f"timm:vit_tiny_patch16_224@{vit_file}", "16 px patches cannot take 20 px"),
             (f"timm:vit_tiny_patch16_224@{squeeze_file}", "does not fit timm:vit_tiny")]
    for i, (spec, msg) in enumerate(cases):
        with pytest.raises(HumeSSLError, match=msg):
            train_fixmatch_run(root / f"bad{i}", tiny_cfg(arch=None, init=spec, input_size=20
                                                          if "16 px" in msg else 32),
                               seeds=seeds)
        assert not (root / f"bad{i}").exists()


def test_cnn_recipe_keeps_the_squeezenet_init_finite(tmp_path, toy):  # noqa: F811
    """The issue's reproduction (the shipped SqueezeNet file, default lr, 8 labeled images a
    step): the cnn recipe's loss stays finite and small, where the same run without its
    clipping and frozen BatchNorm diverged (loss_x 4.6 -> 177 in 5 steps;
    docs/fixmatch_evidence.md)."""
    shared = shared_data_dir()
    if shared is None or not (shared / "squeezenet1_1_imagenet.pth").is_file():
        pytest.skip("../shared/data/squeezenet1_1_imagenet.pth is absent")
    root, seeds, idx, y = toy
    assert RECIPES["cnn"].clip_grad == 1.0 and RECIPES["cnn"].frozen_bn
    cfg = tiny_cfg(arch=None, init=f"torchvision:squeezenet1_1@{shared}/"
                   "squeezenet1_1_imagenet.pth", input_size=32, steps=6, batch_size=8,
                   eval_every=6, ema_decay=0.999, probe=False)
    train_fixmatch_run(root / "sq", cfg, seeds=seeds)
    rows = (root / "sq" / "metrics.csv").read_text().splitlines()[1:]
    loss_x = [float(r.split(",")[2]) for r in rows]
    assert all(np.isfinite(loss_x)) and max(loss_x) < 10, loss_x


def test_cli_init_prints_the_probe_and_refuses_bad_specs(toy, squeeze_file):  # noqa: F811
    from typer.testing import CliRunner

    from hume_ssl.cli import app
    from hume_ssl.fixmatch.run import _versus_probe

    root, seeds, idx, y = toy
    base = ["train-fixmatch", "--seeds", str(seeds), "--steps", "2", "--batch-size", "4",
            "--mu", "2", "--eval-every", "2", "--device", "cpu", "--input-size", "24"]
    r = CliRunner().invoke(app, base + ["--out", str(root / "c1"), "--init",
                                        f"torchvision:squeezenet1_1@{squeeze_file}"])
    assert r.exit_code == 0 and "linear probe on the seeds" in r.output, r.output
    r = CliRunner().invoke(app, base + ["--out", str(root / "c2"), "--init", "squeezenet"])
    assert r.exit_code == 2 and "Valid:" in r.output and not (root / "c2").exists(), r.output
    probe = type("P", (), {"test_acc": 0.5, "seconds": 1.0})()
    assert _versus_probe(probe, 0.4)["below_probe"] and not _versus_probe(probe, 0.6)[
        "below_probe"]


@pytest.mark.slow
def test_compile_with_a_backbone_init(toy, squeeze_file):  # noqa: F811
    """--compile with an --init backbone, frozen BatchNorm and micro-batches (torch.compile on
    the CPU builds C++ kernels: slow)."""
    root, seeds, idx, y = toy
    cfg = tiny_cfg(arch=None, init=f"torchvision:squeezenet1_1@{squeeze_file}", input_size=24,
                   steps=2, eval_every=2, compile=True, micro_batches=2)
    res = train_fixmatch_run(root / "fm_c", cfg, seeds=seeds)
    assert res["steps"] == 2 and 0.0 <= res["test_acc_last"] <= 1.0


@pytest.mark.filterwarnings("ignore:--recipe ssl with --init")  # (the test below)
def test_no_probe_fits_the_probe_only_where_the_recipe_starts_from_it(toy, squeeze_file,  # noqa: F811
                                                                      monkeypatch):
    """Before: --no-probe fitted the probe for every --init and threw it away under the ssl
    recipe (which starts nothing from it). Now: cnn fits it (its head starts from it), unscored;
    ssl does not fit it."""
    from hume_ssl.fixmatch import run as fixmatch_run

    root, seeds, _, _ = toy
    fitted, fit = [], fixmatch_run.fit_probe
    monkeypatch.setattr(fixmatch_run, "fit_probe",
                        lambda *a, **kw: fitted.append(a[-4] is not None) or fit(*a, **kw))
    init = f"torchvision:squeezenet1_1@{squeeze_file}"
    for recipe in ("cnn", "ssl"):
        cfg = tiny_cfg(arch=None, init=init, input_size=24, steps=2, eval_every=2, probe=False,
                       recipe=recipe)
        train_fixmatch_run(root / recipe, cfg, seeds=seeds)
    assert fitted == [False]  # cnn's, given no test images (unscored); none for ssl
    record = json.loads((root / "ssl" / "config.json").read_text())
    assert record["probe"] is None
    assert json.loads((root / "cnn" / "config.json").read_text())["probe"]["test_acc"] is None


def test_a_recipe_of_another_family_than_the_init_is_warned_of(squeeze_file):  # noqa: F811
    """Before: `--recipe ssl` with an ImageNet CNN init ran without a word and diverged at once
    (a user's walkthrough); the recipe the init's family picks stays quiet."""
    import warnings

    init = f"torchvision:squeezenet1_1@{squeeze_file}"
    with pytest.warns(UserWarning, match="--recipe ssl with --init .*a cnn encoder: the ssl "
                                         "recipe .* diverged at once"):
        FixMatchConfig(init=init, recipe="ssl").resolve()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for recipe in ("auto", "cnn", "scratch"):
            FixMatchConfig(init=init, recipe=recipe).resolve()
