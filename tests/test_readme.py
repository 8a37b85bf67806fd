"""The README as a newcomer reads it: short, a tour of about 40 lines, and its install commands run as written.

The install block runs in bash, as written, in a copy of the repository, with this test run's Python as
`python` and no virtual environment active: it makes a fresh venv, pip-installs the package there (from
the package index, as a user would) and runs the worked example with the installed `tinygrad-bp`.
"""

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_docs import code_blocks

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
INSTALL_TIMEOUT_S = 600  # pip downloads setuptools, graphviz, tqdm and graphviz-pure
# what pip says when it cannot reach the index (then the test skips; CI, which fails on a skip, has the network)
OFFLINE = ("NewConnectionError", "Temporary failure in name resolution", "Network is unreachable",
           "No matching distribution found for setuptools")


def section(title: str) -> str:
    """The README's text under `## title`, up to the next `## ` heading."""
    text = README.read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"README.md has no section '## {title}'"
    return m.group(1)


def test_readme_is_at_most_10000_characters():
    text = README.read_text(encoding="utf-8")
    assert len(text) <= 10_000, f"README.md has {len(text):,} characters; move the details to docs/"


def test_the_tour_is_about_40_lines_and_shows_each_part():
    blocks = code_blocks(section("A tour"))
    [tour] = [b.code for b in blocks if b.lang == "python"]
    lines = [line for line in tour.splitlines() if line.strip()]
    assert 30 <= len(lines) <= 50, f"the tour has {len(lines)} lines of code"
    for part in ("Value(", ".backward()", "MLP(", "gradcheck(", "explain(", "to_svg("):
        assert part in tour, f"the tour does not show {part}"
    cli = "".join(b.code for b in blocks if b.lang == "bash")
    for command in ("worked-example", "train", "predict", "graph"):
        assert f"tinygrad-bp {command}" in cli, f"the tour does not show tinygrad-bp {command}"


def _install_blocks() -> list[str]:
    return [b.code for b in code_blocks(section("Install")) if b.lang == "bash"]


def test_install_has_the_venv_step_and_the_test_command_is_what_ci_runs():
    install, test = _install_blocks()
    assert install.splitlines()[0] == "python -m venv .venv && . .venv/bin/activate"
    assert test.strip() == "pip install -e '.[test]' && python -m pytest -q"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python -m pip install -e '.[test]'" in ci and "\npython -m pytest -q\n" in ci


def _copy_of_the_repository(dest: Path) -> None:
    """The repository's files (those git tracks, when it is a git checkout) copied to dest."""
    files = None
    if (ROOT / ".git").exists() and shutil.which("git"):
        run = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
        if run.returncode == 0:
            files = [f for f in run.stdout.split("\0") if f and (ROOT / f).is_file()]
    if files is None:
        ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "build", ".pytest_cache",
                                        ".hypothesis", ".ruff_cache")
        shutil.copytree(ROOT, dest, ignore=ignore, dirs_exist_ok=True)
        return
    for f in files:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dest / f)


def test_the_install_commands_run_as_written_in_a_fresh_venv(tmp_path):
    install = _install_blocks()[0]
    repo = tmp_path / "tinygrad_bp"
    repo.mkdir()
    _copy_of_the_repository(repo)
    bin_dir = tmp_path / "bin"  # `python` is this run's interpreter, as the README's reader's would be theirs
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    run = subprocess.run(["bash", "-e", "-c", install], cwd=repo, env=env, capture_output=True, text=True,
                         timeout=INSTALL_TIMEOUT_S)
    if run.returncode != 0 and any(s in run.stderr for s in OFFLINE):
        pytest.skip("the package index is not reachable: pip cannot install the README's way")
    assert run.returncode == 0, f"the README's install failed (exit {run.returncode}):\n{run.stdout}\n{run.stderr}"
    assert (repo / ".venv" / "bin" / "tinygrad-bp").is_file()  # the command came from the venv
    assert "E_total = E_o1 + E_o2 = 0.298371109" in run.stdout  # Mazur's E_total, as Jain's reproduction prints it
    assert "wrote worked.svg" in run.stdout + run.stderr
    root = ET.parse(repo / "worked.svg").getroot()
    assert root.tag.endswith("svg")
    assert any(t.text == "w5" for t in root.iter() if t.tag.endswith("text"))  # the loss graph, with its weights
