"""A run's resume state: ``resume.npz`` in the run directory, replaced atomically at each evaluation.

One file holds the latest weights (``flat``), the optimiser's state (``opt/<name>``), the
weights' moving average (``ema``, with cfg.ema), the hidden state carried between text
windows (``carry/<layer>/<part>``, (rows, H) each) and ``state``: a JSON header with the
counters (:class:`Counters`), the run's options, its vocabulary and its data's fingerprint.
:func:`read` takes a state back only for the same run: the same data and vocabulary, and
every option the same but those of ``RESUMABLE_CHANGES``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from charsmith import _runlog, optim
from charsmith import model as M
from charsmith._corpus import Corpus
from charsmith._fileio import atomic_write_bytes, npz_bytes
from charsmith._rundir import RESUME_FILE
from charsmith._safeload import NpzReader, json_from_bytes, read_json, read_regular
from charsmith.checkpoint import CONFIG_FILE, is_checkpoint
from charsmith.config import ModelConfig, TrainConfig, config_from_dict
from charsmith.errors import CharsmithError, CheckpointError, plain

__all__ = ["RESUMABLE_CHANGES", "Counters", "read", "saved_options", "saved_step", "write"]

RESUME_FORMAT = "charsmith-resume"
RESUME_VERSION = 1
RESUMABLE_CHANGES = ("steps", "minutes", "patience", "eval_every", "eval_chars")  # may differ on resume
MAX_RESUME_BYTES = 1 << 36  # a resume state is read whole; a bound only against a device or a runaway file


@dataclass(frozen=True)
class Counters:
    """Where a run is: steps done, training seconds, best evaluation loss (inf: none yet),
    evaluations without improvement, smoothed training loss, data position (epoch, index), the
    log's clock (when the next evaluation and training record are due)."""

    step: int
    elapsed: float
    best_val: float
    stale_evals: int
    smooth: float | None
    position: tuple[int, int]
    log: _runlog.Clock


def _header(file: Path, max_bytes: int) -> tuple[NpzReader, Any]:
    """The file's arrays and its JSON ``state``."""
    reader = NpzReader(read_regular(file, max_bytes), file)
    if "state" not in reader.names:
        raise CheckpointError(f"{file} was written by an older charsmith and cannot be resumed; start over with "
                              "`force`", param="out")
    return reader, json_from_bytes(reader.array("state", (None,), "u", max_bytes=1 << 20).tobytes(), file)


