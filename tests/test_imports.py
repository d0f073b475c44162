"""The shape of oms_kit's imports, read from the source with ``ast``: no module imports itself back through others,
and the core never imports the widgets or a widget library (the widgets are a leaf on top of the core).

Every import counts, including those inside functions (they run on the first call); only those under
``if TYPE_CHECKING:`` are left out, since they never run.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDGETS = "oms_kit.widgets"
WIDGET_LIBRARIES = ("ipywidgets", "anywidget", WIDGETS)


def module_names(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Every module of ``packages`` under ``root``, by dotted name (a package by its own name)."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _runs(node: ast.AST) -> list[ast.AST]:
    # The statements that can run: an ``if TYPE_CHECKING:`` block's body never does (its ``else`` does).
    if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
        return list(node.orelse)
    return list(ast.iter_child_nodes(node))


def imported(name: str, path: Path, is_package: bool) -> set[str]:
    """The dotted names the module ``name`` imports anywhere in its code, relative imports resolved."""
    names: set[str] = set()
    todo: list[ast.AST] = [ast.parse(path.read_text(), str(path))]
    while todo:
        node = todo.pop()
        todo.extend(_runs(node))
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)  # ``from pkg import module``
    return names


def import_graph(root: Path, packages: tuple[str, ...]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(edges between the modules of ``packages``, every name each module imports)."""
    modules = module_names(root, packages)
    everything = {m: imported(m, p, p.name == "__init__.py") for m, p in modules.items()}
    edges = {m: {n for n in names if n in modules and n != m} for m, names in everything.items()}
    return edges, everything


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: each strongly connected group of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in sorted(edges.get(module, ())):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return sorted(groups)


def widget_imports_in_core(everything: dict[str, set[str]]) -> dict[str, list[str]]:
    """Modules outside ``oms_kit.widgets`` that import a widget library or the widgets, with what they import."""
    def is_widgets(name: str) -> bool:
        return any(name == lib or name.startswith(lib + ".") for lib in WIDGET_LIBRARIES)

    return {m: sorted(n for n in names if is_widgets(n)) for m, names in everything.items()
            if not (m == WIDGETS or m.startswith(WIDGETS + ".")) and any(is_widgets(n) for n in names)}


# -- the real package ---------------------------------------------------------------------------------------------


def test_import_oms_kit_leaves_the_client_and_server_stacks_unloaded_until_asked_for():
    # A backtest never pays for httpx, websockets or the server (import time, and objects the collector walks).
    probe = (
        "import json, sys\n"
        "import oms_kit as ok\n"
        "heavy = ('httpx', 'websockets', 'fastapi', 'uvicorn', 'ipywidgets', 'oms_kit.client', 'oms_kit.service')\n"
        "before = [m for m in heavy if m in sys.modules]\n"
        "names = [ok.connect.__name__, ok.connect_sync.__name__, ok.RemoteError.__name__]\n"
        "from oms_kit import connect_sync\n"
        "try:\n"
        "    ok.no_such_name\n"
        "    missing = None\n"
        "except AttributeError as error:\n"
        "    missing = str(error)\n"
        "print(json.dumps([before, names, 'httpx' in sys.modules, missing]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    before, names, loaded, missing = json.loads(done.stdout)

    assert before == []
    assert names == ["connect", "connect_sync", "RemoteError"] and loaded
    assert missing == "module 'oms_kit' has no attribute 'no_such_name'"


def test_oms_kit_has_no_import_circle():
    edges, _ = import_graph(ROOT, ("oms_kit",))

    assert len(edges) > 30 and "oms_kit.widgets.base" in edges and "oms_kit.oms" in edges["oms_kit.sync"]
    assert cycles(edges) == []


def test_only_the_widgets_import_ipywidgets_or_the_widgets():
    _, everything = import_graph(ROOT, ("oms_kit",))

    assert widget_imports_in_core(everything) == {}
    assert "ipywidgets" in everything["oms_kit.widgets.base"]  # the check sees the widgets' own imports


def test_the_core_is_the_only_first_party_package():
    # A top-level ``widgets`` package would shadow (or be shadowed by) any other of that name on sys.path.
    packages = sorted(p.parent.name for p in ROOT.glob("*/__init__.py"))
    assert packages in (["oms_kit"], ["oms_kit", "tests"]), packages


# -- the checks themselves, on module sets made for them ----------------------------------------------------------


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


OLD_LAYOUT = {  # the layout before the widgets moved: OMS.dashboard() imported them lazily, they imported sync
    "oms_kit/__init__.py": "from oms_kit.oms import OMS\nfrom oms_kit.sync import open_sync\n",
    "oms_kit/models.py": "import decimal\n",
    "oms_kit/oms.py": "from oms_kit.models import Order\n\nclass OMS:\n    def dashboard(self):\n"
                      "        from widgets import Dashboard\n        return Dashboard(self)\n",
    "oms_kit/sync.py": "from oms_kit.oms import OMS\n",
    "widgets/__init__.py": "from widgets.base import Panel as Dashboard\n",
    "widgets/base.py": "import ipywidgets as w\n\nfrom oms_kit.sync import SyncOMS\n",
}


def test_a_circle_through_a_lazy_import_is_found(tmp_path):
    edges, _ = import_graph(write(tmp_path, OLD_LAYOUT), ("oms_kit", "widgets"))

    assert cycles(edges) == [["oms_kit.oms", "oms_kit.sync", "widgets", "widgets.base"]]


def test_a_relative_circle_is_found_and_a_type_checking_import_is_not_one(tmp_path):
    root = write(tmp_path, {
        "oms_kit/__init__.py": "",
        "oms_kit/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from oms_kit.b import B\n",
        "oms_kit/b.py": "from . import a\n",
        "oms_kit/c.py": "def later():\n    from .d import D\n",
        "oms_kit/d.py": "from oms_kit.c import later\n",
    })
    edges, _ = import_graph(root, ("oms_kit",))

    assert edges["oms_kit.b"] == {"oms_kit", "oms_kit.a"} and edges["oms_kit.a"] == set()
    assert cycles(edges) == [["oms_kit.c", "oms_kit.d"]]


def test_a_core_module_importing_the_widgets_or_ipywidgets_is_found(tmp_path):
    root = write(tmp_path, {
        "oms_kit/__init__.py": "",
        "oms_kit/oms.py": "class OMS:\n    def dashboard(self):\n        from oms_kit.widgets import Dashboard\n",
        "oms_kit/backtest.py": "def bar():\n    import anywidget\n    from tqdm.auto import tqdm\n",
        "oms_kit/sync.py": "from ipywidgets import HTML\n",
        "oms_kit/widgets/__init__.py": "import ipywidgets\nfrom oms_kit.widgets.base import Panel\n",
        "oms_kit/widgets/base.py": "import ipywidgets as w\nfrom oms_kit.oms import OMS\n",
    })
    _, everything = import_graph(root, ("oms_kit",))

    assert widget_imports_in_core(everything) == {
        "oms_kit.backtest": ["anywidget"],
        "oms_kit.oms": ["oms_kit.widgets", "oms_kit.widgets.Dashboard"],
        "oms_kit.sync": ["ipywidgets", "ipywidgets.HTML"],
    }
