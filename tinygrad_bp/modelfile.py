"""Model files: an MLP as JSON, written atomically, read back with every field validated.

Format (version 1)::

    {"format": "tinygrad-bp-model", "version": 1,
     "nin": 2, "nouts": [2, 2], "activation": "sigmoid", "output_activation": "sigmoid",
     "layers": [[{"w": [0.15, 0.2], "b": 0.35}, ...], ...]}

`layers[i][j]` is neuron j of layer i: its weights `w` (one per input) and bias `b`.
An optional `"trained_on"` object says what the model was trained on, so that
`tinygrad-bp predict` counts labels as training did: `{"data": "moons", "loss":
"hinge", "labels": "pm1"}` (labels -1/+1, score > 0 is +1) or `"labels": "01"`
(labels 0/1, output > 0.5 is 1), plus the data set's `samples`, `noise` and
`seed` when known. Files without it (older ones) still load; `model.trained_on`
is then None.
Floats are written with `repr`, so every weight reads back bit for bit. No pickle:
loading a file never runs code. Non-finite weights (nan, inf) are refused on save.

What a file may build is bounded before anything is built: at most `max_parameters`
parameters (default `MAX_PARAMETERS`, checked from the file's declared `nin` and
`nouts`), at most `BYTES_PER_PARAMETER` bytes per allowed parameter (and never more
than `MAX_BYTES`), and no more JSON values than a model of that size has. Raise
`max_parameters` to load a larger model.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
from typing import TYPE_CHECKING, Any

from tinygrad_bp.atomic import write_atomic

__all__ = ["model_to_dict", "save_model", "parse_model", "load_model", "check_trained_on"]

if TYPE_CHECKING:  # nn imports this module on save/load; at run time each imports the other inside functions
    from tinygrad_bp.nn import MLP

FORMAT = "tinygrad-bp-model"
VERSION = 1
MAX_BYTES = 256 * 1024 * 1024  # refuse larger files before reading them, whatever max_parameters says
MAX_PARAMETERS = 1_000_000  # default bound on what one file may build (docs/reliability.md: its peak memory)
BYTES_PER_PARAMETER = 64  # a compact file needs at most ~26 per parameter, json.dumps(indent=4) ~46
_SLACK_BYTES = 64 * 1024
_KEYS = {"format", "version", "nin", "nouts", "activation", "output_activation", "layers"}
_OPTIONAL_KEYS = {"trained_on"}
TRAINED_ON_LOSSES = {"hinge": "pm1", "sse": "01", "mse": "01", "bce": "01"}  # each loss's labels
_TRAINED_ON_KEYS = {"data", "loss", "labels", "samples", "noise", "seed"}


def _activations() -> list[str]:
    from tinygrad_bp.nn import ACTIVATIONS

    return sorted(ACTIVATIONS)


def model_to_dict(model: MLP, trained_on: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON-ready description of an MLP (architecture, activations, every weight and bias).

    `trained_on`: what it was trained on (see the module's docstring), checked and recorded.
    """
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
    out = {"format": FORMAT, "version": VERSION, "nin": model.nin, "nouts": [len(layer) for layer in layers],
           "activation": model.activation, "output_activation": model.output_activation, "layers": layers}
    if trained_on is not None:
        out["trained_on"] = check_trained_on(trained_on, "save_model: trained_on")
    return out


