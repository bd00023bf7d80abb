"""The Python API: load or train a model, then sample, score, evaluate and classify with it.

    >>> import charsmith
    >>> m = charsmith.load("dinosaurs")            # a bundled model, or a checkpoint directory
    >>> m.sample(5, temperature=0.8, seed=1).samples
    >>> m.score(["tyrannosaurus"])[0].nats_per_char
    >>> charsmith.load("languages").classify(["Nakamura"], top=2)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from charsmith import _idcache, finetune, netmix, smalllists
from charsmith._checks import flag, text, whole
from charsmith._corpus import KINDS, PREVIEW_ITEMS, Corpus, LinesCorpus, load_corpus, make_labelled_corpus
from charsmith._deadline import NEVER, Deadline
from charsmith._labelled import is_labelled, read_labelled
from charsmith._novelty import is_known
from charsmith._reading import detect_mode, read_chunks, read_text, split_lines
from charsmith._resume import saved_options
from charsmith.calibration import class_evidence
from charsmith.categories import Condition, condition_weights, posterior
from charsmith.checkpoint import Checkpoint, load_checkpoint
from charsmith.config import MODES, ModelConfig, TrainConfig
from charsmith.defaults import finetune as finetune_defaults
from charsmith.defaults import suggest
from charsmith.errors import CategoryError, CheckpointError, DataError, InputError
from charsmith.generation import (
    PARTICLES,
    Constraints,
    Controls,
    Plan,
    SampleResult,
    SampleStream,
    Stepper,
    beam_search,
    complete,
    complete_stream,
)
from charsmith.generation.sampling import default_max_draws
from charsmith.habits import allowed_next
from charsmith.kinds import AnyConfig
from charsmith.openvocab import encode_open
from charsmith.request import (
    LENGTH,
    N_ITEMS,
    N_TEXTS,
    TEMPERATURE,
    TOP_K,
    TOP_P,
    Generate,
    check_category,
    check_items,
    check_path,
    check_top,
)
from charsmith.scoring import (
    EvalResult,
    ItemScore,
    mixture_scores,
    score_items,
    stream_loss,
    summarize,
)
from charsmith.trainer import Progress, Trainer
from charsmith.vocab import END, Vocab

__all__ = ["CharModel", "Classification", "bundled_models", "load", "train"]


def _constraints(r: Generate) -> Constraints:
    return Constraints(r.prefix, r.suffix, r.contains, r.exclude, r.pattern, r.min_len, r.max_len)


def bundled_models() -> list[str]:
    """Names of the pretrained models shipped inside the package."""
    root = resources.files("charsmith") / "pretrained"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "config.json").is_file())


def resolve_model(name_or_path: str | os.PathLike[str]) -> Path:
    """A checkpoint directory: ``name_or_path`` itself if it exists, else a bundled model."""
    path = Path(check_path(name_or_path, "name_or_path"))
    if path.exists():
        return path
    if str(name_or_path) in bundled_models():
        return Path(str(resources.files("charsmith") / "pretrained" / str(name_or_path)))
    names = ", ".join(bundled_models()) or "none"
    raise CheckpointError(f"no checkpoint at {path} and no bundled model of that name; bundled models: {names}")


@dataclass(frozen=True)
class Classification:
    """An item and its categories, likeliest first: (name, P(category | item)) pairs;
    ``unknown_chars``: how many of its characters the model never saw."""

    item: str
    probs: list[tuple[str, float]]
    unknown_chars: int = 0

    @property
    def best(self) -> str:
        return self.probs[0][0]

    def to_json(self) -> dict[str, Any]:
        """The item, its categories as ``{"category", "probability"}`` objects, and ``unknown_chars``."""
        return {"item": self.item, "categories": [{"category": c, "probability": p} for c, p in self.probs],
                "unknown_chars": self.unknown_chars}


@dataclass(frozen=True)
class CharModel:
    """A trained model: a checkpoint plus convenient methods.

    Text given to a model that knows no capital letters (trained with ``lowercase``, or on
    data without any: a prefix, a prompt, constraints, items to score) is lower-cased first. ``timeout`` (seconds) stops a call that
    runs longer with TimeLimitError.

    For a model with categories, ``category`` (in ``sample``, ``stream``, ``most_likely``,
    ``score``, ``evaluate``) is a name, a blend ``"A=0.7,B=0.3"`` or a mapping
    ``{"A": 0.7, "B": 0.3}`` (see :mod:`charsmith.categories`).
    """

    ckpt: Checkpoint

    @property
    def mode(self) -> str:
        return self.ckpt.mode

    @property
    def writes_lists(self) -> bool:
        """Whether the model writes list items (``sample``) rather than running text (``complete``)."""
        return KINDS[self.mode] is LinesCorpus

    @functools.cached_property
    def lowercase(self) -> bool:
        """Whether the model lower-cases what it is given: it was trained with ``lowercase``,
        or its vocabulary has small letters and no capitals (so "Emma" means "emma")."""
        chars = self.ckpt.vocab.chars
        uncased = any(c != c.upper() for c in chars) and all(c == c.lower() for c in chars)
        return bool(self.ckpt.train and self.ckpt.train.lowercase) or uncased

    @functools.cached_property
    def parameters(self) -> int:
        """The number of trained numbers (weights and biases) in the model."""
        return int(sum(p.size for p in self.ckpt.params.values()))

    def describe(self) -> dict[str, Any]:
        """The model as a JSON object: its mode, configs, parameter count, vocabulary,
        categories and the facts of its training run (``charsmith info --json``)."""
        c = self.ckpt
        return {"mode": self.mode, "model": dataclasses.asdict(c.model), "parameters": self.parameters,
                "train": None if c.train is None else dataclasses.asdict(c.train), "vocab": c.vocab.chars,
                "categories": None if c.categories is None else c.categories.to_json(), "info": c.info}

    def _text(self, text: str) -> str:
        return text.lower() if self.lowercase else text

    @property
    def categories(self) -> list[str]:
        """The category names this model is conditioned on ([] if none)."""
        return [] if self.ckpt.categories is None else list(self.ckpt.categories.names)

    def condition(self, category: Condition | None) -> np.ndarray | None:
        """``category`` (a name, blend string or mapping) as weights (K,) summing to 1; None
        for None. Unknown names, bad weights, or any category for a model without
        categories raise CategoryError."""
        try:
            return condition_weights(self.ckpt.categories, check_category(category))
        except CategoryError as e:
            e.param = e.param or "category"
            raise

    def preview(self, *, seed: int | None = None) -> list[str]:
        """A few new items (``PREVIEW_ITEMS``), as a run's report shows what a list model writes."""
        return self.sample(PREVIEW_ITEMS, seed=seed).samples

    def _require_lines(self, what: str) -> None:
        if not self.writes_lists:
            raise InputError(f"{what}() writes list items, but this model learned running text; use complete()")

    def _args(self) -> tuple[dict[str, np.ndarray], AnyConfig, Vocab]:
        return self.ckpt.params, self.ckpt.model, self.ckpt.vocab

    def stepper(self, deadline: Deadline = NEVER, *, category: Condition | None = None,
                rng: np.random.Generator | None = None, habits: bool = True) -> Stepper:
        """The model as generation reaches it (see ``charsmith.generation.stepper``); past
        ``deadline`` its steps raise TimeLimitError. With categories, every row is written in
        ``category``; without one, each row's category is drawn from the training priors
        with ``rng``. With ``habits``, what it writes keeps to the list's alphabet and casing
        (see :mod:`charsmith.habits`; a model lower-cased in training keeps its alphabet only)."""
        w = self.condition(category)
        cats = self.ckpt.categories
        priors = np.exp(cats.log_priors()) if w is None and cats is not None else None
        found = self.ckpt.info.get("habits") if habits else None
        if isinstance(found, dict) and self.lowercase:
            found = {"alphabet": found.get("alphabet")}
        allowed = allowed_next(self.ckpt.vocab, found)
        return Stepper(self.ckpt.params, self.ckpt.model, deadline, cond=w, priors=priors, rng=rng, allowed=allowed)

    def plan(self, constraints: Constraints, *, text_length: int | None = None,
             deadline: Deadline | None = None) -> Plan:
        """``constraints`` compiled for this model (lower-cased first if it was trained on
        lower-cased data). ConstraintError, before any sampling, if they cannot be met;
        compiling counts against ``deadline``."""
        if self.lowercase:
            constraints = constraints.lower()
        return constraints.plan(self.ckpt.vocab, text_length=text_length, deadline=deadline)

    def stream(
        self, n: int, *, temperature: float = TEMPERATURE, top_k: int = TOP_K, top_p: float = TOP_P,
        prefix: str = "", suffix: str = "", contains: str | Sequence[str] = (), exclude: str = "",
        pattern: str | None = None, max_len: int | None = None, min_len: int | None = None, seed: int | None = None,
        rng: np.random.Generator | None = None, allow_known: bool = False, unique: bool = False,
        particles: int = PARTICLES, max_draws: int | None = None, timeout: float | None = None,
        category: Condition | None = None, novel_edits: int = 0, habits: bool = True,
    ) -> SampleStream:
        """An iterator over ``n`` new items (lines mode), found a batch at a time in bounded
        memory, for any n; see ``sample`` for the options. Its counts (``drawn``,
        ``dropped_known``, ...) are current as you iterate."""
        return self._stream(Generate(
            n=n, temperature=temperature, top_k=top_k, top_p=top_p, prefix=prefix, suffix=suffix, contains=contains,
            exclude=exclude, pattern=pattern, max_len=max_len, min_len=min_len, seed=seed, rng=rng,
            allow_known=allow_known, unique=unique, particles=particles, max_draws=max_draws, timeout=timeout,
            category=category, novel_edits=novel_edits, habits=habits))

    def _stream(self, r: Generate) -> SampleStream:
        self._require_lines("stream")
        r.for_mode(self.mode)
        deadline = Deadline.after(r.timeout)
        plan = self.plan(_constraints(r), deadline=deadline)
        rng = r.rng if r.rng is not None else np.random.default_rng(r.seed)
        stepper = self.stepper(deadline, category=r.category, rng=rng, habits=r.habits)
        return SampleStream(stepper, self.ckpt.vocab, plan, Controls(r.temperature, r.top_k, r.top_p),
                            r.count(self.mode), rng, known=None if r.allow_known else self.ckpt.known,
                            unique=r.unique, particles=r.particles, max_draws=r.max_draws,
                            novel_edits=r.novel_edits)

    def sample(
        self, n: int = N_ITEMS, *, temperature: float = TEMPERATURE, top_k: int = TOP_K, top_p: float = TOP_P,
        prefix: str = "", suffix: str = "", contains: str | Sequence[str] = (), exclude: str = "",
        pattern: str | None = None, max_len: int | None = None, min_len: int | None = None, seed: int | None = None,
        rng: np.random.Generator | None = None, allow_known: bool = False, unique: bool = False,
        particles: int = PARTICLES, max_draws: int | None = None, timeout: float | None = None,
        category: Condition | None = None, novel_edits: int = 0, habits: bool = True,
    ) -> SampleResult:
        """``n`` new items (lines mode), each satisfying every constraint given: ``prefix``,
        ``suffix``, ``contains`` (one string or several, all must occur), ``exclude`` (none of
        these characters), ``pattern`` (the whole item matches; see
        ``charsmith.generation._regex``), ``min_len``/``max_len`` (default 1 and 50, prefix
        included). Items follow the model's distribution conditioned on the constraints (exact
        rejection, or SMC with ``particles`` particles per item when matches are rare).
        Items of the input file (held-out ones included) are dropped unless ``allow_known``;
        ``unique`` drops repeats; the search stops after ``max_draws`` draws and particles,
        with fewer items. Pass ``seed`` or ``rng`` to reproduce. With categories: ``category``
        (a name or a blend) for every item; without it, each item's category is drawn from
        the training priors. ``novel_edits=1`` also drops items one edit (a character deleted,
        inserted or replaced) from an item of the input file. With ``habits`` (the default),
        items keep to the list's alphabet and casing habits (see :mod:`charsmith.habits`).
        (:class:`charsmith.request.Generate` holds the defaults and checks.)"""
        return self.stream(n, temperature=temperature, top_k=top_k, top_p=top_p, prefix=prefix, suffix=suffix,
                           contains=contains, exclude=exclude, pattern=pattern, max_len=max_len, min_len=min_len,
                           seed=seed, rng=rng, allow_known=allow_known, unique=unique, particles=particles,
                           max_draws=max_draws, timeout=timeout, category=category, novel_edits=novel_edits,
                           habits=habits).result()

    def most_likely(
        self, n: int = 1, *, beam: int | None = None, prefix: str = "", suffix: str = "",
        contains: str | Sequence[str] = (), exclude: str = "", pattern: str | None = None, max_len: int | None = None,
        min_len: int | None = None, allow_known: bool = False, timeout: float | None = None,
        category: Condition | None = None,
    ) -> list[tuple[str, float]]:
        """The ``n`` most likely items meeting the constraints (as in ``sample``) by beam
        search (width ``beam``, default ``n``), with their log-probabilities; items of the
        input file are skipped unless ``allow_known``. A model with categories needs
        ``category``. The log-probabilities are those :meth:`score` gives."""
        width = whole("n", n, 1) if beam is None else beam
        found = self._most_likely(Generate(
            n=n, beam=width, prefix=prefix, suffix=suffix, contains=contains, exclude=exclude, pattern=pattern,
            max_len=max_len, min_len=min_len, allow_known=allow_known, timeout=timeout, category=category))
        assert found.logprobs is not None
        return list(zip(found.samples, found.logprobs))

    def _most_likely(self, r: Generate) -> SampleResult:
        self._require_lines("most_likely")
        r.for_mode(self.mode)
        if self.condition(r.category) is None and self.categories:
            names = ", ".join(self.categories)
            raise CategoryError(f"the most likely items depend on the category: pass one of {names}", param="category")
        deadline = Deadline.after(r.timeout)
        plan = self.plan(_constraints(r), deadline=deadline)
        known = self.ckpt.known
        exclude_known = None if r.allow_known or known is None else (lambda items: is_known(items, known))
        found = beam_search(self.stepper(deadline, category=r.category, habits=r.habits), self.ckpt.vocab, plan,
                            r.beam or 1, n=r.count(self.mode), exclude=exclude_known)
        known_lp = math.log1p(-self.ckpt.unknown)  # as score() gives them: each symbol's (1 - u) share
        return SampleResult([s for s, _ in found], 0, 0, 0, method="beam",
                            logprobs=[lp + (len(s) + 1) * known_lp for s, lp in found])

    def complete(
        self, prompt: str = "", length: int = LENGTH, *, n: int = N_TEXTS, temperature: float = TEMPERATURE,
        top_k: int = TOP_K, top_p: float = TOP_P, seed: int | None = None, greedy: bool = False,
        pattern: str | None = None, exclude: str = "", suffix: str = "", contains: str | Sequence[str] = (),
        min_len: int | None = None, max_len: int | None = None, particles: int = PARTICLES,
        max_draws: int | None = None, timeout: float | None = None,
    ) -> list[str]:
        """Text mode: continue ``prompt`` by ``length`` characters, ``n`` times. ``pattern``:
        the continuation begins with a match; ``exclude``: characters it never contains.
        ``suffix``, ``contains``, ``min_len`` and ``max_len`` describe list items and are
        refused here with a ConstraintError. ``greedy`` takes the likeliest character at each
        step (so it refuses the sampling options)."""
        return self._complete(Generate(
            n=n, prefix=text("prompt", prompt), length=length, temperature=temperature, top_k=top_k, top_p=top_p,
            seed=seed, greedy=greedy, pattern=pattern, exclude=exclude, suffix=suffix, contains=contains,
            min_len=min_len, max_len=max_len, particles=particles, max_draws=max_draws, timeout=timeout)).samples

    def _complete(self, r: Generate) -> SampleResult:
        self._require_text()
        r.for_mode(self.mode)
        self.condition(r.category)  # a text model has no categories: refuse one
        deadline = Deadline.after(r.timeout)
        n = r.count(self.mode)
        plan = self.plan(_constraints(r), text_length=r.text_length, deadline=deadline)
        rng = None if r.greedy else (r.rng if r.rng is not None else np.random.default_rng(r.seed))
        texts = complete(self.stepper(deadline), self.ckpt.vocab, plan, rng, n=n,
                         controls=Controls(r.temperature, r.top_k, r.top_p), particles=r.particles,
                         max_draws=r.max_draws)
        drawn = 0 if len(texts) == n else r.max_draws or default_max_draws(n, r.particles)  # short: the bound ran out
        return SampleResult(texts, drawn, 0, 0, method="greedy" if r.greedy else "text")

    def complete_stream(
        self, prompt: str = "", length: int = LENGTH, *, temperature: float = TEMPERATURE, top_k: int = TOP_K,
        top_p: float = TOP_P, seed: int | None = None, greedy: bool = False, pattern: str | None = None,
        exclude: str = "", timeout: float | None = None,
    ) -> Iterator[str]:
        """Text mode: a continuation of ``prompt`` by ``length`` characters, one character at
        a time as each is drawn (seeded draws are reproducible, but not the characters
        ``complete`` gives: it draws several rows at once). With ``pattern`` or ``exclude``
        (as for ``complete``) the continuation is found first and then given out, as a match
        is only known once it is complete. Arguments are checked, and the prompt read,
        before this returns; ``timeout`` covers the whole iteration."""
        r = Generate(prefix=text("prompt", prompt), length=length, temperature=temperature, top_k=top_k, top_p=top_p,
                     seed=seed, greedy=greedy, pattern=pattern, exclude=exclude, timeout=timeout)
        self._require_text()
        if pattern is not None or exclude:
            found = self._complete(r).samples
            return iter(found[0][len(self._text(prompt)):] if found else "")
        deadline = Deadline.after(r.timeout)
        plan = self.plan(Constraints(r.prefix), text_length=r.text_length, deadline=deadline)
        rng = None if r.greedy else np.random.default_rng(r.seed)
        return complete_stream(self.stepper(deadline), self.ckpt.vocab, plan, rng,
                               Controls(r.temperature, r.top_k, r.top_p))

    def _require_text(self) -> None:
        if self.writes_lists:
            raise InputError("complete() continues running text, but this model writes list items; use sample()")

    def score(self, items: str | Sequence[str], *, timeout: float | None = None,
              category: Condition | None = None) -> list[ItemScore]:
        """Log-probability of each item (end token included), with each character's share.
        With categories: given ``category``, or without it under the mixture of categories
        weighted by their priors, log P(item) = log sum_k P(item | k) pi_k. A string is one item.
        A character the model never saw gets the unknown-character probability
        (``charsmith.openvocab``); ``ItemScore.unknown_chars`` counts them."""
        items = self._items(items)
        deadline = Deadline.after(timeout)
        w = self.condition(category)
        u = self.ckpt.unknown
        if w is not None:
            return score_items(*self._args(), items, cond=np.broadcast_to(w, (len(items), w.size)), deadline=deadline,
                               unknown_mass=u)
        if self.ckpt.categories is not None:
            return mixture_scores(*self._args(), items, self.ckpt.categories.log_priors(), deadline=deadline,
                                  unknown_mass=u)
        return score_items(*self._args(), items, deadline=deadline, unknown_mass=u)

    def _items(self, items: str | Sequence[str]) -> list[str]:
        """``items`` as the model reads them (lower-cased if it learned so), one line each."""
        items = [self._text(s) for s in check_items(items)]
        if self.mode == "lines":
            for item in items:
                if END in item:
                    raise InputError(f"item {item!r} spans lines; score one item per line", param="items")
        return items

    def classify(self, items: str | Sequence[str], *, top: int | None = None, uniform_prior: bool = False,
                 timeout: float | None = None) -> list[Classification]:
        """P(category | item) by Bayes' rule from the model's likelihood of the item under
        each category and the priors (the training counts, or equal with ``uniform_prior``
        for macro-balanced decisions); a mixture fitted after training weighs its two parts
        as its held-out items say (``charsmith.calibration``). The ``top`` likeliest
        categories of each item. A string is one item. A character the model never saw
        costs every category the same (``charsmith.openvocab``), so the others decide."""
        top = check_top(top)
        items = self._items(items)
        uniform_prior = flag("uniform_prior", uniform_prior)
        cats = self.ckpt.categories
        if cats is None:
            raise CategoryError("this model was trained without categories, so it cannot classify; train it on "
                                "labelled items (a folder of category files or category<TAB>item lines)")
        z = class_evidence(*self._args(), items, uniform=uniform_prior, deadline=Deadline.after(timeout),
                           unknown_mass=self.ckpt.unknown)
        probs = posterior(z, cats.log_priors(uniform=uniform_prior))
        order = np.argsort(-probs, axis=1, kind="stable")[:, :top]
        vocab = self.ckpt.vocab
        return [Classification(s, [(cats.names[k], float(p[k])) for k in o], sum(ch not in vocab for ch in s))
                for s, p, o in zip(items, probs, order)]

    def export(self, out: str | os.PathLike[str], *, format: str, dtype: str = "float32",
               known: bool | str | os.PathLike[str] | Sequence[str] = False, force: bool = False) -> list[Path]:
        """Write this model as a self-contained generator: ``format`` "js", "html", "csharp" or
        "onnx"; see :func:`charsmith.export.export`. Returns the files written."""
        from charsmith.export import export

        return export(self, out, format=format, dtype=dtype, known=known, force=force)

    def is_known(self, items: str | Sequence[str]) -> list[bool] | None:
        """Which ``items`` are in the model's data set (held-out ones included); None if the
        checkpoint keeps no record of it (text models). A string is one item."""
        items = [self._text(s) for s in check_items(items)]
        known = self.ckpt.known
        return None if known is None else is_known(items, known).tolist()

    def evaluate(self, path: str | os.PathLike[str], *, category: Condition | None = None) -> EvalResult:
        """Mean held-out NLL per character of a file, read the way the model was trained.
        Labelled items (a folder of category files or category<TAB>item lines) are each
        scored under their own category; other items under ``category`` (see :meth:`score`).
        What holds characters the model never saw is reported apart (see ``EvalResult``)."""
        path = check_path(path)
        self.condition(category)  # checked before the file is read
        lower = self.lowercase
        text = None if Path(path).is_dir() else read_text(path)
        if self.mode == "lines" and is_labelled(path, text):
            return self._evaluate_labelled(path, text, lower, category)
        text = read_text(path) if text is None else text
        if self.mode == "lines":
            return summarize(self.score(split_lines(text, lowercase=lower, source=str(path)), category=category))
        self.condition(category)  # a text model has no categories: refuse one
        text = text.lower() if lower else text
        if len(text) < 2:
            raise DataError(f"{path} has {len(text)} character(s); a text model needs at least 2 to score one prediction")
        vocab = self.ckpt.vocab
        try:
            ids = vocab.encode(text, vocab.id_dtype)
        except ValueError:  # characters the model never saw: scored apart, read through stand-ins
            targets, inputs = encode_open(vocab, text)
            return stream_loss(self.ckpt.params, self.ckpt.model, targets, deadline=Deadline.after(None), inputs=inputs,
                               unknown_mass=self.ckpt.unknown)
        return stream_loss(self.ckpt.params, self.ckpt.model, ids, deadline=Deadline.after(None))

    def _evaluate_labelled(self, path: str | os.PathLike[str], text: str | None, lower: bool,
                           category: Condition | None) -> EvalResult:
        cats = self.ckpt.categories
        if cats is None:
            raise CategoryError(f"{path} is labelled but this model was trained without categories; "
                                "evaluate a file of plain items")
        if category is not None:
            raise CategoryError(f"{path} is labelled, so each item is scored under its own category; drop the category")
        data = read_labelled(path, lowercase=lower, text=text)
        ids = np.array([cats.index(n) for n in data.names], dtype=np.int64)[data.cats]  # file ids -> model ids
        return summarize(score_items(*self._args(), data.items, cond=ids, deadline=Deadline.after(None),
                                     unknown_mass=self.ckpt.unknown))


