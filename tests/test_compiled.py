"""The order path runs the way it was installed: compiled by mypyc where the build could compile, as plain Python
when asked to (``OMS_KIT_PURE_PYTHON=1``), and never from a build older than its source.

CI runs the whole suite both ways (``.ci/run``); these tests make sure each run is the way it claims to be, so a
build that silently fell back to Python cannot pass for the compiled one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import oms_kit
from oms_kit import compiled

ROOT = Path(__file__).resolve().parent.parent


def _pure_asked() -> bool:
    return os.environ.get("OMS_KIT_PURE_PYTHON", "") not in ("", "0")


def _can_compile() -> bool:
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    return shutil.which(sysconfig.get_config_var("CC").split()[0] or "cc") is not None and headers.exists()


def test_the_order_path_is_compiled_unless_pure_python_was_asked_for_or_no_compiler_is_at_hand() -> None:
    state = compiled.compiled()

    assert set(state) == set(compiled.MODULES)
    if _pure_asked():
        assert not any(state.values()), f"OMS_KIT_PURE_PYTHON is set, yet these run compiled: {state}"
    elif os.environ.get("CI") or _can_compile():
        assert all(state.values()), f"a C compiler is at hand, yet these run as Python: {state}"


def test_no_compiled_module_is_older_than_its_source() -> None:
    assert compiled.stale() == []


def test_an_edit_after_the_build_is_named_when_oms_kit_is_imported(tmp_path: Path) -> None:
    # A copy of the package whose compiled modules' sources are newer than their build warns on import, naming
    # every one of them (mypyc reports some modules' files one package level too deep, where no source lies); a
    # pure copy has nothing to warn about.
    package = Path(oms_kit.__file__).parent
    copy = tmp_path / "oms_kit"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    # After the build: the newest of the package's files (what stale() takes as a module's build is older).
    later = max(p.stat().st_mtime for p in copy.rglob("*") if p.is_file()) + 60
    for name in compiled.MODULES:
        source = tmp_path.joinpath(*name.split(".")).with_suffix(".py")
        os.utime(source, (later, later))
    run = subprocess.run([sys.executable, "-W", "default", "-c", "import oms_kit"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=False,
                         env={**os.environ, "PYTHONPATH": str(tmp_path)})

    assert run.returncode == 0, run.stderr
    if all(compiled.compiled().values()):
        named = run.stderr.split("oms_kit: ", 1)[-1].split(" changed after they were compiled", 1)[0].split(", ")
        assert sorted(named) == sorted(compiled.MODULES)
    else:
        assert "changed after they were compiled" not in run.stderr


def test_the_installed_package_runs_compiled_from_any_directory(tmp_path: Path) -> None:
    # A script outside the checkout (an editable install's import hook serves the package, not the checkout's top
    # level) finds the compiled code: the shared library lives inside the package. The environment is this run's
    # (a PYTHONPATH that names another checkout is where this run's oms_kit comes from).
    run = subprocess.run([sys.executable, "-c", "import oms_kit; print(oms_kit.compiled.describe())"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == compiled.describe()
