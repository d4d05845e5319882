"""CLAIMS.md, the index of every published figure, names commands that exist: each recipe file
and its `--sections`, each test file and test name, each `hume-ssl` command. A renamed section,
recipe or test breaks this test instead of silently orphaning a figure."""

import ast
import re
import shlex
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    """The backticked commands of the `command` column of CLAIMS.md's tables."""
    rows = [line for line in (REPO / "CLAIMS.md").read_text().splitlines()
            if line.startswith("| ") and not line.startswith("| id ")]
    cmds = []
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) >= 4:
            cmds += re.findall(r"`([^`]+)`", cells[3])
    return cmds


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def _flags(cmd: str) -> list[str]:
    """The options a command names, optional [bracketed] ones included."""
    return [w.split("=")[0].strip("[]") for w in shlex.split(cmd) if w.strip("[").startswith("--")]


def _parses(cmd: str) -> None:
    """`hume-ssl CMD ...` as written parses: its options exist and the required ones are given
    (optional [bracketed] parts left out; a placeholder value such as N may fail its type)."""
    import typer

    from hume_ssl.cli.app import app

    words = shlex.split(re.sub(r"\[[^\]]*\]", "", cmd))
    command = typer.main.get_command(app).commands[words[1]]
    try:  # strict: an unknown option fails; a placeholder (DIR, N) or a missing option may stop
        command.make_context(words[1], words[2:])  # the parse early: checked below
    except Exception as e:  # click's (or typer's own copy's) usage errors
        kinds = {k.__name__ for k in type(e).__mro__}
        typed = isinstance(e, typer.Exit) and e.exit_code == 2  # a value of the wrong type:
        assert typed or "BadParameter" in kinds, f"{cmd}: {e}"  # MissingParameter is one too
    ctx = command.make_context(words[1], words[2:], resilient_parsing=True)  # every option
    given = {p.name for p in command.params if ctx.params.get(p.name) is not None}
    given |= {p.name for p in command.params  # an option given a placeholder value
              if any(w in words for w in getattr(p, "opts", []))}
    missing = [p.name for p in command.params if p.required and p.name not in given]
    assert not missing, f"{cmd}: required {missing} not given"


def test_every_claim_names_a_command_that_exists():
    from hume_ssl.cli.app import app

    cmds = _commands()
    assert len(cmds) >= 15, "CLAIMS.md lost its tables"
    commands = {c.name or c.callback.__name__.replace("_", "-")
                for c in app.registered_commands}
    for cmd in cmds:
        words = shlex.split(cmd)
        if words[:1] == ["python"] and words[1].startswith("recipes/"):
            recipe = REPO / words[1]
            assert recipe.exists(), cmd
            src = recipe.read_text()
            options = src + (REPO / "recipes" / "common.py").read_text()  # data_parser's
            for w in _flags(cmd):  # --no-X: X's BooleanOptionalAction
                named = [w] + (["--" + w[5:]] if w.startswith("--no-") else [])
                assert any(f'"{n}"' in options for n in named), f"{cmd}: no option {w}"
            if "--sections" in words:
                for sec in words[words.index("--sections") + 1:]:
                    if sec.startswith("-"):
                        break
                    assert f'"{sec}"' in src, f"{cmd}: no section {sec}"
        elif words[:3] == ["python", "-m", "pytest"]:
            paths = [w for w in words if w.startswith("tests/")]
            assert paths, cmd
            for p in paths:
                file, _, name = p.partition("::")
                assert (REPO / file).exists(), cmd
                if name:
                    assert name in _test_names(REPO / file), cmd
        elif words[:1] == ["hume-ssl"]:
            assert words[1] in commands, cmd
            _parses(cmd)
        elif words[:2] == ["git", "show"]:  # a recipe as it was at a commit of this history
            rev = words[2]
            found = subprocess.run(["git", "cat-file", "-e", rev], cwd=REPO, capture_output=True)
            assert found.returncode == 0, f"{cmd}: {rev} is not in this repository's history"
        else:
            raise AssertionError(f"CLAIMS.md command of an unknown form: {cmd}")


def _shown_commands(path: Path) -> list[str]:
    """Every whole `hume-ssl CMD ...` command a Markdown file shows (backticked or in a code
    block; comments and `...` elisions left out)."""
    text = path.read_text().replace("\\\n", " ")
    found = (re.findall(r"`(hume-ssl [^`]+)`", text)
             + re.findall(r"^\s+(hume-ssl .+)$", text, re.M))
    cmds = [re.sub(r"\s+#.*$", "", c).strip() for c in found]
    return [c for c in cmds if len(c.split()) >= 3 and "..." not in c]


DOCS = sorted((REPO / "docs").glob("*.md"))


def test_readme_hume_ssl_commands_parse():
    """Every whole `hume-ssl CMD ...` command README.md shows names options that exist and the
    required ones."""
    cmds = _shown_commands(REPO / "README.md")
    assert len(cmds) >= 20, "README.md lost its commands"
    for cmd in cmds:
        _parses(cmd)


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_docs_hume_ssl_commands_parse(doc):
    """The same check over docs/*.md: the evidence and reference moved out of README keep their
    commands checked."""
    for cmd in _shown_commands(doc):
        _parses(cmd)


def test_docs_still_show_the_commands_moved_out_of_readme():
    assert len(DOCS) >= 8, "docs/ lost its files"
    assert sum(len(_shown_commands(d)) for d in DOCS) >= 10, "docs/*.md lost their commands"
