"""The house's shape, checked: the sizes a reader takes in at a glance (the layers are checked in
test_layers.py). A module, page or function that outgrows them fails here, named."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_CORE_MODULE_LINES = 400
MAX_PAGE_LINES = 250
MAX_FUNCTION_LINES = 60


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_core_modules_and_pages_stay_short():
    long_core = {str(p.relative_to(ROOT)): _lines(p) for p in (ROOT / "mnist_core").rglob("*.py")
                 if _lines(p) > MAX_CORE_MODULE_LINES}
    long_pages = {str(p.relative_to(ROOT)): _lines(p) for p in (ROOT / "app_pages").rglob("*.py")
                  if _lines(p) > MAX_PAGE_LINES}
    assert not long_core, f"core modules over {MAX_CORE_MODULE_LINES} lines: {long_core}"
    assert not long_pages, f"pages over {MAX_PAGE_LINES} lines: {long_pages}"


def long_functions(folders=("mnist_core", "app_pages", "audience")) -> dict[str, int]:
    found = {}
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        found[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = length
    return found


def test_functions_stay_short():
    assert not long_functions(), f"functions over {MAX_FUNCTION_LINES} lines: {long_functions()}"
