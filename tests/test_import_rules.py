"""The layers of ARCHITECTURE.md, enforced: what each module of the package may import.

Read from the source with ``ast`` (nothing is imported): every ``import`` a module holds, at its
top or inside a function, except under ``if TYPE_CHECKING:``. A layer imports only the layers
below it and its own package; a driver or a terminal library only where it belongs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "odoo_sync_cli"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

# Bottom to top; a module may import a module of a lower rank, or of its own group.
RANKS: tuple[tuple[str, ...], ...] = (
    ("odoo_sync_cli", "errors", "models"),  # the version, the error tree, the vocabulary
    ("domain",),  # pure: domains, windows, cursors
    ("planner", "config", "credentials", "progress", "mirror.codec", "allocator"),
    ("odoo",),  # the client over the protocol registry
    ("mirror",),  # the protocols, the choice of backend, the backends
    ("runner",),  # one page: fetch, then commit with its cursor
    ("engine",),  # one function per command
    ("scheduler", "monitor"),  # the loop and its status endpoint
    ("render",),  # the only module that draws
    ("cli",),  # the face
    ("__main__",),
)
# The storage backends: each its own group, with its own driver.
BACKENDS = ("mirror.sqlite", "mirror.postgres")
# Tooling for tests, the demo and the benchmark: they import nothing of the rest, and nothing
# of the rest imports them.
APART = ("simulator", "pgcluster")

# Third-party (and standard) modules allowed only in some places.
ONLY_IN: dict[str, tuple[str, ...]] = {
    "sqlite3": ("mirror.sqlite", "simulator"),
    "sqlite_utils": ("mirror.sqlite",),
    "psycopg": ("mirror.postgres", "pgcluster"),
    "psycopg_pool": ("mirror.postgres",),
    "prometheus_client": ("monitor",),
    "httpx": ("odoo", "simulator"),
    "rich": ("render",),
    "typer": ("cli",),
    "click": (),
}


def short(module: str) -> str:
    return module.removeprefix(f"{PACKAGE}.") if module != PACKAGE else PACKAGE


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = modules()


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(nodes: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in nodes:
        if isinstance(node, ast.If) and _type_checking(node):
            yield from _walk(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                yield from _walk([child])


def imports(module: str) -> set[str]:
    """Every module ``module`` imports: of the package by full name, the others top-level."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _walk(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            # ``from pkg import submodule`` imports the submodule, not only the package.
            target = f"{base}.{alias.name}"
            found.add(target if target in MODULES else base)
    return found


def group(module: str) -> str:
    name = short(module)
    for candidate in ("mirror.codec", *BACKENDS):
        if name == candidate or name.startswith(f"{candidate}."):
            return candidate
    return name.split(".")[0]


def family(group_name: str) -> str:
    """A backend belongs with the package that chooses it."""
    return "mirror" if group_name in BACKENDS else group_name


def rank(module: str) -> int:
    g = family(group(module))
    for number, names in enumerate(RANKS):
        if g in names:
            return number
    raise AssertionError(f"{module} is in no layer of this test: add it to RANKS or APART")


def inner(module: str) -> set[str]:
    return {m for m in imports(module) if m == PACKAGE or m.startswith(f"{PACKAGE}.")}


def test_every_module_is_placed() -> None:
    for module in MODULES:
        if group(module) not in APART:
            rank(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_layers_import_only_what_lies_below(module: str) -> None:
    mine = group(module)
    if mine in APART:
        assert all(group(m) == mine for m in inner(module)), (module, inner(module))
        return
    for target in inner(module):
        theirs = group(target)
        assert theirs not in APART, f"{module} imports {target}, test tooling"
        if family(theirs) == family(mine):
            continue
        assert rank(target) < rank(module), f"{module} imports {target}, a layer above it"


@pytest.mark.parametrize("library", sorted(ONLY_IN))
def test_drivers_and_terminal_libraries_stay_in_their_place(library: str) -> None:
    for module in MODULES:
        used = {m.split(".")[0] for m in imports(module)}
        if library in used:
            assert group(module) in ONLY_IN[library], f"{module} imports {library}"


def test_the_backend_is_chosen_in_one_place() -> None:
    for module in MODULES:
        if short(module) == "mirror":
            continue
        mine = group(module)
        for target in inner(module):
            theirs = group(target)
            if theirs in BACKENDS and theirs != mine:
                raise AssertionError(f"{module} names a backend: {target}")


def test_the_vocabulary_and_the_watchers_import_no_storage() -> None:
    assert inner(f"{PACKAGE}.models") == set()
    assert {m.split(".")[0] for m in imports(f"{PACKAGE}.models")} <= {
        "__future__",
        "json",
        "collections",
        "dataclasses",
        "datetime",
        "typing",
    }
    for module in (f"{PACKAGE}.render", f"{PACKAGE}.progress"):
        assert not [m for m in inner(module) if group(m).startswith("mirror")], module


def test_no_module_outside_the_simulator_is_over_1000_lines() -> None:
    for module, path in MODULES.items():
        if group(module) == "simulator":
            continue
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 1000, f"{module} has {lines} lines"


def test_no_import_cycle() -> None:
    graph = {m: {t for t in inner(m) if t in MODULES and t != m} for m in MODULES}
    state: dict[str, int] = {}  # 1 while on the path, 2 once done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_the_rules_can_fail() -> None:
    # The reader sees what it is meant to: a function-level import, a relative one, a
    # ``from package import submodule``, and not what only a type checker reads.
    assert f"{PACKAGE}.mirror.sqlite" in imports(f"{PACKAGE}.mirror")
    assert f"{PACKAGE}.mirror.postgres" in imports(f"{PACKAGE}.mirror")
    assert "psycopg" in imports(f"{PACKAGE}.mirror.postgres.connection")
    assert f"{PACKAGE}.simulator.errors" in imports(f"{PACKAGE}.simulator.query")
    assert f"{PACKAGE}.engine.verify" in imports(f"{PACKAGE}.engine.checks")
    assert "sqlite3" in imports(f"{PACKAGE}.mirror.sqlite.connection")
    assert rank(f"{PACKAGE}.cli") > rank(f"{PACKAGE}.engine.step") > rank(f"{PACKAGE}.models")
