"""Every Python snippet of the README and the docs runs (a page's snippets in order, in one namespace), and the
Sphinx site builds with warnings as errors."""
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SNIPPETS = {path: re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S) for path in PAGES}


@pytest.mark.parametrize("path", [p for p in PAGES if SNIPPETS[p]], ids=lambda p: str(p.relative_to(ROOT)))
def test_snippets_run(path):
    namespace = {"__name__": "__snippet__"}
    for i, code in enumerate(SNIPPETS[path]):
        exec(compile(code, f"{path.name}:snippet {i}", "exec"), namespace)


def test_readme_keeps_exactly_two_commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Two commands from a fresh clone\n\n```\n(.*?)```", text, flags=re.S).group(1)
    assert [line.split()[:2] for line in block.strip().splitlines()] == [["make", "demo"], ["make", "test"]]


def test_docs_cite_no_commit_and_hold_no_benchmark_log():
    for path in (ROOT / "docs").rglob("*.md"):
        text = path.read_text()
        assert not re.search(r"\b(commit|[0-9a-f]{7,40})\b", text), path
        assert "## Benchmark" not in text, path


def test_every_public_name_has_an_api_entry():
    api = "\n".join(p.read_text() for p in (ROOT / "docs" / "api").glob("*.rst"))
    for package in ("distributions", "mrf", "nn", "priors", "guides", "infer", "pruning", "data", "models", "cli"):
        module = importlib.import_module(f"pyrocomp.{package}")
        missing = [name for name in module.__all__ if not re.search(rf"[\s.]{name}\b", api)]
        assert not missing, f"pyrocomp.{package}: {missing} not in docs/api (run python docs/api/generate.py)"


@pytest.mark.slow
def test_sphinx_builds_without_warnings(tmp_path):
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-d",
                           str(tmp_path / "doctrees"), str(ROOT / "docs"), str(tmp_path / "html")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    pages = {p.stem for p in (tmp_path / "html" / "api" / "generated").glob("*.html")}
    for package in ("nn", "priors", "guides", "infer", "pruning"):
        module = importlib.import_module(f"pyrocomp.{package}")
        classes = [n for n in module.__all__ if isinstance(getattr(module, n), type)]
        assert {f"pyrocomp.{package}.{name}" for name in classes} <= pages