def load(name_or_path: str | os.PathLike[str]) -> CharModel:
    """Load a checkpoint directory or a bundled model by name (see ``bundled_models``)."""
    return CharModel(load_checkpoint(resolve_model(name_or_path)))


def plan_run(path: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None,
             **options: Any) -> tuple[Corpus, ModelConfig, TrainConfig]:
    """Read ``path`` and settle every option: those given win, the rest come from
    ``charsmith.defaults`` for this data (:func:`~charsmith.defaults.finetune` when ``init``
    names a model to start from). Options are ModelConfig and TrainConfig fields (``mode``
    may also be "auto"); None means "not given". ``path`` may be a folder of category files.
    ``cache_dir``: where a big text's ids are kept memory-mapped (:mod:`charsmith._idcache`)."""
    given = _given(options)
    check_path(path)
    _check_options(given)
    base = netmix.network_part(load(given["init"]).ckpt) if given.get("init") else None
    if base is not None and base.train is not None:
        given.setdefault("lowercase", base.train.lowercase)
    defaults = TrainConfig()
    given.setdefault("seed", defaults.seed)
    given.setdefault("val_fraction", defaults.val_fraction)
    corpus = _read_corpus(path, given, cache_dir)
    if base is not None:
        finetune.check_base(base, given["init"], corpus.mode, given)
        corpus = corpus.with_vocab(finetune.vocabulary(base.vocab, corpus.vocab,
                                                       base_chars=given.get("base_chars", False)))
        chosen = {**finetune_defaults(finetune.network(base), corpus), **finetune.fixed_options(base)}
    else:
        chosen = suggest(corpus, minutes=given.get("minutes"))
    if corpus.categories is None:
        if "cat_embed" in given:
            raise DataError(f"`cat_embed` is for labelled items, and {path} has no categories; drop it", param="cat_embed")
        if given.get("balance"):
            raise DataError(f"`balance` is for labelled items, and {path} has no categories; drop it", param="balance")
        chosen.pop("cat_embed", None)
    if "steps" in given and "minutes" not in given:
        chosen["minutes"] = 0.0  # an explicit step budget replaces the default time budget
    if "steps" in given and chosen.get("steps") and chosen.get("freeze_steps") == chosen["steps"]:  # frozen throughout
        chosen.update(freeze_steps=given["steps"], eval_every=given["steps"])
    opts = {**chosen, **given}
    model_names = {f.name for f in dataclasses.fields(ModelConfig)}
    n_cats = 0 if corpus.categories is None else corpus.categories.size
    model_cfg = ModelConfig(vocab_size=corpus.vocab.size, categories=n_cats,
                            **{k: v for k, v in opts.items() if k in model_names})
    train_cfg = TrainConfig(**{k: v for k, v in opts.items() if k not in model_names})
    return corpus, model_cfg, train_cfg


