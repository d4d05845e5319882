"""Backbone registry: names, preprocessing, local weights, offline and mismatch errors."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.models.backbones import DEFAULT_BACKBONES, load_backbone, resolve_backbone


def test_unknown_backbone_suggests_closest():
    with pytest.raises(HumeSSLError, match="Did you mean 'dinov2_vitb14'"):
        resolve_backbone("dinov2_vitb16")
    with pytest.raises(HumeSSLError, match="Did you mean 'squeezenet1_1'") as e:
        resolve_backbone("torchvision:squeezenet1_2")
    # a long registry by its nearest names, its size and how to list it (before: its first 40
    # names alphabetically, alexnet, convnext_base, ..., none of them near)
    assert re.search(r"\d+ are valid; the nearest: squeezenet1_1, squeezenet1_0.*; list them "
                     r"with python -c .*list_models\(\)", str(e.value)), str(e.value)
    assert "alexnet" not in str(e.value) and len(str(e.value)) < 400


def test_aliases_resolve_with_preprocessing():
    # the default pair (TURTLE's best pair, README "Features"): a change must say why there
    assert DEFAULT_BACKBONES == ("dinov2_vitg14", "clip_vit_l14")
    for name in DEFAULT_BACKBONES + ("dinov2_vitb14", "clip_vit_b16"):
        b = resolve_backbone(name)
        assert b.source == "timm" and b.preprocessing.input_size == 224
    for name in ("clip_vit_b16", "clip_vit_b32", "clip_vit_l14"):  # CLIP's own transform
        clip = resolve_backbone(name).preprocessing  # (before: B/16, B/32 resized to 249)
        assert (clip.input_size, clip.resize_size, clip.interpolation) == (224, 224, "bicubic")
        assert clip.mean[0] == pytest.approx(0.4815, abs=1e-3)
        assert clip.std[0] == pytest.approx(0.2686, abs=1e-3)
    sq = resolve_backbone("torchvision:squeezenet1_1").preprocessing
    assert (sq.input_size, sq.resize_size, sq.interpolation) == (224, 256, "bilinear")
    assert resolve_backbone("torchvision:squeezenet1_1", input_size=112).preprocessing \
        .resize_size == 128


@pytest.mark.parametrize("spec,d", [("torchvision:squeezenet1_1", 512),
                                    ("torchvision:squeezenet1_1:logits", 1000),
                                    ("torchvision:resnet18", 512)])
def test_torchvision_features_and_logits(spec, d):
    torch.set_num_threads(1)
    m = load_backbone(spec, random_init=True)
    assert m(torch.zeros(2, 3, 64, 64)).shape == (2, d)
    assert not any(p.requires_grad for p in m.parameters())


def test_clip_aliases_build_the_quickgelu_they_were_trained_with():
    """The OpenAI CLIP weights were trained with QuickGELU; timm's vit_*_clip_224 builds GELU
    (before: every clip_* alias embedded with the wrong activation)."""
    timm = pytest.importorskip("timm")
    torch.set_num_threads(1)
    m = load_backbone("clip_vit_b32", random_init=True)
    acts = {type(mod).__name__ for mod in m.modules() if "GELU" in type(mod).__name__}
    assert acts == {"QuickGELU"}, acts
    assert m(torch.zeros(1, 3, 224, 224)).shape == (1, 512)  # the CLIP embedding
    assert timm.is_model(resolve_backbone("clip_vit_l14").model_name.split(".")[0])


def test_timm_random_init_pooled():
    pytest.importorskip("timm")
    b = resolve_backbone("timm:vit_tiny_patch16_224", random_init=True, input_size=32)
    m = load_backbone(b)
    assert m(torch.zeros(1, 3, 32, 32)).shape == (1, 192)


def test_local_weights_and_mismatch(tmp_path):
    import torchvision

    good = tmp_path / "sq.pth"
    src = torchvision.models.squeezenet1_1()
    torch.save({"state_dict": src.state_dict()}, good)
    m = load_backbone(f"torchvision:squeezenet1_1:logits@{good}")
    x = torch.randn(1, 3, 64, 64)
    assert torch.allclose(m(x), src.eval()(x))
    bad = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), bad)
    with pytest.raises(HumeSSLError, match="does not fit torchvision:squeezenet1_1") as e:
        load_backbone("torchvision:squeezenet1_1", weights=str(bad))
    # counted, each with a whole first key (before: torch's text cut at 400 characters, which
    # could end inside a key name)
    assert re.search(r"\(\d+ missing keys, e\.g\. [\w.]+; \d+ unexpected keys, e\.g\. "
                     r"[\w.]+\)\. Pass the checkpoint", str(e.value)), str(e.value)
    with pytest.raises(HumeSSLError, match="weights file not found"):
        resolve_backbone("torchvision:squeezenet1_1", weights=str(tmp_path / "nope.pth"))


def test_offline_torchvision_names_url(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # empty hub cache -> real download attempt
    import torchvision.models as tvm

    def offline(self, *a, **k):
        raise OSError("urlopen error [Errno -2] Name or service not known")

    monkeypatch.setattr(tvm.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(HumeSSLError, match=r"squeezenet1_1-.*\.pth.*--weights FILE"):
        load_backbone("torchvision:squeezenet1_1")


def test_offline_timm_names_file(monkeypatch):
    timm = pytest.importorskip("timm")

    def offline(*a, pretrained=False, **k):
        assert pretrained
        raise FileNotFoundError("cannot find the requested files in the local cache")

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(HumeSSLError, match=r"huggingface.co/timm/vit_base_patch14_dinov2"
                                           r".*--weights FILE"):
        load_backbone("dinov2_vitb14")


def test_random_init_is_reproducible():
    torch.set_num_threads(1)
    a = load_backbone("torchvision:squeezenet1_1", random_init=True)
    b = load_backbone("torchvision:squeezenet1_1", random_init=True)
    x = torch.randn(1, 3, 48, 48)
    np.testing.assert_allclose(a(x).numpy(), b(x).numpy())


def test_pixels_space_is_the_normalised_image_flattened():
    b = resolve_backbone("pixels:8")
    assert b.spec == "pixels:8" and b.preprocessing.input_size == 8
    assert b.weights_identity() == {"kind": "none"}
    assert resolve_backbone("pixels", input_size=4).preprocessing.input_size == 4
    # the size the spec names wins: --input-size 64 of a (CNN, pixels:8) pair extracted
    # 12,288-d pixels:64 features after logging pixels:8 (before)
    assert resolve_backbone("pixels:8", input_size=64).spec == "pixels:8"
    assert resolve_backbone("pixels").preprocessing.input_size == 32
    x = torch.rand(2, 3, 8, 8)
    assert torch.equal(load_backbone(b)(x), x.reshape(2, 192))
    for bad in ("pixels:0", "pixels:eight", "pixels:8:9"):
        with pytest.raises(HumeSSLError, match="pixels:SIZE"):
            resolve_backbone(bad)


def test_pixels_features_of_digits(tmp_path):
    from hume_ssl.data.datasets import load_dataset
    from hume_ssl.features.extract import extract_features

    fs = extract_features("digits", "test", "pixels:8", cache_dir=tmp_path, progress=False,
                          device="cpu")
    img = load_dataset("digits", "test").images_uint8()  # (500, 8, 8, 3)
    want = (img.transpose(0, 3, 1, 2).reshape(500, -1) / 255.0 - 0.5) / 0.5
    np.testing.assert_allclose(fs.features, want, atol=1e-6)


@pytest.mark.parametrize("kw", [{"weights": "w.pth"}, {"random_init": True}])
@pytest.mark.parametrize("spec", ["pixels", "pixels:8", "ssl:runs/p"])
def test_weights_for_a_space_without_them_are_refused(spec, kw):
    """Before: `features --backbone pixels --weights w.pth` (or --random-init) ignored them."""
    with pytest.raises(HumeSSLError, match="drop --weights / --random-init"):
        resolve_backbone(spec, **kw)


def test_a_misspelt_backbone_is_named_before_the_dataset_is_read(tmp_path):
    """Before: the dataset was read (or downloaded: an offline error) before the name was."""
    from typer.testing import CliRunner

    from hume_ssl.cli import app

    empty = ["--data-root", str(tmp_path)]
    for args in (["features", "cifar10", "--backbone", "bogus", *empty],
                 ["seed", "cifar10", "--backbones", "bogus,pixels", "--out",
                  str(tmp_path / "S"), *empty]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2 and "unknown backbone 'bogus'" in res.output, res.output
    assert not (tmp_path / "S").exists()


def test_two_weights_for_one_backbone_are_refused(tmp_path, monkeypatch):
    """Before: --random-init beside --weights FILE ran with random weights, and NAME@FILE beside
    --weights OTHER ran with OTHER, both silently."""
    with pytest.raises(HumeSSLError, match="--random-init and --weights a.pth"):
        resolve_backbone("torchvision:squeezenet1_1", weights="a.pth", random_init=True)
    # predict builds an --init NAME@FILE network empty, then loads the trained weights into it
    empty = resolve_backbone("torchvision:squeezenet1_1@a.pth", random_init=True)
    assert empty.weights == "random"
    with pytest.raises(HumeSSLError, match="names its weights file, and --weights names b.pth"):
        resolve_backbone("torchvision:squeezenet1_1@a.pth", weights="b.pth")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.pth").write_bytes(b"")
    same = resolve_backbone("torchvision:squeezenet1_1@a.pth", weights="a.pth")  # one file
    assert Path(same.weights).name == "a.pth"


def test_unreadable_weights_files_say_so_in_one_line(tmp_path):
    """Before: an empty file (an interrupted download) gave an IndexError traceback on the
    torchvision path and a bare "Aborted." on timm's; on timm's a text or tensor file was
    called "does not fit" or gave a traceback; a folder was "not found"."""
    pytest.importorskip("timm")
    empty, tensor = tmp_path / "empty.pth", tmp_path / "tensor.pth"
    empty.write_bytes(b"")
    torch.save(torch.zeros(3), tensor)
    for spec in ("torchvision:squeezenet1_1", "timm:tf_efficientnet_lite2"):
        with pytest.raises(HumeSSLError, match="cannot read weights file .*the file is empty"):
            load_backbone(spec, weights=str(empty))
        with pytest.raises(HumeSSLError, match="holds a Tensor, not a state dict"):
            load_backbone(spec, weights=str(tensor))
        with pytest.raises(HumeSSLError, match="is a folder, not a file; pass the .pth"):
            resolve_backbone(spec, weights=str(tmp_path))


def test_a_weights_file_replaced_with_the_same_size_and_mtime_is_hashed_again(tmp_path):
    """Before: the memo key was (path, size, mtime), so a file replaced by `cp -p` of another
    checkpoint of the same size reused the old hash, and the old features were served."""
    import os
    import shutil

    from hume_ssl.models.backbones import file_sha256

    a, b, w = tmp_path / "a.pth", tmp_path / "b.pth", tmp_path / "w.pth"
    a.write_bytes(b"1" * 64)
    b.write_bytes(b"2" * 64)
    st = a.stat()
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns))
    shutil.copy2(a, w)
    first = file_sha256(w, tmp_path)
    os.unlink(w)
    shutil.copy2(b, w)  # same size, same mtime, other bytes
    assert w.stat().st_mtime_ns == st.st_mtime_ns and file_sha256(w, tmp_path) != first


def test_pretrained_fetches_time_out_and_skip_hub_retries(monkeypatch, tmp_path):
    """Each download path runs inside the network guards: timm with the hub offline when its
    host does not resolve, torchvision with a read timeout."""
    import os
    import socket

    import torchvision.models as tvm

    from hume_ssl.core import network

    timm = pytest.importorskip("timm")
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # (a CI may export it)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: (_ for _ in ()).throw(
        socket.gaierror(-2, "Name or service not known")))
    proxies = {f"{kind}_proxy" for kind in network.PROXY_KINDS}
    for v in [v for v in os.environ if v.lower() in proxies]:  # (a CI may set one)
        monkeypatch.delenv(v)
    seen = []

    def fetch(*a, **k):
        seen.append((constants.HF_HUB_OFFLINE, socket.getdefaulttimeout()))
        raise OSError("cannot find the requested files in the local cache")

    monkeypatch.setattr(timm, "create_model", fetch)
    with pytest.raises(HumeSSLError, match="Offline?"):
        load_backbone("timm:resnet18")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(tvm, "get_model", fetch)
    # torchvision's weights neither cached nor reachable: refused before torch.hub, whose
    # download prints "Downloading: URL" first (before: that line, then the error)
    with pytest.raises(HumeSSLError, match="Offline?.*squeezenet1_1-b8a52dc0.pth"):
        load_backbone("torchvision:squeezenet1_1")
    assert seen == [(True, network.STALL_TIMEOUT_S)]
    cached = tmp_path / "hub" / "checkpoints" / "squeezenet1_1-b8a52dc0.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")  # cached: torch.hub reads it, no network needed
    with pytest.raises(HumeSSLError, match="Offline?"):
        load_backbone("torchvision:squeezenet1_1")
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [])  # resolves, not cached
    cached.unlink()
    with pytest.raises(HumeSSLError, match="Offline?"):
        load_backbone("torchvision:squeezenet1_1")
    assert seen[1:] == [(False, network.STALL_TIMEOUT_S)] * 2


def test_a_vit_input_size_off_its_patch_grid_is_refused():
    """Before: dinov2 at --input-size 160 ran on an 11 x 11 grid of 14 px patches and its last
    6 rows and columns never reached the model."""
    pytest.importorskip("timm")
    with pytest.raises(HumeSSLError, match=r"backbone dinov2_vits14: a ViT with 14 px patches "
                                           r"cannot take 160 px .* last 6 rows .* pass "
                                           r"--input-size 154 or 168\."):
        resolve_backbone("dinov2_vits14", input_size=160)
    assert resolve_backbone("dinov2_vits14", input_size=168).preprocessing.input_size == 168
    assert resolve_backbone("timm:tf_efficientnet_lite2", input_size=100)  # a CNN: any size


def test_resize_sizes_are_floored_as_timm_computes_them():
    """timm resizes to floor(size / crop_pct): resnet50.a1_in1k 235, not 236; lite2 at 224 px
    251, not 252 (before: rounded)."""
    pytest.importorskip("timm")
    assert resolve_backbone("timm:resnet50.a1_in1k").preprocessing.resize_size == 235
    lite = resolve_backbone("timm:tf_efficientnet_lite2", input_size=224).preprocessing
    assert (lite.input_size, lite.resize_size) == (224, 251)
    # at another size, from the model's crop fraction (0.95), not from the floored 235
    assert resolve_backbone("timm:resnet50.a1_in1k", input_size=160).preprocessing \
        .resize_size == 168
    deit = resolve_backbone("timm:deit_tiny_patch16_224", input_size=160)  # a ViT not named vit
    assert deit.extra == {"img_size": 160}
    assert resolve_backbone("timm:fastvit_t8", input_size=100).extra == {}  # a hybrid: no img_size
