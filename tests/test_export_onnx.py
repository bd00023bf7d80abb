"""The onnx export, run with onnxruntime: every bundled model's step graph against charsmith's
step (logits and states), scores over 1,000 items against ``charsmith score``, seeded samples
of the sampler written beside the graph against the specification's loop over charsmith's
own step, float16 weights, the metadata, and the documented mapping onto ONNX's own GRU and
LSTM operators.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import known_only
from export_spec import NumpyStep

import charsmith
from charsmith import model as M
from charsmith.api import CharModel
from charsmith.errors import InputError
from charsmith.export import onnx as onnx_export
from charsmith.export import onnx_sampler
from charsmith.export._spec import KNOWN_INFO_KEY

MODELS = ("dinosaurs", "names", "languages", "shakespeare")
CATEGORY, BLEND = "Japanese", "Japanese=0.7,Italian=0.3"


def need_onnx() -> None:
    for module in ("onnx", "onnxruntime"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: pip install 'charsmith[onnx]' (.ci/run installs it)")


def load_sampler(path: Path) -> ModuleType:
    """The sampler script written beside the graph, imported from there."""
    spec = importlib.util.spec_from_file_location(f"sampler_{abs(hash(path))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[CharModel, object, ModuleType]]:
    """name -> (model, the sampler's StepModel over the exported graph, the sampler module)."""
    need_onnx()
    out = {}
    for name in MODELS:
        m = charsmith.load(name)
        graph, script = onnx_export.write(m, tmp_path_factory.mktemp(name) / f"{name}.onnx")
        assert script.name == f"{name}_sampler.py"
        sampler = load_sampler(script)
        out[name] = (m, sampler.StepModel(str(graph)), sampler)
    return out


def _state(cfg: object, rows: dict[str, np.ndarray]) -> M.State:
    names = ("h", "c") if cfg.cell == "lstm" else ("h",)  # type: ignore[attr-defined]
    return tuple(tuple(rows[f"{s}{i}"] for s in names) for i in range(cfg.layers))  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", MODELS)
def test_step_equals_charsmiths_step(exported: dict, name: str) -> None:
    """Twelve steps of 6 rows (states that the model itself reached; with categories, one-hot
    and blended rows): logits and states within 1e-5 of charsmith's float32 step (relative to
    1 + |value|: logits reach 20 and more, and float32's own rounding is 6e-8 of them per
    operation), and within 1e-9 (absolute) of its float64 step, the same arithmetic."""
    m, sm, _ = exported[name]
    cfg = m.ckpt.model
    p64 = {k: v.astype(np.float64) for k, v in m.ckpt.params.items()}
    rng = np.random.default_rng(0)
    B = 6
    cond = None
    if cfg.categories:
        cond = np.eye(cfg.categories)[rng.integers(0, cfg.categories, B)]
        cond[:2] = rng.dirichlet(np.ones(cfg.categories), 2)  # blends
    ids = np.zeros(B, dtype=np.int64)
    rows = sm.zero_state(B)
    s32, s64 = M.init_state(cfg, B, np.float32), M.init_state(cfg, B, np.float64)
    for _ in range(12):
        logits, rows = sm.step(ids, cond, rows)
        l32, s32 = M.step(m.ckpt.params, cfg, ids, s32, cond=None if cond is None else cond.astype(np.float32))
        l64, s64 = M.step(p64, cfg, ids, s64, cond=cond)
        assert logits.dtype == np.float64 and logits.shape == (B, cfg.vocab_size)
        assert (np.abs(logits - l32) / (1 + np.abs(l64))).max() < 1e-5 and np.abs(logits - l64).max() < 1e-9
        for ours, a32, a64 in zip(_state(cfg, rows), s32, s64):
            for x, y32, y64 in zip(ours, a32, a64):
                assert (np.abs(x - y32) / (1 + np.abs(y64))).max() < 1e-5 and np.abs(x - y64).max() < 1e-9
        ids = rng.integers(1, cfg.vocab_size, B)


def score_items(m: CharModel) -> list[str]:
    if m.mode == "text":
        text = m.complete("", 6000, seed=0)[0]
        rng = np.random.default_rng(0)
        return [text[s : s + k] for s, k in zip(rng.integers(0, len(text) - 30, 1000), rng.integers(1, 30, 1000))]
    return m.sample(1000, seed=0, allow_known=True).samples


@pytest.mark.parametrize("name", MODELS)
def test_scores_match_charsmith_score_on_1000_items(exported: dict, name: str) -> None:
    m, sm, sampler = exported[name]
    items = score_items(m)
    assert len(items) == 1000
    cases = [(items, CATEGORY if m.categories else None)]
    if m.categories:  # the mixture of all categories, and a blend
        cases += [(items[:100], None), (items[:100], BLEND)]
    for chunk, category in cases:
        ref = known_only(m, m.score(chunk, category=category))
        got = sampler.score(sm, chunk, category)
        assert [n for _, n in got] == [s.n_chars for s in ref]
        err = np.abs(np.array([lp for lp, _ in got]) - [s.logprob for s in ref]) / [s.n_chars for s in ref]
        assert err.max() < 1e-5, (category, chunk[int(err.argmax())])


@pytest.mark.parametrize("name", MODELS)
def test_seeded_samples_match_the_specification_loop(exported: dict, name: str) -> None:
    """The sampler over the ONNX graph writes the same items as the specification's loop over
    charsmith's own float64 step, seed for seed."""
    m, sm, sampler = exported[name]
    ref = NumpyStep(m)
    if m.mode == "text":
        for seed, opts in ((1, {}), (2, {"temperature": 0.7, "top_k": 4})):
            got = sampler.complete(sm, "KING:", 150, seed=seed, **opts)
            assert got == onnx_sampler.complete(ref, "KING:", 150, seed=seed, **opts)  # type: ignore[arg-type]
        return
    cat = CATEGORY if m.categories else None
    for seed, opts in ((1, {}), (2, {"temperature": 1.4, "top_p": 0.85}), (3, {"prefix": "B" if m.categories else "b",
                                                                             "min_len": 4, "max_len": 7})):
        got = sampler.sample(sm, 60, seed=seed, category=cat, **opts)
        assert len(got) == 60
        assert got == onnx_sampler.sample(ref, 60, seed=seed, category=cat, **opts)  # type: ignore[arg-type]
    if m.categories:  # without a category, each item's category is drawn from the training counts
        assert sampler.sample(sm, 30, seed=4) == onnx_sampler.sample(ref, 30, seed=4)


@pytest.mark.parametrize("name", ["dinosaurs", "languages", "shakespeare"])
def test_seeded_samples_equal_the_python_reference_of_the_spec(exported: dict, name: str) -> None:
    """The sampler over the ONNX graph and charsmith.export._spec.Generator (the reference the JS
    export is checked against) write the same items for the same seed: identical across targets."""
    from charsmith.export._spec import Generator  # noqa: PLC0415

    m, sm, sampler = exported[name]
    ref = Generator(m)
    if m.mode == "text":
        assert sampler.complete(sm, "KING:", 100, seed=3, top_p=0.9) == ref.complete("KING:", 100, seed=3, top_p=0.9)
        return
    cat = CATEGORY if m.categories else None
    for seed, opts in ((1, {}), (2, {"temperature": 1.4, "top_p": 0.85, "top_k": 12})):
        got = sampler.sample(sm, 40, seed=seed, category=cat, **opts)
        assert got == ref.sample(40, seed=seed, category=cat, **opts)  # type: ignore[arg-type]
    if m.categories:  # each item's category drawn from the training counts
        assert sampler.sample(sm, 20, seed=4) == ref.sample(20, seed=4)


def test_float16_weights(tmp_path: Path) -> None:
    """dtype float16 stores half-size weights; scores equal charsmith's on the rounded weights."""
    need_onnx()
    m = charsmith.load("languages")
    graph, script = onnx_export.write(m, tmp_path / "half.onnx", dtype="float16")
    full, _ = onnx_export.write(m, tmp_path / "full.onnx")
    assert graph.stat().st_size < 0.55 * full.stat().st_size
    sampler = load_sampler(script)
    rounded = {k: v.astype(np.float16).astype(np.float32) for k, v in m.ckpt.params.items()}
    half = CharModel(dataclasses.replace(m.ckpt, params=rounded))
    items = m.sample(200, seed=0, allow_known=True).samples
    got = sampler.score(sampler.StepModel(str(graph)), items, CATEGORY)
    ref = known_only(half, half.score(items, category=CATEGORY))
    assert (np.abs(np.array([lp for lp, _ in got]) - [s.logprob for s in ref]) / [s.n_chars for s in ref]).max() < 1e-5


def test_metadata_known_items_and_the_command_line(tmp_path: Path) -> None:
    """The metadata carries what the sampler needs; with known hashes (here: of the first 100
    items seed 5 gives), sampling returns the unfiltered stream without them; the script runs on
    its own (python model_sampler.py model.onnx ...), exit 2 on a bad request."""
    need_onnx()
    m = charsmith.load("dinosaurs")
    first = onnx_sampler.sample(NumpyStep(m), 100, seed=5)
    known = {onnx_sampler.fnv1a(s) for s in first}
    graph, script = onnx_export.write(m, tmp_path / "dinos.onnx", known_hashes=np.array(sorted(known)))
    sampler = load_sampler(script)
    sm = sampler.StepModel(str(graph))
    assert sm.vocab == m.ckpt.vocab.chars and sm.lowercase and not sm.text and sm.categories == []
    assert sm.known.tolist() == sorted(known)
    stream = sampler.sample(sm, 400, seed=5, skip_known=False)
    assert stream[:100] == first
    assert sampler.sample(sm, 200, seed=5) == [s for s in stream if onnx_sampler.fnv1a(s) not in known][:200]
    assert sampler.sample(sm, 200, seed=5, skip_known=False, unique=True) == list(dict.fromkeys(stream))[:200]
    r = subprocess.run([sys.executable, str(script), str(graph), "-n", "5", "--seed", "9", "--temperature", "0.8"],
                       capture_output=True, text=True, check=True)
    assert r.stdout.split() == sampler.sample(sm, 5, seed=9, temperature=0.8)
    r = subprocess.run([sys.executable, str(script), str(graph), "--score", "tyrannosaurus"],
                       capture_output=True, text=True, check=True)
    assert r.stdout.startswith(f"tyrannosaurus\t{known_only(m, m.score(['tyrannosaurus']))[0].logprob:.4f}\t")
    for argv, message in ((["--prefix", "T€"], "characters this model does not know: '€'"),
                          (["--temperature", "0"], "temperature must be a finite number > 0"),
                          (["--category", "Japanese"], "this model has no categories")):
        r = subprocess.run([sys.executable, str(script), str(graph), *argv], capture_output=True, text=True)
        assert r.returncode == 2 and r.stderr.startswith(f"error: {message}") and r.stderr.count("\n") == 1, r.stderr
    r = subprocess.run([sys.executable, str(script), str(tmp_path / "none.onnx")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr


def test_known_hashes_come_from_the_items_given_to_the_export(tmp_path: Path) -> None:
    need_onnx()
    m = charsmith.load("dinosaurs")
    with pytest.raises(InputError, match=r"`?known`? needs the training items"):
        onnx_export.export(m, tmp_path / "d.onnx", known=True)
    assert not list(tmp_path.iterdir())
    given = CharModel(dataclasses.replace(m.ckpt, info={**m.ckpt.info, KNOWN_INFO_KEY: np.array([9, 3, 5])}))
    written = onnx_export.export(given, tmp_path / "d.onnx", known=True)
    assert written == onnx_export.outputs(tmp_path / "d.onnx") == [tmp_path / "d.onnx", tmp_path / "d_sampler.py"]
    assert load_sampler(written[1]).StepModel(str(written[0])).known.tolist() == [3, 5, 9]


def test_refusals(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    m = charsmith.load("dinosaurs")
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if it were not installed
    with pytest.raises(InputError, match=r"the onnx export needs the onnx package: pip install 'charsmith\[onnx\]'"):
        onnx_export.write(m, tmp_path / "x.onnx")
    assert not list(tmp_path.iterdir())
    monkeypatch.undo()
    need_onnx()
    with pytest.raises(InputError, match="`dtype` must be one of float32, float16"):
        onnx_export.write(m, tmp_path / "x.onnx", dtype="bfloat16")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_documented_mapping_onto_onnx_operators(cell: str) -> None:
    """The docs' gate-order mapping, checked: charsmith's weights reordered as stated and run by
    ONNX's own GRU (linear_before_reset=1) or LSTM operator give charsmith's step (in float32:
    onnxruntime's GRU has no double kernel, one reason the export builds the cell from MatMuls)."""
    need_onnx()
    import onnx  # noqa: PLC0415
    import onnxruntime  # noqa: PLC0415

    from charsmith.nn import layer  # noqa: PLC0415

    D, H, B = 5, 4, 3
    rng = np.random.default_rng(1)
    p = layer.init_params(cell, D, H, rng, np.float64)
    x, h0 = rng.standard_normal((B, D)), rng.standard_normal((B, H))
    c0 = rng.standard_normal((B, H))
    blocks = lambda a, order: np.concatenate([a[..., k * H : (k + 1) * H] for k in order], axis=-1)  # noqa: E731
    if cell == "gru":  # ONNX (z, r, h) from charsmith's (r, z, n); b_hn is the recurrence's bias of h
        order, rb = (1, 0, 2), np.concatenate([np.zeros(2 * H), p["b_hn"]])
        attrs, states = {"linear_before_reset": 1}, ["h0"]
    else:  # ONNX (i, o, f, c) from PyTorch's (i, f, g, o)
        order, rb = (0, 3, 1, 2), np.zeros(4 * H)
        attrs, states = {}, ["h0", "c0"]
    bias = np.concatenate([blocks(p["b"], order), blocks(rb, order)])[None]  # (1, 2G): [W_b | R_b]
    W, R = blocks(p["W_ih"], order).T[None], blocks(p["W_hh"], order).T[None]  # (1, G, D), (1, G, H)
    W, R, bias = (a.astype(np.float32) for a in (W, R, bias))
    h = onnx.helper
    inputs = ["x", "W", "R", "Bias", "", "h0"] + (["c0"] if cell == "lstm" else [])
    node = h.make_node(cell.upper(), inputs, ["", "h_out"] + (["c_out"] if cell == "lstm" else []), hidden_size=H,
                       **attrs)
    T = onnx.TensorProto.FLOAT
    graph = h.make_graph([node], "cell", [h.make_tensor_value_info(n, T, None) for n in ["x", *states]],
                         [h.make_tensor_value_info(n, T, None) for n in ["h_out"] + (["c_out"] if cell == "lstm" else [])],
                         [onnx.numpy_helper.from_array(W, "W"), onnx.numpy_helper.from_array(R, "R"),
                          onnx.numpy_helper.from_array(bias, "Bias")])
    proto = h.make_model(graph, opset_imports=[h.make_opsetid("", onnx_export.OPSET)])
    proto.ir_version = onnx_export.IR_VERSION
    sess = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {"x": x[None], "h0": h0[None]} | ({"c0": c0[None]} if cell == "lstm" else {})
    feed = {k: v.astype(np.float32) for k, v in feed.items()}
    got = sess.run(None, feed)
    want = layer.get_cell(cell).step(p, x @ p["W_ih"] + p["b"], (h0, c0) if cell == "lstm" else (h0,))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert np.abs(g[0] - w).max() < 1e-5
