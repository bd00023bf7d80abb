"""A mixture of networks and an n-gram model, a model kind.

Each character's distribution is a weighted mean of the networks' mean distribution and
the n-gram model's:

    p_net(w | h) = (1/E) sum_j softmax(net_j(h))[w]       E = cfg.nets networks of one shape
    p(w | h) = lam[u] p_net(w | h) + (1 - lam[u]) p_ngram(w | h)

where u = 1 + the length of the context the n-gram estimate came from (0: none seen). The
weight depends on how much the n-gram model knows here: a per-context weight in the spirit
of Neubig & Dyer (2016), with one weight per context length (N + 1 in all). The weights
are fitted on held-out folds by EM (:func:`fit_weights`).

Parameters: network j's under "net{j}.", the n-gram model's under "ngram.",
"mix.weights" (N+1,) float64 in [0, 1], and for a ``calibrated`` mixture "mix.calibration"
(2 + K,) float64, how it classifies (:mod:`charsmith.calibration`). State: each network's layers in turn, then the
n-gram model's window as one more layer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from charsmith import model as M
from charsmith import ngram
from charsmith.config import ModelConfig, config_from_dict
from charsmith.errors import InputError
from charsmith.ngram import NgramConfig

__all__ = ["MixtureConfig", "check_params", "combine", "fit_weights", "forward", "init_state", "join", "param_count",
           "param_shapes", "parts", "split", "step"]

WEIGHTS = "mix.weights"
CALIBRATION = "mix.calibration"


@dataclass(frozen=True)
class MixtureConfig:
    """The parts' configs (same vocabulary and categories): ``nets`` networks of shape ``net``;
    ``calibrated``: it classifies by :mod:`charsmith.calibration` (a model with categories)."""

    net: ModelConfig
    ngram: NgramConfig
    nets: int = 1
    calibrated: bool = False
    kind: Literal["mixture"] = "mixture"

    def __post_init__(self) -> None:
        if isinstance(self.net, dict):
            object.__setattr__(self, "net", config_from_dict(ModelConfig, self.net))
        if isinstance(self.ngram, dict):
            object.__setattr__(self, "ngram", config_from_dict(NgramConfig, self.ngram))
        if not isinstance(self.net, ModelConfig) or not isinstance(self.ngram, NgramConfig):
            raise InputError("a mixture needs a network config (net) and an n-gram config (ngram)")
        if not isinstance(self.nets, int) or isinstance(self.nets, bool) or not 1 <= self.nets <= 64:
            raise InputError(f"nets must be a whole number in [1, 64], got {self.nets!r}")
        if not isinstance(self.calibrated, bool):
            raise InputError(f"calibrated must be true or false, got {self.calibrated!r}")
        if self.calibrated and self.net.categories < 2:
            raise InputError(f"a calibrated mixture needs 2 or more categories, got {self.net.categories}")
        if self.kind != "mixture":
            raise InputError(f"kind must be 'mixture', got {self.kind!r}")
        if (self.net.vocab_size, self.net.categories) != (self.ngram.vocab_size, self.ngram.categories):
            raise InputError("the network and the n-gram model of a mixture must share vocabulary and categories")

    @property
    def vocab_size(self) -> int:
        return self.net.vocab_size

    @property
    def categories(self) -> int:
        return self.net.categories


def split(params: dict[str, np.ndarray], cfg: MixtureConfig) -> tuple[list[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Each network's parameters, and the n-gram model's."""
    nets = [{k[len(f"net{j}."):]: v for k, v in params.items() if k.startswith(f"net{j}.")} for j in range(cfg.nets)]
    ng = {k[6:]: v for k, v in params.items() if k.startswith("ngram.")}
    return nets, ng


