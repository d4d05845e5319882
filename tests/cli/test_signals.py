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


def test_the_command_that_continues_a_torchrun_run_keeps_the_launchers_options(monkeypatch):
    """Before: it read `torchrun --nproc_per_node 2 -m hume_ssl ...` whatever the launch line
    (a review launched with --standalone; a multi-node run's --nnodes / --rdzv-endpoint would
    be lost too). The options come from torchrun's own command line where the system shows it,
    else as before."""
    import sys

    from hume_ssl.cli import errors

    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setattr(sys, "argv", ["hume_ssl", "train-fixmatch", "--out", "my run"])
    launch = ["/usr/bin/python3", "/usr/local/bin/torchrun", "--standalone",
              "--nproc_per_node", "2", "-m", "hume_ssl", "train-fixmatch", "--out", "my run"]
    monkeypatch.setattr(errors, "_parent_argv", lambda: launch)
    assert errors._command_again(True) == ("torchrun --standalone --nproc_per_node 2 -m hume_ssl "
                                           "train-fixmatch --out 'my run' --resume")
    launch = ["python", "-m", "torch.distributed.run", "--nnodes", "2", "--rdzv-endpoint",
              "h:29400", "--nproc_per_node", "4", "-m", "hume_ssl", "seed"]
    monkeypatch.setattr(errors, "_parent_argv", lambda: launch)
    assert errors._command_again(False).startswith(
        "torchrun --nnodes 2 --rdzv-endpoint h:29400 --nproc_per_node 4 -m hume_ssl ")
    for unknown in (None, ["/usr/bin/bash", "run.sh"]):
        monkeypatch.setattr(errors, "_parent_argv", lambda u=unknown: u)
        assert errors._command_again(False) == ("torchrun --nproc_per_node 2 -m hume_ssl "
                                                "train-fixmatch --out 'my run'")
