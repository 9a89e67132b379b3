"""The data modules import each other without cycles (demo needs no source, sources use demo)."""

import ast
from pathlib import Path

import toklab.data

PACKAGE = Path(toklab.data.__file__).parent


def imports_of(path: Path) -> set[str]:
    """The toklab.data modules ``path`` imports anywhere (module level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("toklab.data."):
            found.add(node.module.removeprefix("toklab.data."))
    return found


def test_no_import_cycles():
    graph = {p.stem: imports_of(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for module in graph.get(start, ()):
            if module == goal or (module not in seen and reaches(module, goal, seen | {module})):
                return True
        return False

    cycles = [module for module in graph if reaches(module, module, set())]
    assert not cycles, f"import cycles through {cycles}"
    assert "sources" not in graph["demo"] and "demo" in graph["sources"]
