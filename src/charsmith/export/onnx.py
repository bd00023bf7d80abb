"""The ``onnx`` export: one step of the network as an ONNX graph, and a reference sampling
loop for onnxruntime written beside it.

Graph (opset :data:`OPSET`, IR version :data:`IR_VERSION`), for a batch of B rows::

    inputs   ids (B,) int64            the character fed at this step (0: the end token, fed first)
             cond (B, K) double        category weights summing to 1 (models with categories only)
             h{l}, and c{l} for lstm   (B, H) double, layer l's state (zeros to start)
    outputs  logits (B, V) double      the next character's logits
             h{l}_out, c{l}_out        (B, H) double, the new state

The cell is built from MatMul, Add, Mul, Sub, Split, Sigmoid and Tanh (not ONNX's GRU and
LSTM operators): it is then the same equations as :mod:`charsmith.nn` in PyTorch's gate
order, for every cell and number of layers, with no reordering of weights. The weights are
stored in ``dtype`` (float32 or float16) under charsmith's names and cast to double inside the
graph, so the arithmetic is float64 as the sampling specification asks. Someone mapping the
weights onto ONNX's own operators instead: ONNX's GRU gates are (z, r, h), PyTorch's and
charsmith's (r, z, n), and charsmith's GRU is ONNX's with ``linear_before_reset=1`` (b_hn inside
the reset product); ONNX's LSTM gates are (i, o, f, c), PyTorch's (i, f, g, o).

The vocabulary, the mode, the categories and their training counts, and (with ``known``) the
training items' FNV-1a hashes travel in the model's metadata (key ``charsmith``, JSON).
``<stem>_sampler.py`` beside the graph (NumPy and onnxruntime only) samples, scores and
completes with it, following the sampling specification.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import charsmith
from charsmith._fileio import atomic_write_bytes, atomic_write_text
from charsmith.errors import InputError
from charsmith.export._spec import known_hashes as _known_hashes
from charsmith.export._spec import network

if TYPE_CHECKING:
    from charsmith.api import CharModel

__all__ = ["IR_VERSION", "OPSET", "build", "check", "export", "metadata", "outputs", "write"]

OPSET = 13  # Split with equal outputs, Gather, MatMul, Sigmoid, Tanh, Cast: all in opset 13
IR_VERSION = 7  # the IR of ONNX 1.8, the first with opset 13: older runtimes load it too
DTYPES = {"float32": np.float32, "float16": np.float16}
CELLS = ("rnn", "lstm", "gru")
SAMPLER = Path(__file__).with_name("onnx_sampler.py")


def _onnx() -> Any:
    try:
        import onnx  # noqa: PLC0415  (optional: only this export needs it)
    except ImportError:
        raise InputError("the onnx export needs the onnx package: pip install 'charsmith[onnx]'") from None
    return onnx


def check(model: CharModel) -> None:
    """Raise InputError if the onnx export cannot express ``model``."""
    cell = network(model).cell
    if cell not in CELLS:
        raise InputError(f"the onnx export writes rnn, lstm and gru networks; this model's cell is {cell!r}")


def outputs(out: Path) -> list[Path]:
    """The files the export writes: the graph and its sampler script."""
    return [out, out.with_name(out.stem + "_sampler.py")]


def export(model: CharModel, out: Path, *, dtype: str = "float32", known: bool = False) -> list[Path]:
    """Write ``model``'s step graph to ``out`` and the sampler script ``<stem>_sampler.py``
    beside it; return the files written. ``known``: ship the training items' hashes."""
    hashes = _known_hashes(model) if known else None
    return write(model, Path(out), dtype=dtype, known_hashes=hashes)


def write(model: CharModel, out: Path, *, dtype: str = "float32", known_hashes: np.ndarray | None = None) -> list[Path]:
    """:func:`export` with the known set given as sorted uint32 FNV-1a hashes (or None)."""
    check(model)
    onnx = _onnx()
    graph = build(model, dtype)
    meta = graph.metadata_props.add()
    meta.key, meta.value = "charsmith", json.dumps(metadata(model, known_hashes))
    onnx.checker.check_model(graph)
    sampler = outputs(out)[1]
    atomic_write_bytes(out, graph.SerializeToString())
    atomic_write_text(sampler, SAMPLER.read_text(encoding="utf-8"))
    return [out, sampler]


def metadata(model: CharModel, known_hashes: np.ndarray | None) -> dict[str, Any]:
    """What the sampler needs besides the graph: vocabulary, mode, categories, known hashes."""
    cfg, cats = network(model), model.ckpt.categories
    hashes = np.zeros(0, dtype="<u4") if known_hashes is None else np.unique(np.asarray(known_hashes, dtype="<u4"))
    return {
        "format": "charsmith-onnx-step",
        "version": 1,
        "charsmith_version": charsmith.__version__,
        "mode": model.mode,
        "lowercase": model.lowercase,
        "vocab": model.ckpt.vocab.chars,
        "cell": cfg.cell,
        "layers": cfg.layers,
        "hidden": cfg.hidden,
        "categories": [] if cats is None else list(cats.names),
        "counts": [] if cats is None else list(cats.counts),
        "known_fnv1a": base64.b64encode(hashes.tobytes()).decode("ascii"),
    }


