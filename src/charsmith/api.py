"""The Python API: load or train a model, then sample, score and evaluate with it.

    >>> import charsmith
    >>> m = charsmith.load("dinosaurs")            # a bundled model, or a checkpoint directory
    >>> m.sample(5, temperature=0.8, seed=1).samples
    >>> m.score(["tyrannosaurus"])[0].nats_per_char
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from charsmith.checkpoint import Checkpoint, load_checkpoint
from charsmith.config import ModelConfig, TrainConfig
from charsmith.data import Corpus, detect_mode, is_known, load_corpus, read_chunks, read_text, split_lines
from charsmith.deadline import NEVER, Deadline
from charsmith.defaults import suggest
from charsmith.errors import CharsmithError, CheckpointError, DataError, InputError
from charsmith.generation import (PARTICLES, Constraints, Controls, Plan, SampleResult, SampleStream, Stepper,
                                  beam_search, complete, complete_stream)
from charsmith.scoring import EvalResult, ItemScore, lines_loss, score_items, stream_loss
from charsmith.trainer import Progress, Trainer
from charsmith.vocab import END, Vocab

__all__ = ["CharModel", "bundled_models", "load", "plan_run", "resolve_model", "train"]


def _rng(seed: int | None) -> np.random.Generator:
    if isinstance(seed, int) and seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed}")
    return np.random.default_rng(seed)


def bundled_models() -> list[str]:
    """Names of the pretrained models shipped inside the package."""
    root = resources.files("charsmith") / "pretrained"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "config.json").is_file())


def resolve_model(name_or_path: str | os.PathLike[str]) -> Path:
    """A checkpoint directory: ``name_or_path`` itself if it exists, else a bundled model."""
    path = Path(name_or_path)
    if path.exists():
        return path
    if str(name_or_path) in bundled_models():
        return Path(str(resources.files("charsmith") / "pretrained" / str(name_or_path)))
    names = ", ".join(bundled_models()) or "none"
    raise CheckpointError(f"no checkpoint at {path} and no bundled model of that name; bundled models: {names}")


@dataclass(frozen=True)
class CharModel:
    """A trained model: a checkpoint plus convenient methods.

    Text given to a model trained with ``lowercase`` (a prefix, a prompt, items to score)
    is lower-cased first, as its training data was. ``timeout`` (seconds) stops a call that
    runs longer with TimeLimitError.
    """

    ckpt: Checkpoint

    @property
    def mode(self) -> str:
        return self.ckpt.mode

    @property
    def lowercase(self) -> bool:
        """Whether the model learned lower-cased data (and so lower-cases what it is given)."""
        return bool(self.ckpt.train and self.ckpt.train.lowercase)

    def _text(self, text: str) -> str:
        return text.lower() if self.lowercase else text

    def _require_lines(self, what: str) -> None:
        if self.mode != "lines":
            raise CharsmithError(f"{what}() writes list items, but this model learned running text; use complete()")

    def _args(self) -> tuple[dict[str, np.ndarray], ModelConfig, Vocab]:
        return self.ckpt.params, self.ckpt.model, self.ckpt.vocab

    def stepper(self, deadline: Deadline = NEVER) -> Stepper:
        """The model as generation reaches it (see ``charsmith.generation.stepper``); past
        ``deadline`` its steps raise TimeLimitError."""
        return Stepper(self.ckpt.params, self.ckpt.model, deadline)

    def plan(self, constraints: Constraints, *, text_length: int | None = None) -> Plan:
        """``constraints`` compiled for this model (lower-cased first if it was trained on
        lower-cased data). ConstraintError, before any sampling, if they cannot be met."""
        if self.ckpt.train is not None and self.ckpt.train.lowercase:
            constraints = constraints.lower()
        return constraints.plan(self.ckpt.vocab, text_length=text_length)

    def stream(
        self, n: int, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, prefix: str = "",
        suffix: str = "", contains: str | Sequence[str] = (), exclude: str = "", pattern: str | None = None,
        max_len: int | None = None, min_len: int | None = None, seed: int | None = None,
        rng: np.random.Generator | None = None, allow_known: bool = False, unique: bool = False,
        particles: int = PARTICLES, max_draws: int | None = None, timeout: float | None = None,
    ) -> SampleStream:
        """An iterator over ``n`` new items (lines mode), found a batch at a time in bounded
        memory, for any n; see ``sample`` for the options. Its counts (``drawn``,
        ``dropped_known``, ...) are current as you iterate."""
        self._require_lines("stream")
        deadline = Deadline.after(timeout)
        plan = self.plan(Constraints(prefix, suffix, contains, exclude, pattern, min_len, max_len))
        rng = rng if rng is not None else _rng(seed)
        return SampleStream(self.stepper(deadline), self.ckpt.vocab, plan, Controls(temperature, top_k, top_p), n, rng,
                            known=None if allow_known else self.ckpt.known, unique=unique, particles=particles,
                            max_draws=max_draws)

    def sample(
        self, n: int = 10, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, prefix: str = "",
        suffix: str = "", contains: str | Sequence[str] = (), exclude: str = "", pattern: str | None = None,
        max_len: int | None = None, min_len: int | None = None, seed: int | None = None,
        rng: np.random.Generator | None = None, allow_known: bool = False, unique: bool = False,
        particles: int = PARTICLES, max_draws: int | None = None, timeout: float | None = None,
    ) -> SampleResult:
        """``n`` new items (lines mode), each satisfying every constraint given: ``prefix``,
        ``suffix``, ``contains`` (one string or several, all must occur), ``exclude`` (none of
        these characters), ``pattern`` (the whole item matches; see
        ``charsmith.generation.regex``), ``min_len``/``max_len`` (default 1 and 50, prefix
        included). Items follow the model's distribution conditioned on the constraints (exact
        rejection, or SMC with ``particles`` particles per item when matches are rare).
        Items from the training set are dropped unless ``allow_known``; ``unique`` drops
        repeats; the search stops after ``max_draws`` draws and particles, with fewer items.
        Pass ``seed`` or ``rng`` to reproduce."""
        return self.stream(n, temperature=temperature, top_k=top_k, top_p=top_p, prefix=prefix, suffix=suffix,
                           contains=contains, exclude=exclude, pattern=pattern, max_len=max_len, min_len=min_len,
                           seed=seed, rng=rng, allow_known=allow_known, unique=unique, particles=particles,
                           max_draws=max_draws, timeout=timeout).result()

    def most_likely(
        self, n: int = 1, *, beam: int | None = None, prefix: str = "", suffix: str = "",
        contains: str | Sequence[str] = (), exclude: str = "", pattern: str | None = None, max_len: int | None = None,
        min_len: int | None = None, allow_known: bool = False, timeout: float | None = None,
    ) -> list[tuple[str, float]]:
        """The ``n`` most likely items meeting the constraints (as in ``sample``) by beam
        search (width ``beam``, default ``n``), with their log-probabilities; training items
        are skipped unless ``allow_known``."""
        self._require_lines("most_likely")
        if n < 1:
            raise InputError(f"n must be >= 1, got {n}")
        deadline = Deadline.after(timeout)
        plan = self.plan(Constraints(prefix, suffix, contains, exclude, pattern, min_len, max_len))
        known = self.ckpt.known
        exclude_known = None if allow_known or known is None else (lambda items: is_known(items, known))
        return beam_search(self.stepper(deadline), self.ckpt.vocab, plan, n if beam is None else beam, n=n,
                           exclude=exclude_known)

    def complete(
        self, prompt: str = "", length: int = 200, *, n: int = 1, temperature: float = 1.0, top_k: int = 0,
        top_p: float = 1.0, seed: int | None = None, greedy: bool = False, pattern: str | None = None,
        exclude: str = "", suffix: str = "", contains: str | Sequence[str] = (), min_len: int | None = None,
        max_len: int | None = None, particles: int = PARTICLES, max_draws: int | None = None,
        timeout: float | None = None,
    ) -> list[str]:
        """Text mode: continue ``prompt`` by ``length`` characters, ``n`` times. ``pattern``:
        the continuation begins with a match; ``exclude``: characters it never contains.
        ``suffix``, ``contains``, ``min_len`` and ``max_len`` describe list items and are
        refused here with a ConstraintError."""
        if self.mode != "text":
            raise CharsmithError("complete() continues running text, but this model writes list items; use sample()")
        deadline = Deadline.after(timeout)
        plan = self.plan(Constraints(prompt, suffix, contains, exclude, pattern, min_len, max_len), text_length=length)
        rng = None if greedy else _rng(seed)
        return complete(self.stepper(deadline), self.ckpt.vocab, plan, rng, n=n,
                        controls=Controls(temperature, top_k, top_p), particles=particles, max_draws=max_draws)

    def complete_stream(
        self, prompt: str = "", length: int = 200, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
        seed: int | None = None, greedy: bool = False, pattern: str | None = None, exclude: str = "",
        timeout: float | None = None,
    ) -> Iterator[str]:
        """Text mode: a continuation of ``prompt`` by ``length`` characters, one character at
        a time as each is drawn (seeded draws are reproducible, but not the characters
        ``complete`` gives: it draws several rows at once). With ``pattern`` or ``exclude``
        (as for ``complete``) the continuation is found first and then given out, as a match
        is only known once it is complete. Arguments are checked, and the prompt read,
        before this returns; ``timeout`` covers the whole iteration."""
        if self.mode != "text":
            raise CharsmithError("complete() continues running text, but this model writes list items; use sample()")
        if pattern is not None or exclude:
            text = self.complete(prompt, length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                                 greedy=greedy, pattern=pattern, exclude=exclude, timeout=timeout)
            return iter(text[0][len(self._text(prompt)):] if text else "")
        deadline = Deadline.after(timeout)
        plan = self.plan(Constraints(prompt), text_length=length)
        rng = None if greedy else _rng(seed)
        return complete_stream(self.stepper(deadline), self.ckpt.vocab, plan, rng, Controls(temperature, top_k, top_p))

    def score(self, items: Sequence[str], *, timeout: float | None = None) -> list[ItemScore]:
        """Log-probability of each item (end token included), with each character's share."""
        items = [self._text(s) for s in items]
        if self.mode == "lines":
            for item in items:
                if END in item:
                    raise InputError(f"item {item!r} spans lines; score one item per line")
        return score_items(*self._args(), items, deadline=Deadline.after(timeout))

    def is_known(self, items: Sequence[str]) -> list[bool] | None:
        """Which ``items`` are in the training set; None if the checkpoint keeps no record of
        it (text models)."""
        known = self.ckpt.known
        return None if known is None else is_known([self._text(s) for s in items], known).tolist()

    def evaluate(self, path: str | os.PathLike[str]) -> EvalResult:
        """Mean held-out NLL per character of a file, read the way the model was trained."""
        text = read_text(path)
        lower = bool(self.ckpt.train and self.ckpt.train.lowercase)
        if self.mode == "lines":
            items = split_lines(text, lowercase=lower, source=str(path))
            return lines_loss(*self._args(), items)
        text = text.lower() if lower else text
        if len(text) < 2:
            raise DataError(f"{path} has {len(text)} character(s); a text model needs at least 2 to score one prediction")
        vocab = self.ckpt.vocab
        try:
            ids = vocab.encode(text, vocab.id_dtype)
        except ValueError as e:
            raise DataError(f"{path} has {e}: the model never saw them") from None
        return stream_loss(self.ckpt.params, self.ckpt.model, ids)


