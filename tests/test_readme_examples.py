"""README's and the getting-started page's examples, run as printed: they cannot drift from the output.

Console blocks (```` ```console ```` with ``$ exafs-cn ...`` lines) are run with the
installed command, from an empty folder where they name only ``--example`` spectra (the
"from any folder" promise) and from the repository's root where they name its files; their
output is compared as doctest compares (``...`` matches anything; a line wrapped in the page
equals the printed line). Python examples (``>>>``) run as doctests.
"""

from __future__ import annotations

import doctest
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", REPO / "docs" / "getting-started.md"]
CONSOLE = re.compile(r"```console\n(.*?)```", re.S)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def console_examples(page: Path) -> list[tuple[str, str]]:
    """(command, expected output) for each ``$ `` line of each console block of ``page``."""
    examples = []
    for block in CONSOLE.findall(page.read_text()):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, expected = chunk.partition("\n")
            examples.append((command.strip(), expected))
    return examples


CASES = [(page, command, expected) for page in PAGES for command, expected in console_examples(page)]


def test_the_pages_have_examples():
    assert len(CASES) >= 3
    assert any("--example" in command for _, command, _ in CASES)


@pytest.mark.parametrize(("page", "command", "expected"), CASES, ids=[f"{p.name}: {c[:50]}" for p, c, _ in CASES])
def test_console_example_prints_what_the_page_shows(page, command, expected, tmp_path):
    argv = shlex.split(command)
    assert argv[0] == "exafs-cn", command
    # The command of the Python running the tests (a venv's), not whichever is first on PATH.
    beside = Path(sys.executable).parent / "exafs-cn"
    executable = str(beside) if beside.exists() else shutil.which("exafs-cn")
    assert executable, "the exafs-cn command is not installed"
    names_files = any(arg.startswith(("tests/", "docs/")) for arg in argv)
    result = subprocess.run([executable, *argv[1:]], cwd=REPO if names_files else tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    checker = doctest.OutputChecker()
    assert checker.check_output(expected, result.stdout, FLAGS), f"{page.name}: `{command}`\nexpected:\n{expected}\ngot:\n{result.stdout}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_examples_print_what_the_page_shows(page, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the examples name no repository file
    monkeypatch.delenv("EXAFS_CN_MODELS", raising=False)
    result = doctest.testfile(str(page), module_relative=False, optionflags=FLAGS)
    if page.name == "README.md":
        assert result.attempted >= 8
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {page.name} failed (see the output above)"
