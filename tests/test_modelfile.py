"""Model files: exact round trip, atomic save, and validation of corrupt and hostile files."""

import json
import math
import os
import pickle
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_bp import modelfile
from tinygrad_bp.modelfile import load_model, parse_model, save_model
from tinygrad_bp.nn import MLP

ACTS = ["sigmoid", "tanh", "relu", "linear"]


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def worked_example_model() -> MLP:
    """Mazur's 2-2-2 network with its initial weights."""
    m = MLP(2, [2, 2], activation="sigmoid", output_activation="sigmoid")
    (h1, h2), (o1, o2) = m.layers[0].neurons, m.layers[1].neurons
    for n, w, b in [(h1, [0.15, 0.20], 0.35), (h2, [0.25, 0.30], 0.35),
                    (o1, [0.40, 0.45], 0.60), (o2, [0.50, 0.55], 0.60)]:
        for v, x in zip(n.w, w):
            v.data = x
        n.b.data = b
    return m


def test_file_is_plain_json_with_the_worked_examples_numbers(tmp_path):
    path = tmp_path / "m.json"
    save_model(worked_example_model(), path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc == {
        "format": "tinygrad-bp-model", "version": 1, "nin": 2, "nouts": [2, 2],
        "activation": "sigmoid", "output_activation": "sigmoid",
        "layers": [[{"w": [0.15, 0.2], "b": 0.35}, {"w": [0.25, 0.3], "b": 0.35}],
                   [{"w": [0.4, 0.45], "b": 0.6}, {"w": [0.5, 0.55], "b": 0.6}]],
    }


def test_loaded_worked_example_gives_the_printed_outputs(tmp_path):
    path = tmp_path / "m.json"
    worked_example_model().save(path)
    m = MLP.load(path)
    out_o1, out_o2 = m([0.05, 0.10])
    # as printed: out_o1 = 0.75136507, out_o2 = 0.772928465
    assert out_o1.data == pytest.approx(0.75136507, abs=5e-9)
    assert out_o2.data == pytest.approx(0.772928465, abs=5e-10)
    assert [p.label for p in m.parameters() if p.label.startswith("w")] == [f"w{k}" for k in range(1, 9)]


finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(nin=st.integers(1, 4), nouts=st.lists(st.integers(1, 4), min_size=1, max_size=4),
       act=st.sampled_from(ACTS), out_act=st.sampled_from(ACTS), data=st.data())
def test_round_trip_is_bit_exact(tmp_path_factory, nin, nouts, act, out_act, data):
    m = MLP(nin, nouts, activation=act, output_activation=out_act, seed=0)
    for p in m.parameters():
        p.data = data.draw(finite)  # any finite float: subnormals, -0.0, 1e308, ...
    path = tmp_path_factory.mktemp("rt") / "model.json"
    save_model(m, path)
    m2 = load_model(path)
    assert (m2.nin, m2.nouts, m2.activation, m2.output_activation) == (nin, nouts, act, out_act)
    assert [bits(p.data) for p in m2.parameters()] == [bits(p.data) for p in m.parameters()]
    assert all(type(p.data) is float for p in m2.parameters())


def test_round_trip_gives_the_same_predictions(tmp_path):
    m = MLP(2, [16, 16, 1], seed=7)
    save_model(m, tmp_path / "m.json")
    m2 = load_model(str(tmp_path / "m.json"))
    for x in ([0.3, -1.2], [2.0, 0.5], [-0.7, 0.1]):
        assert bits(m2(x).data) == bits(m(x).data)


def test_saving_a_non_finite_weight_is_refused(tmp_path):
    m = MLP(2, [3, 1], seed=0)
    m.layers[1].neurons[0].w[2].data = math.nan
    with pytest.raises(ValueError, match=r"layers\[1\]\[0\]\.w\[2\] is nan"):
        save_model(m, tmp_path / "m.json")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("layer, which", [(0, "hidden"), (1, "hidden"), (2, "output")])
def test_saving_a_model_that_mixes_activations_is_refused(tmp_path, layer, which):
    m = MLP(2, [3, 3, 2], seed=0)
    m.layers[layer].neurons[1].activation = "tanh"  # the file could not say which neuron has which
    with pytest.raises(ValueError, match=f"the {which} neurons mix activations"):
        save_model(m, tmp_path / "m.json")
    assert list(tmp_path.iterdir()) == []
    setattr(m, "activation" if which == "hidden" else "output_activation", "tanh")  # one per kind again
    save_model(m, tmp_path / "m.json")
    loaded = load_model(tmp_path / "m.json")
    assert [n.activation for la in loaded.layers for n in la.neurons] == \
        [n.activation for la in m.layers for n in la.neurons]
    assert loaded([0.2, -0.4])[0].data == m([0.2, -0.4])[0].data


def test_saving_something_else_is_a_type_error(tmp_path):
    with pytest.raises(TypeError, match="expected an MLP"):
        save_model({"w": [1.0]}, tmp_path / "m.json")


# --- atomic save ----------------------------------------------------------------------

@pytest.fixture
def old_file(tmp_path):
    path = tmp_path / "model.json"
    save_model(worked_example_model(), path)
    return path, path.read_bytes()


@pytest.mark.parametrize("target", ["replace", "fsync", "write"])
def test_a_failing_save_leaves_the_old_file_intact(monkeypatch, old_file, target):
    path, before = old_file

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if target == "write":
        real_fdopen = os.fdopen

        class Failing:
            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, text):
                self.f.write(text[: len(text) // 2])  # half the text reaches the temporary file
                raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: Failing(real_fdopen(fd, *a, **k)))
    else:
        monkeypatch.setattr(os, target, boom)
    with pytest.raises(OSError, match="No space left"):
        save_model(MLP(2, [2, 2], seed=1), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.json"]  # no temporary file left
    assert load_model(path).layers[0].neurons[0].w[0].data == 0.15


def test_a_failing_json_dump_leaves_the_old_file_intact(monkeypatch, old_file):
    path, before = old_file

    def boom(*args, **kwargs):
        raise ValueError("cannot serialise")

    monkeypatch.setattr(modelfile.json, "dumps", boom)
    with pytest.raises(ValueError, match="cannot serialise"):
        save_model(MLP(2, [2, 2], seed=1), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.json"]


def test_save_replaces_an_existing_file_and_keeps_its_mode(old_file):
    path, before = old_file
    os.chmod(path, 0o640)
    save_model(MLP(2, [2, 2], seed=1), path)
    assert path.read_bytes() != before
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert load_model(path).layers[0].neurons[0].w[0].data == MLP(2, [2, 2], seed=1).layers[0].neurons[0].w[0].data


def test_save_onto_a_folder_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        save_model(MLP(2, [1]), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_save_into_a_missing_folder_fails_cleanly(tmp_path):
    with pytest.raises(FileNotFoundError):
        save_model(MLP(2, [1]), tmp_path / "nope" / "m.json")


# --- corrupt and hostile files ------------------------------------------------------------

def good_doc() -> dict:
    return modelfile.model_to_dict(worked_example_model())


def mutate(fn):
    doc = good_doc()
    fn(doc)
    return json.dumps(doc)


CORRUPT = [
    ("", "line 1 column 1: invalid JSON"),
    ("{", "line 1 column 2: invalid JSON"),
    ('{"format": "tinygrad-bp-model", "version": 1, ', "invalid JSON"),
    ("\x00\x01garbage", "invalid JSON"),
    ("[1, 2, 3]", "top level: expected a JSON object, got list"),
    ('"model"', "top level: expected a JSON object, got str"),
    (mutate(lambda d: d.update(format="keras")), "format: expected 'tinygrad-bp-model'"),
    (mutate(lambda d: d.pop("format")), "format: expected 'tinygrad-bp-model', got null"),
    (mutate(lambda d: d.update(version=2)), "version: unsupported format version 2"),
    (mutate(lambda d: d.update(version="1")), 'version: unsupported format version "1"'),
    (mutate(lambda d: d.update(version=True)), "version: unsupported format version true"),
    (mutate(lambda d: d.pop("layers")), "top level: missing key(s) layers"),
    (mutate(lambda d: d.update(extra=1)), "top level: unknown key(s) 'extra'"),
    (mutate(lambda d: d.update(nin=0)), "nin: expected a positive integer, got 0"),
    (mutate(lambda d: d.update(nin=2.0)), "nin: expected a positive integer, got 2.0"),
    (mutate(lambda d: d.update(nouts=[])), "nouts: expected a non-empty list"),
    (mutate(lambda d: d.update(nouts=[2, "2"])), 'nouts[1]: expected a positive integer, got "2"'),
    (mutate(lambda d: d.update(activation="softmax")), 'activation: unknown activation "softmax"'),
    (mutate(lambda d: d.update(output_activation=None)), "output_activation: unknown activation null"),
    (mutate(lambda d: d.update(layers={})), "layers: expected a list of 2 layers"),
    (mutate(lambda d: d["layers"].pop()), "layers: expected a list of 2 layers (one per nouts entry), got 1"),
    (mutate(lambda d: d["layers"][1].pop()), "layers[1]: expected a list of 2 neurons (nouts[1]), got 1"),
    (mutate(lambda d: d["layers"][0][1].pop("b")), 'layers[0][1]: expected an object with exactly the keys "w"'),
    (mutate(lambda d: d["layers"][0][1].update(bias=0)), "layers[0][1]: expected an object"),
    (mutate(lambda d: d["layers"][1][0]["w"].append(0.1)), "layers[1][0].w: expected a list of 2 weights"),
    (mutate(lambda d: d["layers"][1][0].update(w=0.4)), "layers[1][0].w: expected a list of 2 weights"),
    (mutate(lambda d: d["layers"][0][0]["w"].__setitem__(1, "0.2")), 'layers[0][0].w[1]: expected a number, got str'),
    (mutate(lambda d: d["layers"][0][0]["w"].__setitem__(1, True)), "layers[0][0].w[1]: expected a number, got bool"),
    (mutate(lambda d: d["layers"][0][0]["w"].__setitem__(0, None)), "layers[0][0].w[0]: expected a number"),
    (mutate(lambda d: d["layers"][1][1].update(b=[0.6])), "layers[1][1].b: expected a number, got list"),
    (json.dumps(good_doc()).replace("0.35", "1e999", 1), "layers[0][0].b: expected a finite number, got inf"),
    (json.dumps(good_doc()).replace("0.35", "NaN", 1), "(at layers[0][0].b): invalid JSON: NaN is not valid JSON"),
    (json.dumps(good_doc()).replace("0.35", "-Infinity", 1), "(at layers[0][0].b): invalid JSON: -Infinity is not"),
    (json.dumps(good_doc()).replace("0.35", "1" * 400, 1), "layers[0][0].b: number too large for a float"),
    (json.dumps(good_doc()).replace("0.35", "1" * 5000, 1), "(at layers[0][0].b): invalid JSON: an integer of 5000"),
    (json.dumps(good_doc()).replace('"version"', '"nin": 3, "version"', 1), "(at nin): invalid JSON: duplicate key"),
    ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
]


@pytest.mark.parametrize("text, fragment", CORRUPT, ids=range(len(CORRUPT)))
def test_corrupt_files_say_what_and_where(tmp_path, text, fragment):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as e:
        load_model(path)
    msg = str(e.value)
    assert msg.startswith(f"model file {path}: ")
    assert fragment in msg
    assert len(msg) < 300


def test_invalid_utf8_is_a_value_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(b'{"format": "\xff\xfe\xfa"}')
    with pytest.raises(ValueError, match="bad.json: byte 12: not UTF-8 text"):
        load_model(path)


@pytest.mark.parametrize("protocol, fragment", [(pickle.DEFAULT_PROTOCOL, "byte 0: not UTF-8 text"),
                                                (0, "line 1 column 1: invalid JSON")])  # protocol 0 is ASCII
def test_a_pickle_file_is_refused_and_never_executed(tmp_path, protocol, fragment):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(Exploit(), protocol=protocol))
    with pytest.raises(ValueError, match=fragment):
        load_model(path)
    assert not marker.exists()


def test_huge_declared_sizes_do_not_allocate(tmp_path):
    doc = good_doc()
    doc["nouts"] = [10**12, 2]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    # 2 inputs -> 10^12 neurons of 3 parameters -> 2 neurons of 10^12 + 1
    with pytest.raises(ValueError, match=f"nin, nouts: the model has {3 * 10**12 + 2 * (10**12 + 1)} parameters"):
        load_model(path)


def test_oversized_file_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(modelfile, "MAX_BYTES", 100)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(modelfile.model_to_dict(worked_example_model())))  # save_model would refuse it
    with pytest.raises(ValueError, match="larger than the 100-byte limit"):
        load_model(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.json")


def test_parse_model_accepts_bytes_and_text():
    text = json.dumps(good_doc())
    for src in (text, text.encode("utf-8")):
        m = parse_model(src)
        assert m([0.05, 0.10])[0].data == pytest.approx(0.75136507, abs=5e-9)


def test_loading_leaves_pythons_global_random_as_it_was(tmp_path):
    import random
    MLP(2, [16, 16, 1], seed=0).save(tmp_path / "m.json")
    random.seed(123)
    expected = random.random()
    random.seed(123)
    loaded = MLP.load(tmp_path / "m.json")
    assert random.random() == expected and loaded.seed is None


def test_a_byte_order_mark_is_accepted(tmp_path):
    m = worked_example_model()
    text = json.dumps(modelfile.model_to_dict(m))
    for data in (b"\xef\xbb\xbf" + text.encode(), "\ufeff" + text):
        loaded = parse_model(data)
        assert [p.data for p in loaded.parameters()] == [p.data for p in m.parameters()]


def test_a_model_too_large_to_load_is_not_saved(tmp_path, monkeypatch):
    m = MLP(2, [3, 1], seed=0)
    size = len(json.dumps(modelfile.model_to_dict(m), allow_nan=False, separators=(",", ":"))) + 1
    monkeypatch.setattr(modelfile, "MAX_BYTES", size - 1)
    with pytest.raises(ValueError, match=rf"would be {size} bytes, more than the {size - 1}-byte limit"):
        save_model(m, tmp_path / "m.json")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(modelfile, "MAX_BYTES", size)
    save_model(m, tmp_path / "m.json")
    assert [p.data for p in load_model(tmp_path / "m.json").parameters()] == [p.data for p in m.parameters()]


# --- where in the file: line, column and JSON path -------------------------------------------

def _position(text: str, token: str) -> tuple[int, int]:
    """Line and column (1-based) of the first occurrence of `token`, found by splitting lines."""
    for n, line in enumerate(text.splitlines(), start=1):
        if token in line:
            return n, line.index(token) + 1
    raise AssertionError(token)


@pytest.mark.parametrize("old, new, token, where, what", [
    ('"b": 0.35', '"b": NaN', "NaN", "layers[0][0].b", "NaN is not valid JSON"),
    ("0.45", "Infinity", "Infinity", "layers[1][0].w[1]", "Infinity is not valid JSON"),
    ("0.45", "-" + "7" * 5000, "-777", "layers[1][0].w[1]", "an integer of 5000 digits, more than the 4300"),
    ('"b": 0.6', '"b": 0.6, "b": 0.7', '"b": 0.7', "layers[1][0].b", "duplicate key 'b'"),
    ('"activation"', '"version": 1, "activation"', '"version": 1, "activation"', "version", "duplicate key"),
    ("0.55", "0.55,", "0.55,", "layers[1][1].w[2]", "Expecting value"),  # a trailing comma
], ids=["nan", "infinity", "5000-digit-int", "duplicate-in-neuron", "duplicate-at-top", "trailing-comma"])
def test_bad_json_names_line_column_and_path(tmp_path, old, new, token, where, what):
    text = json.dumps(good_doc(), indent=2).replace(old, new, 1)
    assert text.count(token) == 1
    line, column = _position(text, token)
    if what == "Expecting value":  # json reports the position after the comma, where a value should be
        column, line = 1, line + 1
        while not text.splitlines()[line - 1].strip():
            line += 1
        column = len(text.splitlines()[line - 1]) - len(text.splitlines()[line - 1].lstrip()) + 1
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError) as e:
        load_model(path)
    assert str(e.value).startswith(f"model file {path}: line {line} column {column} (at {where}): invalid JSON: {what}")


# --- bounds on what a file may build ----------------------------------------------------------

def test_the_default_limit_is_a_million_parameters(tmp_path):
    assert modelfile.MAX_PARAMETERS == 1_000_000
    doc = good_doc()
    doc.update(nin=999, nouts=[1001], layers=[[]])  # 1001 neurons of 999 weights and a bias
    path = tmp_path / "big.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="the model has 1001000 parameters .* more than max_parameters=1000000"):
        load_model(path)
    doc.update(nouts=[1000])  # exactly 1,000,000: passes the count, then the (empty) layer is checked
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"layers\[0\]: expected a list of 1000 neurons"):
        load_model(path)


def test_max_parameters_bounds_the_model_and_can_be_raised(tmp_path):
    path = tmp_path / "m.json"
    save_model(worked_example_model(), path)  # 2-2-2: 2·3 + 2·3 = 12 parameters
    assert len(load_model(path, max_parameters=12).parameters()) == 12
    with pytest.raises(ValueError, match="the model has 12 parameters .* more than max_parameters=11; pass a larger"):
        load_model(path, max_parameters=11)
    with pytest.raises(ValueError, match="more than max_parameters=11"):
        parse_model(path.read_text(), max_parameters=11)


def test_the_count_is_checked_before_anything_is_built(tmp_path, monkeypatch):
    path = tmp_path / "m.json"
    save_model(worked_example_model(), path)

    def no_build(*args, **kwargs):
        raise AssertionError("an MLP was built")

    monkeypatch.setattr(MLP, "__init__", no_build)
    with pytest.raises(ValueError, match="more than max_parameters=11"):
        load_model(path, max_parameters=11)


def test_more_json_values_than_the_limit_allows_are_refused_before_parsing(tmp_path, monkeypatch):
    text = '{"layers": [' + "0," * 100 + "0]}"  # 101 commas and 2 brackets: more than 3 * 20 + 16 = 76
    path = tmp_path / "m.json"
    path.write_text(text)

    def no_parse(*args, **kwargs):
        raise AssertionError("json.loads ran")

    monkeypatch.setattr(modelfile.json, "loads", no_parse)
    with pytest.raises(ValueError, match=r"the file has 102 JSON commas and brackets, more than a model of at most "
                                         r"max_parameters=20 parameters has \(76\)"):
        load_model(path, max_parameters=20)


def test_the_largest_legal_model_passes_the_value_count(tmp_path):
    # fan-in 1 everywhere (2 parameters per neuron) has the most commas and brackets per parameter
    m = MLP(1, [1] * 50, seed=0)
    path = tmp_path / "m.json"
    save_model(m, path)
    text = path.read_text()
    assert text.count(",") + text.count("[") + text.count("{") <= 3 * 100 + 16
    assert [p.data for p in load_model(path, max_parameters=100).parameters()] == [p.data for p in m.parameters()]


def test_the_byte_limit_follows_max_parameters(tmp_path):
    path = tmp_path / "m.json"
    text = json.dumps(good_doc())
    path.write_text(text + " " * 70_000)  # valid JSON, padded
    limit = 64 * 1024 + 64 * 12
    with pytest.raises(ValueError, match=f"file of {len(text) + 70_000} bytes is larger than the {limit}-byte limit "
                                         "for a model of at most max_parameters=12 parameters"):
        load_model(path, max_parameters=12)
    assert len(load_model(path, max_parameters=100).parameters()) == 12  # 64 KiB + 6400 bytes


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "1000", None, 10.0])
def test_a_bad_max_parameters_is_a_value_error(tmp_path, bad):
    path = tmp_path / "m.json"
    save_model(worked_example_model(), path)
    with pytest.raises(ValueError, match="load_model: max_parameters must be a positive integer"):
        load_model(path, max_parameters=bad)
    with pytest.raises(ValueError, match="parse_model: max_parameters must be a positive integer"):
        parse_model(path.read_text(), max_parameters=bad)


