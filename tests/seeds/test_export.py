import json

import numpy as np
import pytest

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.seeds.artifact import Seeds
from hume_ssl.seeds.export import export_seeds, load_any_seeds


def _seeds_dir(tmp_path, dataset="cifar10", n_samples=50_000):
    d = tmp_path / "seeds"
    d.mkdir()
    np.save(d / "indices.npy", np.array([5, 17, 42, 8]))
    np.save(d / "pseudo_labels.npy", np.array([0, 0, 1, 1]))
    (d / "seeds.json").write_text(
        json.dumps(
            {"dataset": dataset, "split": "train", "n_samples": n_samples, "order_hash": "x",
             "k": 2}
        )
    )
    return d


@pytest.mark.parametrize("fmt", ["usb", "torchssl", "csv"])
def test_exports_round_trip(tmp_path, fmt):
    s = load_any_seeds(_seeds_dir(tmp_path))
    export_seeds(s, fmt, tmp_path / "out", seeds_dir=tmp_path / "seeds")
    out = tmp_path / "out"
    if fmt == "csv":
        back = load_any_seeds(out / "seeds.csv", dataset="cifar10")
        idx, lab = back.indices.tolist(), back.labels.tolist()
    elif fmt == "torchssl":  # what TorchSSL reads from {save_dir}/{save_name}/: indices only
        idx, lab = np.load(out / "sampled_label_idx.npy").tolist(), [0, 0, 1, 1]
        assert sorted(p.name for p in out.iterdir()) == ["README.txt", "sampled_label_idx.npy"]
        assert "GROUND-TRUTH" in (out / "README.txt").read_text()
    else:
        idx = np.load(out / "labeled_idx.npy").tolist()
        lab = np.load(out / "labeled_pseudo_labels.npy").tolist()
        script = (out / "train_usb.py").read_text()
        assert repr(str((tmp_path / "seeds").resolve())) in script and "'cifar10'" in script
        assert "PSEUDO-LABELS" in (out / "README.txt").read_text()
    assert idx == [5, 17, 42, 8] and lab == [0, 0, 1, 1]


def test_two_formats_into_one_folder_keep_both_readme_notes(tmp_path):
    """Before: a csv export into the folder of a torchssl one rewrote README.txt for the csv
    alone, and TorchSSL's ground-truth warning was gone."""
    s = load_any_seeds(_seeds_dir(tmp_path))
    export_seeds(s, "torchssl", tmp_path / "out")
    export_seeds(s, "csv", tmp_path / "out")
    text = (tmp_path / "out" / "README.txt").read_text()
    assert "GROUND-TRUTH" in text and "seeds.csv holds our pseudo-labels" in text
    # this export first; the other's files are said to come from an earlier export
    assert text.index("csv (seeds.csv):") < text.index(
        "torchssl (sampled_label_idx.npy, from an earlier export into this folder")


def test_export_refuses_what_no_consumer_reads(tmp_path):
    s = load_any_seeds(_seeds_dir(tmp_path, "npz:/data/cifar10_{split}_jpeg.npz"))
    with pytest.raises(HumeSSLError, match="TorchSSL reads indices"):
        export_seeds(s, "torchssl", tmp_path / "out")
    export_seeds(s, "csv", tmp_path / "out")  # our own convention is always fine
    # USB's data is built from the seeds' own dataset: any dataset, but from a seeds folder
    export_seeds(s, "usb", tmp_path / "usb", seeds_dir=tmp_path / "seeds")
    with pytest.raises(HumeSSLError, match="needs a seeds folder"):
        export_seeds(s, "usb", tmp_path / "usb2", seeds_dir=None)
    with pytest.raises(HumeSSLError, match="was removed.*draws its labeled indices"):
        export_seeds(s, "fixmatch", tmp_path / "out")
    with pytest.raises(HumeSSLError, match="unknown export format"):
        export_seeds(Seeds(np.array([1]), np.array([0]), "cifar10", 1), "tfrecord", tmp_path)


def test_edited_csv_is_accepted(tmp_path):
    d = _seeds_dir(tmp_path)
    (d / "edited.csv").write_text("index,label\n5,1\n17,0\n")
    s = load_any_seeds(d / "edited.csv")  # dataset read from the sibling seeds.json
    assert s.dataset == "cifar10" and s.indices.tolist() == [5, 17] and s.labels.tolist() == [1, 0]


