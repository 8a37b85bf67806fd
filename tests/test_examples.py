"""Every script in examples/ runs as a process and prints the right numbers.

Each script has a check below (a new script without one fails `test_every_example_has_a_check`).
The numbers are checked against independent sources: hand formulas computed here with `math`,
and the figures of Mazur's worked example as printed in Jain's reproduction (matched to half a unit
of their last digit).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from tinygrad_bp import data
from tinygrad_bp.modelfile import load_model

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SVG = "{http://www.w3.org/2000/svg}"
NUMBER = r"-?\d+(?:\.\d+)?(?:e-?\d+)?"

# Mazur's worked example as printed in Jain's reproduction (shared/seeds/001_d8a8fe3b645fae68.txt)
MAZUR_FORWARD = ["0.593269992", "0.596884378", "0.751365070", "0.772928465", "0.274811083", "0.023560026",
                "0.298371109"]
MAZUR_UPDATED = {"w1": "0.149780716", "w2": "0.19956143", "w3": "0.24975114", "w4": "0.29950229",
                "w5": "0.35891648", "w6": "0.408666186", "w7": "0.511301270", "w8": "0.561370121"}


def run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def near(value: float, printed: str, units: float = 0.5) -> bool:
    """value rounds to `printed` (within `units` of its last digit)."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return abs(value - float(printed)) <= units * 10.0 ** -decimals + 1e-15


def after(text: str, prefix: str) -> float:
    """The number right after `prefix` (and an optional `=`) in `text`."""
    m = re.search(re.escape(prefix) + r"\s*=?\s*(" + NUMBER + ")", text)
    assert m, f"{prefix!r} not in output:\n{text}"
    return float(m.group(1))


# --- one check per script ---------------------------------------------------------------

