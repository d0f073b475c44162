"""Every ```python block of README.md runs as written, so the README cannot drift from the code.

The blocks are read from README.md itself and run in order, grouped by their ``##`` section: the blocks of a
section share one namespace (a later block may use what an earlier one made), each section starts afresh. They run
as notebook cells do, from the repository's root, on a real event loop with top-level ``await`` (each statement is
compiled with ``ast.PyCF_ALLOW_TOP_LEVEL_AWAIT`` and the coroutine it gives is awaited, as IPython does). The
namespace is a module registered in ``sys.modules``, as a kernel's is, so a class defined in a block can be sent to
worker processes (``ok.sweep``).

A statement whose line carries a comment showing what it gives (``order.status  # FILLED``) is evaluated, and what
the comment states that can be checked for real is: order statuses, trading states and violation codes named in
the comment appear in the value; ``Decimal(…)`` in the comment needs a Decimal among the values, "DataFrame" or
"Series" needs every value to be one; a comment written as a violation (``CODE: message``) is the text of one of
the value's items. Amounts are not compared: live prices move.

Shell blocks (```bash) are not run. A section that continues another (``CONTINUES``) runs that one's blocks first.
Whatever a section leaves open (paper traders, OMS objects, figures) is stopped and closed at the end.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import io
import re
import sys
import tokenize
import types
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import oms_kit as ok
from oms_kit.checks import default_checks

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SHELL = {"bash", "sh", "shell", "console"}
# Sections whose blocks use what another section made: the README shows ``oms_kit.widgets.dashboard(oms)`` as a
# cell of the session opened under "A first session".
CONTINUES = {"The live dashboard": "A first session"}
# Generous: the whole README runs in well under a minute; this turns a hang into a failure that names the section.
SECTION_TIMEOUT_S = 600
# Words a comment may name that the value must then show.
DOCUMENTED_CODES = (
    {s.value for s in ok.OrderStatus}
    | {s.value for s in ok.TradingState}
    | {check.code for check in default_checks()}
    | {"TRADING_STATE_REDUCING"}  # the second code of the reduce-only check
)
TABLE_TYPES = {"DataFrame": pd.DataFrame, "Series": pd.Series}  # "pandas DataFrames": every value is one
VIOLATION_TEXT = re.compile(r"^[A-Z][A-Z_]+: \S")  # a comment that is the text of a violation


@dataclass(frozen=True)
class Block:
    section: str  # the ``##`` heading the block is under
    language: str
    line: int  # README line of the block's first line of code
    code: str


def readme_blocks() -> list[Block]:
    """The fenced blocks of README.md, in order, with their section and language."""
    blocks: list[Block] = []
    section = "(before the first section)"
    fence: tuple[str, int, list[str]] | None = None
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), start=1):
        if fence is not None:
            if line.strip() == "```":
                language, start, lines = fence
                blocks.append(Block(section, language, start, "\n".join(lines) + "\n"))
                fence = None
            else:
                fence[2].append(line)
        elif line.startswith("```"):
            fence = (line[3:].strip(), number + 1, [])
        elif line.startswith("## "):
            section = line[3:].strip()
    assert fence is None, f"README.md: the block opened at line {fence[1] - 1} is never closed"
    return blocks


def python_sections() -> dict[str, list[Block]]:
    sections: dict[str, list[Block]] = {}
    for block in readme_blocks():
        if block.language == "python":
            sections.setdefault(block.section, []).append(block)
    return sections


SECTIONS = python_sections()


def test_every_block_is_python_or_shell():
    """A block in another language, or none, would silently escape the checks below."""
    others = [f"line {b.line - 1}: ```{b.language}" for b in readme_blocks() if b.language not in SHELL | {"python"}]
    assert not others, f"README.md blocks that are neither python nor shell: {others}"


def test_sections_continued_exist():
    for section, earlier in CONTINUES.items():
        assert section in SECTIONS and earlier in SECTIONS, (
            f"CONTINUES names README sections with python blocks: {section!r} continues {earlier!r}; "
            f"the sections are {list(SECTIONS)}")


async def test_a_block_that_raises_or_contradicts_its_comment_fails_naming_its_section_and_line():
    """The checks below cannot pass by themselves: an error, or a value the comment does not show, fails."""
    raising = Block("Some section", "python", 10, "x = 1\nx / 0\n")
    with pytest.raises(AssertionError, match=r"section 'Some section', line 11: `x / 0` raised ZeroDivisionError"):
        await run_block(raising, {})
    contradicted = Block("Some section", "python", 20, "status = ok.OrderStatus.REJECTED\nstatus, 2  # (FILLED, 2)\n")
    with pytest.raises(AssertionError, match=r"line 21: the README shows FILLED"):
        await run_block(contradicted, {"ok": ok})
    shown = Block("Some section", "python", 30, "ok.OrderStatus.FILLED, Decimal('1.5')  # (FILLED, Decimal('1.5'))\n")
    await run_block(shown, {"ok": ok, "Decimal": Decimal})
    mistyped = Block("Some section", "python", 40, "[1, 2]  # pandas DataFrames\n")
    with pytest.raises(AssertionError, match=r"line 40: .*\['list'\]"):
        await run_block(mistyped, {})


@pytest.mark.parametrize("section", list(SECTIONS))
async def test_readme_section_runs_as_written(section, monkeypatch):
    # The README's first session is the in-memory default: a database URL from the environment would change it.
    monkeypatch.delenv("OMS_KIT_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(ROOT)
    blocks = SECTIONS[section]
    if section in CONTINUES:
        blocks = SECTIONS[CONTINUES[section]] + blocks
    module = types.ModuleType("readme_" + re.sub(r"\W+", "_", section).strip("_").lower())
    sys.modules[module.__name__] = module
    try:
        async with asyncio.timeout(SECTION_TIMEOUT_S):
            for block in blocks:
                await run_block(block, vars(module))
    finally:
        try:
            await close_what_is_open(vars(module))
        finally:
            del sys.modules[module.__name__]


async def run_block(block: Block, namespace: dict[str, Any]) -> None:
    """Run ``block`` statement by statement in ``namespace``; check the values its comments show."""
    where = f"README.md, section {block.section!r}"
    try:
        tree = ast.parse(block.code, filename=str(README))
    except SyntaxError as exc:
        raise AssertionError(f"{where}: the block at line {block.line} is not valid Python: {exc}") from exc
    ast.increment_lineno(tree, block.line - 1)  # tracebacks then show README's own lines
    comments = dict(block_comments(block))
    values: list[Any] = []  # of the expressions on the current line
    for statement, following in zip(tree.body, [*tree.body[1:], None], strict=True):
        try:
            value = await run_statement(statement, namespace)
        except Exception as exc:
            raise AssertionError(f"{where}, line {statement.lineno}: `{_first_line(block, statement)}` raised "
                                 f"{type(exc).__name__}: {exc}{_orders_note(namespace)}") from exc
        if isinstance(statement, ast.Expr):
            values.append(value)
        line = statement.end_lineno
        if following is None or following.lineno != line:  # the last statement of its line: check the comment
            if values and line in comments:
                check_documented(comments[line], values, f"{where}, line {line}", namespace)
            values = []


async def run_statement(statement: ast.stmt, namespace: dict[str, Any]) -> Any:
    """Run one statement as a notebook cell would; an expression's value is returned."""
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    if isinstance(statement, ast.Expr):
        code = compile(ast.Expression(statement.value), str(README), "eval", flags=flags)
    else:
        code = compile(ast.Module([statement], type_ignores=[]), str(README), "exec", flags=flags)
    result = eval(code, namespace)  # the README's own code is what is under test
    if code.co_flags & inspect.CO_COROUTINE:
        result = await result
    return result