def check_trained_on(info: Any, where: str = "trained_on") -> dict[str, Any]:
    """`info` validated as a model's `trained_on` record (a copy); ValueError naming `where` and the field."""
    from tinygrad_bp.data import DATASETS

    if not isinstance(info, dict):
        raise ValueError(f"{where}: expected an object, got {type(info).__name__}")
    unknown = sorted(str(k)[:40] for k in info.keys() - _TRAINED_ON_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; expected some of "
                         f"{sorted(_TRAINED_ON_KEYS)}")
    missing = sorted({"data", "loss", "labels"} - info.keys())
    if missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")
    names = sorted({"xor", *DATASETS})
    if info["data"] not in names:
        raise ValueError(f"{where}.data: expected one of {names}, got {json.dumps(info['data'])[:40]}")
    if info["loss"] not in TRAINED_ON_LOSSES:
        raise ValueError(f"{where}.loss: expected one of {sorted(TRAINED_ON_LOSSES)}, got "
                         f"{json.dumps(info['loss'])[:40]}")
    if info["labels"] != TRAINED_ON_LOSSES[info["loss"]]:
        raise ValueError(f"{where}.labels: the loss {info['loss']} trains on labels "
                         f"{TRAINED_ON_LOSSES[info['loss']]!r}, got {json.dumps(info['labels'])[:40]}")
    out = {k: info[k] for k in ("data", "loss", "labels")}
    for key, low in (("samples", 2), ("seed", 0)):
        x = info.get(key)
        if x is not None and (isinstance(x, bool) or not isinstance(x, int) or x < low):
            raise ValueError(f"{where}.{key}: expected null or an integer >= {low}, got {json.dumps(x)[:40]}")
        if key in info:
            out[key] = x
    x = info.get("noise")
    if x is not None and (isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x < 0):
        raise ValueError(f"{where}.noise: expected null or a finite number >= 0, got {x!r:.40}")
    if "noise" in info:
        out["noise"] = None if x is None else float(x)
    return out


def save_model(model: MLP, path: str | os.PathLike[str], trained_on: dict[str, Any] | None = None) -> None:
    """Write `model` to `path` as JSON, atomically (with `trained_on`, what it was trained on).

    The text goes to a temporary file in the same folder, is flushed to disk, then
    renamed over `path`: a failure leaves any existing file at `path` untouched and
    no partial file behind.
    """
    text = json.dumps(model_to_dict(model, trained_on), allow_nan=False, separators=(",", ":")) + "\n"
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
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")
    return out


# one JSON token after optional whitespace: a string's opening quote, a number, a word, or punctuation
_TOKEN = re.compile(r'[ \t\n\r]*(?:(")|(-?\d[\d.eE+-]*)|(-?Infinity|[A-Za-z]+)|([{}\[\]:,]))')
_SHORT_NUMBER = r'[ \t\n\r]*-?\d[\d.eE+-]{0,30}(?![\d.eE+-])'  # too short to be an integer int() refuses
_NUMBER_RUN = re.compile(_SHORT_NUMBER + r"(?:[ \t\n\r]*," + _SHORT_NUMBER + ")*")  # a list's weights at once


def _json_path(stack: list[list[Any]]) -> str:
    parts = []
    for is_object, where, _ in stack:
        if is_object:
            if where is not None:
                parts.append(("." if parts else "") + str(where)[:40])
        else:
            parts.append(f"[{where}]")
    return "".join(parts)


