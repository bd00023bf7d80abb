"""Model kinds behind one door: the network, the n-gram model, their mixture.

Generation (through :class:`charsmith.generation.Stepper`), scoring and classification
(:mod:`charsmith.scoring`) and checkpoints reach a model only through the :class:`Kind` of
its config. A new kind is one module with the functions below and one line in ``KINDS``.

A kind's ``step`` and ``forward`` return logits: for the n-gram model and the mixture these
are log-probabilities (a softmax leaves them as they are).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from charsmith import mixture, ngram
from charsmith import model as M
from charsmith.config import ModelConfig, config_from_dict
from charsmith.errors import InputError
from charsmith.mixture import MixtureConfig
from charsmith.ngram import NgramConfig

__all__ = ["KINDS", "AnyConfig", "Kind", "config_from_json", "of"]

AnyConfig = ModelConfig | NgramConfig | MixtureConfig


@dataclass(frozen=True)
class Kind:
    """What the rest of charsmith may ask of a model kind.

    config: its config class (saved as the checkpoint's "model", with "kind": name).
    param_shapes(cfg) -> {name: shape}; array_kinds(cfg) -> {name: "f" or "i"};
    param_count(cfg) -> (arrays, scalars), in closed form; check_params(params, cfg, finite=);
    new_state(params, cfg, batch) -> the state before an item; step(params, cfg, ids (B,),
    state, cond=, check=) -> (logits (B, V), state); forward(params, cfg, ids (B, T), state,
    cond=) -> (logits (B, T, V), state, cache); describe(cfg) -> one line for people.
    """

    name: str
    config: type
    param_shapes: Callable[[Any], dict[str, tuple[int, ...]]]
    array_kinds: Callable[[Any], dict[str, str]]
    param_count: Callable[[Any], tuple[int, int]]
    check_params: Callable[..., None]
    new_state: Callable[[dict[str, np.ndarray], Any, int], Any]
    step: Callable[..., tuple[np.ndarray, Any]]
    forward: Callable[..., tuple[np.ndarray, Any, Any]]
    describe: Callable[[Any], str]


def _rnn_describe(cfg: ModelConfig) -> str:
    cats = f", {cfg.categories} categories (embed {cfg.cat_embed})" if cfg.categories else ""
    return f"{cfg.cell}, {cfg.layers} layers, hidden {cfg.hidden}, embed {cfg.embed}{cats}"


RNN = Kind("rnn", ModelConfig, M.param_shapes, lambda cfg: dict.fromkeys(M.param_shapes(cfg), "f"), M.param_count,
           M.check_params, lambda params, cfg, batch: M.init_state(cfg, batch, params["W_out"].dtype), M.step,
           M.forward, _rnn_describe)
NGRAM = Kind("ngram", NgramConfig, ngram.param_shapes, ngram.array_kinds, ngram.param_count, ngram.check_params,
             lambda params, cfg, batch: ngram.init_state(cfg, batch), ngram.step, ngram.forward, ngram.describe)
MIXTURE = Kind("mixture", MixtureConfig, mixture.param_shapes, mixture.array_kinds, mixture.param_count,
               mixture.check_params, mixture.init_state, mixture.step, mixture.forward, mixture.describe)

KINDS: dict[str, Kind] = {k.name: k for k in (RNN, NGRAM, MIXTURE)}


def of(cfg: Any) -> Kind:
    """The kind of a model config."""
    return KINDS[getattr(cfg, "kind", "rnn")]


def config_from_json(data: Any) -> AnyConfig:
    """A model config from a checkpoint's JSON: its "kind" (none: the network) picks the class."""
    if not isinstance(data, dict):
        raise InputError(f"a model config must be a JSON object, got {type(data).__name__}")
    name = data.get("kind", "rnn")
    if name not in KINDS:
        raise InputError(f"unknown model kind {name!r}; this charsmith knows {', '.join(KINDS)}")
    fields = {k: v for k, v in data.items() if not (name == "rnn" and k == "kind")}
    config: AnyConfig = config_from_dict(KINDS[name].config, fields)
    return config
