"""Frozen pretrained backbones by name: a spec resolves to a model plus its preprocessing.

Specs (timm-style names; weights either the pretrained tag's download or a local file):
    dinov2_vits14 | dinov2_vitb14 | dinov2_vitl14 | dinov2_vitg14   DINOv2 CLS features (timm)
    clip_vit_b16 | clip_vit_b32 | clip_vit_l14                       CLIP image embeddings (timm)
    timm:NAME[.TAG]            any timm model; features = pooled output (num_classes=0)
    timm:NAME[.TAG]:logits     the same model's head output
    torchvision:NAME           any torchvision classifier; features = penultimate (pooled) output
                               (squeezenet1_1: global-average-pooled `features`, 512-d)
    torchvision:NAME:logits    the ImageNet logits (e.g. 1000-d)
    SPEC@FILE                  load weights from FILE instead of downloading
    ssl:RUN_DIR                the encoder trained by `hume-ssl pretrain --out RUN_DIR`, with the
                               preprocessing recorded in its backbone.json
    pixels[:SIZE]              no network, no weights: the image resized to SIZE x SIZE (default
                               32), scaled to [0, 1], normalised with mean = std = 0.5 and
                               flattened (3 * SIZE^2 features); `--input-size` sets SIZE too

`resolve_backbone` is cheap (no model built): it gives the preprocessing and the weights identity
that key the feature cache. `load_backbone` builds the frozen model in eval mode.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from hume_ssl.core.errors import HumeSSLError, unknown_choice
from hume_ssl.core.io import atomic_write_json
from hume_ssl.core.network import cached_or_reachable, hub_fetch, stall_timeout
from hume_ssl.models.encoders import build_encoder, check_torchvision_name, strip_head
from hume_ssl.models.ssl_backbone import read_backbone_meta

# A strong pair for `seed` (TURTLE's best pair on CIFAR-10); on a GPU with < 24 GB use
# SMALL_GPU_BACKBONES instead.
DEFAULT_BACKBONES = ("dinov2_vitg14", "clip_vit_l14")
SMALL_GPU_BACKBONES = ("dinov2_vitb14", "clip_vit_b16")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# alias -> (timm name, head kept?, preprocessing override or None)
# DINOv2 runs at 224 (resize 256, bicubic, center crop 224: the DINOv2 linear-eval transform)
# rather than timm's native 518, as in HUME/TURTLE; its position embeddings are resampled.
_DINO_PRE = {"input_size": 224, "resize_size": 256, "interpolation": "bicubic",
             "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
# CLIP's own transform: the shorter side to 224 (bicubic), center crop 224, CLIP's mean/std
# (timm's B/16 and B/32 tags say crop_pct 0.9: resize 248, a tighter crop than CLIP's)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
_CLIP_PRE = {"input_size": 224, "resize_size": 224, "interpolation": "bicubic",
             "mean": CLIP_MEAN, "std": CLIP_STD}
ALIASES: dict[str, tuple[str, bool, Optional[dict]]] = {
    "dinov2_vits14": ("vit_small_patch14_dinov2.lvd142m", False, _DINO_PRE),
    "dinov2_vitb14": ("vit_base_patch14_dinov2.lvd142m", False, _DINO_PRE),
    "dinov2_vitl14": ("vit_large_patch14_dinov2.lvd142m", False, _DINO_PRE),
    "dinov2_vitg14": ("vit_giant_patch14_dinov2.lvd142m", False, _DINO_PRE),
    # CLIP keeps timm's head = CLIP's image projection: the CLIP embedding (512 / 768-d). The
    # OpenAI weights were trained with QuickGELU: timm's *_clip_224 builds GELU (its own tag
    # notes say "use quickgelu model variant for original results"); same weights, same keys.
    "clip_vit_b16": ("vit_base_patch16_clip_quickgelu_224.openai", True, _CLIP_PRE),
    "clip_vit_b32": ("vit_base_patch32_clip_quickgelu_224.openai", True, _CLIP_PRE),
    "clip_vit_l14": ("vit_large_patch14_clip_quickgelu_224.openai", True, _CLIP_PRE),
}


@dataclass(frozen=True)
class Preprocessing:
    """Resize the shorter side to `resize_size` (interpolation), center-crop `input_size`,
    scale to [0, 1], normalise with mean/std (RGB)."""

    input_size: int
    resize_size: int
    interpolation: str  # "bilinear" | "bicubic" | "nearest"
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    def resized(self, input_size: int) -> Preprocessing:
        """Same crop fraction at another input size (e.g. 128 for fast CPU runs)."""
        # input_size / crop fraction, floored (the fraction as resize and input size give it;
        # timm's own models take theirs from their config: _timm_preprocessing)
        return Preprocessing(input_size, input_size * self.resize_size // self.input_size,
                             self.interpolation, self.mean, self.std)


@dataclass
class BackboneSpec:
    """A resolved backbone name: what to build, how to preprocess, which weights."""

    spec: str  # canonical, e.g. "torchvision:squeezenet1_1:logits"
    source: str  # "timm" | "torchvision" | "ssl"
    model_name: str  # timm name with tag, or torchvision builder name
    output: str  # "features" | "logits"
    preprocessing: Preprocessing
    weights: Optional[str] = None  # local file, "random", or None (pretrained download)
    extra: dict = field(default_factory=dict)  # create_model kwargs (e.g. img_size)

    def weights_identity(self, cache_dir: Optional[Path] = None) -> dict:
        if self.source == "pixels":
            return {"kind": "none"}
        if self.weights == "random":
            return {"kind": "random", "seed": 0, "torch": torch.__version__}
        if self.weights:
            p = Path(self.weights).expanduser().resolve()
            return {"kind": "file", "path": str(p), "sha256": file_sha256(p, cache_dir)}
        return {"kind": "pretrained", "tag": f"{self.source}:{self.model_name}"}


def missing_weights(path: Path, given) -> HumeSSLError:
    """The error for a weights path that is no file: a folder (a hub snapshot) says so."""
    if path.is_dir():
        return HumeSSLError(f"weights file {given} is a folder, not a file; pass the .pth / "
                            ".safetensors file inside it.")
    return HumeSSLError(f"weights file not found: {given}.")


def file_sha256(path: Path, cache_dir: Optional[Path] = None) -> str:
    """sha256 of a (possibly multi-GB) weights file, memoised by (path, size, mtime, inode,
    ctime): a file replaced by another of the same size and mtime (`cp -p`, `rsync -a`) has a
    new inode or ctime, which no user tool sets (before: its features were reused)."""
    if not path.is_file():
        raise missing_weights(path, path)
    st = path.stat()
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}|{st.st_ctime_ns}"
    memo_path = (cache_dir / "weights_sha256.json") if cache_dir else None
    memo = {}
    if memo_path and memo_path.is_file():
        try:
            memo = json.loads(memo_path.read_text())
        except ValueError:
            memo = {}
    if key in memo:
        return memo[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(16 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    if memo_path:
        memo[key] = digest
        try:
            atomic_write_json(memo_path, memo)
        except OSError:
            pass
    return digest


def _require_timm():
    try:
        import timm
    except ImportError as e:
        raise HumeSSLError("this backbone needs timm: pip install 'hume-ssl[timm]'.") from e
    return timm


FAMILIES = ("timm:NAME", "timm:NAME:logits", "torchvision:NAME", "torchvision:NAME:logits",
            "ssl:RUN_DIR", "pixels", "pixels:SIZE", "SPEC@WEIGHTS_FILE")  # beside ALIASES' names
BACKBONE_HELP = ", ".join([*ALIASES, *FAMILIES]) + " (local weights)."  # `--backbone`'s help


def backbone_names() -> list[str]:
    return [*ALIASES, *FAMILIES]


def _timm_preprocessing(model_name: str, input_size: Optional[int] = None) -> Preprocessing:
    """timm's transform of a model (its pretrained_cfg), at `input_size` (the crop side) if
    given: the resize side floor(input_size / crop_pct), as timm computes it."""
    timm = _require_timm()
    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None:
        arch = model_name.split(".")[0]
        if not timm.is_model(arch):
            raise unknown_choice("timm model", model_name, timm.list_models(), how_to_list=
                                 "python -c \"import timm; print(timm.list_models('*resnet*'))\"")
        return Preprocessing(224, 256, "bicubic", IMAGENET_MEAN, IMAGENET_STD).resized(
            input_size or 224)
    size = int(input_size or cfg.input_size[-1])
    crop_pct = cfg.crop_pct or 0.875
    return Preprocessing(size, math.floor(size / crop_pct), cfg.interpolation or "bicubic",
                         tuple(float(v) for v in cfg.mean), tuple(float(v) for v in cfg.std))


def _tv_weights_enum(name: str):
    import torchvision.models as tvm

    try:
        return tvm.get_model_weights(name)
    except (ValueError, KeyError):
        return None


def _tv_preprocessing(name: str) -> Preprocessing:
    enum = _tv_weights_enum(name)
    if enum is not None:
        t = enum.DEFAULT.transforms()
        interp = str(getattr(t, "interpolation", "bilinear")).split(".")[-1].lower()
        return Preprocessing(int(t.crop_size[0]), int(t.resize_size[0]), interp,
                             tuple(t.mean), tuple(t.std))
    return Preprocessing(224, 256, "bilinear", IMAGENET_MEAN, IMAGENET_STD)


def resolve_backbone(spec: str, weights: Optional[str] = None,
                     random_init: bool = False, input_size: Optional[int] = None) -> BackboneSpec:
    """Parse a backbone spec (see module doc) without building the model.

    `weights`: a local weights file, "random", or None (the pretrained tag's download).
    `input_size`: override the crop size, keeping the crop fraction (cache key changes).
    """
    spec = spec.strip()
    kind = "ssl" if spec.startswith("ssl:") else spec.split(":")[0]
    if kind in ("ssl", "pixels") and (weights or random_init):
        what = "its run's backbone.pt" if kind == "ssl" else "no weights"
        raise HumeSSLError(f"backbone {spec!r} has {what}: drop --weights / --random-init "
                           "(or NAME@FILE), which would be ignored.")
    if kind == "ssl":  # runs at its training size: input_size does not apply
        return _resolve_ssl(spec)
    if kind == "pixels":
        return _resolve_pixels(spec, input_size)
    if random_init and weights and weights != "random":
        raise HumeSSLError(f"--random-init and --weights {weights}: give one of them "
                           "(--random-init ignores the file).")
    if "@" in spec:
        spec, file_weights = spec.split("@", 1)
        if weights and weights != file_weights:
            raise HumeSSLError(f"backbone {spec}@{file_weights} names its weights file, and "
                               f"--weights names {weights}: give one of them.")
        weights = file_weights
    if random_init:  # (a NAME@FILE's network built empty, e.g. to load a trained model into)
        weights = "random"
    parts = spec.split(":")
    output, extra = "features", {}
    if spec in ALIASES:
        model_name, keep_head, pre = ALIASES[spec]
        source = "timm"
        output = "logits" if keep_head else "features"
        pre_obj = Preprocessing(**pre) if pre else _timm_preprocessing(model_name, input_size)
        if pre:
            extra["img_size"] = pre["input_size"]
        canonical = spec
    elif parts[0] in ("timm", "torchvision") and len(parts) in (2, 3):
        source, model_name = parts[0], parts[1]
        if len(parts) == 3:
            if parts[2] != "logits":
                raise HumeSSLError(f"backbone {spec!r}: the third field can only be 'logits'.")
            output = "logits"
        if source == "timm":  # at input_size from the model's crop fraction, as timm resizes
            pre_obj = _timm_preprocessing(model_name, input_size)
        else:
            check_torchvision_name(model_name)
            pre_obj = _tv_preprocessing(model_name)
        canonical = spec
    else:
        raise unknown_choice("backbone", spec, backbone_names())
    if input_size:
        if pre_obj.input_size != int(input_size):  # (timm's own came at input_size already)
            pre_obj = pre_obj.resized(int(input_size))
        if source == "timm" and ("img_size" in extra or is_plain_vit(source, model_name)):
            check_patch_multiple(f"backbone {spec}", model_name, int(input_size))
            extra["img_size"] = int(input_size)  # ViT position embeddings get resampled
    if weights and weights != "random" and not Path(weights).expanduser().is_file():
        raise missing_weights(Path(weights).expanduser(), weights)
    return BackboneSpec(canonical, source, model_name, output, pre_obj, weights, extra)


# timm modules of plain ViTs (a grid of patches, `blocks`, LayerNorm): `--input-size` resamples
# their position embeddings, and FixMatch's vit recipe decays their lr block by block. Not the
# hybrids with "vit" in their names (repvit, fastvit, mobilevit, levit, maxvit, efficientvit:
# convolutional stages with BatchNorm), which run at any size and take the cnn recipe.
PLAIN_VIT_MODULES = ("vision_transformer", "vision_transformer_hybrid",
                     "vision_transformer_relpos", "vision_transformer_sam", "deit", "eva",
                     "beit", "naflexvit", "cait")
VIT_NAMES = ("vit", "deit", "eva", "beit")  # without timm: these names stand for a plain ViT


def is_plain_vit(source: str, model_name: str) -> bool:
    """Whether a backbone is a plain ViT (PLAIN_VIT_MODULES), by timm's registry of which
    module defines the model (by its name where timm is missing)."""
    if source != "timm":
        return False
    arch = model_name.split(".")[0]
    try:
        from timm.models import is_model_in_modules
    except ImportError:
        return any(t in arch for t in VIT_NAMES)
    return bool(is_model_in_modules(arch, PLAIN_VIT_MODULES))


def patch_size(model_name: str) -> Optional[int]:
    """A ViT's patch side from its timm name (vit_base_patch16_224: 16), None if unnamed."""
    m = re.search(r"patch(\d+)", model_name)
    return int(m.group(1)) if m else None


def check_patch_multiple(what: str, model_name: str, input_size: int) -> None:
    """A ViT cuts its input into patch x patch tiles and drops what is left at the right and
    bottom edges: an input size that is not a multiple of the patch is refused, naming the
    nearest that are (before: DINOv2 at 160 px read 154 of its 160 rows and columns). `what`
    starts the message: the option and backbone (`features`' --backbone, FixMatch's --init)."""
    p = patch_size(model_name)
    if p and input_size % p:
        lo = max(p, input_size // p * p)
        raise HumeSSLError(f"{what}: a ViT with {p} px patches cannot take {input_size} px "
                           "images (its position embeddings are a grid of whole patches: the "
                           f"last {input_size % p} rows and columns would never be read); pass "
                           f"--input-size {lo} or {lo + p}.")


def _resolve_ssl(spec: str) -> BackboneSpec:
    meta, weights = read_backbone_meta(spec.split(":", 1)[1])
    p = meta["preprocessing"]
    pre = Preprocessing(int(p["input_size"]), int(p["resize_size"]), p["interpolation"],
                        tuple(p["mean"]), tuple(p["std"]))
    return BackboneSpec(spec, "ssl", meta["arch"], "features", pre, str(weights))


PIXELS_SIZE = 32  # default side of the `pixels` space, in pixels
INPUT_SIZE_BOUNDS = "[16, 1024]"  # --input-size, the crop side overriding a backbone's, pixels


def _resolve_pixels(spec: str, input_size: Optional[int]) -> BackboneSpec:
    """`pixels` / `pixels:SIZE`: the resized image itself as the feature vector. A SIZE the
    spec names wins over `input_size` (--input-size is for the other backbone of a pair)."""
    size_text = spec.partition(":")[2]
    try:
        size = int(size_text or input_size or PIXELS_SIZE)
    except ValueError:
        size = 0
    if size < 1 or spec.count(":") > 1:
        raise HumeSSLError(f"backbone {spec!r}: write pixels or pixels:SIZE with SIZE a whole "
                           "number of pixels >= 1 (e.g. pixels:8).")
    pre = Preprocessing(size, size, "bilinear", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    return BackboneSpec(f"pixels:{size}", "pixels", "flatten", "features", pre)


def _build_ssl(b: BackboneSpec) -> nn.Module:
    model, _ = build_encoder(b.model_name)
    try:
        model.load_state_dict(_read_state_dict(Path(b.weights)))
    except RuntimeError as e:
        raise _mismatch(b, e) from e
    return model


def _read_state_dict(path: Path) -> dict:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        first = ((str(e).strip().split(". ")[0].splitlines() or [""])[0][:160]  # 1st sentence
                 or ("the file is empty" if path.stat().st_size == 0 else "no message"))
        raise HumeSSLError(
            f"cannot read weights file {path} ({type(e).__name__}: {first}); it should be a "
            "PyTorch state dict (.pth/.pt, torch.save(model.state_dict(), FILE)) or a "
            ".safetensors file of the backbone's weights.") from e
    for key in ("state_dict", "model", "module"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict):
        raise HumeSSLError(f"weights file {path} holds a {type(sd).__name__}, not a state dict.")
    return {k.removeprefix("module."): v for k, v in sd.items()}


def _mismatch(b: BackboneSpec, e: Exception) -> HumeSSLError:
    """The error for a state dict of another network: torch's key lists, counted, each with
    its first key (torch's text cut at a length could end inside a key name)."""
    text, parts = str(e), []
    for kind in ("Missing", "Unexpected"):
        found = re.search(kind + r" key\(s\) in state_dict: (.*)", text)
        keys = re.findall(r'"([^"]+)"', found.group(1)) if found else []
        if keys:
            parts.append(f"{len(keys)} {kind.lower()} keys, e.g. {keys[0]}")
    shapes = re.findall(r"size mismatch for ([^:]+):", text)
    if shapes:
        parts.append(f"{len(shapes)} of other shapes, e.g. {shapes[0]}")
    summary = "; ".join(parts) or text.replace("\n", " ")[:400]
    return HumeSSLError(f"weights file {b.weights} does not fit {b.source}:{b.model_name} "
                        f"({summary}). Pass the checkpoint of that exact model.")


def _offline(b: BackboneSpec, e: Exception, where: str) -> HumeSSLError:
    return HumeSSLError(
        f"could not get the pretrained weights of {b.spec} ({type(e).__name__}: "
        f"{str(e).splitlines()[0][:200] if str(e) else ''}). Offline? Download {where} on a "
        f"machine with network access and pass it as {b.spec}@FILE (in `seed --backbones` "
        "and `train-fixmatch --init` too), or with `features --weights FILE`.")


@contextmanager
def _quiet_hub():
    """The Hugging Face hub's and timm's log lines (retries while offline) held back while
    weights are fetched; our one-line error says what to do."""
    loggers = [logging.getLogger(n) for n in ("huggingface_hub", "timm")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _build_timm(b: BackboneSpec) -> nn.Module:
    timm = _require_timm()
    kw = dict(b.extra)
    if b.output == "features":
        kw["num_classes"] = 0
    if b.weights == "random":
        return timm.create_model(b.model_name, pretrained=False, **kw)
    if b.weights:
        # created with its head, so that timm loads the file strictly (with num_classes=0 it
        # skips the check, and weights of another network would load as nothing); then removed
        kw.pop("num_classes", None)
        try:
            model = timm.create_model(b.model_name, pretrained=True,
                                      pretrained_cfg_overlay={"file": str(b.weights)}, **kw)
        except Exception as e:
            # a file that is no state dict says so (before: "does not fit", a traceback or a
            # bare "Aborted." from timm's loader); read only on failure, not twice per load
            _read_state_dict(Path(b.weights).expanduser())
            if isinstance(e, (RuntimeError, KeyError, ValueError)):
                raise _mismatch(b, e) from e
            raise
        if b.output == "features":
            model.reset_classifier(0)
        return model
    try:
        with _quiet_hub(), hub_fetch():  # the hub's host unresolvable: its cache only
            return timm.create_model(b.model_name, pretrained=True, **kw)
    except Exception as e:  # hub unreachable, missing cache entry, ...
        cfg = timm.models.get_pretrained_cfg(b.model_name)
        hub = getattr(cfg, "hf_hub_id", None) if cfg else None
        where = (f"https://huggingface.co/{hub}/resolve/main/model.safetensors" if hub
                 else getattr(cfg, "url", None) or "its checkpoint")
        raise _offline(b, e, where) from e


def _build_torchvision(b: BackboneSpec) -> nn.Module:
    import torchvision.models as tvm

    if b.weights and b.weights != "random":
        model = tvm.get_model(b.model_name, weights=None)
        try:
            model.load_state_dict(_read_state_dict(Path(b.weights).expanduser()))
        except RuntimeError as e:
            raise _mismatch(b, e) from e
    elif b.weights == "random":
        model = tvm.get_model(b.model_name, weights=None)
    else:
        enum = _tv_weights_enum(b.model_name)
        if enum is None:
            raise HumeSSLError(f"torchvision:{b.model_name} has no pretrained weights; pass "
                               "--weights FILE or --random-init.")
        why = cached_or_reachable(enum.DEFAULT.url)  # before torch.hub's "Downloading:" line
        if why is not None:
            raise _offline(b, OSError(why), enum.DEFAULT.url)
        try:
            with stall_timeout():
                model = tvm.get_model(b.model_name, weights=enum.DEFAULT)
        except Exception as e:
            raise _offline(b, e, enum.DEFAULT.url) from e
    return model if b.output == "logits" else strip_head(model, b.model_name)


def load_backbone(spec: str | BackboneSpec, weights: Optional[str] = None,
                  random_init: bool = False, device: str | torch.device = "cpu") -> nn.Module:
    """Build the frozen model (eval mode, no grads) on `device`. Input: a (B, 3, S, S) float
    batch preprocessed by `resolve_backbone(spec).preprocessing`; output (B, d) float."""
    b = spec if isinstance(spec, BackboneSpec) else resolve_backbone(spec, weights, random_init)
    if b.weights == "random":
        torch.manual_seed(0)  # random-init features are reproducible (and cacheable)
    build = {"timm": _build_timm, "torchvision": _build_torchvision, "ssl": _build_ssl,
             "pixels": lambda b: nn.Flatten()}[b.source]
    model = build(b)
    model.eval().requires_grad_(False)
    return model.to(device)
