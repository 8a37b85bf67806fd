"""Every code block of README.md and of every docs/*.md page runs, on its own, and does what the page says.

- A ```python block runs in a fresh namespace from a temporary working directory, compiled under the
  page's own file name and line numbers, so a failure's traceback points at docs/<page>.md:<line>.
  Every decimal number in the comment of a line that prints (after its last '=', if it has one) must
  be in what the block prints.
- A ```bash block runs command by command in bash, from a temporary working directory (with the
  repository's examples/ beside it), `tinygrad-bp` and `python` being this test run's. Each command
  must exit 0, or the code its comment names (`# exit code 2`); every decimal number in its comment
  (after its last '=') must be in what it prints, and every file it writes (-o, --graph, --html,
  --save, --plot, or a file name in the comment) must exist afterwards when it succeeds.
- A block after a `<!-- output -->` line is the printed output of the code block above it: it must
  equal what that block prints, line for line (a line `...` stands for any lines).
- ```text blocks without the marker are not run (formats, sketches); the commands of NOT_RUN neither,
  for the reason given there.
"""

import contextlib
import io
import os
import re
import shlex
import signal
import subprocess
import sys
import tokenize
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TIMEOUT_S = 120  # per block: docs blocks are small, this only stops a hung one from hanging the suite

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
OUTPUT_MARKER = "<!-- output -->"

# Commands of the pages that the tests do not run as written, and why.
NOT_RUN = {
    "pip install '.[render]' && tinygrad-bp worked-example --graph worked.svg":
        "the README's install: tests/test_readme.py runs that block, in a fresh venv",
    "python -m venv .venv && . .venv/bin/activate": "the README's install (tests/test_readme.py)",
    "pip install -e '.[test]' && python -m pytest -q": "the test command itself (CI runs it, tests/test_readme.py)",
    "python benchmarks/run.py": "the full benchmark, about a minute; tests/test_benchmarks.py runs its --check",
    "python benchmarks/run.py --quick": "a benchmark run; tests/test_benchmarks.py runs its --check",
    "python benchmarks/run.py --check": "tests/test_benchmarks.py runs the checks",
    "python benchmarks/run.py --only W2,W3": "a benchmark run; tests/test_benchmarks.py runs its --check",
}


class Block(NamedTuple):
    lang: str      # "python", "bash", "text", ... ("" for a bare fence)
    line: int      # the first code line, 1-based
    code: str
    output: str | None  # the block after it marked <!-- output -->, if any


