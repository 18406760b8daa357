"""The package's shape: layers that import only downwards, no import cycles, and a module map
in docs/ARCHITECTURE.md that lists exactly the files there are.

The layer table below is the one place the order is written; each folder's `__init__.py`
says the same in its "May import:" line, and a test holds the two together.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / "policysite"

# Each layer, and the layers it may import (besides itself). Lower layers never import higher.
LAYERS: dict[str, set[str]] = {
    "shared": set(),
    "content": {"shared"},
    "render": {"content", "shared"},
    "build": {"render", "content", "shared"},
    "collector.core": {"shared"},
    "collector.http": {"collector.core", "shared"},
    "collector.commands": {"collector.http", "collector.core", "shared"},
    "serve": {"build", "render", "content", "collector.http", "collector.core", "shared"},
    "commands": {
        "serve", "build", "render", "content", "collector.commands", "collector.http",
        "collector.core", "shared",
    },
}  # fmt: skip

# Modules outside a folder of their own: the shared model and errors, and the command line.
TOP_LEVEL = {
    "policysite": "commands",
    "policysite.__main__": "commands",
    "policysite.cli": "commands",
    "policysite.arguments": "shared",
    "policysite.digests": "shared",
    "policysite.errors": "shared",
    "policysite.model": "shared",
    "policysite.log_names": "shared",
    "policysite.catalogs": "shared",
    "policysite.collector": "collector.core",
    "policysite.collector.asgi": "collector.http",  # the old path of the ASGI app, kept
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    if module in TOP_LEVEL:
        return TOP_LEVEL[module]
    for layer in sorted(LAYERS, key=len, reverse=True):
        if module.startswith(f"policysite.{layer}.") or module == f"policysite.{layer}":
            return layer
    raise AssertionError(f"{module} is in no layer: add it to LAYERS or TOP_LEVEL")


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The package's modules that `path` imports, at any depth (a lazy import inside a
    function is still a dependency), `if TYPE_CHECKING:` blocks included."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from policysite.build import check`: check is a module, not a name
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != module and target.startswith("policysite"):
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    edges = {name: imports_of(path, known) for name, path in found.items()}
    # A package's own __init__ is imported on the way to any of its modules; that is not a
    # dependency of the importer on the package's docstring.
    return {
        name: {t for t in targets if not (found[t].name == "__init__.py" and t != name)}
        for name, targets in edges.items()
    }


def test_every_module_is_in_a_layer():
    for name in modules():
        layer_of(name)


def test_no_layer_imports_a_higher_one():
    wrong = [
        f"{name} ({layer_of(name)}) imports {target} ({layer_of(target)})"
        for name, targets in graph().items()
        for target in sorted(targets)
        if layer_of(target) != layer_of(name) and layer_of(target) not in LAYERS[layer_of(name)]
    ]
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_there_are_no_import_cycles():
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_the_layer_check_sees_a_violation_and_a_cycle(tmp_path):
    """The walker itself: a module of a lower layer importing a higher one is caught."""
    path = PACKAGE / "content" / "sources.py"
    found = imports_of(path, set(modules()))
    assert "policysite.content.lock" in found  # a real edge the graph must see
    assert layer_of("policysite.render.html") == "render"
    assert "render" not in LAYERS["content"]


@pytest.mark.parametrize("package", sorted(p for p in LAYERS if p not in ("shared", "commands")))
def test_each_folder_says_what_it_is_for_and_what_it_may_import(package):
    init = PACKAGE / Path(*package.split(".")) / "__init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text("utf-8"))) or ""
    assert len(doc.splitlines()[0]) > 20, f"{init}: say in its docstring what the folder is for"
    match = re.search(r"^May import: (.+?)\.?$", doc, re.M)
    assert match, f"{init}: the docstring needs a 'May import: …' line"
    said = {name.strip() for name in match[1].split(",")} - {"nothing else"}
    assert said == LAYERS[package], f"{init} says {sorted(said)}, the layer table says " + str(
        sorted(LAYERS[package])
    )


def test_architecture_module_map_lists_every_file_of_the_package():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text("utf-8")
    block = text.split("<!-- module map -->", 1)[1].split("```", 2)[1]
    listed: set[str] = set()
    for line in block.splitlines():
        first = line.split("  ", 1)[0].strip()
        if not first.startswith("policysite"):
            continue
        if "{" in first:  # policysite/collector/commands/{exports,stats,report}.py
            head, names = first.split("{", 1)
            names, tail = names.split("}", 1)
            listed.update(f"{head}{name}{tail}" for name in names.split(","))
        else:
            listed.add(first)
    files = {path.relative_to(ROOT).as_posix() for path in PACKAGE.rglob("*.py")}
    missing = sorted(files - listed - {f for f in files if f.endswith("__init__.py")})
    extra = sorted(listed - files - {name for name in listed if name.endswith("/")})
    folders = {
        path.relative_to(ROOT).as_posix() + "/"
        for path in PACKAGE.rglob("*")
        if path.is_dir() and (path / "__init__.py").exists()
    }
    assert not missing, f"docs/ARCHITECTURE.md's module map leaves out {missing}"
    assert not extra, f"docs/ARCHITECTURE.md's module map lists files that do not exist: {extra}"
    assert folders - {"policysite/"} <= listed, "the map names every folder: " + str(
        sorted(folders - listed - {"policysite/"})
    )


def test_the_asgi_app_keeps_its_old_path_for_deployments():
    """`uvicorn policysite.collector.asgi:app` (docs/collector.md) is the new app itself."""
    import policysite.collector.asgi as old
    import policysite.collector.http.asgi as new

    assert old.app is new.app and old.create_app is new.create_app
