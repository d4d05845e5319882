"""`hume-ssl seed` end to end: outputs, selection helps, resume, bad inputs, real CIFAR-10."""

import json
import re
from io import BytesIO

import numpy as np
import pytest
from conftest import shared_data_dir
from typer.testing import CliRunner

from hume_ssl.cli import app
from hume_ssl.core.errors import HumeSSLError
from hume_ssl.hume.config import HumeConfig
from hume_ssl.seeds.config import SeedConfig
from hume_ssl.seeds.run import seed_run

runner = CliRunner()


@pytest.fixture
def digit_files(tmp_path, digits_views):
    phi1, phi2, y = digits_views
    for name, arr in (("p1", phi1), ("p2", phi2), ("y", y)):
        np.save(tmp_path / f"{name}.npy", arr)
    return tmp_path / "p1.npy", tmp_path / "p2.npy", tmp_path / "y.npy"


def test_seed_on_feature_files_selection_helps_and_resumes(tmp_path, digit_files):
    p1, p2, y = digit_files
    # the HUME fits the default rule was chosen on (gaussian starts): with k-means starts the two
    # rules are level on this run (0.9 at 4 per cluster; docs/seed_evidence.md "HUME's k-means
    # start")
    hume = HumeConfig(k=10, n_restarts=12, n_steps=120, chunk_size=6, encoder_init="gaussian")
    res = seed_run(
        tmp_path / "run",
        phi1=p1,
        phi2=p2,
        labels=y,
        hume=hume,
        seeds=SeedConfig(per_class=4),
        log=lambda s: None,
    )
    sd = tmp_path / "run" / "seeds"
    first = np.load(sd / "indices.npy")
    for f in (
        "indices.npy",
        "pseudo_labels.npy",
        "scores.npy",
        "seeds.json",
        "report.json",
        "precision_curve.png",
    ):
        assert (sd / f).exists(), f
    rep = json.loads((sd / "report.json").read_text())
    assert rep["seed_precision"] > rep["ensemble_acc"]
    meta = json.loads((sd / "seeds.json").read_text())
    assert meta["k_from"] == {"by": "given"}
    assert (
        meta["n_samples"] == 1797 and meta["k"] == 10 and sum(meta["per_class"]) == res["n_seeds"]
    )
    # re-running reuses every finished HUME chunk
    chunks = []
    seed_run(
        tmp_path / "run",
        phi1=p1,
        phi2=p2,
        labels=y,
        hume=hume,
        hume_callback=lambda e, i: chunks.append(i) if e == "chunk" else None,
        log=lambda s: None,
    )
    assert chunks == []
    assert (np.load(sd / "indices.npy") == first).all()  # same seeds from the reused stages
    # the default rule, chosen on recipes/seed_benchmark.py: the consensus rule, whose seeds
    # are right more often than the hume rule's on the same HUME run
    assert meta["rule"] == "consensus" and meta["clusters"] and meta["expected_precision"]
    est = meta["expected_precision"]["overall"]
    assert est["low"] <= est["expected"] <= est["high"]
    assert [s["random_state"] for s in meta["kmeans_states"]] == [0]  # the states tried
    former = seed_run(tmp_path / "run", phi1=p1, phi2=p2, labels=y, hume=hume,
                      seeds=SeedConfig(per_class=4, rule="hume", n_neighbors=50),
                      log=lambda s: None)
    assert json.loads((sd / "seeds.json").read_text())["rule"] == "hume"
    assert rep["precision_at_per_class"]["4"] > former["report"]["precision_at_per_class"]["4"]


def test_seed_bad_inputs(tmp_path, digit_files):
    p1, p2, y = digit_files
    quiet = {"log": lambda s: None}
    with pytest.raises(HumeSSLError, match="larger than the number of samples"):
        seed_run(tmp_path / "a", phi1=p1, phi2=p2, hume=HumeConfig(k=5000), **quiet)
    with pytest.raises(HumeSSLError, match="more than the 1797 samples"):  # before HUME
        seed_run(tmp_path / "b", phi1=p1, phi2=p2, hume=HumeConfig(k=10, n_restarts=2,
                 n_steps=5), seeds=SeedConfig(per_class=5000), **quiet)
    assert not (tmp_path / "b").exists()
    with pytest.raises(HumeSSLError, match="more than any predicted class"):
        seed_run(tmp_path / "b", phi1=p1, phi2=p2, hume=HumeConfig(k=10, n_restarts=2,
                 n_steps=5), seeds=SeedConfig(per_class=1000), **quiet)
    with pytest.raises(HumeSSLError, match="number of classes is unknown"):
        seed_run(tmp_path / "c", phi1=p1, phi2=p2, **quiet)
    # before: k= beside hume= was ignored, hume_defaults={"k": ...} a TypeError, and a
    # SeedConfig's random state silently replaced by HUME's
    hume = HumeConfig(k=10, n_restarts=2, n_steps=5)
    with pytest.raises(HumeSSLError, match="either hume=HumeConfig.* not both"):
        seed_run(tmp_path / "d", phi1=p1, phi2=p2, hume=hume, k=5, **quiet)
    with pytest.raises(HumeSSLError, match="hume_defaults holds k: pass .* as k="):
        seed_run(tmp_path / "d", phi1=p1, phi2=p2, hume_defaults={"k": 10}, **quiet)
    with pytest.raises(HumeSSLError, match="SeedConfig.random_state 7 differs .* 0"):
        seed_run(tmp_path / "d", phi1=p1, phi2=p2, hume=hume, seeds=SeedConfig(random_state=7),
                 **quiet)
    assert not (tmp_path / "d").exists()
    # a features file whose sidecar says it belongs to another dataset
    (tmp_path / "p1.json").write_text(
        json.dumps({"N": 1797, "dataset": "cifar10", "split": "train", "order_hash": "abc"})
    )
    np.savez(tmp_path / "tiny.npz", images=np.zeros((1797, 8, 8, 3), np.uint8))
    with pytest.raises(HumeSSLError, match="not of"):
        seed_run(
            tmp_path / "d",
            dataset=f"npz:{tmp_path / 'tiny.npz'}",
            phi1=p1,
            phi2=p2,
            hume=HumeConfig(k=10),
            **quiet,
        )