def check_engine_basics(tmp_path: Path) -> None:
    res = run("engine_basics.py", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    sech2 = 1 - math.tanh(3.0) ** 2  # c = tanh(a·b + b²), a = 2, b = -3: a·b + b² = 3
    t = math.tanh(0.3)
    for name, expected in [("c", math.tanh(3.0)), ("dc/da", sech2 * -3.0), ("dc/db", sech2 * (2.0 - 6.0)),
                           ("d tanh/dx at 0.3", 1 - t * t), ("d² tanh/dx² at 0.3", -2 * t * (1 - t * t))]:
        line = next(s for s in out.splitlines() if s.startswith(name + " "))
        assert abs(after(line, name) - expected) <= 1e-14, (line, expected)
    # the README's figures for the same expression
    assert "-0.029598111496321" in out and "-0.039464148661761" in out
    assert "x.grad is still 0.0" in out


def check_gradcheck_and_explain(tmp_path: Path) -> None:
    res = run("gradcheck_and_explain.py", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "gradcheck(f, [0.7, -1.3]): True" in out
    assert "gradgradcheck(f, [0.7, -1.3]): True" in out
    assert "raise_exception=False): False" in out
    # lost(a, b) = 2a·b with a cut off: analytic ∂/∂a is 0, numeric 2b = 1.4; ∂/∂b = 2a = 0.6 both ways
    rows = {cells[0]: cells for cells in (s.split() for s in out.splitlines()) if cells[:1] in (["0"], ["1"])}
    assert [float(c) for c in rows["0"][2:5]] == [0.3, 0.0, 1.4] and rows["0"][-1] == "✗"
    assert [float(c) for c in rows["1"][2:5]] == [0.7, 0.6, 0.6] and rows["1"][-1] != "✗"
    # z = tanh(x·w + b) at x = 0.5, w = -1.5, b = 0.25: ∂z/∂w = (1 − tanh²(-0.5))·x
    dz_dw = (1 - math.tanh(-0.5) ** 2) * 0.5
    assert abs(after(out, "∂z/∂w") - dz_dw) <= 0.5e-9
    assert abs(after(out, "∂z/∂y = 1 − z²") - (1 - math.tanh(-0.5) ** 2)) <= 0.5e-9
    # ∂E/∂w1 of the worked example, with the printed factors 0.036350306 · 0.241300709 · 0.05 = 0.000438568
    assert near(after(out, "∂E/∂w1"), "0.000438568")
    factors = re.search(r"= (" + NUMBER + r") · (" + NUMBER + r") · (" + NUMBER + r")\n\s*= 0.000438", out)
    assert factors, out
    for got, printed in zip(factors.groups(), ["0.036350306", "0.241300709", "0.05"]):
        assert near(float(got), printed)
    # the printed ∂E/∂net_o1 = 0.74136507 * 0.186815602 = 0.138498562 and ∂E_o1/∂out_h1 = 0.138498562 * 0.40
    block = re.search(r"∂E/∂net_o1 = ∂E/∂out_o1 · ∂out_o1/∂net_o1\n\s*= (\S+) · (\S+)\n\s*= (\S+)", out)
    assert block, out
    for got, printed in zip(block.groups(), ["0.74136507", "0.186815602", "0.138498562"]):
        assert near(float(got), printed)
    assert near(after(out, "= 0.055399425 − 0.019049118\n           ="), "0.036350306")


def check_worked_example(tmp_path: Path) -> None:
    res = run("worked_example.py", cwd=tmp_path)  # default: 10,000 rounds
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for figure in MAZUR_FORWARD:
        assert figure in out, figure
    for k, printed in MAZUR_UPDATED.items():
        assert near(float(re.search(rf"{k}\+ = .* = ({NUMBER})", out).group(1)), printed), k
    for name, printed in [("dE/dw5", "0.082167041"), ("dE/dw1", "0.000438568"), ("dE/dout_h1", "0.036350306")]:
        assert near(float(re.search(rf"  {re.escape(name)} .* ({NUMBER})\n", out).group(1)), printed), name
    last = out.strip().splitlines()[-2]
    assert last.startswith("Round 10000 (after 9999 updates)")
    assert near(after(last, "E"), "0.0000351085")  # the printed error after 10,000 rounds
    res = run("worked_example.py", "--rounds", "1", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    last = res.stdout.strip().splitlines()[-1]
    assert last.startswith("Round 1 (after 0 updates)") and near(after(last, "E"), "0.298371109")
    res = run("worked_example.py", "--rounds", "3", cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.strip().splitlines()[-1].startswith("Round 3 (after 2 updates)")
    res = run("worked_example.py", "--rounds", "0", cwd=tmp_path)
    assert res.returncode == 2 and "--rounds must be >= 1" in res.stderr


def check_render_graph(tmp_path: Path) -> None:
    def node_texts(svg: Path) -> dict[str, list[str]]:
        root = ET.parse(svg).getroot()
        nodes = [[(t.text or "").replace("\xa0", " ") for t in g.iter(SVG + "text")]
                 for g in root.iter(SVG + "g") if g.get("class") == "node"]
        return {next((s for s in n if not s.startswith(("data", "grad", "Σ", "σ"))), ""): n for n in nodes}

    def classes(svg: Path) -> list[str | None]:
        return [g.get("class") for g in ET.parse(svg).getroot().iter(SVG + "g")]

    committed = (ROOT / "docs" / "worked_example_loss.svg").read_bytes()
    out_svg = tmp_path / "loss.svg"
    res = run("render_graph.py", "--out", str(out_svg), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert near(after(res.stdout, "E"), "0.298371109")
    assert f"wrote {out_svg}" in res.stdout
    nodes = node_texts(out_svg)
    # nodes show 4 significant digits of the derivation's figures
    for label, data_, grad_ in [("out_h1", 0.593269992, 0.036350306), ("w1", 0.15, 0.000438568),
                                ("w5", 0.40, 0.082167041), ("w6", 0.45, 0.082667628), ("E", 0.298371109, 1.0)]:
        assert f"data {data_:.4g}" in nodes[label] and f"grad {grad_:.4g}" in nodes[label], (label, nodes[label])
    assert nodes["0.5"] == ["0.5"]  # the constant ½ of E = ½ (t − a)², by its value alone
    # 33 nodes: 2 inputs, 8 weights, 4 biases, 4 nets, 4 sigmoids, and per output target, −, **, 0.5, ×, then Σ
    assert classes(out_svg).count("node") == 2 + 8 + 4 + 4 + 4 + 2 * 5 + 1
    # 36 edges: 5 into each net, 1 into each sigmoid, per output 2 into −, 1 into **, 2 into ×; 2 into Σ
    assert classes(out_svg).count("edge") == 4 * 5 + 4 + 2 * 5 + 2
    out_png = tmp_path / "loss.png"
    res = run("render_graph.py", "--out", str(out_png), "--collapse", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the format of the extension
    # without --out: a new temporary folder, never the docs' figure nor the current folder
    res = run("render_graph.py", "--collapse", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    written = Path(re.search(r"wrote (\S+) \(", res.stdout).group(1))
    assert written.parent.parent == Path(tempfile.gettempdir()) and written.name == "loss.svg"
    # collapsed: 4 neurons replace their net, sigmoid, weights and bias nodes: 33 - 4·(1 + 1 + 2 + 1) + 4
    assert classes(written).count("node") == 17
    shutil.rmtree(written.parent)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png", "loss.svg"]
    assert (ROOT / "docs" / "worked_example_loss.svg").read_bytes() == committed
    # --docs-figure is the one way to the committed figure; it is what the script draws with graphviz-pure
    res = run("render_graph.py", "--docs-figure", "--out", "x.svg", cwd=tmp_path)
    assert res.returncode == 2 and "not allowed with argument" in res.stderr
    res = subprocess.run([sys.executable, str(EXAMPLES / "render_graph.py"), "--out", str(tmp_path / "pure.svg")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300,  # no dot: graphviz-pure draws
                         env=dict(os.environ, PYTHONPATH=str(ROOT), PATH=str(Path(sys.executable).parent)))
    assert res.returncode == 0, res.stderr
    figure = (ROOT / "docs" / "worked_example_loss.svg").read_text(encoding="utf-8")
    assert "graphviz-pure" in figure.split("<svg", 1)[0]
    assert figure == (tmp_path / "pure.svg").read_text(encoding="utf-8")


def check_train_moons(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    res = run("train_moons.py", str(path), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert [int(s.split()[1]) for s in lines[:-1]] == [20, 40, 60, 80, 100]
    losses = [after(s, "loss") for s in lines[:-1]]
    assert all(loss >= 0 for loss in losses) and losses[-1] < losses[0]
    assert lines[-1].startswith(f"saved to {path}; the loaded model scores ")
    assert float(lines[-1].rsplit(" ", 1)[1]) >= 0.97
    # the saved model, scored here: the share of points whose score has the sign of their ±1 label
    model = load_model(path)
    X, y = data.moons(n=100, noise=0.1, seed=0)
    assert sum((model(x).data > 0) == (t > 0) for x, t in zip(X, y)) / len(X) >= 0.97
    # without a file name the model file goes to a temporary folder and is removed: nothing left behind
    path.unlink()
    res = run("train_moons.py", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "saved to a temporary file (removed); the loaded model scores" in res.stdout
    assert list(tmp_path.iterdir()) == []


def check_stepper(tmp_path: Path) -> None:
    res = run("stepper.py", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    page = tmp_path / "worked_example_stepper.html"
    assert lines[0] == f"wrote {page.name}: 33 steps" and "step 0 of 33" in page.read_text(encoding="utf-8")
    # the printed ∂E/∂out_h1 = 0.138498562 · 0.40 + -0.038098236 · 0.50 = 0.036350306
    assert lines[2] == "∂E/∂out_h1 = ∂E/∂net_o1 · ∂net_o1/∂out_h1 + ∂E/∂net_o2 · ∂net_o2/∂out_h1"
    m = re.fullmatch(r"\s+= (\S+) · 0\.4 − (\S+) · 0\.5", lines[3])  # a + -b written a − b, as explain does
    assert m and near(float(m.group(1)), "0.138498562") and abs(float(m.group(2)) - 0.038098236) <= 1.5e-9
    assert lines[5].strip() == "= 0.036350306"
    out = tmp_path / "c.html"
    res = run("stepper.py", str(out), "--collapse", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"wrote {out}: 17 steps") and out.exists()
    # δ_h1 = (Σ_k δ_k w_k,h1)·out_h1(1 − out_h1) = −0.036350306 · 0.241300709, the printed factors
    assert near(after(res.stdout, "= -0.036350306 · 0.241300709\n     ="), "-0.008771355")
    assert "∂E/∂w1 = −δ_h1 · i1 = 0.008771355 · 0.05 = 0.000438568" in res.stdout  # −(−δ) written as its value


def check_jit_moons(tmp_path: Path) -> None:
    res = run("jit_moons.py", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    losses = {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"step\s+(\d+)\s+loss (" + NUMBER + ")", out)}
    assert sorted(losses) == [1, 20, 40, 60, 80, 100] and losses[100] < 0.1 * losses[1]
    # step 1 is the loss of the untrained network: computed here with plain floats from its weights
    from tinygrad_bp.nn import MLP
    model = MLP(2, [16, 16, 1], seed=0)
    layers = [[([w.data for w in n.w], n.b.data) for n in layer.neurons] for layer in model.layers]
    X, y = data.moons(n=100, noise=0.1, seed=0)

    def score(x):
        for k, layer in enumerate(layers):
            x = [sum(w * xi for w, xi in zip(ws, x)) + b for ws, b in layer]
            x = x if k == len(layers) - 1 else [max(0.0, v) for v in x]
        return x[0]

    hinge = sum(max(0.0, 1.0 - t * score(x)) for x, t in zip(X, y)) / len(X)
    reg = 1e-4 * sum(p.data * p.data for p in model.parameters())
    assert abs(losses[1] - (hinge + reg)) <= 0.5e-6
    assert re.search(r"jit: 1 trace, 99 replays, \d+ nodes, 1 shared loop body", out)
    assert "without jit: the same losses and parameters bit for bit: True" in out
    assert list(tmp_path.iterdir()) == []


CHECKS: dict[str, Callable[[Path], None]] = {
    "engine_basics.py": check_engine_basics,
    "gradcheck_and_explain.py": check_gradcheck_and_explain,
    "worked_example.py": check_worked_example,
    "render_graph.py": check_render_graph,
    "train_moons.py": check_train_moons,
    "stepper.py": check_stepper,
    "jit_moons.py": check_jit_moons,
}


def test_every_example_has_a_check():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(CHECKS)


@pytest.mark.parametrize("script", sorted(CHECKS))
def test_example(script, tmp_path):
    CHECKS[script](tmp_path)


def test_every_example_is_named_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for script in CHECKS:
        assert f"examples/{script}" in readme, script