def _check_options(given: dict[str, Any]) -> None:
    """Check each option given by the configs' own rules, before any data is read."""
    model_names = {f.name for f in dataclasses.fields(ModelConfig)}
    if given.get("mode", "auto") not in ("auto", *MODES):
        raise InputError(f"`mode` must be one of auto, {', '.join(MODES)}; got {given['mode']!r}", param="mode")
    TrainConfig(**{k: v for k, v in given.items() if k not in model_names and k != "mode"})
    shape = {"cell": "gru", "hidden": 1, **{k: v for k, v in given.items() if k in model_names}}
    ModelConfig(vocab_size=2, categories=int(bool(shape.get("cat_embed"))), **shape)


def _given(options: dict[str, Any]) -> dict[str, Any]:
    """The options given (not None); a name that is no training option raises TypeError."""
    given = {k: v for k, v in options.items() if v is not None}
    fields = {f.name for f in dataclasses.fields(ModelConfig)} | {f.name for f in dataclasses.fields(TrainConfig)}
    derived = {"vocab_size", "categories"}  # set by the data
    unknown = sorted(set(given) - fields | set(given) & derived)
    if unknown:
        raise TypeError(f"unknown training option(s): {', '.join(unknown)}")
    return given


def _read_corpus(path: str | os.PathLike[str], given: dict[str, Any],
                 cache_dir: str | os.PathLike[str] | None = None) -> Corpus:
    """The corpus of ``path`` (plain or labelled); sets ``given["mode"]``."""
    rng = np.random.default_rng(given["seed"])
    mode = given.get("mode", "auto")
    if mode != "text" and is_labelled(path):
        given["mode"] = "lines"
        data = read_labelled(path, lowercase=given.get("lowercase", False))
        return make_labelled_corpus(data, val_fraction=given["val_fraction"], rng=rng)
    if Path(path).is_dir():
        raise DataError(f"{path} is a folder of category files, read in lines mode; drop `mode=text`",
                        param="mode")
    given["mode"] = detect_mode(read_chunks(path)) if mode == "auto" else mode
    return load_corpus(path, mode=given["mode"], lowercase=given.get("lowercase", False),
                       val_fraction=given["val_fraction"], rng=rng, cache_dir=cache_dir)