def test_indices_outside_the_split_are_refused_before_export(tmp_path):
    """Before: export wrote seeds whose indices pointed past the split (the consumer failed
    later, or read other images)."""
    d = _seeds_dir(tmp_path, n_samples=50)
    np.save(d / "indices.npy", np.array([5, 17, 50, 8]))
    with pytest.raises(HumeSSLError, match=r"span 5\.\.50, outside the split's 50 samples"):
        load_any_seeds(d)
    (d / "edited.csv").write_text("index,label\n5,1\n60,0\n")
    with pytest.raises(HumeSSLError, match="outside the split's 50"):
        load_any_seeds(d / "edited.csv")  # the sibling seeds.json gives the split's size
    (tmp_path / "loose.csv").write_text("index,label\n-1,1\n3,0\n")
    with pytest.raises(HumeSSLError, match="outside 0 and up"):
        load_any_seeds(tmp_path / "loose.csv", dataset="cifar10")


def test_export_run_is_the_commands_python_api(tmp_path):
    """Before: the command's steps (format and source checks, the seeds read, the default
    folder) were strung together in the CLI only."""
    from hume_ssl.seeds.export import export_run

    seeds = _seeds_dir(tmp_path)
    files = export_run(seeds, "csv")
    assert (seeds / "export-csv" / "seeds.csv") in files
    back = load_any_seeds(seeds / "export-csv" / "seeds.csv", dataset="cifar10")
    assert back.indices.tolist() == [5, 17, 42, 8] and back.labels.tolist() == [0, 0, 1, 1]
    with pytest.raises(HumeSSLError, match="unknown export format 'tfrecord'"):
        export_run(tmp_path / "missing.csv", "tfrecord")
    assert export_run(seeds, "torchssl", tmp_path / "t")[0] == tmp_path / "t" / (
        "sampled_label_idx.npy")


def test_export_cli_checks_the_format_first(tmp_path):
    """A bad --format is named at once, before the seeds or their dataset are read."""
    from typer.testing import CliRunner

    from hume_ssl.cli import app

    res = CliRunner().invoke(app, ["export", str(tmp_path / "missing.csv"), "--format",
                                   "tfrecord"])
    assert res.exit_code != 0 and "unknown export format 'tfrecord'" in res.output, res.output


def test_a_folders_own_dataset_is_never_renamed_by_dataset(tmp_path):
    """Before: --dataset replaced the dataset seeds.json names, so seeds of digits exported as
    TorchSSL indices into CIFAR-10 (the guard against other images passed)."""
    d = _seeds_dir(tmp_path, "digits", n_samples=1797)
    with pytest.raises(HumeSSLError, match="holds seeds of 'digits'.*drop --dataset"):
        load_any_seeds(d, dataset="cifar10")
    assert load_any_seeds(d, dataset="digits").dataset == "digits"  # naming its own is fine


def test_seeds_of_feature_files_export_as_csv_without_a_dataset(tmp_path):
    """Before: a seeds folder of `seed --phi1 --phi2` (seeds.json names no dataset) needed a
    --dataset for --format csv, which reads none, and any name passed."""
    d = _seeds_dir(tmp_path, None, n_samples=60)
    s = load_any_seeds(d, need_dataset=False)
    assert s.dataset is None
    export_seeds(s, "csv", tmp_path / "out")
    assert (tmp_path / "out" / "seeds.csv").read_text().startswith("index,label\n5,0\n")
    back = load_any_seeds(tmp_path / "out" / "seeds.csv", need_dataset=False)
    assert back.indices.tolist() == [5, 17, 42, 8]
    with pytest.raises(HumeSSLError, match="names no dataset.*--dataset NAME"):
        load_any_seeds(d)  # the other formats build data from it


