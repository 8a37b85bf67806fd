"""Model files: an MLP as JSON, written atomically, read back with every field validated.

Format (version 1)::

    {"format": "tinygrad-bp-model", "version": 1,
     "nin": 2, "nouts": [2, 2], "activation": "sigmoid", "output_activation": "sigmoid",
     "layers": [[{"w": [0.15, 0.2], "b": 0.35}, ...], ...]}

`layers[i][j]` is neuron j of layer i: its weights `w` (one per input) and bias `b`.
Floats are written with `repr`, so every weight reads back bit for bit. No pickle:
loading a file never runs code. Non-finite weights (nan, inf) are refused on save.
"""

from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING, Any

from tinygrad_bp.atomic import write_atomic

__all__ = ["model_to_dict", "save_model", "parse_model", "load_model"]

if TYPE_CHECKING:  # nn imports this module on save/load; at run time each imports the other inside functions
    from tinygrad_bp.nn import MLP

FORMAT = "tinygrad-bp-model"
VERSION = 1
MAX_BYTES = 256 * 1024 * 1024  # refuse larger files before reading them
_KEYS = {"format", "version", "nin", "nouts", "activation", "output_activation", "layers"}


def _activations() -> list[str]:
    from tinygrad_bp.nn import ACTIVATIONS

    return sorted(ACTIVATIONS)


def model_to_dict(model: MLP) -> dict[str, Any]:
    """The JSON-ready description of an MLP (architecture, activations, every weight and bias)."""
    from tinygrad_bp.nn import MLP

    if not isinstance(model, MLP):
        raise TypeError(f"save_model: expected an MLP, got {type(model).__name__}")
    for which, key in (("hidden", "activation"), ("output", "output_activation")):
        if getattr(model, key) == "mixed":
            raise ValueError(f"save_model: the {which} neurons mix activations (model.{key} is 'mixed'); a model "
                             "file holds one activation for the hidden layers and one for the output layer")
    layers = []
    for i, layer in enumerate(model.layers):
        neurons = []
        for j, n in enumerate(layer.neurons):
            w = [float(v.data) for v in n.w]
            b = float(n.b.data)
            for k, x in enumerate([*w, b]):
                if not math.isfinite(x):
                    where = f"layers[{i}][{j}]." + (f"w[{k}]" if k < len(w) else "b")
                    raise ValueError(f"save_model: {where} is {x!r}; only finite weights can be saved")
            neurons.append({"w": w, "b": b})
        layers.append(neurons)
    return {"format": FORMAT, "version": VERSION, "nin": model.nin, "nouts": [len(layer) for layer in layers],
            "activation": model.activation, "output_activation": model.output_activation, "layers": layers}


def save_model(model: MLP, path: str | os.PathLike[str]) -> None:
    """Write `model` to `path` as JSON, atomically.

    The text goes to a temporary file in the same folder, is flushed to disk, then
    renamed over `path`: a failure leaves any existing file at `path` untouched and
    no partial file behind.
    """
    text = json.dumps(model_to_dict(model), allow_nan=False, separators=(",", ":")) + "\n"
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:  # load_model would refuse the file: do not write it
        raise ValueError(f"save_model: the model file would be {size} bytes, more than the {MAX_BYTES}-byte limit "
                         f"that load_model reads ({len(model.parameters())} parameters)")
    write_atomic(path, text)


def _fail(path: str, where: str, what: str) -> ValueError:
    loc = f"{path}: {where}: " if where else f"{path}: "
    return ValueError(f"model file {loc}{what}")


def _number(x: Any, path: str, where: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise _fail(path, where, f"expected a number, got {type(x).__name__} {json.dumps(x)[:40]}")
    try:
        f = float(x)
    except OverflowError:
        raise _fail(path, where, "number too large for a float") from None
    if not math.isfinite(f):
        raise _fail(path, where, f"expected a finite number, got {f!r}")
    return f


def _count(x: Any, path: str, where: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int) or x < 1:
        raise _fail(path, where, f"expected a positive integer, got {json.dumps(x)[:40]}")
    return x


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k[:40]!r}")
        out[k] = v
    return out