def saved_options(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The options of the run saved in ``out_dir`` (ModelConfig and TrainConfig fields of its
    resume state, those the data sets left out): what a resumed run continues with, unless
    an option is given again."""
    file = Path(out_dir) / RESUME_FILE
    if not file.is_file():
        raise CheckpointError(f"nothing to resume in {out_dir} (no {RESUME_FILE}); drop `resume` to start a new run",
                              param="resume")
    _, state = _header(file, MAX_RESUME_BYTES)
    try:  # through the configs, so that a field an older charsmith did not save takes its old default
        model, train = config_from_dict(ModelConfig, state["model"]), config_from_dict(TrainConfig, state["train"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{file} is corrupt (no run options); start over with `force`", param="out") from None
    saved = {**dataclasses.asdict(model), **dataclasses.asdict(train)}
    derived = {"vocab_size", "categories"} | (set() if saved.get("categories") else {"cat_embed"})  # set by the data
    return {k: v for k, v in saved.items() if k not in derived}


def saved_step(out_dir: Path) -> int | None:
    """The step of the checkpoint in ``out_dir`` (None if there is none or it does not say)."""
    if not is_checkpoint(out_dir):
        return None
    try:
        step = read_json(out_dir / CONFIG_FILE, 1 << 24).get("info", {}).get("step")
    except (OSError, CheckpointError, AttributeError):
        return None
    return step if isinstance(step, int) else None


def write(out_dir: Path, counters: Counters, model_cfg: ModelConfig, cfg: TrainConfig, corpus: Corpus,
          opt: optim.FlatOptimizer, ema: np.ndarray | None, carry: M.State | None) -> None:  # fmt: skip
    """Replace the resume state in ``out_dir`` with this one (``carry`` on the host)."""
    c = counters
    state = {"format": RESUME_FORMAT, "format_version": RESUME_VERSION, "step": c.step, "elapsed": c.elapsed,
             "best_val": c.best_val if math.isfinite(c.best_val) else None, "stale_evals": c.stale_evals,
             "smooth": c.smooth, "position": list(c.position), "log": c.log.to_json(), "carry_rows": None if carry is None else len(carry[0][0]),
             "model": dataclasses.asdict(model_cfg), "train": dataclasses.asdict(cfg), "vocab": corpus.vocab.chars,
             "data_fingerprint": corpus.fingerprint}
    arrays = {"state": np.frombuffer(json.dumps(state).encode(), dtype=np.uint8),
              "flat": opt.flat, **{f"opt/{k}": v for k, v in opt.state.items()}}
    if ema is not None:
        arrays["ema"] = ema
    for i, layer_state in enumerate(carry or ()):
        arrays.update({f"carry/{i}/{j}": s for j, s in enumerate(layer_state)})
    atomic_write_bytes(out_dir / RESUME_FILE, npz_bytes(arrays))


def read(out_dir: Path, model_cfg: ModelConfig, cfg: TrainConfig, corpus: Corpus, opt: optim.FlatOptimizer,
         ema: np.ndarray | None) -> tuple[Counters, M.State | None]:  # fmt: skip
    """Load the resume state in ``out_dir`` into ``opt`` (weights and optimiser state) and
    ``ema``; return its counters and carried state (on the host; None: none carried)."""
    file = out_dir / RESUME_FILE
    P, H, L = opt.flat.size, model_cfg.hidden, model_cfg.layers
    per_layer = 2 if model_cfg.cell == "lstm" else 1
    most = 8 * (P * (2 + len(opt.state)) + L * per_layer * cfg.batch_size * H) + (4 << 20)
    reader, state = _header(file, most)
    try:
        _check_resumable(state, out_dir, model_cfg, cfg, corpus)
        rows = state["carry_rows"]
        names = [f"carry/{i}/{j}" for i in range(L) for j in range(per_layer)] if rows else []
        reader.require_names({"state", "flat", *(f"opt/{k}" for k in opt.state), *names,
                              *(["ema"] if ema is not None else [])})
        opt.flat[...] = reader.array("flat", (P,))
        if ema is not None:
            ema[...] = reader.array("ema", (P,))
        for k, v in opt.state.items():
            v[...] = reader.array(f"opt/{k}", (P,))
        carry = tuple(tuple(reader.array(f"carry/{i}/{j}", (int(rows), H)).astype(np.float32)
                            for j in range(per_layer)) for i in range(L)) if rows else None  # fmt: skip
        epoch, index = (int(x) for x in state["position"])
        step = int(state["step"])
        counters = Counters(step, float(state["elapsed"]),
                            math.inf if state["best_val"] is None else float(state["best_val"]),
                            int(state["stale_evals"]), None if state["smooth"] is None else float(state["smooth"]),
                            (epoch, index), _runlog.Clock.from_json(state.get("log"), step, cfg.eval_every))
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, CheckpointError):
            raise
        why = plain(e) if isinstance(e, CharsmithError) else repr(e)
        raise CheckpointError(f"{file} is corrupt ({why}); start over with `force`", param="out") from None
    return counters, carry


def _check_resumable(state: Any, out: Path, model_cfg: ModelConfig, cfg: TrainConfig, corpus: Corpus) -> None:
    """Raise CheckpointError unless ``state`` is a resume state of this very run."""
    if not isinstance(state, dict) or state.get("format") != RESUME_FORMAT or state.get("format_version") != RESUME_VERSION:
        raise CheckpointError(f"{out / RESUME_FILE} is not a resume state this charsmith reads; start over with `force`",
                              param="out")
    if state.get("data_fingerprint") != corpus.fingerprint or state.get("vocab") != corpus.vocab.chars:
        raise CheckpointError(f"the training data differs from the run in {out}; resume with the same file and options",
                              param="path")
    was_model, was_train = config_from_dict(ModelConfig, state["model"]), config_from_dict(TrainConfig, state["train"])
    for was_cfg, now_cfg in ((was_model, model_cfg), (was_train, cfg)):
        for f in dataclasses.fields(was_cfg):
            was, now = getattr(was_cfg, f.name), getattr(now_cfg, f.name)
            if f.name not in RESUMABLE_CHANGES and was != now:
                raise CheckpointError(f"the run in {out} used {f.name} {was!r}, not {now!r}; drop that option to "
                                      f"resume (only {', '.join(RESUMABLE_CHANGES)} may change)")