def block_comments(block: Block) -> Iterator[tuple[int, str]]:
    """(README line, text) of each comment in ``block``."""
    for token in tokenize.generate_tokens(io.StringIO(block.code).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0] + block.line - 1, token.string.lstrip("#").strip()


def check_documented(comment: str, values: list[Any], where: str, namespace: dict[str, Any]) -> None:
    """Assert what ``comment`` states of the values of the expressions on its line, where it can be checked."""
    shown = " ".join(repr(v) for v in values)
    named = [word for word in re.findall(r"\b[A-Z][A-Z_]+\b", comment) if word in DOCUMENTED_CODES]
    missing = [word for word in named if not re.search(rf"\b{word}\b", shown)]
    assert not missing, (f"{where}: the README shows {', '.join(missing)} (comment: {comment!r}); the code gave "
                         f"{shown}{_orders_note(namespace)}")
    items = [item for value in values for item in _items(value)]
    if "Decimal(" in comment:
        assert any(isinstance(item, Decimal) for item in items), (
            f"{where}: the README shows a Decimal (comment: {comment!r}); the code gave {shown}")
    tables = tuple(kind for name, kind in TABLE_TYPES.items() if name in comment)
    if tables:
        wrong = [type(value).__name__ for value in values if not isinstance(value, tables)]
        assert not wrong, f"{where}: the README shows {comment!r}; the code gave {wrong}"
    if VIOLATION_TEXT.match(comment):
        texts = [str(item) for item in items]
        assert comment in texts, f"{where}: the README shows {comment!r}; the code gave {texts}"


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, tuple | list) else [value]


def _orders_note(namespace: dict[str, Any]) -> str:
    """The rejected orders of the namespace and their reasons: what a failure of the README most likely comes from."""
    rejected = [f"{name}: {order.status} ({'; '.join(str(v) for v in order.violations) or order.reason})"
                for name, order in namespace.items()
                if isinstance(order, ok.Order) and order.status is ok.OrderStatus.REJECTED]
    return f"\n  rejected orders: {'; '.join(rejected)}" if rejected else ""


def _first_line(block: Block, statement: ast.stmt) -> str:
    lines = block.code.splitlines()[statement.lineno - block.line:statement.end_lineno - block.line + 1]
    return lines[0].strip() + (" …" if len(lines) > 1 else "")


async def close_what_is_open(namespace: dict[str, Any]) -> None:
    """Stop the paper traders and close the OMS objects a section leaves, and its figures."""
    for value in list(namespace.values()):
        if isinstance(value, ok.PaperTrader) and not value.done:
            await value.stop()
    for value in list(namespace.values()):
        if isinstance(value, ok.OMS):
            await value.close()  # closing a closed OMS does nothing
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")