def test_torchssl_indices_are_checked_against_the_split_it_reads(tmp_path):
    """Before: a loose CSV with index 99999 exported as CIFAR-10 TorchSSL indices (50,000
    images), and seeds of a 50-sample subset passed too."""
    (tmp_path / "big.csv").write_text("index,label\n5,0\n99999,1\n")
    with pytest.raises(HumeSSLError, match="span 5..99999 but cifar10:train has 50000 images"):
        load_any_seeds(tmp_path / "big.csv", dataset="cifar10")  # known size: no download
    (tmp_path / "ok.csv").write_text("index,label\n5,0\n99999,1\n")  # no dataset named
    s = load_any_seeds(tmp_path / "ok.csv", need_dataset=False)
    s.dataset = "cifar10"  # past the checks of loading, the export's own holds
    with pytest.raises(HumeSSLError, match="reach 99999.*holds 50000 images"):
        export_seeds(s, "torchssl", tmp_path / "out")
    s = load_any_seeds(_seeds_dir(tmp_path, n_samples=50))
    with pytest.raises(HumeSSLError, match="made on 50 samples.*holds 50000"):
        export_seeds(s, "torchssl", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_named_dataset_checks_the_indices_without_a_download(tmp_path, monkeypatch):
    """Before: `export c.csv --format csv --dataset D` wrote indices past D's images without a
    word (now: it says D is not read), and seeds of feature files exported for TorchSSL with
    --dataset cifar10 began by downloading CIFAR-10, whose offline error hid that 50 rows are
    not its 50,000."""
    import hume_ssl.seeds.export as export

    np.savez(tmp_path / "d.npz", images=np.zeros((10, 4, 4, 3), np.uint8))
    (tmp_path / "c.csv").write_text("index,label\n1,0\n700,1\n")
    with pytest.warns(UserWarning, match="is not read by --format csv.* not checked"):
        load_any_seeds(tmp_path / "c.csv", dataset=f"npz:{tmp_path / 'd.npz'}",
                       need_dataset=False)
    with pytest.raises(HumeSSLError, match="span 1..700 but npz:.*has 10 images"):
        load_any_seeds(tmp_path / "c.csv", dataset=f"npz:{tmp_path / 'd.npz'}")
    d = _seeds_dir(tmp_path, dataset=None, n_samples=50)  # seeds of 50 feature-file rows

    def no_download(*a, **k):
        raise AssertionError("cifar10 was loaded")

    monkeypatch.setattr(export, "load_dataset", no_download)
    with pytest.raises(HumeSSLError, match="n_samples=50 but cifar10:train has 50000"):
        load_any_seeds(d, dataset="cifar10")


def test_export_names_its_own_inputs_when_the_seeds_are_missing(tmp_path):
    """Before: a run folder was refused naming train-fixmatch's --indices/--seed-labels, and a
    missing CSV gave a FileNotFoundError traceback once --dataset was passed."""
    run = tmp_path / "run"
    (run / "seeds").mkdir(parents=True)
    (run / "seeds" / "seeds.json").write_text("{}")
    with pytest.raises(HumeSSLError, match=r"its seeds folder is .*run/seeds") as e:
        load_any_seeds(run)
    assert "--indices" not in str(e.value)
    with pytest.raises(HumeSSLError, match="no such file"):
        load_any_seeds(tmp_path / "nope.csv", dataset="digits")


def test_export_cli_writes_a_csv_of_feature_file_seeds_without_a_dataset(tmp_path):
    from typer.testing import CliRunner

    from hume_ssl.cli import app

    d = _seeds_dir(tmp_path, None, n_samples=60)
    res = CliRunner().invoke(app, ["export", str(d), "--format", "csv", "--out",
                                   str(tmp_path / "out")])
    assert res.exit_code == 0 and (tmp_path / "out" / "seeds.csv").exists(), res.output
    res = CliRunner().invoke(app, ["export", str(d), "--format", "torchssl"])
    assert res.exit_code == 2 and "names no dataset" in res.output, res.output


def test_seeds_of_feature_files_are_checked_against_the_dataset_named(tmp_path):
    """Before: seeds of 60 feature rows exported for USB with --dataset digits (1,297 train images);
    the mismatch surfaced only when train_usb.py started."""
    d = _seeds_dir(tmp_path, None, n_samples=60)
    with pytest.raises(HumeSSLError, match="n_samples=60 but digits:train has 1297 images"):
        load_any_seeds(d, dataset="digits")
    with pytest.warns(UserWarning, match="not read by --format csv"):  # it writes the rows
        s = load_any_seeds(d, dataset="digits", need_dataset=False)
    assert s.indices.tolist() == [5, 17, 42, 8] and s.dataset is None  # not in its origin
    json_path = d / "seeds.json"
    json_path.write_text(json_path.read_text().replace('"n_samples": 60', '"n_samples": 1297'))
    s = load_any_seeds(d, dataset="digits")
    assert s.dataset == "digits" and s.n_samples == 1297


def test_usb_export_of_a_csv_says_it_needs_a_folder_before_asking_for_a_dataset(tmp_path):
    """Before: `export seeds.csv --format usb` asked for --dataset, and with it said usb needs a
    seeds folder: a dead end in two steps."""
    from typer.testing import CliRunner

    from hume_ssl.cli import app

    (tmp_path / "s.csv").write_text("index,label\n0,0\n1,1\n")
    res = CliRunner().invoke(app, ["export", str(tmp_path / "s.csv"), "--format", "usb"])
    assert res.exit_code == 2 and "needs a seeds folder" in res.output, res.output


def test_train_fixmatch_seeds_accepts_seeds_json_and_names_a_runs_seeds_folder(tmp_path):
    """Before: --seeds OUT/seeds/seeds.json said "is not a seeds folder (no seeds.json)", and
    --seeds OUT (seed's --out) gave no hint of OUT/seeds."""
    from hume_ssl.seeds.artifact import read_seeds

    (tmp_path / "run").mkdir()
    d = _seeds_dir(tmp_path / "run")  # run/seeds
    assert read_seeds(seeds_dir=d / "seeds.json").indices.tolist() == [5, 17, 42, 8]
    with pytest.raises(HumeSSLError, match=r"its seeds folder is .*run/seeds"):
        read_seeds(seeds_dir=tmp_path / "run")


def test_remove_exports_looks_only_inside_the_seeds_folder(tmp_path):
    """Before (in review): with no OUT/seeds yet, the default place fell back to OUT, so a
    first `seed` run removed OUT/export-csv (an export of a CSV in OUT)."""
    from hume_ssl.seeds.export import remove_exports

    theirs = tmp_path / "export-csv" / "seeds.csv"
    theirs.parent.mkdir()
    theirs.write_text("index,label\n")
    remove_exports(tmp_path / "seeds")  # not made yet
    assert theirs.exists()
    # a seeds folder whose seeds cannot be read: its CSV is kept, said to be unchecked (not
    # "edited", which nothing showed)
    mine = tmp_path / "seeds" / "export-csv" / "seeds.csv"
    mine.parent.mkdir(parents=True)
    mine.write_text("index,label\n")
    assert remove_exports(tmp_path / "seeds") == [(mine, "unchecked")] and mine.exists()


def test_a_csv_export_says_whose_images_and_goes_with_its_origin(tmp_path):
    """seeds.csv gets seeds_origin.json beside it (the images its indices address: read by
    train-fixmatch --indices, tests/fixmatch); `seed`'s removal of an unedited export in its
    default place takes the origin too, and a CSV of no dataset drops an earlier origin."""
    from hume_ssl.seeds.export import default_out, remove_exports

    d = _seeds_dir(tmp_path)
    s = load_any_seeds(d)
    out = default_out(d, "csv")
    export_seeds(s, "csv", out)
    origin = json.loads((out / "seeds_origin.json").read_text())
    assert {k: origin[k] for k in ("dataset", "split", "n_samples", "order_hash")} == {
        "dataset": "cifar10", "split": "train", "n_samples": 50_000, "order_hash": "x"}
    back = load_any_seeds(out / "seeds.csv")  # the CSV names its dataset itself now
    assert (back.dataset, back.n_samples, back.order_hash) == ("cifar10", 50_000, "x")
    assert remove_exports(d) == [] and not out.exists()
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "seeds_origin.json").write_text('{"dataset": "cifar10"}')
    export_seeds(Seeds(np.array([1]), np.array([0]), None, 1), "csv", tmp_path / "e")
    assert not (tmp_path / "e" / "seeds_origin.json").exists()