def make_trainer(
    path: str | os.PathLike[str], out: str | os.PathLike[str], *, resume: bool = False, force: bool = False,
    engine: str = "numpy", device: str | None = None, **options: Any,
) -> Trainer:
    """A :class:`Trainer` for the file at ``path`` with ``options`` settled by :func:`plan_run`,
    starting from the weights of ``init`` when given (see :mod:`charsmith.finetune`). With
    ``resume``, options not given are the saved run's. ``engine`` and ``device``: what
    computes the steps (:mod:`charsmith.engines`)."""
    resume, force = _check_run(out, resume, force)
    if resume:
        given = {k: v for k, v in options.items() if v is not None}
        saved = saved_options(out)
        if "steps" in given or "minutes" in given:  # a new budget replaces the saved one, as in a new run
            del saved["steps"], saved["minutes"]
        options = {**saved, **given}
    corpus, model_cfg, train_cfg = plan_run(path, cache_dir=Path(out).parent / _idcache.CACHE_DIR, **options)
    info: dict[str, Any] = {"source": Path(path).name}
    params = None
    if train_cfg.init:
        base = netmix.network_part(load(train_cfg.init).ckpt)  # a mixed run starts from its network
        params, facts = finetune.start_params(base, corpus, model_cfg, np.random.default_rng(train_cfg.seed))
        info.update(init=train_cfg.init, init_model=finetune.describe(finetune.network(base)), **facts)
    return Trainer(corpus, model_cfg, train_cfg, out, resume=resume, force=force, info=info, params=params,
                   engine=engine, device=device)