def _locate(text: str, stop: int | None = None) -> tuple[int, str, str] | None:
    """Where in `text` the JSON goes wrong for a model file: (position, JSON path, what).

    Scans token by token (a list's run of plain numbers in one match; only after `json.loads` failed) for
    the first NaN/Infinity, integer too long for `int` or duplicate key; with `stop`, the
    JSON path at that position instead (what is ""). None if the scan finds neither.
    """
    from json.decoder import scanstring

    stack: list[list[Any]] = []  # per open container: [is_object, key or index, keys seen]
    end = len(text) if stop is None else stop
    pos = 0
    in_list = False  # just after a list's [ or ,: a run of plain numbers can be skipped in one match
    while True:
        if in_list:
            run = _NUMBER_RUN.match(text, pos)
            if run and run.end() < end:
                stack[-1][1] += text.count(",", pos, run.end())
                pos = run.end()
        m = _TOKEN.match(text, pos)
        start = m.start(m.lastindex) if m else len(text)
        if start >= end:
            return (end, _json_path(stack), "") if stop is not None else None
        if m is None:
            return None
        quote, number, word, punct = m.groups()
        pos = m.end()
        top = stack[-1] if stack else None
        in_list = (punct == "[") or (punct == "," and top is not None and not top[0])
        if quote:
            try:
                value, pos = scanstring(text, pos)
            except ValueError:
                return None
            if top is not None and top[0] and top[1] is None:  # a key
                if value in top[2]:
                    top[1] = value
                    return start, _json_path(stack), f"duplicate key {value[:40]!r}"
                top[1] = value
                top[2].add(value)
        elif number:
            if len(number) > 640 and not any(c in number for c in ".eE"):
                try:
                    int(number)
                except ValueError:
                    digits = len(number.lstrip("-"))
                    return (start, _json_path(stack), f"an integer of {digits} digits, more than the "
                            f"{_int_digits_limit()} digits Python converts to int")
        elif word:
            if word in ("NaN", "Infinity", "-Infinity"):
                return start, _json_path(stack), f"{word} is not valid JSON (a model file holds finite numbers)"
            if word not in ("true", "false", "null"):
                return None
        elif punct in "{[":
            stack.append([punct == "{", None if punct == "{" else 0, set()])
        elif punct in "}]":
            if not stack:
                return None
            stack.pop()
        elif punct == "," and top is not None:
            if top[0]:
                top[1] = None
            else:
                top[1] += 1


def _int_digits_limit() -> int:
    import sys

    return sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 4300


def _where(text: str, pos: int, json_path: str) -> str:
    line = text.count("\n", 0, pos) + 1
    column = pos - text.rfind("\n", 0, pos)
    return f"line {line} column {column}" + (f" (at {json_path})" if json_path else "")


def _declared_parameters(nin: int, nouts: list[int]) -> int:
    total, fan_in = 0, nin
    for n in nouts:
        total += n * (fan_in + 1)
        fan_in = n
    return total


def _about(n: int) -> str:
    digits = str(n) if n < 10**40 else None
    return digits if digits is not None else f"about 10^{len(str(n)) - 1}"


def parse_model(text: str | bytes, path: str = "<string>", max_parameters: int = MAX_PARAMETERS) -> MLP:
    """Build an MLP from model-file text, validating everything; errors are `ValueError`s naming the place.

    More than `max_parameters` weights and biases (counted from the declared `nin` and
    `nouts`, and bounded by the number of JSON values before parsing) is refused before
    anything is built.
    """
    from tinygrad_bp.nn import MLP

    max_parameters = _check_max_parameters(max_parameters, "parse_model")
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8-sig")  # a BOM, as Windows editors write, is not part of the JSON
        except UnicodeDecodeError as e:
            raise _fail(path, f"byte {e.start}", "not UTF-8 text (a model file is UTF-8 JSON)") from None
    if isinstance(text, str) and text.startswith("\ufeff"):
        text = text[1:]
    # every JSON value but the first of a list or object follows a comma, and every list or object opens
    # with [ or {: their count bounds how many Python objects json.loads makes. A model of P parameters
    # has at most 3P + 7 of them (P + L + 4 commas, 3 + L + 2N brackets, for L layers of N neurons in all)
    separators = text.count(",") + text.count("[") + text.count("{")
    if separators > 3 * max_parameters + 16:
        raise _fail(path, "", f"the file has {separators} JSON commas and brackets, more than a model of at most "
                    f"max_parameters={max_parameters} parameters has ({3 * max_parameters + 16}); pass a larger "
                    "max_parameters to load a larger model")
    try:
        data = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise _fail(path, "", "JSON nested too deeply") from None
    except json.JSONDecodeError as e:
        found = _locate(text, e.pos)
        raise _fail(path, _where(text, e.pos, found[1] if found else ""), f"invalid JSON: {e.msg}") from None
    except ValueError as e:  # NaN/Infinity constants, duplicate keys, integers with too many digits
        found = _locate(text)
        if found is None:
            raise _fail(path, "", f"invalid JSON: {e}") from None
        pos, json_path, what = found
        raise _fail(path, _where(text, pos, json_path), f"invalid JSON: {what}") from None
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
    extra = sorted(data.keys() - _KEYS - _OPTIONAL_KEYS)
    if extra:
        raise _fail(path, "top level", f"unknown key(s) {', '.join(repr(k[:40]) for k in extra[:5])}")
    nin = _count(data["nin"], path, "nin")
    nouts = data["nouts"]
    if not isinstance(nouts, list) or not nouts:
        raise _fail(path, "nouts", "expected a non-empty list of layer sizes")
    nouts = [_count(x, path, f"nouts[{i}]") for i, x in enumerate(nouts)]
    declared = _declared_parameters(nin, nouts)
    if declared > max_parameters:
        raise _fail(path, "nin, nouts", f"the model has {_about(declared)} parameters (weights and biases), more "
                    f"than max_parameters={max_parameters}; pass a larger max_parameters to load it")
    trained_on = None
    if "trained_on" in data:
        try:
            trained_on = check_trained_on(data["trained_on"])
        except ValueError as e:
            raise _fail(path, "", str(e)) from None
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
    model.trained_on = trained_on
    for layer, rows in zip(model.layers, values):
        for n, (w, b) in zip(layer.neurons, rows):
            for v, x in zip(n.w, w):
                v.data = x
            n.b.data = b
    return model


