"""Every Python snippet of the README and the docs runs."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNIPPETS = [
    pytest.param(block, id=f"{path.relative_to(ROOT)}:{i}")
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for i, block in enumerate(re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S))
]


def test_there_are_snippets():
    assert len(SNIPPETS) >= 2


@pytest.mark.parametrize("code", SNIPPETS)
def test_snippet_runs(code):
    exec(compile(code, "<snippet>", "exec"), {"__name__": "__snippet__"})


def test_readme_keeps_exactly_two_commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Two commands from a fresh clone\n\n```\n(.*?)```", text, flags=re.S).group(1)
    assert [line.split()[:2] for line in block.strip().splitlines()] == [["make", "demo"], ["make", "test"]]