def parse_model(text: str | bytes, path: str = "<string>") -> MLP:
    """Build an MLP from model-file text, validating everything; errors are `ValueError`s naming the place."""
    from tinygrad_bp.nn import MLP

    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8-sig")  # a BOM, as Windows editors write, is not part of the JSON
        except UnicodeDecodeError as e:
            raise _fail(path, f"byte {e.start}", "not UTF-8 text (a model file is UTF-8 JSON)") from None
    if isinstance(text, str) and text.startswith("\ufeff"):
        text = text[1:]
    try:
        data = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise _fail(path, "", "JSON nested too deeply") from None
    except json.JSONDecodeError as e:
        raise _fail(path, f"line {e.lineno} column {e.colno}", f"invalid JSON: {e.msg}") from None
    except ValueError as e:  # NaN/Infinity constants, integers with too many digits
        raise _fail(path, "", f"invalid JSON: {e}") from None
    if not isinstance(data, dict):
        raise _fail(path, "top level", f"expected a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise _fail(path, "format", f"expected {FORMAT!r}, got {json.dumps(data.get('format'))[:40]} "
                    "(not a tinygrad-bp model file)")
    version = data.get("version")
    if version != VERSION or isinstance(version, bool):
        raise _fail(path, "version", f"unsupported format version {json.dumps(version)[:40]}; "
                    f"this tinygrad-bp reads version {VERSION}")
    missing = sorted(_KEYS - data.keys())
    if missing:
        raise _fail(path, "top level", f"missing key(s) {', '.join(missing)}")
    extra = sorted(data.keys() - _KEYS)
    if extra:
        raise _fail(path, "top level", f"unknown key(s) {', '.join(repr(k[:40]) for k in extra[:5])}")
    nin = _count(data["nin"], path, "nin")
    nouts = data["nouts"]
    if not isinstance(nouts, list) or not nouts:
        raise _fail(path, "nouts", "expected a non-empty list of layer sizes")
    nouts = [_count(x, path, f"nouts[{i}]") for i, x in enumerate(nouts)]
    names = _activations()
    for key in ("activation", "output_activation"):
        if data[key] not in names:
            raise _fail(path, key, f"unknown activation {json.dumps(data[key])[:40]}; expected one of {names}")
    layers = data["layers"]
    if not isinstance(layers, list) or len(layers) != len(nouts):
        got = len(layers) if isinstance(layers, list) else type(layers).__name__
        raise _fail(path, "layers", f"expected a list of {len(nouts)} layers (one per nouts entry), got {got}")
    # check every shape and number before building anything (sizes come from the file's own lists)
    values: list[list[tuple[list[float], float]]] = []
    fan_in = nin
    for i, layer in enumerate(layers):
        if not isinstance(layer, list) or len(layer) != nouts[i]:
            got = len(layer) if isinstance(layer, list) else type(layer).__name__
            raise _fail(path, f"layers[{i}]", f"expected a list of {nouts[i]} neurons (nouts[{i}]), got {got}")
        rows = []
        for j, neuron in enumerate(layer):
            where = f"layers[{i}][{j}]"
            if not isinstance(neuron, dict) or set(neuron) != {"w", "b"}:
                raise _fail(path, where, 'expected an object with exactly the keys "w" and "b"')
            w = neuron["w"]
            if not isinstance(w, list) or len(w) != fan_in:
                got = len(w) if isinstance(w, list) else type(w).__name__
                raise _fail(path, f"{where}.w", f"expected a list of {fan_in} weights (one per input), got {got}")
            rows.append(([_number(x, path, f"{where}.w[{k}]") for k, x in enumerate(w)],
                         _number(neuron["b"], path, f"{where}.b")))
        values.append(rows)
        fan_in = nouts[i]
    model = MLP(nin, nouts, activation=data["activation"], output_activation=data["output_activation"],
                seed=0)  # its own generator: loading leaves Python's global random as it was
    model.seed = None  # the weights come from the file
    for layer, rows in zip(model.layers, values):
        for n, (w, b) in zip(layer.neurons, rows):
            for v, x in zip(n.w, w):
                v.data = x
            n.b.data = b
    return model


def load_model(path: str | os.PathLike[str]) -> MLP:
    """Read an MLP written by `save_model`. Anything wrong with the file is a `ValueError` saying what and where."""
    name = os.fspath(path)
    with open(name, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > MAX_BYTES:
            raise _fail(name, "", f"file of {size} bytes is larger than the {MAX_BYTES}-byte limit")
        raw = f.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise _fail(name, "", f"file is larger than the {MAX_BYTES}-byte limit")
    return parse_model(raw, name)