def load(name_or_path: str | os.PathLike[str]) -> CharModel:
    """Load a checkpoint directory or a bundled model by name (see ``bundled_models``)."""
    return CharModel(load_checkpoint(resolve_model(name_or_path)))


def plan_run(path: str | os.PathLike[str], **options: Any) -> tuple[Corpus, ModelConfig, TrainConfig]:
    """Read ``path`` and settle every option: those given win, the rest come from
    ``charsmith.defaults.suggest`` for this data. Options are ModelConfig and TrainConfig
    fields (``mode`` may also be "auto"); None means "not given"."""
    given = {k: v for k, v in options.items() if v is not None}
    fields = {f.name for f in dataclasses.fields(ModelConfig)} | {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(given) - fields - {"vocab_size"})
    if unknown or "vocab_size" in given:
        raise TypeError(f"unknown training option(s): {', '.join(unknown or ['vocab_size'])}")
    mode = given.get("mode", "auto")
    given["mode"] = detect_mode(read_chunks(path)) if mode == "auto" else mode
    defaults = TrainConfig()
    given.setdefault("seed", defaults.seed)
    given.setdefault("val_fraction", defaults.val_fraction)
    corpus = load_corpus(path, mode=given["mode"], lowercase=given.get("lowercase", False),
                         val_fraction=given["val_fraction"], rng=np.random.default_rng(given["seed"]))
    chosen = suggest(corpus)
    if "steps" in given and "minutes" not in given:
        chosen["minutes"] = 0.0  # an explicit step budget replaces the default time budget
    opts = {**chosen, **given}
    model_names = {f.name for f in dataclasses.fields(ModelConfig)}
    model_cfg = ModelConfig(vocab_size=corpus.vocab.size, **{k: v for k, v in opts.items() if k in model_names})
    train_cfg = TrainConfig(**{k: v for k, v in opts.items() if k not in model_names})
    return corpus, model_cfg, train_cfg


def train(
    path: str | os.PathLike[str], out: str | os.PathLike[str], *, resume: bool = False, force: bool = False,
    on_progress: Callable[[Progress], None] | None = None, **options: Any,
) -> CharModel:
    """Train on the file at ``path``, keep the best checkpoint in ``out``, and load it.

    ``options`` are ModelConfig/TrainConfig fields, e.g. ``cell="gru", hidden=128, minutes=5``;
    left-out ones are chosen for the data. ``on_progress`` receives a ``Progress`` report
    after every step and evaluation.
    """
    corpus, model_cfg, train_cfg = plan_run(path, **options)
    Trainer(corpus, model_cfg, train_cfg, out, resume=resume, force=force,
            info={"source": Path(path).name}).run(on_progress)
    return load(out)
