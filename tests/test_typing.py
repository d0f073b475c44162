"""oms_kit type-checks: ``python -m mypy`` run from the package root with the ``[tool.mypy]`` section of
pyproject.toml reports no error. Run with the suite, so CI (the README's test command) keeps it that way.

mypy keeps its cache in ``.mypy_cache/`` at the package root (ignored by git): the first run checks every module
(a quarter of a minute), later ones only what changed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_reports_no_error() -> None:
    run = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         check=False)
    report = run.stdout + run.stderr
    # 0: no error; 1: errors found; 2: mypy itself failed (a bad config, a crash): both fail with its output.
    assert run.returncode == 0, f"mypy exited with {run.returncode}:\n{report}"
    assert "Success: no issues found" in report, report