def code_blocks(text: str, name: str = "<text>") -> list[Block]:
    """The fenced blocks of Markdown `text` (an output block is attached to the one above); ValueError if unclosed."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    marked = False
    while i < len(lines):
        if lines[i].strip() == OUTPUT_MARKER:
            if not blocks or blocks[-1].output is not None:
                raise ValueError(f"{name}:{i + 1}: {OUTPUT_MARKER} with no code block above it")
            marked = True
            i += 1
            continue
        m = _FENCE.match(lines[i])
        if not m:
            if marked and lines[i].strip():
                raise ValueError(f"{name}:{i + 1}: {OUTPUT_MARKER} must be followed by the output's block")
            i += 1
            continue
        indent, fence, lang = m.groups()
        start = i + 1
        end = next((j for j in range(start, len(lines))
                    if lines[j].strip().startswith(fence) and not lines[j].strip().strip(fence[0])), None)
        if end is None:
            raise ValueError(f"{name}:{i + 1}: a {fence} fence that is never closed")
        body = "\n".join(line[len(indent):] if line.startswith(indent) else line.lstrip()
                         for line in lines[start:end]) + "\n"
        if marked:
            blocks[-1] = blocks[-1]._replace(output=body)
            marked = False
        else:
            blocks.append(Block(lang.lower(), start + 1, body, None))
        i = end + 1
    if marked:
        raise ValueError(f"{name}: {OUTPUT_MARKER} at the end of the page, with no block after it")
    return blocks


def python_blocks(text: str, name: str = "<text>") -> list[tuple[int, str]]:
    """The (first code line, code) of every ```python block in Markdown `text`; ValueError for an unclosed fence."""
    return [(b.line, b.code) for b in code_blocks(text, name) if b.lang == "python"]


def output_mismatch(expected: str, actual: str) -> str | None:
    """None when `actual` matches `expected` line for line (a line '...' or '…' matching any lines), else why not."""
    want = [line.rstrip() for line in expected.rstrip("\n").splitlines()]
    got = [line.rstrip() for line in actual.rstrip("\n").splitlines()]

    def match(i: int, j: int) -> bool:
        if i == len(want):
            return j == len(got)
        if want[i] in ("...", "…"):
            return any(match(i + 1, k) for k in range(j, len(got) + 1))
        return j < len(got) and want[i] == got[j] and match(i + 1, j + 1)

    if match(0, 0):
        return None
    for k, (w, g) in enumerate(zip(want, got)):
        if w in ("...", "…"):
            break
        if w != g:
            return f"line {k + 1}: the page shows {w!r}, the code prints {g!r}"
    return f"the page shows {len(want)} lines, the code prints {len(got)}:\n" + "\n".join(got)


def pages() -> list[Path]:
    """README.md (when it sits beside docs/) and every docs/*.md page."""
    readme = DOCS.parent / "README.md"
    return ([readme] if readme.exists() else []) + sorted(DOCS.glob("*.md"))


def _collect(lang: str) -> list:
    params = []
    for page in pages():
        for b in code_blocks(page.read_text(encoding="utf-8"), page.name):
            if b.lang == lang and (lang != "bash" or bash_commands(b.code)):
                params.append(pytest.param(page, b.line, b.code, b.output, id=f"{page.name}:{b.line}"))
    # no block anywhere is fine; one passing placeholder instead of pytest's "empty parameter set" skip
    return params or [pytest.param(None, 0, "", None, id=f"no-{lang}-blocks")]


@contextlib.contextmanager
def _time_limit(what: str):
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def timed_out(signum, frame):
        raise TimeoutError(f"{what}: the block ran longer than {TIMEOUT_S} s")

    previous = signal.signal(signal.SIGALRM, timed_out)
    signal.alarm(TIMEOUT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("page, line, code, output", _collect("python"))
def test_docs_python_block_runs(page, line, code, output, tmp_path, monkeypatch):
    if page is None:
        return
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [f"{page.name}:{line}"])
    filename = page.relative_to(DOCS.parent).as_posix()
    compiled = compile("\n" * (line - 1) + code, filename, "exec")  # tracebacks show the page's own line numbers
    namespace = {"__name__": "__main__", "__file__": filename}
    printed = io.StringIO()
    try:
        with _time_limit(f"{filename}:{line}"), contextlib.redirect_stdout(printed):
            exec(compiled, namespace)
    finally:
        sys.stdout.write(printed.getvalue())  # shown by pytest when the block fails
    if output is not None:
        why = output_mismatch(output, printed.getvalue())
        assert why is None, f"{filename}:{line}: the output shown under the block is not what it prints: {why}"
    for k, number in print_comment_numbers(code):
        assert number in printed.getvalue(), (f"{filename}:{line + k}: the comment says {number} is printed, the "
                                              f"block prints:\n{printed.getvalue()}")


def comment_numbers(comment: str) -> list[str]:
    """The decimal numbers a comment says are printed: all of them, or after its last '=' (a derivation's result)."""
    said = comment.rsplit("=", 1)[-1]
    return re.findall(r"(?<![\w.])-?\d+\.\d+(?:e[+-]?\d+)?(?![\w.])", said)


def print_comment_numbers(code: str) -> list[tuple[int, str]]:
    """(line offset, number) for each decimal number in the trailing comment of a line that calls print()."""
    lines = code.splitlines()
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        k = tok.start[0] - 1
        if tok.type == tokenize.COMMENT and "print(" in lines[k][:tok.start[1]]:
            found += [(k, n) for n in comment_numbers(tok.string)]
    return found


def bash_commands(code: str) -> list[str]:
    """The commands of a ```bash block (a quoted argument may span lines), without NOT_RUN's."""
    commands, pending = [], ""
    for line in code.splitlines():
        pending = f"{pending}\n{line}" if pending else line
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # an open quote: the command goes on on the next line
            continue
        if pending.strip() and not pending.lstrip().startswith("#"):
            commands.append(pending)
        pending = ""
    if pending:
        raise ValueError(f"a bash command with an open quote: {pending!r}")
    return [c for c in commands if _without_comment(c)[0] not in NOT_RUN]


