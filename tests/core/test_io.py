"""Atomic writes: strict JSON, the user's umask, a full disk; reading feature files."""

import errno
import os
import stat

import numpy as np
import pytest
from conftest import strict_load

import hume_ssl.core.io as io
from hume_ssl.core.errors import HumeSSLError


def test_json_writer_is_strict(tmp_path):
    obj = {"a": float("nan"), "b": [np.float32("inf"), np.nan, 1.5], "c": np.array([np.nan, 2.0]),
           "d": np.int64(3)}
    io.atomic_write_json(tmp_path / "x.json", obj)
    assert strict_load(tmp_path / "x.json") == {"a": None, "b": [None, None, 1.5],
                                                "c": [None, 2.0], "d": 3}


def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        io.atomic_write_bytes(tmp_path / "a.bin", b"x")
        io.atomic_save_npy(tmp_path / "b.npy", np.zeros(3))
    finally:
        os.umask(old)
    for name in ("a.bin", "b.npy"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644


def test_full_disk_is_a_clear_error_and_leaves_no_temp_file(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io.os, "fsync", full)
    with pytest.raises(HumeSSLError, match="no space left on the device.*re-run"):
        io.atomic_save_npy(tmp_path / "a.npy", np.zeros(10))
    assert list(tmp_path.iterdir()) == []


def test_a_temp_file_a_killed_writer_left_goes_with_the_next_write(tmp_path):
    """Before: a process killed mid-write (SIGKILL while saving checkpoint.pt) left its
    `.checkpoint.pt.XXXX.tmp`, a full copy, for good; resumes and re-runs never removed it."""
    import subprocess
    import sys
    import time

    target = tmp_path / "checkpoint.pt"
    script = ("import os, sys\n"
              "import hume_ssl.core.io as io\n"
              "with io._atomic_file(sys.argv[1]) as f:\n"
              "    f.write(b'half'); f.flush(); os._exit(9)\n")  # killed mid-write
    subprocess.run([sys.executable, "-c", script, str(target)], timeout=120)
    (killed,) = tmp_path.iterdir()
    assert killed.name.endswith(".tmp") and not target.exists()
    ours = f".checkpoint.pt.{os.getpid()}@{io._host()}.abcdefgh.tmp"  # this pid, not writing:
    kept = [f".checkpoint.pt.1@{io._host()}.abcdefgh.tmp",  # an earlier process's. pid 1 lives
            ".checkpoint.pt.999999@0a1b2c3d.abcdefgh.tmp",  # another host's (a shared disk)
            f".checkpoint.pt.999998@{io._host()}.fresh000.tmp"]  # dead, but written just now
    for name in [ours, *kept]:
        (tmp_path / name).write_bytes(b"x")
    old = time.time() - io.STALE_S - 1
    for p in tmp_path.iterdir():
        if "fresh" not in p.name:
            os.utime(p, (old, old))
    io.atomic_write_bytes(target, b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, *kept])
    assert target.read_bytes() == b"whole"


@pytest.mark.parametrize("content", [b"1,2,3\n4,5,6\n", b"\x89PNG\r\n\x1a\n0000", b"hello",
                                     b"\x93NUMPY\x01\x00trunc"])
def test_non_npy_features_get_our_hint_not_numpys(tmp_path, content):
    p = tmp_path / "feats.npy"
    p.write_bytes(content)
    with pytest.raises(HumeSSLError) as e:
        io.load_array(p, "phi1")
    msg = str(e.value)
    assert "allow_pickle" not in msg and "Expected a NumPy .npy file" in msg and str(p) in msg


def test_progress_is_plain_timed_lines_off_a_terminal():
    import io as _io

    from rich.console import Console

    from hume_ssl.core.progress import LineProgress, rich_progress

    buf = _io.StringIO()
    console = Console(file=buf, width=40)
    assert not console.is_terminal
    t = [0.0]
    prog = LineProgress(console, interval=5.0, clock=lambda: t[0])
    assert isinstance(rich_progress(console), LineProgress)
    with prog:
        task = prog.add_task("restart-steps", total=100, info="")
        for i in range(10):
            t[0] += 1.0
            prog.update(task, advance=10, info=f"step {i} loss 0.{i} " + "x" * 60)
    lines = buf.getvalue().splitlines()
    # one line at the first update, one every 5 s, one at the end; none wrapped at 40 columns
    assert len(lines) == 3 and all(len(ln) > 40 for ln in lines), lines
    assert lines[0].startswith("restart-steps 10/100 step 0") and "ETA 9 s" in lines[0]
    assert lines[-1].startswith("restart-steps 100/100 step 9") and "10/s" in lines[-1]


def test_plain_progress_prints_one_line_when_one_update_finishes_the_work():
    """Before: a one-batch extraction printed its final line twice (at the update, at stop)."""
    import io as _io

    from rich.console import Console

    from hume_ssl.core.progress import LineProgress

    buf = _io.StringIO()
    t = [0.0]
    prog = LineProgress(Console(file=buf, width=40), interval=5.0, clock=lambda: t[0])
    with prog:
        task = prog.add_task("features", total=8)
        t[0] += 1.0
        prog.update(task, advance=8)
        t[0] += 1.0
    assert len(buf.getvalue().splitlines()) == 1, buf.getvalue()
    buf.truncate(0), buf.seek(0)
    with LineProgress(Console(file=buf, width=40), interval=5.0, clock=lambda: t[0]) as prog:
        task = prog.add_task("features", total=8)
        prog.update(task, advance=4)
        t[0] += 1.0
        prog.update(task, advance=4)  # within the interval: shown by stop
    assert buf.getvalue().splitlines()[-1].startswith("features 8/8"), buf.getvalue()
    buf.truncate(0), buf.seek(0)
    with LineProgress(Console(file=buf, width=40), interval=5.0, clock=lambda: t[0]) as prog:
        task = prog.add_task("restarts", total=8, info="")
        prog.update(task, advance=8, info="fitting")
        t[0] += 1.0
        prog.update(task, info="voting")  # the count stays, its text moves: shown by stop
    assert buf.getvalue().splitlines()[-1].startswith("restarts 8/8 voting"), buf.getvalue()


def test_feature_matrices_a_user_may_pass_get_errors_that_name_the_fix():
    """Before: a ragged list failed inside numpy, float64 values past float32's range were
    reported as "NaN or inf" after an overflow warning, and one row as a 1-D array gave no
    hint; labels holding NaN were called "values with fractions"."""
    import warnings

    from hume_ssl.core.io import check_features, check_labels

    with pytest.raises(HumeSSLError, match="every row of the same length"):
        check_features([[1.0, 2.0], [3.0]], "phi1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning first
        with pytest.raises(HumeSSLError, match="beyond float32's range"):
            check_features(np.array([[1e39, 0.0], [1.0, 2.0]]), "phi1")
    with pytest.raises(HumeSSLError, match=r"x\.reshape\(1, -1\)"):
        check_features(np.ones(4, np.float32), "phi1", min_rows=1)
    with pytest.raises(HumeSSLError, match="holds NaN or inf"):
        check_labels(np.array([0.0, np.nan]), 2)