def test_a_csv_of_feature_seeds_keeps_their_count_and_a_reexport_keeps_its_origin(tmp_path):
    """Before (in review): seeds of feature files exported as a CSV had no origin, so a CSV of
    36 rows trained on 40 images (here 50 and 60); a re-export with --dataset ("not read", it
    said) replaced a good origin with an empty one; export wrote over a CSV edited by hand
    without a word."""
    from hume_ssl.seeds.artifact import check_seeds_match, read_seeds

    d = _seeds_dir(tmp_path, dataset=None, n_samples=50)  # seeds of feature-file rows
    export_seeds(load_any_seeds(d, need_dataset=False), "csv", tmp_path / "e")
    csv = tmp_path / "e" / "seeds.csv"
    origin = json.loads((tmp_path / "e" / "seeds_origin.json").read_text())
    assert origin["dataset"] is None and origin["n_samples"] == 50
    s = read_seeds(indices=csv, dataset="digits")
    with pytest.raises(HumeSSLError, match=r"seeds_origin\.json says n_samples=50 .* made on 50 "
                                           r"rows of feature files"):
        check_seeds_match(s, 60)
    # the image folder's origin survives a re-export that names another dataset
    (tmp_path / "b").mkdir()
    d2 = _seeds_dir(tmp_path / "b", dataset="imagefolder:rel/imgs", n_samples=50)
    export_seeds(load_any_seeds(d2), "csv", tmp_path / "f")
    first = json.loads((tmp_path / "f" / "seeds_origin.json").read_text())
    assert first["dataset"].startswith("imagefolder:/")  # the path as `seed` names it: absolute
    with pytest.warns(UserWarning, match="not read by --format csv.* with seeds_origin.json's"):
        again = load_any_seeds(tmp_path / "f" / "seeds.csv", dataset="imagefolder:other",
                               need_dataset=False)
    export_seeds(again, "csv", tmp_path / "g")
    assert json.loads((tmp_path / "g" / "seeds_origin.json").read_text()) == first
    # an edited CSV is not written over
    csv.write_text(csv.read_text().replace("42,1", "42,0"))
    with pytest.raises(HumeSSLError, match="holds other rows than these seeds' CSV .* another "
                                           "--out, or move that file away first"):
        export_seeds(load_any_seeds(d, need_dataset=False), "csv", tmp_path / "e")
    assert "42,0" in csv.read_text()