class _Graph:
    """Nodes and initializers of the graph being built, with fresh value names."""

    def __init__(self, onnx: Any) -> None:
        self.onnx, self.h = onnx, onnx.helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0

    def op(self, kind: str, *inputs: str, outputs: int = 1, name: str | None = None, **attrs: Any) -> Any:
        """Add a node; return its output name (or the list of ``outputs`` names)."""
        outs = [name] if name else []
        while len(outs) < outputs:
            self._n += 1
            outs.append(f"{kind.lower()}_{self._n}")
        self.nodes.append(self.h.make_node(kind, list(inputs), outs, **attrs))
        return outs[0] if outputs == 1 else outs

    def weight(self, name: str, value: np.ndarray, dtype: Any) -> str:
        """A weight stored in ``dtype`` and cast to double: its double value's name."""
        self.inits.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(value, dtype=dtype), name))
        return self.op("Cast", name, to=self.onnx.TensorProto.DOUBLE)


def build(model: CharModel, dtype: str = "float32") -> Any:
    """The step graph of ``model`` (an ``onnx.ModelProto``) with weights stored in ``dtype``."""
    if dtype not in DTYPES:
        raise InputError(f"`dtype` must be one of {', '.join(DTYPES)}, got {dtype!r}", param="dtype")
    onnx = _onnx()
    h, T = onnx.helper, onnx.TensorProto
    cfg, params = network(model), model.ckpt.params
    for name, value in params.items():
        if not np.isfinite(value.astype(DTYPES[dtype])).all():
            raise InputError(f"weight {name} has values beyond {dtype}'s range; export with `dtype=float32`",
                             param="dtype")
    g = _Graph(onnx)
    W = {name: g.weight(name, value, DTYPES[dtype]) for name, value in params.items()}
    B, H = "B", cfg.hidden
    inputs = [h.make_tensor_value_info("ids", T.INT64, [B])]
    if cfg.categories:
        inputs.append(h.make_tensor_value_info("cond", T.DOUBLE, [B, cfg.categories]))
    outputs = [h.make_tensor_value_info("logits", T.DOUBLE, [B, cfg.vocab_size])]
    names = ("h", "c") if cfg.cell == "lstm" else ("h",)
    for i in range(cfg.layers):
        for s in names:
            inputs.append(h.make_tensor_value_info(f"{s}{i}", T.DOUBLE, [B, H]))
            outputs.append(h.make_tensor_value_info(f"{s}{i}_out", T.DOUBLE, [B, H]))

    # layer 0's projected input: x @ W_ih + b (+ (cond @ cat) @ W_cat)
    if cfg.embed:
        xp = g.op("MatMul", g.op("Gather", W["wte"], "ids"), W["l0.W_ih"])
    else:
        xp = g.op("Gather", W["l0.W_ih"], "ids")  # one-hot input: the rows of W_ih
    xp = g.op("Add", xp, W["l0.b"])
    if cfg.categories:
        xp = g.op("Add", xp, g.op("MatMul", g.op("MatMul", "cond", W["cat"]), W["W_cat"]))
    below = ""
    for i in range(cfg.layers):
        if i > 0:
            xp = g.op("Add", g.op("MatMul", below, W[f"l{i}.W_ih"]), W[f"l{i}.b"])
        below = _cell(g, cfg.cell, i, xp, g.op("MatMul", f"h{i}", W[f"l{i}.W_hh"]), W)
    g.op("Add", g.op("MatMul", below, W["W_out"]), W["b_out"], name="logits")
    graph = h.make_graph(g.nodes, "charsmith_step", inputs, outputs, g.inits)
    proto = h.make_model(graph, opset_imports=[h.make_opsetid("", OPSET)], producer_name="charsmith",
                         producer_version=charsmith.__version__)
    proto.ir_version = IR_VERSION
    return proto


def _cell(g: _Graph, cell: str, i: int, xp: str, gh: str, W: dict[str, str]) -> str:
    """Layer i's cell on projected input xp and hidden projection gh = h @ W_hh (both (B, G));
    writes h{i}_out (and c{i}_out); returns the new h's name. Equations of charsmith.nn."""
    h = f"h{i}"
    if cell == "rnn":
        return g.op("Tanh", g.op("Add", xp, gh), name=f"{h}_out")
    if cell == "lstm":  # a = xp + h @ W_hh, gates [i | f | g | o]
        a_i, a_f, a_g, a_o = g.op("Split", g.op("Add", xp, gh), outputs=4, axis=1)
        c = g.op("Add", g.op("Mul", g.op("Sigmoid", a_f), f"c{i}"), g.op("Mul", g.op("Sigmoid", a_i), g.op("Tanh", a_g)),
                 name=f"c{i}_out")
        return g.op("Mul", g.op("Sigmoid", a_o), g.op("Tanh", c), name=f"{h}_out")
    # gru: gates [r | z | n]; b_hn inside the reset product
    x_r, x_z, x_n = g.op("Split", xp, outputs=3, axis=1)
    g_r, g_z, g_n = g.op("Split", gh, outputs=3, axis=1)
    r = g.op("Sigmoid", g.op("Add", x_r, g_r))
    z = g.op("Sigmoid", g.op("Add", x_z, g_z))
    n = g.op("Tanh", g.op("Add", x_n, g.op("Mul", r, g.op("Add", g_n, W[f"l{i}.b_hn"]))))
    return g.op("Add", n, g.op("Mul", z, g.op("Sub", h, n)), name=f"{h}_out")  # n + z * (h - n)
