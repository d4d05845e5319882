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
    _names_a_dataset(cmd, ctx.params.get("dataset"))


def _names_a_dataset(cmd: str, name) -> None:
    """A dataset a command names is one of the registry's (or a path kind's, imagefolder:PATH),
    unless it is a placeholder (DATASET, or a shell variable, "$D")."""
    from hume_ssl.data.datasets import dataset_names

    if not isinstance(name, str) or re.fullmatch(r"[A-Z][A-Z0-9_]*|\$.*", name):
        return
    names = dataset_names()
    assert name in names or f"{name.partition(':')[0]}:PATH" in names, (
        f"{cmd}: no dataset {name!r} (the registry: {', '.join(names)})")


class _Parsed(Exception):
    """Raised in place of a recipe's work once argparse has taken its command line."""


def _recipe_parser(recipe: Path, cache: dict = {}):  # noqa: B006 (one parser per recipe)
    """The recipe's own argparse parser, caught as its main() asks it to parse (nothing runs)."""
    import argparse
    import runpy
    import sys

    if recipe not in cache:
        def caught(self, args=None, namespace=None):
            raise _Parsed(self)

        parser = argparse.ArgumentParser  # parse_args calls parse_known_args: both caught
        real = parser.parse_args, parser.parse_known_args
        parser.parse_args = parser.parse_known_args = caught
        argv, sys.argv = sys.argv, [str(recipe)]
        sys.path.insert(0, str(recipe.parent))  # recipes import recipes/common.py
        try:
            runpy.run_path(str(recipe), run_name="__main__")
            cache[recipe] = None  # it ran without parsing: no parser to check against
        except _Parsed as e:
            cache[recipe] = e.args[0]
        finally:
            (parser.parse_args, parser.parse_known_args), sys.argv = real, argv
            sys.path.remove(str(recipe.parent))
    return cache[recipe]


def _recipe_parses(cmd: str) -> None:
    """`python recipes/X.py ARGS` as written parses with the recipe's own parser: its options
    exist, the required ones are given and the values fit their types and choices (optional
    [bracketed] parts left out; a placeholder value, N or DIR, taken as 1; what follows a shell
    `>`, `&&` or `;` is another command)."""
    import contextlib
    import io

    words = shlex.split(re.split(r"\s(?:>|&&|;)\s", re.sub(r"\[[^\]]*\]", "", cmd))[0])
    words = ["1" if re.fullmatch(r"[A-Z][A-Z0-9_]*", w) else w for w in words]  # N, S, DIR
    parser = _recipe_parser(REPO / words[1])
    assert parser is not None, f"{cmd}: the recipe parsed no command line"
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            parser.parse_args(words[2:])
    except SystemExit as e:
        assert not e.code, f"{cmd}: {err.getvalue().strip().splitlines()[-1]}"


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
            _recipe_parses(cmd)
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
        elif words[:1] == ["bash"]:  # the CI script (its default test run)
            assert (REPO / words[1]).is_file(), cmd
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
             + re.findall(r"^\s+(hume-ssl .+)$", text, re.M)
             + ["hume-ssl " + c for c in  # torchrun's launch of the same command line
                re.findall(r"torchrun [^`\n]*?-m hume_ssl(?:\.cli)? ([^`;\n]+)", text)])
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


def test_docs_launch_torchrun_with_the_handler():
    """torchrun lines launch `-m hume_ssl`: `-m hume_ssl.cli` loads the command line before
    any handler, and a Ctrl-C while it loads gave a traceback per rank."""
    for doc in [REPO / "README.md", *DOCS]:
        assert not re.search(r"torchrun [^`\n]*-m hume_ssl\.cli", doc.read_text()), doc.name


def _shown_recipe_commands(path: Path) -> list[str]:
    """Every whole `python recipes/X.py ARGS` command a Markdown file shows (backticked, also
    across a line break, or in a code block; comments, `...` elisions and a recipe named in
    prose without arguments left out)."""
    text = path.read_text().replace("\\\n", " ")
    found = (re.findall(r"`(?:[A-Z_]+=\S+ )?(python\s+recipes/[^`]+)`", text)
             + re.findall(r"^ {4,}(?:[A-Z_]+=\S+ )?(python recipes/[^`\n]+)$", text, re.M))
    cmds = [" ".join(re.sub(r"\s+#.*$", "", c).split()) for c in found]
    return [c for c in cmds if "..." not in c and len(c.split()) >= 3]


SHOWN = [REPO / "README.md", REPO / "CHANGELOG.md", *DOCS]


@pytest.mark.parametrize("doc", SHOWN, ids=[d.name for d in SHOWN])
def test_shown_recipe_commands_parse(doc):
    """Every recipe command README, CHANGELOG and docs/*.md show parses with the recipe's own
    parser (before: `gpu_check.py --smoke --sections end-to-end` lacked the required --out in
    four places, and `seed_benchmark.py --tables-only --sets` gave --sets no value)."""
    for cmd in _shown_recipe_commands(doc):
        _recipe_parses(cmd)