def _check_run(out: Any, resume: Any, force: Any) -> tuple[bool, bool]:
    """``train``'s own arguments, checked before anything else: (resume, force)."""
    check_path(out, "out")
    resume, force = flag("resume", resume), flag("force", force)
    if resume and force:
        raise InputError("`resume` continues the run in `out` and `force` replaces it: give one of them", param="force")
    return resume, force


def train(
    path: str | os.PathLike[str], out: str | os.PathLike[str], *, resume: bool = False, force: bool = False,
    on_progress: Callable[[Progress], None] | None = None, **options: Any,
) -> CharModel:
    """Train on the file (or folder of category files) at ``path``, keep the best checkpoint
    in ``out``, and load it.

    ``options`` are ModelConfig/TrainConfig fields, e.g. ``cell="gru", hidden=128, minutes=5``,
    or ``init="names"`` to start from a bundled model or checkpoint directory; left-out
    ones are chosen for the data; ``engine="torch"`` (and ``device="cuda"``) trains with
    PyTorch (:mod:`charsmith.engines`). ``on_progress`` receives a ``Progress`` report after
    every step and evaluation.
    """
    resume, force = _check_run(out, resume, force)
    corpus = small_list_corpus(path, resume=resume, **options)
    if corpus is not None:
        train_chosen(path, corpus, out, force=force, **options)
        return load(out)
    make_trainer(path, out, resume=resume, force=force, **options).run(on_progress)
    return load(out)


