"""Every ```python block of README.md and of every docs/*.md page runs, on its own, and does what the page says.

Each block runs in a fresh namespace from a temporary working directory, compiled under the page's
own file name and line numbers, so a failure's traceback points at docs/<page>.md:<line>. Blocks
that are not meant to run are fenced as ```text or ```bash.
"""

import re
import signal
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TIMEOUT_S = 120  # per block: docs blocks are small, this only stops a hung one from hanging the suite

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")


def python_blocks(text: str, name: str = "<text>") -> list[tuple[int, str]]:
    """The (first code line, code) of every ```python block in Markdown `text`; ValueError for an unclosed fence."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.groups()
        start = i + 1
        end = next((j for j in range(start, len(lines))
                    if lines[j].strip().startswith(fence) and not lines[j].strip().strip(fence[0])), None)
        if end is None:
            raise ValueError(f"{name}:{i + 1}: a {fence} fence that is never closed")
        if lang.lower() == "python":
            body = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[start:end]]
            blocks.append((start + 1, "\n".join(body) + "\n"))
        i = end + 1
    return blocks


def pages() -> list[Path]:
    """README.md (when it sits beside docs/) and every docs/*.md page."""
    readme = DOCS.parent / "README.md"
    return ([readme] if readme.exists() else []) + sorted(DOCS.glob("*.md"))


def _collect() -> list:
    params = []
    for page in pages():
        for line, code in python_blocks(page.read_text(encoding="utf-8"), page.name):
            params.append(pytest.param(page, line, code, id=f"{page.name}:{line}"))
    # no python block anywhere is fine; one passing placeholder instead of pytest's "empty parameter set" skip
    return params or [pytest.param(None, 0, "", id="no-python-blocks")]


@pytest.mark.parametrize("page, line, code", _collect())
def test_docs_python_block_runs(page, line, code, tmp_path, monkeypatch):
    if page is None:
        return
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [f"{page.name}:{line}"])
    filename = page.relative_to(DOCS.parent).as_posix()
    compiled = compile("\n" * (line - 1) + code, filename, "exec")  # tracebacks show the page's own line numbers
    namespace = {"__name__": "__main__", "__file__": filename}
    has_alarm = hasattr(signal, "SIGALRM")
    if has_alarm:
        def timed_out(signum, frame):
            raise TimeoutError(f"{filename}:{line}: the block ran longer than {TIMEOUT_S} s")

        previous = signal.signal(signal.SIGALRM, timed_out)
        signal.alarm(TIMEOUT_S)
    try:
        exec(compiled, namespace)
    finally:
        if has_alarm:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)


def test_python_blocks_are_found_with_their_line_numbers():
    text = ("# Page\n"
            "```python\nx = 1\nprint(x)\n```\n"
            "```text\nnot code\n```\n"
            "````markdown\n```python\ninside another fence\n```\n````\n"
            "- item\n\n  ```python\n  y = 2\n  ```\n"
            "```bash\nls\n```\n")
    assert python_blocks(text) == [(3, "x = 1\nprint(x)\n"), (17, "y = 2\n")]


def test_an_unclosed_fence_is_an_error_naming_its_line():
    with pytest.raises(ValueError, match=r"page\.md:2: a ``` fence that is never closed"):
        python_blocks("text\n```python\nx = 1\n", "page.md")


def test_a_failing_block_reports_the_page_and_line(tmp_path, monkeypatch):
    page = tmp_path / "docs" / "p.md"
    page.parent.mkdir()
    page.write_text("intro\n\n```python\nx = 1\nassert x == 2, 'x is 1'\n```\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "DOCS", page.parent)
    [(line, code)] = python_blocks(page.read_text(), page.name)
    with pytest.raises(AssertionError, match="x is 1") as info:
        test_docs_python_block_runs(page, line, code, tmp_path, monkeypatch)
    tb = info.tb
    while tb.tb_next is not None:
        tb = tb.tb_next
    assert (tb.tb_frame.f_code.co_filename, tb.tb_lineno) == ("docs/p.md", 5)


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="the per-block timeout uses SIGALRM (not on Windows)")
def test_a_hung_block_is_stopped_by_the_timeout(tmp_path, monkeypatch):
    page = tmp_path / "docs" / "hang.md"
    page.parent.mkdir()
    monkeypatch.setattr(sys.modules[__name__], "DOCS", page.parent)
    monkeypatch.setattr(sys.modules[__name__], "TIMEOUT_S", 1)
    with pytest.raises(TimeoutError, match=r"docs/hang.md:2: the block ran longer than 1 s"):
        test_docs_python_block_runs(page, 2, "while True:\n    pass\n", tmp_path, monkeypatch)


_LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(text: str) -> list[str]:
    """The targets of Markdown links and images in `text` that point into the repository (no URL, no #anchor)."""
    return [t.split("#")[0] for t in _LINK.findall(text) if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


def test_links_are_found():
    text = "[a](docs/engine.md) ![p](x.svg) [w](https://example.org/a) [s](#top) [b](cli.md#train)"
    assert relative_links(text) == ["docs/engine.md", "x.svg", "cli.md"]


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    missing = [t for t in relative_links(page.read_text(encoding="utf-8")) if not (page.parent / t).exists()]
    assert not missing, f"{page.name} links to files that do not exist: {missing}"


def test_readme_links_every_docs_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    unlinked = [p.name for p in sorted(DOCS.glob("*.md")) if f"docs/{p.name}" not in relative_links(readme)]
    assert not unlinked, f"README.md does not link {unlinked}"


# The worked example is named by its source (Mazur's example, as reproduced by Jain), never "the seed": a
# "seed" in this project is a random seed (--seed, seed=). These are the ways the word was used for the example.
_SEED_FOR_THE_EXAMPLE = re.compile(r"""
    seeds'|seed's                                               # the seeds' figures, the seed's network
  | \bseed\s*\(?0*01\b                                          # seed 001, seed (001)
  | \bthe\s+seeds\b                                             # as in the seeds
  | \b(?:in|of|from|by|against|match(?:es|ing)?|to|reproduces)\s+the\s+seed\b
        (?!\s+(?:of|for|is|are|argument|value)\b)               # (not: the seed of the data)
  | \bthe\s+seed\s+(?:prints|printed|rounds|multiplie[sd]|gives|shows|worked)\b
  | \bseed\s+(?:figures?|numbers?|outputs?|network|example|worked)\b
  | (?<![\w.])\(seed\)                                          # 0.082167041 (seed)
  | \bseed:?\s+-?0\.\d                                          # seed: 0.19956143 (a random seed is an int)
  | \bW\d\s+seed\b                                              # the workload "W1 seed"
  | (?-i:\bSEED_[A-Z]|\bSEED\s*=\s*[\[{])                       # SEED_FIGURES = [...], SEED = {...}
  | _the_seed(?:\b|_)|\bseed_(?:model|train|layers|rounds|x|target|lr|figures|grads?|forward|updated)
  | \bprepare_seed\b
""", re.I | re.X)
_SCANNED = ["README.md", "tinygrad_bp", "docs", "examples", "benchmarks", "tests"]


def seed_for_the_example(text: str, name: str = "<text>") -> list[str]:
    """'name:line: text' for every line of `text` that calls the worked example (or its figures) a seed."""
    return [f"{name}:{i}: {line.strip()}" for i, line in enumerate(text.splitlines(), 1)
            if _SEED_FOR_THE_EXAMPLE.search(line)]


@pytest.mark.parametrize("phrase", [
    "the seeds' worked example", "The seed's network", "seed 001", "checked against the seed (001)",
    "biases are not updated, as in the seeds.", "the seed prints -0.019049119", "= 0.082167041 (seed) shown",
    "# seed: 0.19956143", "W1 seed    the 2-2-2 network", "SEED_FIGURES = [", "SEED = {'w5': 0.08}",
    "def test_w5_as_in_the_seed(build):", "def seed_model() -> MLP:", "floor.seed_train(layers)",
    "def test_floor_reproduces_the_seed_worked_example():", "which do match the seed, biases unchanged",
])
def test_seed_for_the_example_is_found(phrase):
    assert seed_for_the_example(phrase), phrase


@pytest.mark.parametrize("phrase", [
    "--seed S", "MLP(2, [16, 16, 1], seed=0)", "random.seed(1337)", "rng = random.Random(seed)",
    "Without a seed they come from Python's global random", "Counts and the seed are ints",
    "help='seed of the data (default: 0)'", "these seeds start at 50%", "different seeds give different points",
    "(shared/seeds/001_d8a8fe3b645fae68.txt)", "the generated backward with seed 1", "PYTHONHASHSEED=0",
    "def _graph_of_every_op(seed):", "'seed': 0}", "model.seed = None", "moons, circles and xor for `--seed` 0–7",
])
def test_a_random_seed_is_not_flagged(phrase):
    assert not seed_for_the_example(phrase), phrase


def test_the_worked_example_is_never_called_a_seed():
    this = Path(__file__).resolve()
    found = []
    for root in _SCANNED:
        path = ROOT / root
        files = [path] if path.is_file() else sorted(
            f for f in path.rglob("*") if f.is_file() and f.suffix in {".py", ".md", ".txt", ".toml"}
            and "__pycache__" not in f.parts)
        for f in files:
            if f != this:
                found += seed_for_the_example(f.read_text(encoding="utf-8"), f.relative_to(ROOT).as_posix())
    assert not found, ("the worked example is Mazur's (as reproduced by Jain), not a seed:\n" + "\n".join(found))