def test_only_an_export_s_origin_vouches_for_a_csv_and_export_keeps_to_it(tmp_path):
    """In review: a CSV beside a seeds folder's seeds.json took that file as its origin, though
    `seed` rewrites it for the images as they are now (a stale CSV passed, and no warning said
    it was unchecked); `export --dataset` could contradict a CSV's origin."""
    from hume_ssl.seeds.artifact import read_seeds

    d = _seeds_dir(tmp_path)
    (d / "mine.csv").write_text("index,label\n5,0\n17,1\n")
    assert "origin" not in read_seeds(indices=d / "mine.csv", dataset="cifar10").source
    (tmp_path / "c100").mkdir()
    export_seeds(load_any_seeds(_seeds_dir(tmp_path / "c100", "cifar100")), "csv", tmp_path / "e")
    with pytest.raises(HumeSSLError, match="holds seeds of 'cifar100' .* --dataset 'cifar10' "
                                           "would read their indices as another dataset's"):
        load_any_seeds(tmp_path / "e" / "seeds.csv", dataset="cifar10")
    assert load_any_seeds(tmp_path / "e" / "seeds.csv").dataset == "cifar100"


@pytest.mark.parametrize("text, why", [
    ("[1, 2]", "not a record of the images"), ("{}", "not a record of the images"),
    ('{"dataset": 5}', "wrong type: dataset"), ('{"dataset": "digits", "n_samples": "abc"}',
                                                "wrong type: n_samples"),
    ('{"n_samples": -1}', "wrong type: n_samples"), ("{", "cannot read JSON")])
def test_a_damaged_origin_is_named_with_its_fix(tmp_path, text, why):
    """Before (in review): a list gave an AttributeError traceback, a string for n_samples a
    ValueError, and {} checked nothing without a word."""
    from hume_ssl.seeds.artifact import read_seeds

    (tmp_path / "s.csv").write_text("index,label\n0,0\n1,1\n")
    (tmp_path / "seeds_origin.json").write_text(text)
    with pytest.raises(HumeSSLError, match=why + ".*restore it .* or delete it to skip"):
        read_seeds(indices=tmp_path / "s.csv", dataset="digits")


def test_a_missing_csv_and_a_negative_label_get_messages_that_say_so(tmp_path):
    """Before: train-fixmatch --indices missing.csv ended in a FileNotFoundError traceback, and
    a CSV row "2,-1" was said to lie "outside 0..0 (k=1)" with "fix k in seeds.json" (there was
    no seeds.json)."""
    from hume_ssl.core.errors import HumeSSLError
    from hume_ssl.seeds.artifact import read_seeds

    with pytest.raises(HumeSSLError, match="seed indices file not found"):
        read_seeds(indices=tmp_path / "missing.csv", dataset="digits")
    (tmp_path / "s.csv").write_text("index,label\n1,0\n2,-1\n")
    with pytest.raises(HumeSSLError, match=r"negative values \(e\.g\. -1 at .*s\.csv:3\)"):
        read_seeds(indices=tmp_path / "s.csv", dataset="digits")