def join(nets: list[dict[str, np.ndarray]], ng: dict[str, np.ndarray], weights: np.ndarray) -> dict[str, np.ndarray]:
    """The mixture's parameters from its parts' (a calibrated mixture adds CALIBRATION)."""
    out = {f"net{j}.{k}": v for j, net in enumerate(nets) for k, v in net.items()}
    return {**out, **{f"ngram.{k}": v for k, v in ng.items()}, WEIGHTS: np.asarray(weights, dtype=np.float64)}


def parts(params: dict[str, np.ndarray], cfg: MixtureConfig) -> tuple[tuple[dict[str, np.ndarray], Any],
                                                                       tuple[dict[str, np.ndarray], NgramConfig]]:
    """The two parts as models of their own: the networks' mean (the network; of several,
    this mixture with every weight 1, uncalibrated) and the n-gram model."""
    nets, ng = split(params, cfg)
    if cfg.nets == 1:
        return (nets[0], cfg.net), (ng, cfg.ngram)
    net_only = dataclasses.replace(cfg, calibrated=False)
    return (join(nets, ng, np.ones(cfg.ngram.order + 1)), net_only), (ng, cfg.ngram)


def param_shapes(cfg: MixtureConfig) -> dict[str, tuple[int, ...]]:
    shapes = {f"net{j}.{k}": v for j in range(cfg.nets) for k, v in M.param_shapes(cfg.net).items()}
    shapes.update({f"ngram.{k}": v for k, v in ngram.param_shapes(cfg.ngram).items()})
    shapes[WEIGHTS] = (cfg.ngram.order + 1,)
    if cfg.calibrated:
        shapes[CALIBRATION] = (2 + cfg.categories,)
    return shapes


def array_kinds(cfg: MixtureConfig) -> dict[str, str]:
    kinds = {name: "f" for name in param_shapes(cfg)}
    kinds.update({f"ngram.{k}": v for k, v in ngram.array_kinds(cfg.ngram).items()})
    return kinds


def param_count(cfg: MixtureConfig) -> tuple[int, int]:
    a, s = M.param_count(cfg.net)
    b, t = ngram.param_count(cfg.ngram)
    calibration = (1, 2 + cfg.categories) if cfg.calibrated else (0, 0)
    return cfg.nets * a + b + 1 + calibration[0], cfg.nets * s + t + cfg.ngram.order + 1 + calibration[1]


def check_params(params: dict[str, np.ndarray], cfg: MixtureConfig, *, finite: bool = False) -> None:
    extra = sorted(set(params) - set(param_shapes(cfg)))
    if extra:
        raise InputError(f"weights do not fit the mixture config: unexpected {extra}")
    nets, ng = split(params, cfg)
    for net in nets:
        M.check_params(net, cfg.net, finite=finite)
    ngram.check_params(ng, cfg.ngram, finite=finite)
    w = params.get(WEIGHTS)
    if not isinstance(w, np.ndarray) or w.shape != (cfg.ngram.order + 1,) or w.dtype.kind != "f":
        raise InputError(f"{WEIGHTS} must be {cfg.ngram.order + 1} float weights")
    if finite and not (np.isfinite(w).all() and (w >= 0).all() and (w <= 1).all()):
        raise InputError(f"{WEIGHTS} must lie in [0, 1]; the file is corrupt")
    if cfg.calibrated:
        c = params.get(CALIBRATION)
        if not isinstance(c, np.ndarray) or c.shape != (2 + cfg.categories,) or c.dtype.kind != "f":
            raise InputError(f"{CALIBRATION} must be {2 + cfg.categories} floats")
        if finite and not np.isfinite(c).all():
            raise InputError(f"{CALIBRATION} must be finite; the file is corrupt")


def init_state(params: dict[str, np.ndarray], cfg: MixtureConfig, batch: int) -> M.State:
    net = M.init_state(cfg.net, batch, params["net0.W_out"].dtype)
    return net * cfg.nets + ngram.init_state(cfg.ngram, batch)


