"""Move classic (notebook) parameters into the modern engine, and train it the classic way.

Layout: the notebooks keep column vectors and (out, in) weights; ``charsmith.model`` keeps
row vectors and (in, out) weights. For a 1-layer rnn with one-hot input (embed=0)::

    l0.W_ih = Wax.T (V, H)    l0.W_hh = Waa.T (H, H)    l0.b = b[:, 0] (H,)
    W_out   = Wya.T (H, V)    b_out   = by[:, 0] (V,)

and h' = tanh(x W_ih + b + h W_hh) is the notebook's a' = tanh(Wax x + Waa a + b).

Vocabulary (how ``char_to_ix`` travels with an exported ``PARAMS.npz``), first that applies:

1. a ``chars`` array in the npz: the characters in index order, either one string
   (``np.array("\\nabc...")``) or one character per element
   (``np.array(sorted(char_to_ix, key=char_to_ix.get))``);
2. ``data``: the training file; ``char_to_ix`` is rebuilt as the notebook builds it,
   ``sorted(set(text.lower()))``;
3. otherwise the notebook's dinosaur vocabulary, newline then a-z.

charsmith's vocabulary has the newline at index 0 and the rest sorted; if ``char_to_ix``
orders its characters differently, the rows and columns are permuted to match (exact).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from charsmith.classic.dinos import examples_from_text, initialize_parameters
from charsmith.config import ModelConfig
from charsmith.errors import DataError
from charsmith.vocab import END, Vocab

__all__ = ["DEFAULT_CHARS", "to_modern", "from_modern", "classic_config", "load_classic",
           "export_checkpoint", "modern_classic_losses"]

DEFAULT_CHARS = "\n" + "abcdefghijklmnopqrstuvwxyz"
CLASSIC_KEYS = ("Wax", "Waa", "Wya", "b", "by")


def classic_config(vocab_size: int, n_a: int) -> ModelConfig:
    """The notebooks' network as a ModelConfig: one tanh layer, one-hot input."""
    return ModelConfig(cell="rnn", vocab_size=vocab_size, hidden=n_a, layers=1, embed=0, dropout=0.0)