def test_a_bad_row_of_an_edited_csv_is_named_by_its_line(tmp_path):
    """Before: an index past the split said the seeds "were made for another dataset or sample
    order", a repeated index named neither itself nor its lines, a label past --k said "fix k
    in seeds.json" (no seeds.json): README's hand-edit workflow left the user to find the row."""
    from hume_ssl.core.errors import HumeSSLError
    from hume_ssl.seeds.artifact import check_seeds_match, read_seeds

    csv = tmp_path / "s.csv"
    csv.write_text("index,label\n0,0\n3,1\n\n3,2\n")
    with pytest.raises(HumeSSLError, match=r"seed index 3 appears more than once \(.*s\.csv:3 "
                                           r"and .*s\.csv:5\)"):
        read_seeds(indices=csv, dataset="digits")
    csv.write_text("index,label\n0,0\n99,1\n")
    s = read_seeds(indices=csv, dataset="digits")
    with pytest.raises(HumeSSLError, match=r"has 36 images \(1 of 2 outside 0\.\.35, e\.g\. "
                                           r".*s\.csv:3\): fix or remove that row\.$"):
        check_seeds_match(s, 36)
    # most rows outside: seeds of other data, as before (not a row to fix)
    csv.write_text("index,label\n0,0\n99,1\n98,0\n")
    with pytest.raises(HumeSSLError, match=r"\(2 of 3 outside .*: the seeds were made for "
                                           r"another dataset"):
        check_seeds_match(read_seeds(indices=csv, dataset="digits"), 36)


def test_a_seeds_folder_written_in_part_is_refused(tmp_path):
    """Before: a `seed` run interrupted between the folder's files left new indices beside an
    old seeds.json, and export wrote them without a word."""
    from hume_ssl.seeds.artifact import read_seeds, write_seeds

    meta = {"dataset": "cifar10", "split": "train", "n_samples": 50_000, "k": 2}
    d = write_seeds(tmp_path / "seeds", np.array([5, 17]), np.array([0, 1]), np.zeros((2, 3)),
                    np.zeros(50_000), meta)
    assert read_seeds(seeds_dir=d).indices.tolist() == [5, 17]
    np.save(d / "indices.npy", np.array([5, 18]))  # the next run's first file, then a Ctrl-C
    with pytest.raises(HumeSSLError, match="not the seeds its seeds.json describes"):
        read_seeds(seeds_dir=d)
    np.save(d / "indices.npy", np.array([5, 18, 40]))  # the next run had 3 seeds
    with pytest.raises(HumeSSLError, match="not the seeds its seeds.json describes"):
        read_seeds(seeds_dir=d)
    with pytest.raises(HumeSSLError, match="not the seeds its seeds.json describes"):
        load_any_seeds(d)


def test_usb_export_of_a_missing_path_says_it_is_missing(tmp_path):
    """Before: `export NOPE --format usb` said it needs a seeds folder, "not a CSV"."""
    from typer.testing import CliRunner

    from hume_ssl.cli import app

    res = CliRunner().invoke(app, ["export", str(tmp_path / "nope"), "--format", "usb"],
                             terminal_width=200)
    assert res.exit_code == 2 and "nope: no such folder" in res.output, res.output
    assert "CSV" not in res.output


def test_torchssl_indices_of_rows_of_unrecorded_order_are_exported_with_a_warning(tmp_path):
    """Before: seeds of feature files exported as CIFAR-10 TorchSSL indices with only their
    count checked and no word, though a feature file sorted by class (as the shipped CIFAR-10
    features) puts other images at those indices."""
    import warnings

    d = _seeds_dir(tmp_path, dataset=None, n_samples=50_000)
    meta = json.loads((d / "seeds.json").read_text())
    meta.update(order_hash=None, order_hash_kind="features")
    (d / "seeds.json").write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="right only if row i of the features was that image"):
        export_seeds(load_any_seeds(d, dataset="cifar10"), "torchssl", tmp_path / "out")
    assert (tmp_path / "out" / "sampled_label_idx.npy").is_file()
    with warnings.catch_warnings():  # seeds of the dataset itself: their order is checked
        warnings.simplefilter("error")
        (tmp_path / "b").mkdir()
        export_seeds(load_any_seeds(_seeds_dir(tmp_path / "b")), "torchssl", tmp_path / "o2")