def combine(p_net: np.ndarray, p_ngram: np.ndarray, used: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """lam[u] p_net + (1 - lam[u]) p_ngram for probabilities (..., V) or (...) and context
    lengths used (...)."""
    lam = weights[used + 1]
    if p_net.ndim > used.ndim:
        lam = lam[..., None]
    return lam * p_net + (1.0 - lam) * p_ngram


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def step(
    params: dict[str, np.ndarray], cfg: MixtureConfig, ids: np.ndarray, state: M.State, *,
    cond: np.ndarray | None = None, check: bool = True,
) -> tuple[np.ndarray, M.State]:
    """One timestep: ids (B,) -> logits (B, V) (log-probabilities) and the new state."""
    nets, ng = split(params, cfg)
    L = cfg.net.layers
    p_net: Any = 0.0
    new_state: M.State = ()
    for j, net in enumerate(nets):
        logits, s = M.step(net, cfg.net, ids, state[j * L : (j + 1) * L], cond=cond, check=check)
        p_net, new_state = p_net + _softmax(logits) / cfg.nets, new_state + s
    window = ngram.shift(state[-1][0], ids)
    p_ng, used = ngram.cond_probs(ng, cfg.ngram, window, cond)
    return np.log(combine(np.asarray(p_net), p_ng, used, params[WEIGHTS])), new_state + ((window,),)


def forward(
    params: dict[str, np.ndarray], cfg: MixtureConfig, ids: np.ndarray, state: M.State, *,
    cond: np.ndarray | None = None, rng: Any = None, check: bool = True,
) -> tuple[np.ndarray, M.State, None]:
    """ids (B, T) -> logits (B, T, V) (log-probabilities), the final state, no cache."""
    nets, ng = split(params, cfg)
    ids = np.asarray(ids)
    B, T = ids.shape
    L = cfg.net.layers
    p_net: Any = 0.0
    net_state: M.State = ()
    for j, net in enumerate(nets):
        logits, s, _ = M.forward(net, cfg.net, ids, state[j * L : (j + 1) * L], cond=cond, check=check)
        p_net, net_state = p_net + _softmax(logits).reshape(B * T, -1) / cfg.nets, net_state + s
    win, ng_state = ngram.windows_of(cfg.ngram, ids, state[-1:])
    c = None if cond is None else np.repeat(np.asarray(cond), T, axis=0)
    p_ng, used = ngram.cond_probs(ng, cfg.ngram, win.reshape(B * T, -1), c)
    p = combine(np.asarray(p_net), p_ng, used, params[WEIGHTS])
    return np.log(p).reshape(B, T, -1), net_state + ng_state, None


def fit_weights(p_net: np.ndarray, p_ngram: np.ndarray, used: np.ndarray, order: int, *,
                iters: int = 100) -> np.ndarray:
    """The weights (order+1,) that maximise sum log(lam[u] p_net + (1 - lam[u]) p_ngram) over
    held-out characters (each character's probability under each model (P,), and its
    context length used (P,)), by EM from 0.5; a length never seen keeps the mean weight."""
    lam = np.full(order + 1, 0.5)
    u = used + 1
    for _ in range(iters):
        a = lam[u] * p_net
        r = a / (a + (1.0 - lam[u]) * p_ngram)
        n = np.bincount(u, minlength=order + 1)
        s = np.bincount(u, weights=r, minlength=order + 1)
        mean = float(r.mean()) if r.size else 0.5
        lam = np.where(n > 0, (s + mean) / (n + 1.0), mean)  # one pseudo-count at the mean: no 0 or 1 from few chars
    return np.clip(lam, 0.0, 1.0)


def describe(cfg: MixtureConfig) -> str:
    from charsmith.kinds import RNN

    nets = "a network" if cfg.nets == 1 else f"{cfg.nets} networks"
    return f"mixture of {nets} ({RNN.describe(cfg.net)}) and a {ngram.describe(cfg.ngram)}"