def _peak_bytes(fn) -> int:
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        fn()
    except ValueError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_no_file_within_the_limits_costs_more_memory_than_a_legal_model_at_the_limit(tmp_path):
    limit = 6000
    legal = tmp_path / "legal.json"
    save_model(MLP(59, [100], seed=0), legal)  # 100 neurons of 59 weights and a bias: 6000 parameters
    legal_peak = _peak_bytes(lambda: load_model(legal, max_parameters=limit))
    budget = 3 * limit + 16
    hostile = {  # each just inside the value count (and the byte limit) for max_parameters=6000
        "empty objects": "[" + ",".join(["{}"] * (budget // 2 - 1)) + "]",
        "floats": "[" + ",".join(["1.5"] * (budget - 1)) + "]",
        "short strings": "[" + ",".join(['"ab"'] * (budget - 1)) + "]",
        "nested lists": "[" + ",".join(["[[[]]]"] * (budget // 4 - 1)) + "]",
        "whitespace": json.dumps(good_doc()) + " " * (64 * 1024 + 64 * limit - 1000),
    }
    for name, text in hostile.items():
        path = tmp_path / "hostile.json"
        path.write_text(text)
        assert os.path.getsize(path) <= 64 * 1024 + 64 * limit
        peak = _peak_bytes(lambda p=path: load_model(p, max_parameters=limit))
        assert peak < legal_peak, (name, peak, legal_peak)
    assert legal_peak < 400 * limit  # Python allocations per parameter: ~265 bytes measured (docs/reliability.md)


# --- what the path names -------------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_loading_a_fifo_is_refused_at_once(tmp_path):
    import threading

    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    outcome = []

    def load():
        try:
            load_model(fifo)
        except BaseException as e:  # noqa: B036 -- handed to the test's thread
            outcome.append(e)

    t = threading.Thread(target=load, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # blocked in open(): a writer lets it go on
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        t.join(10)
        pytest.fail("load_model blocked on a FIFO")
    [e] = outcome
    assert isinstance(e, OSError) and not isinstance(e, FileNotFoundError)
    assert str(fifo) in str(e) and "is not a regular file (a FIFO)" in str(e)


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="no /dev/null")
def test_loading_a_device_is_refused():
    with pytest.raises(OSError, match=r"is not a regular file \(a character device\).*/dev/null"):
        load_model("/dev/null")


def test_loading_a_folder_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError) as e:
        load_model(tmp_path)
    assert str(tmp_path) in str(e.value)


@pytest.mark.parametrize("op", ["save", "load"])
def test_a_nul_byte_in_the_path_is_named(tmp_path, op):
    bad = str(tmp_path / "m\0.json")
    with pytest.raises(ValueError) as e:
        if op == "save":
            save_model(worked_example_model(), bad)
        else:
            load_model(bad)
    assert repr(bad) in str(e.value) and "NUL byte" in str(e.value)
    assert list(tmp_path.iterdir()) == []


# --- trained_on: what the model was trained on --------------------------------------------------

MOONS = {"data": "moons", "loss": "hinge", "labels": "pm1", "samples": 100, "noise": 0.1, "seed": 0}


def test_trained_on_is_recorded_and_read_back(tmp_path):
    path = tmp_path / "m.json"
    save_model(worked_example_model(), path, trained_on=MOONS)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["trained_on"] == MOONS
    assert load_model(path).trained_on == MOONS
    xor = {"data": "xor", "loss": "bce", "labels": "01"}
    save_model(worked_example_model(), path, trained_on=xor)
    assert load_model(path).trained_on == xor


def test_an_older_file_without_trained_on_still_loads(tmp_path):
    path = tmp_path / "m.json"
    save_model(worked_example_model(), path)
    assert "trained_on" not in json.loads(path.read_text(encoding="utf-8"))
    m = load_model(path)
    assert m.trained_on is None
    assert m([0.05, 0.10])[0].data == pytest.approx(0.75136507, abs=5e-9)  # Mazur's out_o1


@pytest.mark.parametrize("info, fragment", [
    ([1], "trained_on: expected an object, got list"),
    ({"data": "moons", "loss": "hinge"}, "trained_on: missing key(s) labels"),
    ({**MOONS, "lr": 1},
     "trained_on: unknown key(s) 'lr'; expected some of ['data', 'labels', 'loss', 'noise', 'samples', 'seed']"),
    ({**MOONS, "data": "mnist"},
     "trained_on.data: expected one of ['circles', 'moons', 'spiral', 'xor'], got \"mnist\""),
    ({**MOONS, "loss": "l1"}, "trained_on.loss: expected one of ['bce', 'hinge', 'mse', 'sse'], got \"l1\""),
    ({**MOONS, "labels": "01"}, "trained_on.labels: the loss hinge trains on labels 'pm1', got \"01\""),
    ({**MOONS, "samples": 1}, "trained_on.samples: expected null or an integer >= 2, got 1"),
    ({**MOONS, "seed": True}, "trained_on.seed: expected null or an integer >= 0, got true"),
    ({**MOONS, "noise": -0.5}, "trained_on.noise: expected null or a finite number >= 0, got -0.5"),
])
def test_a_bad_trained_on_is_named_on_load_and_refused_on_save(tmp_path, info, fragment):
    path = tmp_path / "m.json"
    doc = modelfile.model_to_dict(worked_example_model())
    doc["trained_on"] = info
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ValueError) as e:
        load_model(path)
    assert str(e.value) == f"model file {path}: {fragment}"
    with pytest.raises(ValueError, match="save_model: trained_on"):
        save_model(worked_example_model(), tmp_path / "new.json", trained_on=info)
    assert not (tmp_path / "new.json").exists()