def _check_max_parameters(max_parameters: Any, who: str) -> int:
    if isinstance(max_parameters, bool) or not isinstance(max_parameters, int) or max_parameters < 1:
        raise ValueError(f"{who}: max_parameters must be a positive integer, got {max_parameters!r:.40}")
    return max_parameters


def _max_bytes(max_parameters: int) -> int:
    """The largest file `load_model` reads for a model of at most `max_parameters` parameters."""
    return min(MAX_BYTES, _SLACK_BYTES + BYTES_PER_PARAMETER * max_parameters)


_KINDS = [(stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")]


def load_model(path: str | os.PathLike[str], max_parameters: int = MAX_PARAMETERS) -> MLP:
    """Read an MLP written by `save_model`. Anything wrong with the file is a `ValueError` saying what and where.

    A model of more than `max_parameters` weights and biases is refused before it is
    built (raise the limit to load it). A path that is not a regular file (a folder,
    a FIFO, a device) is refused at once, without waiting on it: OSError naming the path.
    """
    max_parameters = _check_max_parameters(max_parameters, "load_model")
    name = os.fspath(path)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    if "\0" in name:
        raise ValueError(f"load_model: the path {name!r} contains a NUL byte (\\x00), which no file name can hold")
    limit = _max_bytes(max_parameters)
    # O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder, not a model file", name)
        if not stat.S_ISREG(st.st_mode):
            kind = next((what for test, what in _KINDS if test(st.st_mode)), "a special file")
            raise OSError(errno.EINVAL, f"is not a regular file ({kind}); give the name of a model file", name)
        if st.st_size > limit:
            raise _fail(name, "", f"file of {st.st_size} bytes is larger than the {limit}-byte limit "
                        f"{_limit_reason(max_parameters)}")
        with open(fd, "rb", closefd=False) as f:
            raw = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(raw) > limit:
        raise _fail(name, "", f"file is larger than the {limit}-byte limit {_limit_reason(max_parameters)}")
    return parse_model(raw, name, max_parameters=max_parameters)


def _limit_reason(max_parameters: int) -> str:
    if _max_bytes(max_parameters) == MAX_BYTES:
        return "of model files"
    return (f"for a model of at most max_parameters={max_parameters} parameters ({BYTES_PER_PARAMETER} bytes "
            "per parameter; pass a larger max_parameters to read larger files)")