def test_seed_cli_on_feature_files(tmp_path, digit_files):
    p1, p2, y = digit_files
    res = runner.invoke(
        app,
        [
            "seed",
            "--phi1",
            str(p1),
            "--phi2",
            str(p2),
            "--labels",
            str(y),
            "--k",
            "10",
            "--restarts",
            "4",
            "--steps",
            "30",
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "seed precision" in res.output
    # each cluster whose seeds report.json calls wrong gets one line, saying why
    report = json.loads((tmp_path / "run" / "seeds" / "report.json").read_text())
    wrong = [c for c in report["clusters"] if c["wrong"]]
    lines = [ln for ln in res.output.splitlines() if ln.startswith("wrong seeds (ground truth")]
    assert len(lines) == len(wrong)
    assert all(f"cluster {c['cluster']}: seeds" in ln for c, ln in zip(wrong, lines))
    bad = runner.invoke(
        app,
        ["seed", "--phi1", str(p1), "--phi2", str(p2), "--k", "ten", "--out", str(tmp_path / "x")],
    )
    assert bad.exit_code == 2 and "whole number" in bad.output


def test_seed_passes_the_encoder_start_to_hume(tmp_path, gaussian_files):
    """Before: `seed` dropped --encoder-init, so HUME always started from k-means."""
    from conftest import strict_load

    a, b, _ = gaussian_files
    res = runner.invoke(app, ["seed", "--phi1", str(a), "--phi2", str(b), "--k", "10",
                              "--restarts", "2", "--steps", "1", "--encoder-init", "gaussian",
                              "--out", str(tmp_path / "G")])
    assert res.exit_code == 0, res.output
    written = strict_load(tmp_path / "G" / "hume" / "config.json")
    assert written["hume"]["encoder_init"] == "gaussian"


def _cifar_subset(tmp_path, n_per_class=100):
    from PIL import Image

    shared = shared_data_dir()
    if shared is None or not (shared / "cifar10_train_jpeg.npz").exists():
        pytest.skip("../shared/data (real CIFAR-10) is not available")
    z = np.load(shared / "cifar10_train_jpeg.npz")
    labels, offsets, jpeg = z["labels"], z["offsets"], z["jpeg_bytes"]
    rng = np.random.default_rng(0)
    idx = np.concatenate(
        [rng.choice(np.nonzero(labels == c)[0], n_per_class, replace=False) for c in range(10)]
    )
    idx = rng.permutation(idx)  # the file is sorted by class: shuffle
    images = np.stack(
        [
            np.asarray(
                Image.open(BytesIO(jpeg[offsets[i] : offsets[i + 1]].tobytes())).convert("RGB")
            )
            for i in idx
        ]
    )
    path = tmp_path / "cifar_subset.npz"
    np.savez(path, images=images, labels=labels[idx], classes=z["classes"])
    return path, shared / "squeezenet1_1_imagenet.pth"


def test_seed_on_real_cifar10_subset_with_squeezenet(tmp_path):
    """SqueezeNet's pooled features (space 1) and ImageNet logits (space 2) of 1,000 images."""
    data, weights = _cifar_subset(tmp_path)
    res = runner.invoke(
        app,
        [
            "seed",
            f"npz:{data}",
            "--per-class",
            "4",
            "--backbones",
            f"torchvision:squeezenet1_1@{weights},torchvision:squeezenet1_1:logits@{weights}",
            "--input-size",
            "128",
            "--restarts",
            "50",
            "--out",
            str(tmp_path / "run"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--device",
            "cpu",
            "--num-workers",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "run" / "seeds" / "report.json").read_text())
    assert rep["seed_precision"] > rep["ensemble_acc"], rep
    sheets = list((tmp_path / "run" / "seeds" / "contact_sheets").glob("*.png"))
    assert sheets


def test_k_auto_finds_three_blobs(tmp_path, blobs):
    from hume_ssl.seeds.choose_k import choose_k

    phi1, phi2, _ = blobs
    lines = []
    k = choose_k(tmp_path / "run", phi1, phi2, "2-5", {"n_steps": 60}, log=lines.append,
                 max_restarts=4)
    assert k == 3
    table = json.loads((tmp_path / "run" / "k_auto.json").read_text())
    assert [r["k"] for r in table["table"]] == [2, 3, 4, 5] and table["chosen"] == 3
    with pytest.raises(HumeSSLError, match="LO-HI"):
        choose_k(tmp_path / "run", phi1, phi2, "2..5", {})


@pytest.fixture
def gaussian_files(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for name, arr in (("a", rng.normal(size=(2000, 32))), ("b", rng.normal(size=(2000, 32))),
                      ("y", rng.integers(0, 10, 2000))):
        paths.append(tmp_path / f"{name}.npy")
        np.save(paths[-1], arr.astype(np.float32) if name != "y" else arr)
    return paths


@pytest.mark.parametrize("extra", [["--restarts", "2", "--steps", "1"],
                                   ["--restarts", "2", "--steps", "1", "--min-agreement", "1.0",
                                    "--rule", "hume"]])
def test_zero_seeds_warn_keep_an_empty_folder_and_downstream_refuses(tmp_path, gaussian_files,
                                                                     extra):
    """Random features: nothing qualifies. `seed` says why and what to try (exit 0) and keeps
    an empty, strictly valid seeds folder; `export` and `train-fixmatch` exit 2 and write
    nothing."""
    from conftest import strict_load

    a, b, y = gaussian_files
    out = tmp_path / "Z"
    res = runner.invoke(app, ["seed", "--phi1", str(a), "--phi2", str(b), "--labels", str(y),
                              "--k", "10", "--out", str(out), *extra])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "no seeds" in res.output and "--shortage relax" in res.output
    assert "verdict on HUME's clustering:" in res.output  # not a verdict on the (no) seeds
    assert "nan" not in res.output
    seeds = out / "seeds"
    assert np.load(seeds / "indices.npy").shape == (0,)
    meta = strict_load(seeds / "seeds.json")
    # the consensus rule (the default) and the hume rule each say why in their own terms
    why = "no sample" if "hume" in extra else "no cluster gave candidates"
    assert why in meta["empty_reason"]
    report = strict_load(seeds / "report.json")
    assert report["n_seeds"] == 0 and report["seed_precision"] is None
    for name in ("config.json", "metrics.json"):
        strict_load(out / "hume" / name)

    exp = runner.invoke(app, ["export", str(seeds), "--format", "csv", "--out",
                              str(tmp_path / "exp")])
    assert exp.exit_code == 2 and "holds no seeds" in exp.output, exp.output
    assert not (tmp_path / "exp").exists()
    fm = runner.invoke(app, ["train-fixmatch", "--seeds", str(seeds), "--dataset", "cifar10",
                             "--out", str(tmp_path / "fm"), "--steps", "1", "--device", "cpu"])
    assert fm.exit_code == 2 and "holds no seeds" in fm.output, fm.output
    assert not (tmp_path / "fm").exists()


@pytest.mark.parametrize("bad, needle", [(["--per-class", "0"], "--per-class 0"),
                                         (["--knn", "0"], "--knn 0"),
                                         (["--shortage", "more"], "--shortage"),
                                         (["--rule", "vote"], "--rule 'vote'"),
                                         (["--min-agreement", "0.6"], "pass --rule hume"),
                                         (["--rule", "hume", "--min-stability", "0.5"],
                                          "pass --rule consensus"),
                                         (["--rule", "hume", "--kmeans-states", "3"],
                                          "pass --rule consensus"),
                                         (["--kmeans-states", "0"], "--kmeans-states 0"),
                                         (["--bulk-of", "border"], "--bulk-of 'border'"),
                                         (["--rule", "hume", "--bulk-of", "members"],
                                          "pass --rule consensus"),
                                         (["--knn-space", "phi3"], "--knn-space"),
                                         (["--min-knn", "1.5"], "--min-knn"),
                                         (["--restarts", "0"], "--restarts 0"),
                                         (["--encoder-init", "bogus"],
                                          "--encoder-init 'bogus'"),
                                         (["--k-range", "2-5"], "only read by --k auto"),
                                         (["--k-range", "2-20"], "only read by --k auto")])
def test_seed_checks_every_option_before_any_work(tmp_path, gaussian_files, bad, needle):
    """Bad options fail at once (no HUME run first) and leave no run folder behind. (Before:
    --k-range 2-20 without --k auto, the default's value, was accepted without a word.)"""
    a, b, _ = gaussian_files
    out = tmp_path / "P"
    res = runner.invoke(app, ["seed", "--phi1", str(a), "--phi2", str(b), "--k", "10",
                              "--out", str(out), *bad])
    assert res.exit_code == 2 and needle in res.output, res.output
    assert not out.exists()


@pytest.mark.parametrize("kw, needle", [
    (dict(k=2.7), "--k 2.7: give a whole number or 'auto'"),
    (dict(k=True), "--k True: give a whole number"),
    (dict(k="3x"), "--k '3x': give a whole number"),
    (dict(k=3, hume_defaults={"restarts": 5}), r"unknown hume_defaults .* \['restarts'\]"),
    (dict(k=3, feature_kw={"batchsize": 8}), r"unknown feature_kw .* \['batchsize'\]"),
])
def test_seed_run_refuses_python_inputs_the_cli_cannot_give(tmp_path, gaussian_files, kw,
                                                           needle):
    """Before: k=2.7 ran with k 2 and k=True with k 1 ("--k 1"); a misspelt hume_defaults
    field or feature_kw keyword was a raw TypeError (the latter once the data was read)."""
    a, b, _ = gaussian_files
    with pytest.raises(HumeSSLError, match=needle):
        seed_run(tmp_path / "P", phi1=a, phi2=b, **kw)
    assert not (tmp_path / "P").exists()


def test_contact_sheets_of_an_earlier_run_are_removed(tmp_path):
    from hume_ssl.seeds.report import write_contact_sheets

    sheets = tmp_path / "contact_sheets"
    sheets.mkdir()
    (sheets / "cluster_009.png").write_bytes(b"stale")
    img = np.zeros((8, 8, 3), np.uint8)
    paths = write_contact_sheets(sheets, {0: np.array([1, 2]), 9: np.array([], np.int64)},
                                 lambda i: img)
    assert [p.name for p in paths] == ["cluster_000.png"]
    assert sorted(p.name for p in sheets.iterdir()) == ["cluster_000.png"]


def test_each_contact_sheet_tile_shows_its_index_as_in_seeds_csv(tmp_path):
    """Before (a user walkthrough): a wrong seed seen on a sheet could not be found in
    seeds.csv to edit it: the tiles showed no index."""
    from PIL import Image

    from hume_ssl.seeds.report import contact_sheet, write_contact_sheets

    img = np.zeros((8, 8, 3), np.uint8)  # black tiles: a label is white with black text
    plain = np.asarray(contact_sheet([img, img], tile=64))
    labelled = np.asarray(contact_sheet([img, img], tile=64, labels=["7", "1281166"]))
    corner = labelled[48:64, 0:12]  # the first tile's bottom left
    assert plain[48:64, 0:12].max() == 0 and (corner == 255).any() and (corner == 0).any()
    wide = labelled[48:64, 64:128]  # the second tile: a wider box for a longer index
    assert (wide == 255).all(axis=2).sum() > (labelled[48:64, 0:64] == 255).all(axis=2).sum()
    [path] = write_contact_sheets(tmp_path, {3: np.array([42, 7])}, lambda i: img)
    sheet = np.asarray(Image.open(path).convert("RGB"))
    assert (sheet[16 + 48:16 + 64, 0:12] == 255).any()  # below the caption strip
    # two tiles are 128 px: the sheet widens to its caption (in review: it was cut)
    assert sheet.shape[1] > 128 and (sheet[:16, 128:] < 128).any()


def test_knn_consistency_is_measured_on_centred_rows_like_hume(tmp_path, digits_views):
    # ReLU-like features: a large shared offset dominates cosine similarity until it is removed
    from hume_ssl.core.knn import knn_consistency, knn_search

    phi1, phi2, _ = digits_views
    phi2 = phi2[:600] + 5.0 * np.abs(phi2[:600]).max()
    phi1 = phi1[:600]
    np.save(tmp_path / "p1.npy", phi1), np.save(tmp_path / "p2.npy", phi2)
    res = seed_run(tmp_path / "run", phi1=tmp_path / "p1.npy", phi2=tmp_path / "p2.npy",
                   hume=HumeConfig(k=10, n_restarts=4, n_steps=20),
                   seeds=SeedConfig(per_class=2, min_agreement=0.0, min_knn=0.0, rule="hume",
                                    n_neighbors=50),
                   log=lambda s: None)
    sd = tmp_path / "run" / "seeds"
    labels = np.load(tmp_path / "run" / "hume" / "labels.npy")
    idx, scores = np.load(sd / "indices.npy"), np.load(sd / "scores.npy")
    # the hume rule: 50 neighbours in each space, the lower share counts
    share1 = knn_consistency(labels, knn_search(phi1 - phi1.mean(0), 50)[0])
    centred = np.minimum(share1, knn_consistency(labels, knn_search(phi2 - phi2.mean(0), 50)[0]))
    raw = np.minimum(share1, knn_consistency(labels, knn_search(phi2, 50)[0]))
    assert not np.allclose(centred[idx], raw[idx])  # the case tells the two apart
    np.testing.assert_allclose(scores[:, 1], centred[idx], atol=1e-6)
    knn = json.loads((sd / "seeds.json").read_text())["knn"]
    assert knn["centred"] is True and knn["space"] == "both" and knn["n_neighbors"] == 50
    assert res["n_seeds"] == len(idx)


# ---------------------------------------------------------------- reliability round 3 (issue 26)
def _npz(tmp_path, n, labels):
    np.savez(tmp_path / "d.npz", images=np.zeros((n, 2, 2, 3), np.uint8), labels=labels)
    return f"npz:{tmp_path / 'd.npz'}"


@pytest.mark.parametrize("case", ["labels file", "npz labels", "other N"])
def test_seed_refuses_bad_ground_truth_and_sizes_before_hume(tmp_path, gaussian_files, case):
    """Before: numpy's "'minlength' must not be negative" or a broadcast error after HUME."""
    a, b, y = gaussian_files
    args = ["seed", "--phi1", str(a), "--phi2", str(b), "--k", "10", "--out",
            str(tmp_path / "R"), "--restarts", "2", "--steps", "1"]
    if case == "labels file":
        np.save(tmp_path / "neg.npy", np.load(y) - 1)
        args += ["--labels", str(tmp_path / "neg.npy")]
        needle = "negative labels"
    elif case == "npz labels":
        args.insert(1, _npz(tmp_path, 2000, np.arange(2000) % 10 - 1))
        needle = "negative labels"
    else:
        args.insert(1, _npz(tmp_path, 1500, np.arange(1500) % 10))
        needle = "has 2000 rows but"
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and needle in res.output, res.output
    assert not (tmp_path / "R").exists()


def test_seed_interrupted_while_extracting_says_the_work_is_in_the_cache(tmp_path, monkeypatch):
    import hume_ssl.seeds.inputs as inputs

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(inputs, "extract_features", interrupted)
    out = tmp_path / "R"
    args = ["seed", _npz(tmp_path, 20, np.arange(20) % 2), "--k", "2", "--knn", "5",
            "--cache-dir", str(tmp_path / "c"), "--out", str(out)]
    monkeypatch.setattr("sys.argv", ["hume-ssl", *args])
    res = runner.invoke(app, args)
    assert res.exit_code == 130, res.output
    kept = f"any features extracted so far are kept in the feature cache {tmp_path / 'c'}"
    assert kept in res.output  # (before: "the features extracted so far": there may be none)
    assert f"{out} was not created yet" in res.output and "hume-ssl seed" in res.output
    assert not out.exists()


@pytest.mark.parametrize("classes, says", [([], "unknown for imagefolder:.*no class list"),
                                           (["only"], "names one class \\(only\\)")])
def test_k_the_dataset_cannot_give_is_asked_for_before_any_extraction(tmp_path, monkeypatch,
                                                                       classes, says):
    """Before: a flat folder (no classes) or one class folder was refused only after both
    backbones had extracted every image, the one class as "--k 1: must be ... at least 2"."""
    from PIL import Image

    import hume_ssl.seeds.inputs as inputs

    root = tmp_path / "imgs"
    for i in range(6):
        where = root.joinpath(*classes)
        where.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((4, 4, 3), i, np.uint8)).save(where / f"{i}.png")

    def extracted(*a, **k):
        raise AssertionError("features were extracted before k was known")

    monkeypatch.setattr(inputs, "extract_features", extracted)
    res = runner.invoke(app, ["seed", f"imagefolder:{root}", "--backbones", "pixels:4,pixels:2",
                              "--out", str(tmp_path / "R")])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert re.search(says, text) and "pass --k N" in text and "--k auto" in text, text
    assert not (tmp_path / "R").exists()


def test_seeds_of_an_image_folder_name_their_files(tmp_path):
    """Before: seeds.json, indices.npy and the CSV gave only row indices into the folder's
    listing (which skips unreadable files), so a seed could not be traced to its image."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, base in (("dark", 30), ("light", 220)):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(12):
            px = np.clip(base + rng.normal(0, 8, (4, 4, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(px).save(tmp_path / "imgs" / c / f"{i:02d}.png")
    res = runner.invoke(app, ["seed", f"imagefolder:{tmp_path / 'imgs'}", "--backbones",
                              "pixels:4,pixels:2", "--restarts", "2", "--steps", "5", "--knn", "3",
                              "--per-class", "2", "--cache-dir", str(tmp_path / "c"), "--out",
                              str(tmp_path / "R")])
    assert res.exit_code == 0, res.output
    sd = tmp_path / "R" / "seeds"
    meta = json.loads((sd / "seeds.json").read_text())
    files = sorted(f"{c}/{i:02d}.png" for c in ("dark", "light") for i in range(12))
    assert meta["sample_ids"] == [files[i] for i in np.load(sd / "indices.npy")]
    assert len(meta["sample_ids"]) > 0


def test_k_auto_shows_progress_and_hume_lines_come_before_later_messages(tmp_path,
                                                                         gaussian_files):
    """Each k `--k auto` tries shows its progress; off a terminal, HUME's last progress line
    comes before the messages `seed` prints after HUME (before: after them)."""
    a, b, _ = gaussian_files
    res = runner.invoke(app, ["seed", "--phi1", str(a), "--phi2", str(b), "--k", "auto",
                              "--k-range", "2-3", "--restarts", "2", "--steps", "2", "--out",
                              str(tmp_path / "R")])
    assert res.exit_code == 0, res.output
    text = res.output
    assert text.index("restart-steps") < text.index("k=2: restarts agree")
    assert text[text.index("k=2: restarts"):].index("restart-steps") < text[
        text.index("k=2: restarts"):].index("k=3: restarts agree")
    assert text.rindex("restart-steps") < text.index("kNN (")
    k_from = json.loads((tmp_path / "R" / "seeds" / "seeds.json").read_text())["k_from"]
    assert k_from == {"by": "--k auto", "k_range": "2-3", "table": "k_auto.json"}  # was absent


def test_k_auto_reads_each_space_once(tmp_path, gaussian_files, monkeypatch):
    """Before: `seed --k auto` read (and checksum-scanned) each feature file twice, once for the
    k scan and once for the run; cached backbone features were verified twice the same way."""
    from hume_ssl.seeds import inputs

    a, b, _ = gaussian_files
    read, load = [], inputs.load_feature_file
    monkeypatch.setattr(inputs, "load_feature_file",
                        lambda path, what: read.append(what) or load(path, what))
    res = runner.invoke(app, ["seed", "--phi1", str(a), "--phi2", str(b), "--k", "auto",
                              "--k-range", "2-3", "--restarts", "2", "--steps", "2", "--out",
                              str(tmp_path / "R")])
    assert res.exit_code == 0, res.output
    assert read == ["phi1", "phi2"]
    table = json.loads((tmp_path / "R" / "k_auto.json").read_text())
    assert table["chosen"] in (2, 3)
    assert json.loads((tmp_path / "R" / "seeds" / "seeds.json").read_text())["k"] == \
        table["chosen"]


def test_clusters_small_for_the_knn_are_named_with_a_knn_that_fits(tmp_path):
    """Before: on 3 clean clusters of 12 rows the default --knn 20 left a cluster without seeds
    (0 seeds on a user's 36 images) and the warning blamed the backbones; --knn 5 seeds all."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 6))[np.repeat(np.arange(3), 12)] * 6 + rng.normal(size=(36, 6))
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, (z @ rng.normal(size=(6, 10))).astype(np.float32))
    np.save(b, (z @ rng.normal(size=(6, 8))).astype(np.float32))
    hume = HumeConfig(k=3, n_restarts=4, n_steps=20)
    for knn, seeds in ((20, None), (5, 12)):
        lines = []
        res = seed_run(tmp_path / f"r{knn}", phi1=a, phi2=b, hume=hume,
                       seeds=SeedConfig(n_neighbors=knn), log=lines.append)
        warned = " ".join(line for line in lines if line.startswith("warning"))
        if seeds is None:
            assert res["short_classes"] and "small for --knn 20: the smallest holds 12" in warned
            assert warned.endswith("try a lower --knn (e.g. --knn 5).")
        else:
            assert res["n_seeds"] == seeds and "small for --knn" not in warned


def test_k_auto_says_when_the_samples_cap_its_range(tmp_path):
    """Before: --k-range 5-30 on 8 rows tried 5..7 without a word."""
    rng = np.random.default_rng(0)
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(a, rng.normal(size=(8, 4)).astype(np.float32))
    np.save(b, rng.normal(size=(8, 4)).astype(np.float32))
    res = runner.invoke(app, ["seed", "--phi1", str(a), "--phi2", str(b), "--k", "auto",
                              "--k-range", "5-30", "--restarts", "2", "--steps", "2", "--knn",
                              "3", "--out", str(tmp_path / "R")])
    assert "--k-range 5-30: 8 samples allow k up to 7 only" in res.output, res.output
    assert "k=7: restarts agree" in res.output and "k=8" not in res.output
    # --knn against the rows is checked before the k sweep (it was after it)
    res = runner.invoke(app, ["seed", "--phi1", str(a), "--phi2", str(b), "--k", "auto",
                              "--k-range", "5-30", "--restarts", "2", "--steps", "2", "--out",
                              str(tmp_path / "R2")])
    assert res.exit_code == 2 and "--knn 20: need fewer neighbours than samples (8)" in res.output
    assert "restarts agree" not in res.output and not (tmp_path / "R2").exists()
    # a range wholly past N - 1 is one line (before: a ValueError traceback from max())
    res = runner.invoke(app, ["seed", "--phi1", str(a), "--phi2", str(b), "--k", "auto",
                              "--k-range", "9-12", "--restarts", "2", "--steps", "2", "--knn",
                              "3", "--out", str(tmp_path / "R3")])
    assert res.exit_code == 2 and "allow k up to 7 only; lower the range" in res.output, \
        res.output
    assert "Traceback" not in res.output and not (tmp_path / "R3" / "k_auto.json").exists()


def test_a_constant_space_is_named_and_leaves_no_run_folder(tmp_path, gaussian_files):
    """Before: the error said "the features" (not which space), listed 5 rows as if they were
    all, and left an empty OUT/hume/ behind."""
    a, _, _ = gaussian_files
    const = tmp_path / "const.npy"
    np.save(const, np.ones((np.load(a).shape[0], 6), np.float32))
    out = tmp_path / "C"
    res = runner.invoke(app, ["seed", "--phi1", str(a), "--phi2", str(const), "--k", "10",
                              "--restarts", "2", "--steps", "1", "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert "phi2: 2000 of its 2000 rows" in res.output and "normalize_phi2=False" in res.output
    assert not out.exists()


def test_a_damaged_seeds_json_says_what_to_rerun_not_to_delete_it(tmp_path):
    from hume_ssl.seeds.artifact import read_seeds

    (tmp_path / "seeds.json").write_text("{not json")
    with pytest.raises(HumeSSLError, match="re-run the `hume-ssl seed` command") as e:
        read_seeds(tmp_path)
    assert "delete it" not in str(e.value)


def test_the_hint_for_short_clusters_names_options_that_are_accepted():
    """The short-cluster warning's advice must run: `--shortage relax` alone is refused with
    the consensus rule (a hume-rule setting), so its hint names --rule hume with it."""
    from hume_ssl.seeds.messages import shortage_hint

    consensus = SeedConfig()
    assert "--rule hume --shortage relax" in shortage_hint(consensus)
    with pytest.raises(HumeSSLError):
        SeedConfig(shortage="relax").validate()
    SeedConfig(rule="hume", shortage="relax").validate()  # what the hint says: accepted
    assert "--shortage relax" in shortage_hint(SeedConfig(rule="hume"))
    assert shortage_hint(SeedConfig(rule="hume", shortage="relax")) == "."
    # the consensus rule's own way to fill them: --shortage fill, refused with the hume rule
    assert "--shortage fill" in shortage_hint(consensus)
    SeedConfig(shortage="fill").validate()
    with pytest.raises(HumeSSLError, match="pass --rule consensus"):
        SeedConfig(rule="hume", shortage="fill").validate()
    assert "--shortage fill" not in shortage_hint(SeedConfig(shortage="fill"))  # in use
    assert "--rule hume --shortage relax" in shortage_hint(SeedConfig(shortage="fill"))


def test_a_hume_fit_that_crashes_leaves_no_empty_folders(tmp_path, gaussian_files, monkeypatch):
    """Before: only refused inputs (HumeSSLError) removed OUT/hume/; a crash in the fit left
    it, empty."""
    from hume_ssl.hume.estimator import Hume

    def crash(self, *a, **kw):
        (self.checkpoint_dir / "chunks").mkdir(parents=True, exist_ok=True)
        raise RuntimeError("index -1 is out of bounds")

    monkeypatch.setattr(Hume, "fit", crash)
    a, b, _ = gaussian_files
    out = tmp_path / "S"
    with pytest.raises(RuntimeError, match="out of bounds"):
        seed_run(out, phi1=a, phi2=b, hume=HumeConfig(k=10, n_restarts=2, n_steps=1))
    assert not out.exists()


def test_a_rerun_without_ground_truth_removes_the_earlier_report(tmp_path, gaussian_files):
    """Before: report.json and precision_curve.png of a run with --labels stayed beside a
    re-run's seeds and described the earlier seeds (40 seeds at precision 0.9 beside 20)."""
    a, b, y = gaussian_files
    out = tmp_path / "S"
    hume = HumeConfig(k=10, n_restarts=2, n_steps=2)
    seed_run(out, phi1=a, phi2=b, labels=y, hume=hume)
    assert (out / "seeds" / "report.json").exists()
    assert (out / "seeds" / "precision_curve.png").exists()
    sheet = out / "seeds" / "contact_sheets" / "cluster_003.png"  # as a run on images leaves
    sheet.parent.mkdir()
    sheet.write_bytes(b"png")
    seed_run(out, phi1=a, phi2=b, hume=hume)
    assert not sheet.exists()  # this run, on feature files, shows no images
    assert not (out / "seeds" / "report.json").exists()
    assert not (out / "seeds" / "precision_curve.png").exists()
    assert (out / "seeds" / "seeds.json").exists()


def test_a_rerun_removes_the_earlier_seeds_exports_in_their_default_places(tmp_path,
                                                                             gaussian_files):
    """Before: SEEDS/export-csv/seeds.csv (export's default place) kept the earlier run's 40
    seeds beside a re-run's 10."""
    from hume_ssl.seeds.export import default_out, export_seeds, load_any_seeds

    a, b, _ = gaussian_files
    out = tmp_path / "S"
    hume = HumeConfig(k=10, n_restarts=2, n_steps=2)
    rule = dict(rule="hume", shortage="relax")  # seeds even from this short fit
    seed_run(out, phi1=a, phi2=b, hume=hume, seeds=SeedConfig(**rule))
    seeds = out / "seeds"
    csv = default_out(seeds, "csv")
    export_seeds(load_any_seeds(seeds, need_dataset=False), "csv", csv)
    (default_out(seeds, "usb")).mkdir()
    mine = default_out(seeds, "usb") / "my_notes.txt"  # not export's: kept
    mine.write_text("x")
    assert (csv / "seeds.csv").exists()
    seed_run(out, phi1=a, phi2=b, hume=hume, seeds=SeedConfig(per_class=1, **rule))
    assert not csv.exists()  # its files, then the empty folder
    assert mine.read_text() == "x"


def test_a_rerun_keeps_a_seeds_csv_edited_by_hand_and_says_so(tmp_path, gaussian_files):
    """Before: README's workflow (export --format csv, edit SEEDS/export-csv/seeds.csv, train
    from it) lost the edits to any later `seed` run into the same --out, without a word."""
    from hume_ssl.seeds.export import default_out, export_seeds, load_any_seeds

    a, b, _ = gaussian_files
    out, lines = tmp_path / "S", []
    hume = HumeConfig(k=10, n_restarts=2, n_steps=2)
    rule = SeedConfig(rule="hume", shortage="relax")
    seed_run(out, phi1=a, phi2=b, hume=hume, seeds=rule)
    csv = default_out(out / "seeds", "csv") / "seeds.csv"
    export_seeds(load_any_seeds(out / "seeds", need_dataset=False), "csv", csv.parent)
    rows = csv.read_text().splitlines()
    edited = "\n".join([rows[0], *rows[2:]]) + "\n"  # a wrong seed dropped
    csv.write_text(edited)
    seed_run(out, phi1=a, phi2=b, hume=hume, seeds=rule, log=lines.append)
    assert csv.read_text() == edited
    assert (csv.parent / "README.txt").exists()
    assert any(f"kept {csv}: it was edited" in line for line in lines), lines
    # what the note says export does (before: "would overwrite it"; it refuses)
    assert any("`export --format csv` refuses to write over it" in line for line in lines)
    with pytest.raises(HumeSSLError, match="holds other rows than these seeds' CSV"):
        export_seeds(load_any_seeds(out / "seeds", need_dataset=False), "csv", csv.parent)
    assert csv.read_text() == edited


def test_k_auto_says_when_it_breaks_a_tie(tmp_path, blobs, monkeypatch):
    """Before: k=2 and k=3 both at 1.0000, and it said only "chose k=2" (every k's restarts
    agree fully here)."""
    from hume_ssl.hume.estimator import Hume
    from hume_ssl.seeds.choose_k import choose_k

    def perfect(self, *a, **kw):  # every k's restarts agree fully: all k tie
        self.scores_ = np.ones(4, np.float32)
        self.diagnostics_ = {"pairwise_ari": {"mean": 1.0}}
        return self

    monkeypatch.setattr(Hume, "fit", perfect)
    lines = []
    assert choose_k(tmp_path, *blobs[:2], "2-4", {}, log=lines.append, max_restarts=4) == 2
    assert lines[-1] == ("--k auto chose k=2 (tied with k=3, 4 at 1.0000: their restarts agree "
                         "alike, and the smallest tied k is kept; pass --k to choose "
                         "another)")


def test_k_auto_picks_the_k_whose_restarts_agree_most_not_the_best_score(tmp_path, blobs,
                                                                          monkeypatch):
    """The criterion chosen on recipes/k_auto_benchmark.py: the restarts' mean pairwise ARI.
    Before: the chance-corrected median score, which chose k = 3 on digits and 2 on
    Fashion-MNIST (10 classes each); here k = 2 has the best score, k = 4 the most agreement."""
    from hume_ssl.hume.estimator import Hume
    from hume_ssl.seeds.choose_k import choose_k

    score = {2: 0.99, 3: 0.9, 4: 0.8, 5: 0.7}  # chance-corrected 0.98, 0.85, 0.73, 0.63
    ari = {2: 0.3, 3: 0.5, 4: 0.6, 5: 0.4}

    def fake(self, *a, **kw):
        self.scores_ = np.full(4, score[self.k], np.float32)
        self.diagnostics_ = {"pairwise_ari": {"mean": ari[self.k]}}
        return self

    monkeypatch.setattr(Hume, "fit", fake)
    lines = []
    assert choose_k(tmp_path, *blobs[:2], "2-5", {}, log=lines.append, max_restarts=4) == 4
    assert lines[2].startswith("k=4: restarts agree (mean pairwise ARI) 0.6000; median score "
                               "0.8000, chance-corrected 0.7333")
    assert lines[-1].startswith("--k auto chose k=4, where its restarts agree most (mean "
                                "pairwise ARI 0.6000; next: k=3 at 0.5000; a heuristic")
    table = json.loads((tmp_path / "k_auto.json").read_text())["table"]
    assert [r["restart_ari"] for r in table] == [0.3, 0.5, 0.6, 0.4]
    assert [round(r["corrected"], 4) for r in table] == [0.98, 0.85, 0.7333, 0.625]
    assert "of --k-range" not in lines[-1]  # 4 is inside 2-5
    assert choose_k(tmp_path / "top", *blobs[:2], "2-4", {}, log=lines.append,
                    max_restarts=4) == 4  # the top of its range: said, with a wider one
    assert lines[-1].endswith("; k=4 is the top of --k-range 2-4: a k past it was not tried "
                              "(e.g. --k-range 2-8)")
    from hume_ssl.seeds.choose_k import range_edge  # a top cut at N - 1 has nothing past it
    assert range_edge(7, 5, 7, capped=True) == "" and range_edge(2, 2, 5) == ""
    assert range_edge(5, 5, 10).endswith("bottom of --k-range 5-10: a k past it was not tried "
                                         "(e.g. --k-range 2-10)")
    with pytest.raises(HumeSSLError, match="--k auto with --restarts 1: it compares restarts"):
        choose_k(tmp_path, *blobs[:2], "2-5", {"n_restarts": 1}, log=lines.append)
    for name, x in (("a", blobs[0]), ("b", blobs[1])):  # `seed` says it before reading them
        np.save(tmp_path / f"{name}.npy", x)
    res = runner.invoke(app, ["seed", "--phi1", str(tmp_path / "a.npy"), "--phi2",
                              str(tmp_path / "b.npy"), "--k", "auto", "--restarts", "1",
                              "--out", str(tmp_path / "R")])
    assert res.exit_code == 2 and "needs at least 2" in res.output and not (tmp_path / "R").exists()


def test_k_auto_resumes_its_scan_and_reuses_a_finished_one(tmp_path, blobs, monkeypatch):
    """Before: an interrupted or repeated `--k auto` fitted every k again (k_auto.json was
    written only at the end, and never read)."""
    from hume_ssl.hume.estimator import Hume
    from hume_ssl.seeds.choose_k import choose_k

    phi1, phi2, _ = blobs
    fit, fitted = Hume.fit, []

    def counting_fit(self, *a, **kw):
        if self.k == 4 and not fitted.count(4):  # the scan dies in k = 4, once
            fitted.append(4)
            raise KeyboardInterrupt
        fitted.append(self.k)
        return fit(self, *a, **kw)

    monkeypatch.setattr(Hume, "fit", counting_fit)

    def scan(**base):
        return choose_k(tmp_path / "run", phi1, phi2, "2-5", {"n_steps": 60, **base},
                        log=lambda m: None, max_restarts=4)

    with pytest.raises(KeyboardInterrupt):
        scan()
    assert fitted == [2, 3, 4]
    saved = json.loads((tmp_path / "run" / "k_auto.json").read_text())
    assert [r["k"] for r in saved["table"]] == [2, 3] and saved["chosen"] is None
    assert scan() == 3 and fitted[3:] == [4, 5]  # only the k not yet scored
    assert scan(device="cpu") == 3 and len(fitted) == 5  # all reused: device changes nothing
    assert scan(n_steps=61) == 3 and fitted[5:] == [2, 3, 4, 5]  # other settings: all again
    # another range keeps the rows outside it for a later scan (before, in a walkthrough: a
    # scan of 3-6 dropped k=2's row)
    assert choose_k(tmp_path / "run", phi1, phi2, "3-6", {"n_steps": 61}, log=lambda m: None,
                    max_restarts=4) in (3, 4, 5, 6) and fitted[9:] == [6]
    saved = json.loads((tmp_path / "run" / "k_auto.json").read_text())
    assert [r["k"] for r in saved["table"]] == [2, 3, 4, 5, 6] and saved["k_range"] == [3, 6]


def test_k_auto_says_a_budget_too_small_for_its_largest_k_before_any_fit(tmp_path, blobs,
                                                                         monkeypatch):
    """Before (a walkthrough): the budget was checked one k at a time, so the smallest budget
    it named fitted k=2 only, and the next run failed at k=3; the first failure left an empty
    --out behind."""
    from hume_ssl.core.errors import HumeSSLError
    from hume_ssl.hume.estimator import Hume
    from hume_ssl.seeds.choose_k import choose_k

    phi1, phi2, _ = blobs
    fitted = []
    monkeypatch.setattr(Hume, "fit", lambda self, *a, **kw: fitted.append(self.k))
    with pytest.raises(HumeSSLError, match="smallest budget that fits") as e:
        choose_k(tmp_path / "run", phi1, phi2, "2-5", {"memory_budget_gib": 1e-6, "device":
                                                       "cpu"}, log=lambda m: None)
    assert fitted == [] and not (tmp_path / "run").exists()
    need = float(re.search(r"--memory-budget-gib ([0-9.e-]+)", str(e.value))[1])
    with pytest.raises(HumeSSLError, match="smallest budget that fits"):  # k=5's need is more
        Hume(k=5, memory_budget_gib=need / 1.2, device="cpu").check_budget(phi1, phi2)
    Hume(k=5, memory_budget_gib=need, device="cpu").check_budget(phi1, phi2)
    with pytest.raises(HumeSSLError, match="smallest budget that fits"):
        Hume(k=2, memory_budget_gib=1e-6, device="cpu").check_budget(phi1, phi2)
    # the need is not monotone in k (the inner solve's form follows k: in review, k=20's need
    # passed a budget that k=2..10 then failed mid-scan): the most needed is checked
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((1000, 768), dtype=np.float32)
    x2 = rng.standard_normal((1000, 1024), dtype=np.float32)
    base = {"subset_size": 500, "device": "cpu"}
    need = {k: Hume(k=k, **base).lane_need(x1, x2) for k in range(2, 21)}
    assert max(need, key=need.get) < 20 and need[20] < max(need.values())
    with pytest.raises(HumeSSLError, match="smallest budget that fits") as e:
        choose_k(tmp_path / "r2", x1, x2, "2-20",
                 {**base, "memory_budget_gib": need[20] * 1.05 / 2**30}, log=lambda m: None)
    assert fitted == [] and float(re.search(r"--memory-budget-gib ([0-9.e-]+)",
                                            str(e.value))[1]) * 2**30 > max(need.values())


def test_seed_says_how_many_unreadable_images_it_skipped_and_takes_strict(tmp_path):
    """Before: `seed imagefolder:...` skipped an unreadable file without a word, and had no
    --strict (README: "unreadable files are skipped and counted (--strict fails instead)")."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(3):
        d = tmp_path / "imgs" / f"c{c}"
        d.mkdir(parents=True)
        for i in range(12):
            pixel = np.clip(rng.normal(80 * c + 40, 10, (8, 8, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixel).save(d / f"{i}.png")
    (tmp_path / "imgs" / "c0" / "broken.png").write_bytes(b"not an image")
    args = ["seed", f"imagefolder:{tmp_path / 'imgs'}", "--backbones", "pixels:8,pixels:4",
            "--k", "3", "--restarts", "2", "--steps", "2", "--knn", "5", "--rule", "hume",
            "--shortage", "relax", "--cache-dir", str(tmp_path / "cache"), "--device", "cpu"]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "S")])
    assert res.exit_code == 0, res.output
    assert "1 unreadable image files" in res.output and "skipped" in res.output
    res = runner.invoke(app, [*args, "--strict", "--out", str(tmp_path / "S2")])
    assert res.exit_code == 2 and "broken.png" in res.output, res.output
    assert not (tmp_path / "S2").exists()


def test_the_backbone_pair_is_checked_in_the_python_api_as_on_the_command_line(tmp_path):
    """Before: `seed --backbones a,b,c` was refused by the CLI only; seed_run(backbones="A,B")
    iterated the string's characters and seed_run(backbones=(a, b, c)) extracted three."""
    from hume_ssl.seeds.inputs import backbone_pair

    assert backbone_pair("pixels, pixels:16") == ("pixels", "pixels:16")
    assert backbone_pair(["a@w.pth", "b"]) == ("a@w.pth", "b")
    for bad in ("pixels", "a,b,c", ("a", "b", "c"), "a,"):
        with pytest.raises(HumeSSLError, match="give exactly two, as A,B"):
            seed_run(tmp_path / "r", "digits", backbones=bad)
    res = runner.invoke(app, ["seed", "digits", "--backbones", "a,b,c", "--out",
                              str(tmp_path / "r")])
    assert res.exit_code == 2 and "give exactly two" in res.output, res.output
    assert not (tmp_path / "r").exists()


def test_one_space_twice_is_refused_before_any_work(tmp_path, gaussian_files, monkeypatch):
    """Before: accepted. A review passed 3,000 rows of SqueezeNet features as both spaces:
    verdict "reliable", expected seed precision 0.921, measured 0.472."""
    import hume_ssl.seeds.inputs as inputs

    a, _, _ = gaussian_files
    res = runner.invoke(app, ["seed", "--phi1", str(a), "--phi2", str(a), "--k", "3", "--out",
                              str(tmp_path / "P")])
    assert res.exit_code == 2 and "phi1 and phi2 are the same matrix" in res.output, res.output
    assert "two different backbones" in res.output and not (tmp_path / "P").exists()
    monkeypatch.setattr(inputs, "extract_features", None)  # refused before any extraction
    with pytest.raises(HumeSSLError, match="--backbones pixels:8,pixels:8 names one backbone "
                                           "twice: HUME needs two different"):
        seed_run(tmp_path / "Q", "digits", backbones="pixels:8,pixels:8", k=10)


@pytest.mark.parametrize("kw, needle", [
    (dict(k=5000), r"--k 5000 is larger than the number of samples \(\d+\)"),
    (dict(k=10, seeds=SeedConfig(n_neighbors=5000)), "--knn 5000: need fewer neighbours"),
    (dict(k=10, seeds=SeedConfig(per_class=5000)), "--per-class 5000 is more than the"),
])
def test_sizes_the_dataset_cannot_hold_are_named_before_any_extraction(tmp_path, monkeypatch,
                                                                       kw, needle):
    """Before: both spaces were extracted first (a review: `seed imagefolder:cls --k 100` on
    60 images extracted both, then said --k 100 is larger than the samples)."""
    import hume_ssl.seeds.inputs as inputs

    def extract(*a, **k):
        raise AssertionError("extracted before the sizes were checked")

    monkeypatch.setattr(inputs, "extract_features", extract)
    with pytest.raises(HumeSSLError, match=needle):
        seed_run(tmp_path / "P", "digits", backbones="pixels:8,pixels:4", **kw)
    assert not (tmp_path / "P").exists()
