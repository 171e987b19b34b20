"""Every Python snippet in docs/ is a whole file that a test runs, so none is incomplete or stale.

Inline Python (``.. code-block:: python`` or a literal block that is Python code) cannot be run by
a test; a ``literalinclude`` of part of a file shows code without its imports. Both fail here.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("**/*.rst"))
PARTIAL_OPTIONS = (":start-after:", ":end-before:", ":lines:", ":pyobject:", ":start-at:", ":end-at:")
INLINE_PYTHON = re.compile(r"^\s*\.\. (code-block|code|sourcecode)::\s*(python|py|python3|pycon)\s*$", re.MULTILINE)


def _literal_blocks(text: str) -> list[str]:
    """The bodies of ``::`` literal blocks (indented text after a line ending in ``::``)."""
    blocks: list[str] = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if not line.rstrip().endswith("::") or line.lstrip().startswith(".. "):
            continue
        indent = len(line) - len(line.lstrip())
        body: list[str] = []
        for following in lines[number + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        blocks.append(textwrap.dedent("\n".join(body)).strip())
    return blocks


def _is_python_code(block: str) -> bool:
    """Python statements, not a shell line, a URL, JSON or a log excerpt."""
    try:
        tree = ast.parse(block)
    except SyntaxError:
        return False
    statements = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.With)
    return any(isinstance(node, statements) for node in ast.walk(tree)) or any(
        isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) for node in tree.body
    )


def _python_includes(page: Path) -> list[tuple[Path, list[str]]]:
    """Each ``literalinclude`` of a ``.py`` file: the file and the directive's options."""
    found = []
    lines = page.read_text().splitlines()
    for number, line in enumerate(lines):
        match = re.match(r"^(\s*)\.\. literalinclude:: (\S+\.py)\s*$", line)
        if not match:
            continue
        options = []
        for following in lines[number + 1 :]:
            if not following.strip().startswith(":"):
                break
            options.append(following.strip())
        found.append(((page.parent / match.group(2)).resolve(), options))
    return found


TEST_SOURCES = "\n".join(path.read_text() for path in (ROOT / "tests").glob("**/*.py"))


def _run_by_a_test(path: Path) -> bool:
    """Example DAGs are all parsed and run by the example tests; a docs example is named by a test."""
    if path.parent == ROOT / "example_dags":
        return True
    relative = path.relative_to(DOCS / "examples")
    return any(f'"{name}' in TEST_SOURCES for name in (relative.parts[0], relative.stem))


def test_there_are_pages_and_includes() -> None:
    assert len(PAGES) > 10
    assert sum(len(_python_includes(page)) for page in PAGES) > 10


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(DOCS)))
def test_no_inline_python(page: Path) -> None:
    text = page.read_text()
    assert not INLINE_PYTHON.search(text), f"{page.name}: put the code in docs/examples/ and literalinclude it"
    inline = [block.splitlines()[0] for block in _literal_blocks(text) if _is_python_code(block)]
    assert not inline, f"{page.name}: Python in a literal block, which no test runs: {inline}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(DOCS)))
def test_python_includes_are_whole_files_that_a_test_runs(page: Path) -> None:
    for path, options in _python_includes(page):
        assert path.is_file(), f"{page.name}: {path} does not exist"
        partial = [option for option in options if option.startswith(PARTIAL_OPTIONS)]
        assert not partial, f"{page.name}: {path.name} is shown in part ({partial}), without its imports"
        assert _run_by_a_test(path), f"{page.name}: no test runs {path.relative_to(ROOT)}"


@pytest.mark.parametrize(
    ("block", "python"),
    [
        ("from x import y\nhook = Hook()", True),
        ("hook = DataOpsHook()", True),
        ("pip install 'airflow-provider-dataops[emulator]'", False),
        ('{"chosen_options": ["Approve"]}', False),
        ("export AIRFLOW_CONN_DATAOPS_DEFAULT='dataops://:t@host'", False),
    ],
)
def test_the_python_detector(block: str, python: bool) -> None:
    assert _is_python_code(block) is python
