"""SIGTERM (docker stop, SLURM, systemd) ends every command as Ctrl-C does."""

import os
import signal
import time

from typer.testing import CliRunner

from hume_ssl.cli import app


def test_sigterm_stops_a_command_as_ctrl_c_does(tmp_path, monkeypatch):
    """Before: only train-fixmatch and pretrain handled SIGTERM; predict (and features, label,
    seed) died without a word. predict's message said its work was kept "to resume it": it
    has no resume and keeps nothing of an interrupted run."""
    import hume_ssl.fixmatch.predict as predict

    def terminated(*a, **k):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)  # the handler raises before this ends
        raise AssertionError("SIGTERM was not turned into an interrupt")

    monkeypatch.setattr(predict, "predict_run", terminated)
    seen = []  # without the command's own handler this one gets it (not pytest's death)
    previous = signal.signal(signal.SIGTERM, lambda *a: seen.append(1))
    before = signal.getsignal(signal.SIGTERM)
    (tmp_path / "p").mkdir()
    res = CliRunner().invoke(app, ["predict", "digits", "--model", str(tmp_path / "m"),
                                   "--out", str(tmp_path / "p")])
    assert res.exit_code == 143, res.output  # 128 + SIGTERM, as a process killed by it
    text = " ".join(res.output.split())
    assert "interrupted: nothing of this run was kept" in text and "resume" not in text, text
    assert signal.getsignal(signal.SIGTERM) is before and not seen  # restored
    signal.signal(signal.SIGTERM, previous)
