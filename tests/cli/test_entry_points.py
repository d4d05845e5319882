"""The command line as users launch it: `hume-ssl`, `python -m hume_ssl` (torchrun's launch)
and `python -m hume_ssl.cli` (README's earlier one)."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from hume_ssl.cli import app

COMMANDS = ("label", "features", "seed", "export", "pretrain", "train-fixmatch", "predict",
            "demo")


def _python(*args: str) -> subprocess.CompletedProcess:
    """`python ARGS` in a process of its own (its output captured as text)."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120)


def test_python_dash_m_runs_the_app():
    out = _python("-m", "hume_ssl.cli", "--help")
    assert out.returncode == 0, out.stderr
    for cmd in COMMANDS:
        assert cmd in out.stdout


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_has_help(cmd):
    res = CliRunner().invoke(app, [cmd, "--help"])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_shows_each_option_text_whole(cmd):
    """Every option's help, as its setting writes it, is in --help: Rich read the settings'
    "[default: ...]" as markup and dropped it (pretrain --lr, --head, --temperature)."""
    import typer.main

    res = CliRunner().invoke(app, [cmd, "--help"], terminal_width=400, env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    shown = " ".join(res.output.replace("\u2502", " ").split())
    params = typer.main.get_command(app).commands[cmd].params
    texts = [p.help for p in params
             if p.param_type_name == "option" and p.help and not p.hidden]
    assert any("[" in t for t in texts) or cmd != "pretrain"
    for t in texts:
        assert " ".join(t.replace("\\[", "[").split()) in shown, t


def test_ctrl_c_says_where_the_work_is_and_how_to_resume(tmp_path, monkeypatch):
    import numpy as np

    import hume_ssl.hume.run as run

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "label_run", interrupted)
    np.save(tmp_path / "a.npy", np.zeros((4, 2), np.float32))
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["label", "--phi1", str(tmp_path / "a.npy"), "--phi2",
                                   str(tmp_path / "a.npy"), "--out", str(out), "--k", "2"])
    assert res.exit_code == 130  # before: "the work finished so far is kept in" a folder
    text = " ".join(res.output.split())  # that did not exist
    assert f"nothing was written yet ({out} was not created)" in text, text
    assert "run the same command again (continue with)" in text  # nothing to resume
    out.mkdir()
    res = CliRunner().invoke(app, ["label", "--phi1", str(tmp_path / "a.npy"), "--phi2",
                                   str(tmp_path / "a.npy"), "--out", str(out), "--k", "2"])
    assert res.exit_code == 130
    assert f"kept in {out}" in res.output and "run the same command again" in res.output
    assert "again to resume it" in " ".join(res.output.split())


def test_train_fixmatch_options_are_named_apart_and_flags_are_flags():
    text = CliRunner().invoke(app, ["train-fixmatch", "--help"]).output
    assert "--random-state" in text and "--seed-labels" in text and "--data-root" in text
    assert "--no-resume" in text and "--no-compile" in text  # flags, shown as flag pairs
    assert "--data-root" in CliRunner().invoke(app, ["predict", "--help"]).output
    assert "--chunk-size" in CliRunner().invoke(app, ["seed", "--help"]).output


