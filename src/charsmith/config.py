"""Frozen, validated configuration dataclasses.

``ModelConfig`` fixes the network's shape; ``TrainConfig`` fixes how it is trained.
Both are saved in every checkpoint (as JSON) beside the vocabulary, so a checkpoint
alone is enough to rebuild the model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from charsmith.errors import InputError

__all__ = ["CELLS", "DECAYS", "MODES", "OPTIMIZERS", "ModelConfig", "TrainConfig"]

CELLS = ("rnn", "lstm", "gru")
OPTIMIZERS = ("adam", "sgd", "adagrad")
MODES = ("lines", "text")
DECAYS = ("cosine", "none")


def _positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InputError(f"`{name}` must be a positive integer, got {value!r}", param=name)


def _non_negative_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InputError(f"`{name}` must be a non-negative integer, got {value!r}", param=name)


def _fraction(name: str, value: object, *, low_open: bool, high: float, high_open: bool) -> None:
    ok = False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        v = float(value)
        ok = (v > 0 if low_open else v >= 0) and (v < high if high_open else v <= high)
    if not ok:
        lo = "(0" if low_open else "[0"
        hi = f"{high})" if high_open else f"{high}]"
        raise InputError(f"`{name}` must be in {lo}, {hi}, got {value!r}", param=name)


def _choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"`{name}` must be one of {', '.join(choices)}; got {value!r}", param=name)


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a stacked recurrent character model.

    cell: "rnn" (tanh), "lstm" or "gru"; gate order as PyTorch's.
    vocab_size: V, number of symbols including the end token.
    hidden: H, width of every recurrent layer.
    layers: number of stacked recurrent layers.
    embed: E, width of the input embedding; 0 means one-hot input, done by indexing
        the rows of layer 0's input weights (the notebooks' ``Wax``), no embedding table.
    dropout: probability of zeroing a layer's output during training.
    categories: K, number of categories the model is conditioned on (0: none). A learned
        category embedding ``cat`` (K, cat_embed) is fed to layer 0 at every step, beside
        the character input (see :mod:`charsmith.model`).
    cat_embed: width of the category embedding; > 0 exactly when categories > 0.
    """

    cell: Literal["rnn", "lstm", "gru"]
    vocab_size: int
    hidden: int
    layers: int = 1
    embed: int = 0
    dropout: float = 0.0
    categories: int = 0
    cat_embed: int = 0

    def __post_init__(self) -> None:
        _choice("cell", self.cell, CELLS)
        _positive_int("vocab_size", self.vocab_size)
        _positive_int("hidden", self.hidden)
        _positive_int("layers", self.layers)
        _non_negative_int("embed", self.embed)
        _fraction("dropout", self.dropout, low_open=False, high=1.0, high_open=True)
        _non_negative_int("categories", self.categories)
        _non_negative_int("cat_embed", self.cat_embed)
        if (self.categories > 0) != (self.cat_embed > 0):
            raise InputError(f"`cat_embed` must be > 0 exactly when categories > 0, got categories={self.categories}, "
                             f"cat_embed={self.cat_embed}", param="cat_embed")


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained. Every field has a default; see ``charsmith train --help``."""

    mode: Literal["lines", "text"] = "lines"
    lowercase: bool = False
    batch_size: int = 64
    seq_len: int = 128  # text mode: characters per window (truncated BPTT length)
    optimizer: Literal["adam", "sgd", "adagrad"] = "adam"
    lr: float = 3e-3
    weight_decay: float = 0.0
    warmup_steps: int = 100
    decay: Literal["cosine", "none"] = "cosine"
    min_lr_ratio: float = 0.1
    clip_norm: float = 5.0  # global-norm clipping; 0 disables
    clip_value: float = 0.0  # elementwise clipping (the notebooks' rule); 0 disables
    steps: int = 0  # 0: no step limit
    minutes: float = 0.0  # 0: no time limit
    eval_every: int = 200
    eval_chars: int = 200_000  # held-out characters scored at each evaluation (a fixed subset); 0: all
    patience: int = 0  # evaluations without improvement before stopping; 0 disables
    val_fraction: float = 0.1
    seed: int = 0
    init: str = ""  # where the weights started: a bundled model or checkpoint directory ("": fresh)
    freeze_steps: int = 0  # first steps in which the recurrent layers' matrices get no gradient (fine-tuning)
    ema: float = 0.0  # decay of the moving average of the weights that is evaluated and saved; 0: the weights
    base_chars: bool = False  # with init: keep every character of the base, not only the data's (see finetune)
    balance: float = 0.0  # labelled items: category c's share of the batches is prop. to n_c ** (1 - balance)
    mix_order: int = 0  # lists: after training, mix the network with the items' n-gram model of this order (netmix)

    def __post_init__(self) -> None:
        _choice("mode", self.mode, MODES)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("decay", self.decay, DECAYS)
        _positive_int("batch_size", self.batch_size)
        _positive_int("seq_len", self.seq_len)
        _positive_int("eval_every", self.eval_every)
        for name in ("warmup_steps", "steps", "patience", "seed", "eval_chars", "freeze_steps", "mix_order"):
            _non_negative_int(name, getattr(self, name))
        _fraction("lr", self.lr, low_open=True, high=10.0, high_open=False)
        _fraction("val_fraction", self.val_fraction, low_open=False, high=0.5, high_open=False)
        _fraction("min_lr_ratio", self.min_lr_ratio, low_open=False, high=1.0, high_open=False)
        _fraction("ema", self.ema, low_open=False, high=1.0, high_open=True)
        if not isinstance(self.lowercase, bool):
            raise InputError(f"`lowercase` must be True or False, got {self.lowercase!r}", param="lowercase")
        _fraction("balance", self.balance, low_open=False, high=1.0, high_open=False)
        if not isinstance(self.init, str):
            raise InputError(f"`init` must be a bundled model name or a checkpoint directory, got {self.init!r}",
                             param="init")
        if self.base_chars and not self.init:
            raise InputError("`base_chars` keeps the characters of the model a run starts from; give `init` too, "
                             "or drop `base_chars`", param="base_chars")
        for name in ("weight_decay", "clip_norm", "clip_value", "minutes"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise InputError(f"`{name}` must be a non-negative number, got {value!r}", param=name)


def config_from_dict(cls: type, data: Any) -> Any:
    """Build ``cls`` from a JSON object, rejecting unknown or missing fields by name."""
    if not isinstance(data, dict):
        raise InputError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"{cls.__name__} has no field(s) {', '.join(unknown)}")
    return cls(**data)
