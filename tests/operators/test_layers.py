"""Imports flow one way: operators and sensors -> triggers -> hooks; shared pieces in ``common``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lockit_provider

PACKAGE = Path(lockit_provider.__file__).parent
# Which of the task-side layers each one must never import (sideways or upwards).
FORBIDDEN = {
    "operators": {"sensors"},
    "sensors": {"operators"},
    "triggers": {"operators", "sensors"},
    "common": {"operators", "sensors", "triggers"},
}


def imported_layers(path: Path) -> set[str]:
    """Return the ``lockit_provider`` subpackages a module imports (at any level of the module)."""
    layers = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        layers |= {
            name.split(".")[1] for name in names if name.startswith("lockit_provider.") and "." in name
        }
    return layers


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_sideways_or_upward_imports(layer):
    modules = sorted((PACKAGE / layer).glob("*.py"))
    assert modules
    wrong = {str(path.relative_to(PACKAGE)): imported_layers(path) & FORBIDDEN[layer] for path in modules}
    assert {module: layers for module, layers in wrong.items() if layers} == {}