def test_deprecated_names_still_work_with_a_warning(tmp_path):
    res = CliRunner().invoke(app, ["train-fixmatch", "--indices", str(tmp_path / "none.npy"),
                                   "--labels", str(tmp_path / "l.npy"), "--dataset", "cifar10",
                                   "--seed", "3", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2  # the files do not exist: a clear error, after the warnings
    assert "--seed is now --random-state" in res.output
    assert "--labels is now --seed-labels" in res.output
    assert not (tmp_path / "r").exists()


def test_an_option_and_its_old_name_together_are_refused(tmp_path):
    """Before: `--random-state 7 --seed 1` ran with 1 (the old name won), saying only that
    --seed is deprecated."""
    res = CliRunner().invoke(app, ["train-fixmatch", "--indices", str(tmp_path / "none.npy"),
                                   "--dataset", "cifar10", "--random-state", "7", "--seed", "1",
                                   "--out", str(tmp_path / "r")])
    assert res.exit_code == 2, res.output
    assert "give --random-state or its old name --seed, not both" in res.output
    assert not (tmp_path / "r").exists()
    res = CliRunner().invoke(app, ["train-fixmatch", "--help"])  # ctx is no option
    assert res.exit_code == 0 and "--ctx" not in res.output


def test_data_root_reaches_the_dataset_registry(tmp_path):
    """train-fixmatch looks for a registry dataset under --data-root (offline here: the error
    names that folder)."""
    root = tmp_path / "dr"
    (tmp_path / "s.csv").write_text("index,label\n0,0\n1,1\n")
    res = CliRunner().invoke(app, ["train-fixmatch", "--indices", str(tmp_path / "s.csv"),
                                   "--dataset", "cifar10", "--data-root", str(root),
                                   "--out", str(tmp_path / "r"), "--device", "cpu"])
    assert res.exit_code == 2 and str(root) in res.output, res.output
    assert not (tmp_path / "r").exists()


def test_switches_show_no_value_in_help():
    """Before: --transductive, --force, --strict, --quick showed `<bool>`, and `--force true`
    then failed with "unexpected extra argument (true)"."""
    import re

    text = CliRunner().invoke(app, ["label", "--help"], env={"COLUMNS": "200"}).output
    line = next(l for l in text.splitlines() if "--transductive" in l)  # noqa: E741
    assert "<bool>" not in line and re.search(r"--k\s+<int>", text)


@pytest.mark.parametrize("cmd", [[], ["seed"], ["export"]])
def test_help_and_version_show_no_type(cmd):
    """Before: `--help` (every command) and `--version` were listed as `<bool>` options."""
    text = CliRunner().invoke(app, [*cmd, "--help"], env={"COLUMNS": "200"}).output
    for line in [l for l in text.splitlines() if "--help" in l or "--version" in l]:  # noqa: E741
        assert "<bool>" not in line, line


def test_root_help_lists_commands_in_pipeline_order():
    """Before: in the order they were defined (label first, demo last)."""
    text = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    order = ["demo", "pretrain", "features", "label", "seed", "export", "train-fixmatch",
             "predict"]
    found = [text.find(f"\u2502 {name} ") for name in order]
    assert all(i >= 0 for i in found) and found == sorted(found), (found, text)


def test_messages_name_only_options_that_exist():
    """Before: a setting no command has (PretrainConfig.momentum, SeedConfig.max_overlap) was
    named in its range error as an option ("--momentum 1: must be ..."); it is named by its
    Python name, and every setting an error names as an option is one."""
    import dataclasses

    import typer

    from hume_ssl.core.params import flag_of
    from hume_ssl.fixmatch.config import FixMatchConfig
    from hume_ssl.hume.config import HumeConfig
    from hume_ssl.pretrain.config import PretrainConfig
    from hume_ssl.seeds.config import SeedConfig

    options = {o for c in typer.main.get_command(app).commands.values() for p in c.params
               for o in p.opts + p.secondary_opts}
    for cls in (HumeConfig, SeedConfig, FixMatchConfig, PretrainConfig):
        named = {f.name: flag_of(f) for f in dataclasses.fields(cls)}
        assert not {n: o for n, o in named.items() if o.startswith("--") and o not in options}
    from hume_ssl.core.errors import HumeSSLError

    with pytest.raises(HumeSSLError, match=r"^momentum 1: must be a number in \[0, 1\)"):
        PretrainConfig(momentum=1.0).resolve()
    with pytest.raises(HumeSSLError, match=r"^max_overlap 1: must be"):
        SeedConfig(max_overlap=1.0).validate()


def test_ctrl_c_while_the_app_loads_is_one_line():
    """Before: a Ctrl-C in the first seconds (torch loading) printed Python's traceback, since
    the `hume-ssl` script imported hume_ssl.cli, and torch with it, before any handler existed.
    The script runs hume_ssl.__main__:main (pyproject.toml), as `python -m hume_ssl` does."""
    from pathlib import Path

    toml = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert 'hume-ssl = "hume_ssl.__main__:main"' in toml.splitlines()
    script = (
        "import sys\n"
        "from hume_ssl.__main__ import main\n"
        "assert 'torch' not in sys.modules, 'the entry point loads torch before its handler'\n"
        "class Stop:\n"  # a Ctrl-C at the moment the command line (and torch) is imported
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.startswith('hume_ssl.cli'):\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Stop())\n"
        "main()\n"
    )
    out = _python("-c", script)
    assert out.returncode == 130, out.stderr
    assert out.stderr == "interrupted while starting: nothing was done\n"


def test_the_old_config_name_warns_once_on_from_import():
    """Before: `from hume_ssl import SelectionConfig` warned twice (importlib's hasattr, then
    the import)."""
    script = (
        "import warnings\n"
        "warnings.simplefilter('always')\n"
        "from hume_ssl import SelectionConfig\n"
    )
    out = _python("-c", script)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("SelectionConfig is deprecated") == 1, out.stderr
    assert out.stderr.startswith("<string>:3: FutureWarning"), out.stderr


@pytest.mark.parametrize("args, line", [
    (["seed", "--per-class", "abc", "x"], "error: --per-class 'abc': must be a whole number, "
                                          "at least 1."),
    (["label", "--restarts=1e3"], "error: --restarts '1e3': must be a whole number, at least 1."),
    (["seed", "--min-support", "x", "y"], "error: --min-support 'x': must be a number in [0, 1]."),
    (["seed", "--seed", "abc", "x"], "error: --seed 'abc': must be a whole number, at least 0."),
])
def test_a_value_of_the_wrong_type_is_one_line(args, line):
    """Before: typer's box, "Invalid value for '--per-class': Input should be a valid integer,
    unable to parse string as an integer", naming neither the value nor what the option takes."""
    res = CliRunner().invoke(app, args, terminal_width=200)
    assert res.exit_code == 2, res.output
    assert res.output.strip() == line


@pytest.mark.parametrize("args, says", [(["label"], "Missing option '--phi1'"),
                                        (["features"], "Missing argument 'dataset'")])
def test_a_missing_option_keeps_typers_message(args, says):
    res = CliRunner().invoke(app, args, terminal_width=200)
    assert res.exit_code == 2 and says in res.output, res.output


def test_every_setting_that_names_a_flag_is_an_option_of_a_command():
    """Before: PretrainConfig.weight_decay and HumeConfig.checkpoint_every were options of no
    command, yet their errors named --weight-decay and --checkpoint-every (other commands'
    flags, or none). A setting that is no option says flag=None; its errors name the field."""
    import dataclasses

    import typer.main

    import hume_ssl.cli.inputs as inputs
    from hume_ssl.cli.options import _on_cli
    from hume_ssl.fixmatch.config import FixMatchConfig
    from hume_ssl.hume.config import HumeConfig
    from hume_ssl.pretrain.config import PretrainConfig
    from hume_ssl.seeds.config import SeedConfig

    shown = {id(f) for c in typer.main.get_command(app).commands.values()
             for f in c.fields.values()}
    classes = [HumeConfig, SeedConfig, PretrainConfig, FixMatchConfig,
               *(getattr(inputs, n) for n in dir(inputs) if n.endswith("Inputs"))]
    missing = [f"{cls.__name__}.{f.name}" for cls in classes for f in dataclasses.fields(cls)
               if _on_cli(f) and id(f) not in shown]
    assert not missing


def test_features_help_lists_every_registered_backbone():
    """Before: --backbone's help was a literal list that lacked clip_vit_b32 and timm's :logits
    (and spelt the families unlike the unknown-backbone error's list)."""
    from hume_ssl.models.backbones import ALIASES, FAMILIES

    res = CliRunner().invoke(app, ["features", "--help"], terminal_width=400,
                             env={"COLUMNS": "400"})
    shown = " ".join(res.output.replace("\u2502", " ").split())
    assert all(name in shown for name in [*ALIASES, *FAMILIES]), shown