def _without_comment(command: str) -> tuple[str, str]:
    """(the command, its trailing comment): the comment starts at the last ' #' outside quotes."""
    for m in reversed(list(re.finditer(r"\s#\s", command))):
        head = command[:m.start()]
        try:
            if shlex.split(head) and "\n" not in command[m.start():]:
                return head.rstrip(), command[m.end():].strip()
        except ValueError:
            continue
    return command.strip(), ""


_WRITES = {"-o", "--graph", "--html", "--save"}


def written_files(command: str, comment: str) -> list[str]:
    """The files a command says it writes: after -o, --graph, --html, --save; --plot P's P_loss.png and
    P_boundary.png; file names in its comment."""
    words = shlex.split(command)
    files = [w for prev, w in zip(words, words[1:]) if prev in _WRITES]
    files += [f"{w}_{kind}.png" for prev, w in zip(words, words[1:]) if prev == "--plot"
              for kind in ("loss", "boundary")]
    files += re.findall(r"[\w.-]+\.(?:svg|png|pdf|html|json|gv)\b", comment)
    return list(dict.fromkeys(files))


def _shims(bin_dir: Path) -> None:
    """`python` and `tinygrad-bp` in bin_dir: this interpreter, this checkout's package."""
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    tool = bin_dir / "tinygrad-bp"
    tool.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -c "
                    "'import sys; from tinygrad_bp.cli import main; sys.exit(main())' \"$@\"\n")
    tool.chmod(0o755)


@pytest.mark.parametrize("page, line, code, output", _collect("bash"))
def test_docs_bash_block_runs(page, line, code, output, tmp_path):
    if page is None:
        return
    where = f"{page.relative_to(ROOT).as_posix()}:{line}"
    work = tmp_path / "work"
    work.mkdir(parents=True)
    for name in ("examples", "benchmarks"):
        (work / name).symlink_to(ROOT / name)
    _shims(tmp_path / "bin")
    env = dict(os.environ, PATH=f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    printed = []
    for command in bash_commands(code):
        cmd, comment = _without_comment(command)
        m = re.search(r"\bexit code (\d+)", comment)
        expected_code = int(m.group(1)) if m else 0
        run = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True,
                             timeout=TIMEOUT_S)
        out = run.stdout + run.stderr
        printed.append(out)  # as a terminal shows it (an error goes to stderr)
        assert run.returncode == expected_code, f"{where}: `{cmd}` exited {run.returncode}:\n{out}"
        for number in comment_numbers(comment):
            assert number in out, f"{where}: `{cmd}` does not print {number} (its comment: {comment!r}):\n{out}"
        for f in written_files(cmd, comment) if expected_code == 0 else []:
            assert (work / f).is_file(), f"{where}: `{cmd}` did not write {f}:\n{out}"
    if output is not None:
        why = output_mismatch(output, "".join(printed))
        assert why is None, f"{where}: the output shown under the block is not what it prints: {why}"


def test_blocks_are_found_with_their_line_numbers():
    text = ("# Page\n"
            "```python\nx = 1\nprint(x)\n```\n"
            "```text\nnot code\n```\n"
            "````markdown\n```python\ninside another fence\n```\n````\n"
            "- item\n\n  ```python\n  y = 2\n  ```\n"
            "```bash\nls\n```\n")
    assert python_blocks(text) == [(3, "x = 1\nprint(x)\n"), (17, "y = 2\n")]
    assert [(b.lang, b.line) for b in code_blocks(text)] == [("python", 3), ("text", 7), ("markdown", 10),
                                                             ("python", 17), ("bash", 20)]


def test_an_output_block_belongs_to_the_block_above():
    text = "```python\nprint(1)\n```\n\n<!-- output -->\n```text\n1\n```\n```bash\nls\n```\n"
    assert code_blocks(text) == [Block("python", 2, "print(1)\n", "1\n"), Block("bash", 10, "ls\n", None)]
    for bad, why in (("<!-- output -->\n```text\n1\n```\n", "with no code block above it"),
                     ("```python\nx\n```\n<!-- output -->\nprose\n```text\n1\n```\n", "must be followed by"),
                     ("```python\nx\n```\n<!-- output -->\n", "at the end of the page")):
        with pytest.raises(ValueError, match=why):
            code_blocks(bad)


