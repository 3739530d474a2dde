"""The layering contract: the pure core never imports the outer layers.

Parsed with ast, so function-level imports (the usual way a leak hides) count
as much as module-level ones. A violation names the file, line and module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tripline"
CORE = ("media", "hashing", "index", "normalise", "keypoints", "provenance", "text", "links", "policy", "signals")
OUTER = ("store", "service", "cli", "batch")


def _module_of(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path = SRC) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = _module_of(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # `from tripline import store` imports tripline.store.
            out += [(node.lineno, f"{mod}.{a.name}" if mod == "tripline" else mod) for a in node.names]
    return out


def violations(root: Path = SRC) -> list[str]:
    found = []
    forbidden = tuple(f"tripline.{o}" for o in OUTER)
    for pkg in CORE:
        base = root / pkg
        files = sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
        for f in files:
            if not f.exists():
                continue
            for line, mod in imported_modules(f, root):
                if any(mod == b or mod.startswith(b + ".") for b in forbidden):
                    found.append(f"{f.relative_to(root.parent)}:{line} imports {mod}")
    return found


def test_the_core_imports_no_outer_layer():
    assert violations() == [], "the pure core imports store/service/cli/batch:\n" + "\n".join(violations())


@pytest.mark.parametrize(
    "source",
    [
        "from tripline.store import Store\n",
        "def f():\n    import tripline.service.core\n",
        "from tripline import cli\n",
        "from ...batch import run\n",
    ],
)
def test_a_violation_is_caught(tmp_path, source):
    pkg = tmp_path / "tripline" / "hashing" / "sub"
    pkg.mkdir(parents=True)
    (pkg / "leak.py").write_text(source)
    found = violations(tmp_path / "tripline")
    assert len(found) == 1 and "tripline/hashing/sub/leak.py" in found[0]


def test_relative_imports_inside_the_core_are_fine(tmp_path):
    pkg = tmp_path / "tripline" / "hashing"
    pkg.mkdir(parents=True)
    (pkg / "a.py").write_text("from . import pdq\nfrom .digests import digests\nfrom tripline.index import PDQIndex\n")
    assert violations(tmp_path / "tripline") == []