def to_modern(parameters: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Classic {Wax, Waa, Wya, b, by} -> charsmith.model params (float64 copies)."""
    p = {k: np.asarray(parameters[k], dtype=np.float64) for k in CLASSIC_KEYS}
    return {
        "l0.W_ih": np.ascontiguousarray(p["Wax"].T),
        "l0.W_hh": np.ascontiguousarray(p["Waa"].T),
        "l0.b": p["b"][:, 0].copy(),
        "W_out": np.ascontiguousarray(p["Wya"].T),
        "b_out": p["by"][:, 0].copy(),
    }


def from_modern(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """charsmith.model params of a 1-layer rnn with embed=0 -> classic {Wax, Waa, Wya, b, by}."""
    return {
        "Wax": np.ascontiguousarray(params["l0.W_ih"].T),
        "Waa": np.ascontiguousarray(params["l0.W_hh"].T),
        "Wya": np.ascontiguousarray(params["W_out"].T),
        "b": params["l0.b"][:, None].copy(),
        "by": params["b_out"][:, None].copy(),
    }


def _chars_from_array(arr: np.ndarray) -> str:
    if arr.dtype.kind != "U":
        raise DataError(f"'chars' in the npz must be a string array, got dtype {arr.dtype}")
    if arr.ndim == 0:
        return str(arr)
    items = [str(c) for c in arr.ravel()]
    if any(len(c) != 1 for c in items):
        raise DataError("'chars' in the npz must hold one character per element")
    return "".join(items)


def load_classic(npz_path: str | os.PathLike[str], data_text: str | None = None) -> tuple[dict[str, np.ndarray], str]:
    """Read PARAMS.npz -> (classic parameters, characters in the parameters' index order)."""
    path = Path(npz_path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"{path} is not a readable .npz of arrays ({e})") from None
    missing = [k for k in CLASSIC_KEYS if k not in arrays]
    if missing:
        raise DataError(f"{path} lacks {', '.join(missing)}; save it with np.savez(path, Wax=..., Waa=..., Wya=..., b=..., by=...)")
    if "chars" in arrays:
        chars = _chars_from_array(arrays["chars"])
    elif data_text is not None:
        chars = "".join(sorted(set(data_text.lower())))
    else:
        chars = DEFAULT_CHARS
    params = {k: arrays[k] for k in CLASSIC_KEYS}
    _check_shapes(params, len(chars), path)
    return params, chars


def _check_shapes(p: dict[str, np.ndarray], V: int, path: Path) -> None:
    if p["Wax"].ndim != 2:
        raise DataError(f"{path}: Wax must be 2-D (n_a, n_x), got shape {p['Wax'].shape}")
    n_a = p["Wax"].shape[0]
    want = {"Wax": (n_a, V), "Waa": (n_a, n_a), "Wya": (V, n_a), "b": (n_a, 1), "by": (V, 1)}
    for k, shape in want.items():
        if p[k].shape != shape:
            raise DataError(f"{path}: {k} has shape {p[k].shape}, expected {shape} for {V} characters and n_a={n_a}")
        if not np.issubdtype(p[k].dtype, np.floating):
            raise DataError(f"{path}: {k} must be a float array, got {p[k].dtype}")


def _reorder(params: dict[str, np.ndarray], chars: str) -> tuple[dict[str, np.ndarray], Vocab]:
    """Permute the vocabulary axis so the newline comes first and the rest is sorted."""
    if len(set(chars)) != len(chars):
        raise DataError("the character list repeats a character")
    if END not in chars:
        raise DataError("the character list has no newline (the end-of-name token)")
    order = END + "".join(sorted(set(chars) - {END}))
    perm = np.array([chars.index(c) for c in order])
    out = dict(params)
    out["Wax"] = params["Wax"][:, perm]
    out["Wya"] = params["Wya"][perm]
    out["by"] = params["by"][perm]
    return out, Vocab(order)


def export_checkpoint(npz_path: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                      data_path: str | os.PathLike[str] | None = None, *, force: bool = False) -> Path:
    """Write a charsmith checkpoint directory from a classic PARAMS.npz; returns out_dir.

    ``data_path`` (optional): the names file the parameters were trained on; it supplies
    ``char_to_ix`` when the npz has no ``chars`` and the known-item hashes for novelty checks.
    ``out_dir`` follows the rules of ``charsmith train --out`` (:func:`charsmith._rundir.open_run_dir`):
    a checkpoint there is replaced only with ``force``, and never a file charsmith did not write.
    """
    from charsmith._novelty import item_hashes
    from charsmith._rundir import open_run_dir
    from charsmith.checkpoint import Checkpoint, save_checkpoint

    data_text = None
    if data_path is not None:
        try:
            data_text = Path(data_path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"cannot read {data_path}: {e}") from None
    params, chars = load_classic(npz_path, data_text)
    params, vocab = _reorder(params, chars)
    cfg = classic_config(vocab.size, params["Waa"].shape[0])
    known = None
    if data_text is not None:
        items = [x for x in examples_from_text(data_text) if x]
        known = item_hashes(items)
    info = {"mode": "lines", "source": "charsmith classic export", "lowercase": True}
    ckpt = Checkpoint(model=cfg, vocab=vocab, params=to_modern(params), known=known, info=info)
    with open_run_dir(out_dir, force=force):
        save_checkpoint(out_dir, ckpt)
    return Path(out_dir)


def modern_classic_losses(data: str, num_iterations: int, n_a: int = 50, learning_rate: float = 0.01,
                          max_value: float = 5.0) -> list[float]:
    """Train ``charsmith.model`` the classic way and return every iteration's summed loss.

    Same data order (names lower-cased, stripped, shuffled with np.random.seed(0)), same
    init (``initialize_parameters``), zero first input (id -1), loss summed over steps
    (``reduction="sum"``), one name per SGD step, elementwise clip at ``max_value``, and the
    hidden state carried from name to name: the same trajectory as ``dinos.model``.
    """
    from charsmith import model as engine
    from charsmith.nn.loss import cross_entropy_backward, cross_entropy_forward

    vocab = Vocab("".join(sorted(set(data.lower()))))
    examples = examples_from_text(data)
    np.random.seed(0)
    np.random.shuffle(examples)
    items = [_ids(vocab, x) for x in examples]
    cfg = classic_config(vocab.size, n_a)
    params = to_modern(initialize_parameters(n_a, vocab.size, vocab.size))
    state = engine.init_state(cfg, 1, np.float64)
    losses = []
    for j in range(num_iterations):
        ids = items[j % len(items)]
        inputs = np.concatenate([[-1], ids])[None, :]  # (1, T): zero vector first
        targets = np.concatenate([ids, [0]])[None, :]  # (1, T): then the newline
        logits, new_state, cache = engine.forward(params, cfg, inputs, state)
        loss, lcache = cross_entropy_forward(logits, targets, np.ones(targets.shape), reduction="sum")
        grads = engine.backward(params, cfg, cross_entropy_backward(1.0, lcache), cache)
        for k, g in grads.items():
            np.clip(g, -max_value, max_value, out=g)
            params[k] -= learning_rate * g
        state = new_state
        losses.append(loss)
    return losses


def _ids(vocab: Vocab, text: str) -> np.ndarray:
    return vocab.encode(text) if text else np.zeros(0, dtype=np.int64)


