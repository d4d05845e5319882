"""recipes/gpu_check.py --smoke: every section's code runs on the CPU at a tiny size, so a typo
cannot waste the GPU's minutes; a failing section is recorded and the check goes on."""

import csv
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes"))
import gpu_check  # noqa: E402

FAST = gpu_check.DEFAULT_SECTIONS  # every section but end-to-end (its own call on the GPU)


def _rows(out: Path) -> list[dict]:
    with open(out / "gpu_check.csv") as f:
        return list(csv.DictReader(f))


def test_smoke_runs_every_section_and_writes_the_table(tmp_path):
    rows = gpu_check.main(["--smoke", "--out", str(tmp_path), "--sections", *FAST])
    assert [r["section"] for r in rows] == FAST
    assert all(r["status"] == "ok" for r in rows), [(r["section"], r["status"]) for r in rows]
    assert all(r["figure"] and r["device"].startswith("cpu") for r in rows)
    by = {r["section"]: r for r in rows}
    equal = by["hume-equal"]["figure"]
    assert "DIFFER" not in equal and equal.count("equal") == 8
    assert "all rows, smoother" in equal  # the path of fits up to subset_size rows
    assert by["pretrain-default"]["images_per_s"] is not None
    assert by["fixmatch-init"]["steps_per_s"] > 0 and "squeezenet1_1" in by["fixmatch-init"][
        "figure"]
    table = (tmp_path / "gpu_check.md").read_text()
    assert table.count("\n| ") == len(FAST) + 1  # header and one row per section
    assert [r["section"] for r in _rows(tmp_path)] == FAST
    assert sorted(p.name for p in tmp_path.iterdir()) == [  # runs go to the scratch folder
        "_fake_shared", "_scratch", "gpu_check.csv", "gpu_check.log", "gpu_check.md"]
    assert (tmp_path / "gpu_check.log").read_text().startswith("python ")  # versions first


def test_missing_inputs_stop_the_check_before_any_section(tmp_path):
    with pytest.raises(SystemExit, match=r"missing .*cifar10_train_jpeg.npz, .*"
                                         r"cifar10_test_jpeg.npz, .*squeezenet1_1_imagenet.pth: "
                                         "nothing run"):
        gpu_check.main(["--out", str(tmp_path / "o"), "--shared", str(tmp_path), "--device",
                        "cpu", "--sections", "fixmatch-init"])
    assert not (tmp_path / "o" / "gpu_check.md").exists()
    args = gpu_check.parse(["--out", str(tmp_path), "--shared", str(tmp_path), "--sections",
                            "fixmatch-init", "--init", "timm:x@/nowhere/x.pth"])
    assert str(Path("/nowhere/x.pth")) in gpu_check.missing_inputs(args)  # a path of its own


@pytest.mark.parametrize("argv", [
    ["--sections", "end-to-end", "--budget-minutes", "5", "--e2e-minutes", "3"],
    ["--sections", "hume-imagenet", "--budget-minutes", "5"]])
def test_the_documented_calls_of_their_own_start_their_section(tmp_path, argv):
    """Before: the end-to-end call of docs/gpu_check.md had 240 s for a 260 s start margin and
    would have measured nothing."""
    args = gpu_check.parse(["--out", str(tmp_path), *argv])
    plan = gpu_check.planned_s(args.sections[0], args)
    assert gpu_check.START_MARGIN * plan <= args.budget_minutes * 60 - 15  # 15 s: the start


def test_a_failing_section_is_recorded_and_the_next_one_runs(tmp_path, monkeypatch):
    def broken(args, sz, dev):
        raise RuntimeError("a typo")

    monkeypatch.setitem(gpu_check.RUNNERS, "hume-cifar", broken)
    seen = []
    real = gpu_check.write_table
    monkeypatch.setattr(gpu_check, "write_table",
                        lambda rows, out, header: seen.append(len(rows)) or real(rows, out, header))
    rows = gpu_check.main(["--smoke", "--out", str(tmp_path), "--sections", "hume-cifar",
                           "hume-equal"])
    assert rows[0]["status"] == "error: RuntimeError: a typo"
    assert rows[1]["status"] == "ok"
    assert seen[:2] == [1, 2]  # the table is rewritten after each section (a killed run)
    assert "a typo" in (tmp_path / "gpu_check.log").read_text()  # the traceback is kept


@pytest.mark.slow  # ~10-25 s: a second Python process importing torch
def test_sections_run_in_their_own_process_as_on_the_gpu(tmp_path):
    rows = gpu_check.main(["--smoke", "--isolate", "--out", str(tmp_path), "--sections",
                           "hume-cifar"])
    assert rows[0]["status"] == "ok" and rows[0]["steps_per_s"] > 0
    assert gpu_check.RESULT_TAG in (tmp_path / "gpu_check.log").read_text()


@pytest.mark.slow  # ~4 min on 2 cores: pretrain, seed and FixMatch under a 4-minute budget
def test_the_end_to_end_section_runs_on_the_cpu(tmp_path):
    # the section the fast smoke test leaves out: the mission's recipe with the product's seed
    # rule, its budgets fitted on a slow CPU (a heavily loaded machine can leave FixMatch no
    # time: run it on a quiet one)
    rows = gpu_check.main(["--smoke", "--out", str(tmp_path), "--sections", "end-to-end"])
    assert rows[0]["status"] == "ok", rows[0]["status"]
    assert "train-fixmatch (--init ssl)" in rows[0]["figure"]
    assert " of 10 clusters (consensus, --shortage fewer, --min-support 0.02)" in rows[0][
        "figure"]  # coverage