def test_output_matching():
    assert output_mismatch("a\nb\n", "a\nb  \n") is None
    assert output_mismatch("a\n...\nd\n", "a\nb\nc\nd\n") is None
    assert output_mismatch("a\n...\n", "a\n") is None
    assert output_mismatch("a\n...\nd\n", "a\nb\nc\n") is not None
    assert "line 2: the page shows 'b', the code prints 'x'" in output_mismatch("a\nb\n", "a\nx\n")
    assert output_mismatch("a\n", "a\nb\n") is not None


def test_numbers_in_the_comments_of_prints_are_found():
    code = ("x = 0.5  # 9.5 is not printed here\nprint(f'{x:.3f} it\\'s')  # 0.500 and -1.5e-3, not 2\n"
            "print('# 7.5')\n")
    assert print_comment_numbers(code) == [(1, "0.500"), (1, "-1.5e-3")]
    assert comment_numbers("1 − 0.1·2 − 0.1·(0.9·2 + 2) = 0.42") == ["0.42"]


def test_bash_commands_comments_and_written_files():
    code = ("# a comment line\ntinygrad-bp train --save m.json   # accuracy: 1.000\n"
            "python -c \"\nimport sys\nprint('#', sys.argv[1])\" m.json\n"
            "tinygrad-bp graph 'x # y' --at x=1 -o g.svg\n")
    commands = bash_commands(code)
    assert commands == ["tinygrad-bp train --save m.json   # accuracy: 1.000",
                        "python -c \"\nimport sys\nprint('#', sys.argv[1])\" m.json",
                        "tinygrad-bp graph 'x # y' --at x=1 -o g.svg"]
    assert _without_comment(commands[0]) == ("tinygrad-bp train --save m.json", "accuracy: 1.000")
    assert _without_comment(commands[2]) == (commands[2], "")
    assert written_files("tinygrad-bp train --plot run --save m.json", "writes a.html") == [
        "m.json", "run_loss.png", "run_boundary.png", "a.html"]
    assert bash_commands("python benchmarks/run.py   # the full run\n") == []  # NOT_RUN


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
        test_docs_python_block_runs(page, line, code, None, tmp_path, monkeypatch)
    tb = info.tb
    while tb.tb_next is not None:
        tb = tb.tb_next
    assert (tb.tb_frame.f_code.co_filename, tb.tb_lineno) == ("docs/p.md", 5)


def test_a_wrong_output_block_fails(tmp_path, monkeypatch):
    page = tmp_path / "docs" / "p.md"
    page.parent.mkdir()
    monkeypatch.setattr(sys.modules[__name__], "DOCS", page.parent)
    with pytest.raises(AssertionError, match="the page shows '0.5', the code prints '0.25'"):
        test_docs_python_block_runs(page, 1, "print(0.5 ** 2)\n", "0.5\n", tmp_path, monkeypatch)
    test_docs_python_block_runs(page, 1, "print(0.5 ** 2)\n", "0.25\n", tmp_path, monkeypatch)


def test_a_bash_block_is_checked_against_its_comments(tmp_path):
    page = ROOT / "README.md"
    test_docs_bash_block_runs(page, 1, "tinygrad-bp graph x --at x=1.5 -o g.svg   # f = x = 1.5\n", None,
                              tmp_path / "ok")
    for k, (code, why) in enumerate((("tinygrad-bp graph x --at x=1.5   # 2.5\n", "does not print 2.5"),
                      ("tinygrad-bp graph x --at x=1.5   # writes g.svg\n", "did not write g.svg"),
                      ("tinygrad-bp graph 'log(x)' --at x=0\n", "exited 1"),
                      ("tinygrad-bp\n", "exited 2"))):
        with pytest.raises(AssertionError, match=why):
            test_docs_bash_block_runs(page, 1, code, None, tmp_path / str(k))
    test_docs_bash_block_runs(page, 1, "tinygrad-bp   # exit code 2\n", None, tmp_path / "bare")


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="the per-block timeout uses SIGALRM (not on Windows)")
def test_a_hung_block_is_stopped_by_the_timeout(tmp_path, monkeypatch):
    page = tmp_path / "docs" / "hang.md"
    page.parent.mkdir()
    monkeypatch.setattr(sys.modules[__name__], "DOCS", page.parent)
    monkeypatch.setattr(sys.modules[__name__], "TIMEOUT_S", 1)
    with pytest.raises(TimeoutError, match=r"docs/hang.md:2: the block ran longer than 1 s"):
        test_docs_python_block_runs(page, 2, "while True:\n    pass\n", None, tmp_path, monkeypatch)


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
