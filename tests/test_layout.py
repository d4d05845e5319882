"""The package layout's rules, checked on the source: imports point down, no import cycle, no
`_private` name crosses a folder, stages read each other only through artifact modules, and
every JSON file is written by the one strict writer."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "hume_ssl"
# bottom to top: a folder may import from itself and from folders before it
LAYERS = ["core", "data", "augment", "models", "features", "hume", "seeds", "train", "pretrain",
          "fixmatch", "demo", "cli"]
# stage -> {other stage: the only modules of it this stage may import}
ARTIFACTS = {"fixmatch": {"seeds": {"hume_ssl.seeds.artifact"}}}
# modules of the package root: the public API and the `python -m hume_ssl` entry point (to cli)
ROOT = {"hume_ssl", "hume_ssl.__main__"}


def modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = p.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(imported hume_ssl module, names taken from it) for every import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("hume_ssl"):
                found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("hume_ssl")]
    return found


def folder(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if module not in ROOT else None  # None: the package root


def test_every_module_sits_in_a_layer_folder():
    loose = [m for m in modules() if m not in ROOT and folder(m) not in LAYERS]
    assert not loose, f"modules outside the stage folders: {loose}"


def test_imports_point_down_and_private_names_stay_home():
    bad = []
    for mod, path in modules().items():
        src = folder(mod)
        if src is None:  # the package root re-exports the public API
            continue
        for target, names in imports(path):
            dst = folder(target)
            if dst is None:
                bad.append(f"{mod} imports the package root")
                continue
            if LAYERS.index(dst) > LAYERS.index(src):
                bad.append(f"{mod} ({src}) imports {target} ({dst}): upward")
            if dst != src:
                bad += [f"{mod} takes private {n} from {target}" for n in names
                        if n.startswith("_")]
                allowed = ARTIFACTS.get(src, {}).get(dst)
                if allowed is not None and target not in allowed:
                    bad.append(f"{mod} reads {target}; {src} may read {dst} only via {allowed}")
    assert not bad, "\n".join(bad)


def test_no_import_cycle():
    mods = modules()
    graph = {m: {t for t, _ in imports(p) if t in mods and t != m} for m, p in mods.items()}
    for m in list(graph):  # importing a submodule runs its package's __init__ first (except
        # the packages m itself lives in: their __init__ is already running when m is imported)
        parents = {".".join(t.split(".")[:i]) for t in graph[m] for i in range(2, t.count(".") + 1)}
        graph[m] |= {p for p in parents if not (m + ".").startswith(p + ".")}
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in graph.get(m, ()):
            if t == "hume_ssl":
                continue
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack + [m, t]))
            if t not in state:
                visit(t, stack + [m])
        state[m] = 2

    for m in graph:
        if m not in state and m != "hume_ssl":
            visit(m, [])


def test_json_is_written_only_by_the_strict_writer():
    writers = [str(p.relative_to(PKG)) for p in PKG.rglob("*.py")
               if "json.dump" in p.read_text() and p.relative_to(PKG) != Path("core/io.py")]
    assert not writers, f"json.dump(s) outside core/io.py: {writers}"
    assert "allow_nan=False" in (PKG / "core" / "io.py").read_text()


def test_readme_where_things_live_names_every_module():
    """README's "Where things live" table names each module in its folder's row (a new module
    is listed where a reader looks for it)."""
    import re

    text = (PKG.parent / "README.md").read_text()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)/` \|.*$", text, re.M)}
    for name, path in modules().items():
        parts = name.split(".")
        if path.stem in ("__init__", "__main__") or len(parts) < 3:
            continue
        row = rows.get(parts[1], "")
        assert re.search(rf"\b{path.stem}\b", row), f"README 'Where things live' lacks {name}"


def test_test_files_have_names_of_their_own():
    """pytest imports test files by their base name (no __init__.py under tests/): two
    test_x.py in different folders stop the whole run at collection (a CI run did)."""
    names = [p.name for p in (PKG.parent / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