def train_chosen(path: str | os.PathLike[str], corpus: LinesCorpus, out: str | os.PathLike[str], *,
                 force: bool = False, on_start: Callable[[], None] | None = None, **options: Any) -> Checkpoint:
    """Train the model cross-validation chooses for the small list ``corpus`` read from
    ``path`` (:func:`small_list_corpus` with the same ``options``) into ``out``."""
    return smalllists.train_small(corpus, out, cell=options.get("cell"), seed=options.get("seed") or 0,
                                  lowercase=bool(options.get("lowercase")), force=force,
                                  info={"source": Path(path).name}, on_start=on_start)


def small_list_corpus(path: str | os.PathLike[str], *, resume: bool = False, engine: str = "numpy",
                      **options: Any) -> LinesCorpus | None:  # fmt: skip
    """The items of ``path`` when this run's model is chosen by cross-validation (see
    :mod:`charsmith.smalllists`: ``cell`` "auto", "ngram" or "mixture", or a small list and
    no option that sets the network), else None: also for a resumed run (it trains a network)
    and for an engine but NumPy's (the choice trains on NumPy). All items train unless
    ``val_fraction`` holds some out."""
    if resume or engine != "numpy":
        return None
    given = _given(options)
    cell = given.get("cell")
    check_path(path)
    _check_options({k: v for k, v in given.items() if k != "cell" or v not in smalllists.KINDS})
    smalllists.check_options(cell, given)
    if cell not in (None, *smalllists.KINDS) or (cell is None and not smalllists.applies(0, given)):
        return None
    if cell is None and Path(path).is_file() and Path(path).stat().st_size >= _idcache.MIN_BYTES:
        return None  # far more than a small list: not read here (the trainer maps a big text's ids)
    given.setdefault("seed", TrainConfig().seed)
    given.setdefault("val_fraction", 0.0)
    corpus = _read_corpus(path, given)
    if not isinstance(corpus, LinesCorpus):
        if cell in ("ngram", "mixture"):
            raise DataError(f"{path} is running text; the n-gram model and the mixture learn lists (one item a line)")
        return None
    n = len(corpus.train) + len(corpus.val)
    return corpus if cell in smalllists.KINDS or smalllists.applies(n, options) else None
