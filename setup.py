"""Build of oms_kit: the project's metadata is in pyproject.toml; this file adds the compiled order path.

The modules listed in ``oms_kit/compiled.py`` are compiled with mypyc when it can be done, and run as plain Python
when not: without a C compiler or Python's headers (each extension is optional, so a failed compile leaves its
module as source), or when ``OMS_KIT_PURE_PYTHON=1`` is set. ``pip install .`` and ``./run.sh`` work either way.
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent


def _paths() -> list[str]:
    modules = runpy.run_path(str(ROOT / "oms_kit" / "compiled.py"))["MODULES"]
    return [name.replace(".", "/") + ".py" for name in modules]


def _remove_builds(paths: list[str]) -> None:
    # An in-place build of an earlier install would shadow the sources a pure install means to run.
    for path in paths:
        for built in (ROOT / path).parent.glob(Path(path).stem + ".*.so"):
            built.unlink()
    for shared in [*ROOT.glob("*__mypyc.*.so"), *(ROOT / "oms_kit").glob("*__mypyc.*.so")]:
        shared.unlink()  # the compiled modules' shared library (at the top level from builds before it moved)


def extensions() -> list:
    """The compiled modules' extensions, or none for a pure-Python install."""
    paths = _paths()
    if os.environ.get("OMS_KIT_PURE_PYTHON", "") not in ("", "0"):
        _remove_builds(paths)
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:  # a build without the build requirements (--no-build-isolation): plain Python
        return []
    # The build runs before the package's dependencies are installed (a fresh environment has no numpy or pandas
    # yet): their imports are typed Any here, and the modules that are not compiled are read for their types only
    # (errors in them are for `python -m mypy`, which the test suite runs with every dependency installed).
    # The shared library that holds the compiled code is named inside the package (``oms_kit/native__mypyc``): a
    # top-level one is not found by an editable install's import hook when Python starts outside the checkout.
    built = mypycify(["--ignore-missing-imports", "--follow-imports=silent", *paths], opt_level="3",
                     group_name="oms_kit.native")
    for extension in built:
        extension.optional = True  # no compiler, no headers: the module stays Python
    return built


setup(ext_modules=extensions())
