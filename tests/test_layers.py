"""The house's layers: every module imports only from its own room or from rooms below it.

Bottom to top (docs/architecture.md says what lives in each):

0. the engine ``pkpd`` (NumPy only; ``tests/pkpd/test_boundary.py`` also runs it without Django);
1. infrastructure: ``audit``, ``events``, ``web`` (request and error helpers), each on its own;
2. identity and access: ``accounts`` (every view decorator, the API access check, ``require``);
3-6. the domain apps in order: ``patients``, ``protocols``, ``infusions``, ``ledger``;
7. cross-app pages: ``reports``;
8. wiring: ``api``, ``urls``, ``settings``, ``asgi``, ``worker``, ``demo``, ``production``, ``backup``,
   ``cli``.

Imports are read with ``ast`` from the source (function-level and ``TYPE_CHECKING`` imports
included: a lazy import upward is still a dependency upward), so no module is executed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ketaclinic"

LAYERS: list[set[str]] = [
    {"pkpd"},
    {"audit", "events", "web"},
    {"accounts"},
    {"patients"},
    {"protocols"},
    {"infusions"},
    {"ledger"},
    {"reports"},
    {"api", "urls", "settings", "asgi", "worker", "demo", "production", "backup", "dbroles", "cli"},
]
# Rooms of one layer that may use each other (the wiring is one room in all but name).
PEERS_MAY_IMPORT = {8}
RANK = {room: rank for rank, rooms in enumerate(LAYERS) for room in rooms}


def room_of(module: str) -> str | None:
    """``ketaclinic.infusions.actions`` -> ``infusions``; None for what is not ours."""
    parts = module.split(".")
    if parts[0] != "ketaclinic" or len(parts) < 2:
        return None
    return parts[1]


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # ``from ketaclinic import demo`` imports the room ``demo``.
            if target == "ketaclinic":
                found += [(node.lineno, f"ketaclinic.{alias.name}") for alias in node.names]
    return found


def upward_imports(path: Path, module: str) -> list[str]:
    here = room_of(module)
    if here is None or here == "__init__":
        return []
    upward = []
    for line, target in imported_modules(path, module):
        there = room_of(target)
        if there is None or there in (here, "__init__"):
            continue
        if RANK[there] < RANK[here]:
            continue
        if RANK[there] == RANK[here] and RANK[here] in PEERS_MAY_IMPORT:
            continue
        upward.append(
            f"line {line}: {target} ({there}, layer {RANK[there]}) from {here} (layer {RANK[here]})"
        )
    return upward


def sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "static" not in p.parts)


def test_every_room_has_a_layer() -> None:
    rooms = {room_of(module_name(p)) for p in sources()}
    rooms.discard("__init__")
    assert rooms - set(RANK) == set(), "add the new room to LAYERS (and to docs/architecture.md)"


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_run_only_downward(path: Path) -> None:
    assert upward_imports(path, module_name(path)) == []


def test_the_walk_catches_an_upward_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from ketaclinic.audit import chain\n"
        "def later():\n"
        "    from ..infusions.models import Session\n"
        "from ketaclinic import demo\n"
    )
    found = upward_imports(probe, "ketaclinic.patients.probe")
    found.sort()
    assert [f.split(":")[0] for f in found] == ["line 3", "line 4"]
    assert "ketaclinic.infusions.models (infusions" in found[0] and "ketaclinic.demo (demo" in found[1]
    assert upward_imports(probe, "ketaclinic.cli") == []
