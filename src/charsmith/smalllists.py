"""Small lists: the model, its steps and its weights chosen by k-fold cross-validation.

For a list of at most ``SMALL_LIST_ITEMS`` items (and for ``cell="ngram"`` or
``cell="mixture"`` at any size), :func:`train_small` splits the items into ``FOLDS`` folds
(leave-one-out below that many items) and scores every held-out character, end tokens
included, with models trained on the other folds:

- the Kneser-Ney n-gram model of each order 1..7 (:mod:`charsmith.ngram`);
- the network (the short-list defaults of :mod:`charsmith.defaults` at half width),
  evaluated every ``steps / 12`` steps, so the held-out loss of each step count is known
  (and, when a bundled model named in ``STARTS`` exists, a network started from it, on the
  fine-tuning schedule of :func:`charsmith.defaults.finetune` cut at ``BASE_CV_STEPS``);
- their mixture (:mod:`charsmith.mixture`) for each order, with per-context weights fitted by
  EM on the other folds' held-out characters (so a fold never fits the weights it is
  scored with).

The candidate with the lowest cross-validated loss (nats/char) is trained on all the items
and saved; the losses of every candidate are kept in the checkpoint's info ("choice"). A
chosen network is the mean of the folds' networks at the chosen step count and one trained
on all the items for as many steps on the same schedule (a committee: lower held-out loss
than the one network on every development list), saved as a mixture whose weights are 1
(or, for the mixture, the fitted ones). A list of 1 to ``TINY_LIST_ITEMS`` items is tiny
(:func:`is_tiny`): too few to cross-validate, it fine-tunes the bundled start on all its
items when there is one (better than scratch on small lists, QUALITY.md "Small lists from
the base"), else gets the n-gram model alone.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from charsmith import backend, finetune, mixture, ngram, optim
from charsmith import model as M
from charsmith._batching import encode_items, seeded_rng
from charsmith._corpus import Corpus, LinesCorpus
from charsmith._rundir import open_run_dir
from charsmith.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from charsmith.config import ModelConfig, TrainConfig
from charsmith.defaults import finetune as finetune_defaults
from charsmith.defaults import suggest
from charsmith.errors import DataError, InputError
from charsmith.scoring import score_items, summarize
from charsmith.trainer import RECURRENT, train_step

__all__ = ["FOLDS", "KINDS", "SMALL_LIST_ITEMS", "TINY_LIST_ITEMS", "Choice", "train_small"]

SMALL_LIST_ITEMS = 1000  # lists up to this size get their model chosen by cross-validation
TINY_LIST_ITEMS = 5  # lists up to this size are tiny: no cross-validation (see is_tiny)
FOLDS = 5
ORDERS = tuple(range(1, 8))
KINDS = ("auto", "ngram", "mixture")  # the values of ``cell`` this module trains
EVALS = 12  # evaluations of each fold's network
SMALL_HIDDEN = 64  # the short-list GRU at half width: as good in cross-validation on the DEV lists, 3x faster
STARTS: tuple[str, ...] = ("base",)  # bundled models a network candidate starts from, when they are bundled
# the most steps of a start from a base in cross-validation (see _start_setup): 200 gave 0.01 nats/char
# lower loss on the development lists (Slovak, Latvian words) in 1.6x the time
BASE_CV_STEPS = 120
MIXED = {"network": "mixture", **{name: f"{name}+ngram" for name in STARTS}}  # a network's mixture candidate
# options that only describe a network run: giving one trains the network as before
NETWORK_OPTIONS = ("hidden", "layers", "embed", "dropout", "cat_embed", "optimizer", "lr", "batch_size", "seq_len",
                   "weight_decay", "warmup_steps", "decay", "clip_norm", "clip_value", "steps", "minutes",
                   "eval_every", "eval_chars", "patience", "init", "ema", "freeze_steps", "min_lr_ratio", "balance", "mix_order")


@dataclass(frozen=True)
class Choice:
    """What the cross-validation chose: the candidate's name, the cross-validated loss of
    every candidate (nats/char), the folds, the network's step count (0: none), seconds."""

    chosen: str
    losses: dict[str, float]
    folds: int
    items: int
    steps: int
    seconds: float
    tiny: bool

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def applies(items: int, options: dict[str, Any]) -> bool:
    """Whether a lines-mode run on ``items`` items with these options (None: not given) is
    trained here: ``cell`` is "ngram" or "mixture", or nothing but the seed, the mode and
    lower-casing is given and the list is small."""
    given = {k for k, v in options.items() if v not in (None, False, "")}
    cell = options.get("cell")
    if cell in ("ngram", "mixture"):
        return True
    if cell not in (None, "auto") or given & set(NETWORK_OPTIONS):
        return False
    return items <= SMALL_LIST_ITEMS


def is_tiny(items: int) -> bool:
    """Whether a list of ``items`` items is tiny: too few to choose a model by cross-validation
    or to learn one from alone. A tiny unlabelled list fine-tunes the bundled start
    (:func:`start_available`, as a network run from it would, on all its items); else it
    gets the n-gram model alone."""
    return items <= TINY_LIST_ITEMS


def tiny_list(corpus: Corpus) -> bool:
    """Whether ``corpus`` is a tiny list (:func:`is_tiny`), its held-out items counted."""
    return isinstance(corpus, LinesCorpus) and is_tiny(len(corpus.train) + len(corpus.val))


def check_options(cell: str | None, options: dict[str, Any]) -> None:
    """Refuse network options with a ``cell`` chosen here: the n-gram model has no network,
    and the mixture's and "auto"'s are chosen by cross-validation."""
    if cell not in KINDS:
        return
    given = [k for k in NETWORK_OPTIONS if options.get(k) not in (None, False, "")]
    if cell == "ngram" and "init" in given:
        raise InputError("`init` starts a network from trained weights, and an n-gram model has none; "
                         "drop `init` or choose a network `cell`", param="init")
    if given:
        what = "trains no network" if cell == "ngram" else "chooses its network by cross-validation"
        names = ", ".join(f"`{k}`" for k in given)
        one = len(given) == 1
        raise InputError(f"{names} {'is an option' if one else 'are options'} of a network's training, and "
                         f"`cell`={cell} {what}; drop {'it' if one else 'them'}", param=given[0])


# ----- folds and scores ----------------------------------------------------------------------
def make_folds(n: int, rng: np.random.Generator, k: int = FOLDS) -> list[np.ndarray]:
    """The held-out item indices of each fold (leave-one-out when n < k)."""
    order = rng.permutation(n)
    return [order[i::min(k, n)] for i in range(min(k, n))]


def ngram_heldout(seqs: Sequence[np.ndarray], cats: np.ndarray, V: int, K: int, order: int,
                  folds: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each held-out character's probability under the n-gram model of the other folds, and
    the context length it came from, fold by fold, item by item."""
    ps, us = [], []
    for held in folds:
        rest = np.setdiff1d(np.arange(len(seqs)), held)
        cfg, params = ngram.fit([seqs[i] for i in rest], V, order, cats=cats[rest], categories=K)
        grams, gcats = ngram.item_grams([seqs[i] for i in held], cats[held], order)
        probs, used = ngram.lookup(params, cfg, grams[:, :-1], gcats)
        ps.append(probs[np.arange(len(grams)), grams[:, -1]])
        us.append(used)
    return np.concatenate(ps), np.concatenate(us)


def _nll(p: np.ndarray) -> float:
    return float(-np.log(p).mean()) if p.size else math.inf


# ----- the network ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _Net:
    cfg: ModelConfig
    train: TrainConfig
    total: int  # the schedule's length in steps
    start: Callable[[LinesCorpus], dict[str, np.ndarray]] | None = None  # the first weights for a corpus (None: fresh)


def _networks(corpus: LinesCorpus, seed: int) -> dict[str, _Net]:
    """The network candidates: from scratch, and from each bundled start in ``STARTS``."""
    nets = {"network": _net_setup(list(corpus.train), corpus, seed)}
    name = start_available(corpus)
    if name is not None:
        nets[name] = _start_setup(name, corpus, seed, BASE_CV_STEPS)
    return nets


def start_available(corpus: LinesCorpus) -> str | None:
    """The first bundled model of ``STARTS`` a network on ``corpus`` may start from (an
    unlabelled list), or None."""
    if corpus.categories is not None:
        return None
    return next((name for name in STARTS
                 if (resources.files("charsmith") / "pretrained" / name / "config.json").is_file()), None)


def _start_setup(name: str, corpus: LinesCorpus, seed: int, cap: int | None) -> _Net:
    """A network that starts from the bundled model ``name``, read with the list's own
    vocabulary (see :mod:`charsmith.finetune`), with the fine-tuning defaults for a small
    list: ``FINETUNE_EPOCHS`` passes within ``FINETUNE_STEPS`` (at most ``cap`` steps), the
    recurrent matrices frozen throughout."""
    base = load_checkpoint(Path(str(resources.files("charsmith") / "pretrained" / name)))
    shape = finetune.network(base, name)
    cfg = dataclasses.replace(shape, vocab_size=corpus.vocab.size, categories=0, cat_embed=0,
                              dropout=max(shape.dropout, 0.3))
    tuned = finetune_defaults(shape, corpus)
    total = int(tuned["steps"] if cap is None else min(tuned["steps"], cap))
    train = TrainConfig(lr=tuned["lr"], warmup_steps=tuned["warmup_steps"], weight_decay=0.0,
                        batch_size=tuned["batch_size"], freeze_steps=total, seed=seed, steps=total, val_fraction=0.0)

    def start(fold: LinesCorpus) -> dict[str, np.ndarray]:
        params, _ = finetune.start_params(base, fold, cfg, np.random.default_rng(seed))
        return {k: np.ascontiguousarray(v) for k, v in params.items()}

    return _Net(cfg, train, total, start)


def _net_setup(items: Sequence[str], corpus: LinesCorpus, seed: int) -> _Net:
    opts = dict(suggest(corpus), hidden=SMALL_HIDDEN)
    opts.pop("minutes", None)
    opts.pop("patience", None)
    opts.pop("eval_every", None)
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    n_cats = 0 if corpus.categories is None else corpus.categories.size
    if not n_cats:
        opts.pop("cat_embed", None)
    cfg = ModelConfig(vocab_size=corpus.vocab.size, categories=n_cats,
                      **{k: v for k, v in opts.items() if k in model_fields})
    total = int(min(800, max(240, 2 * len(items))))
    train = TrainConfig(**{k: v for k, v in opts.items() if k not in model_fields}, seed=seed, steps=total,
                        warmup_steps=min(100, total // 10), val_fraction=0.0)
    return _Net(cfg, train, total)


def _train_net(net: _Net, corpus: LinesCorpus, stop: int,
               on_eval: Callable[[int, dict[str, np.ndarray]], None] | None = None,
               deadline: float | None = None) -> dict[str, np.ndarray]:
    """The network trained on ``corpus.train`` for ``stop`` steps of its schedule; ``on_eval``
    sees the weights every ``total / EVALS`` steps. TimeoutError past ``deadline``."""
    tc, cfg = net.train, net.cfg
    first = net.start(corpus) if net.start is not None else M.init_params(cfg, np.random.default_rng(tc.seed))
    opt = optim.FlatOptimizer(tc.optimizer, first)
    table = "l0.W_ih" if cfg.embed == 0 else ""
    frozen = tuple(k for k in first if k.endswith(RECURRENT) and k != table)  # as the Trainer freezes them
    batches = corpus.batches(tc.batch_size, tc.seq_len, tc.seed)
    every = max(net.total // EVALS, 1)
    with backend.current().blas_on_one_thread():
        for step in range(stop):
            batch, _ = next(batches)
            lr = optim.lr_at(step / net.total, step, lr=tc.lr, warmup_steps=tc.warmup_steps, decay=tc.decay,
                             min_lr_ratio=tc.min_lr_ratio)
            rng = seeded_rng(tc.seed, 1, step) if cfg.dropout else None
            train_step(cfg, opt, batch, M.init_state(cfg, len(batch.ids)), lr=lr, t=step + 1,
                       clip_norm=tc.clip_norm, clip_value=tc.clip_value, weight_decay=tc.weight_decay, rng=rng,
                       check=step == 0, frozen=frozen if step < tc.freeze_steps else ())
            if on_eval is not None and (step + 1) % every == 0:
                on_eval(step + 1, opt.params)
            if deadline is not None and time.perf_counter() > deadline:
                raise TimeoutError
    return {k: v.copy() for k, v in opt.params.items()}


def _sub(corpus: LinesCorpus, idx: np.ndarray) -> LinesCorpus:
    items = [corpus.train[i] for i in idx]
    cats = None if corpus.train_cats is None else corpus.train_cats[idx]
    return dataclasses.replace(corpus, train=items, val=[], overlap=0, train_cats=cats, val_cats=None)


def net_heldout(net: _Net, corpus: LinesCorpus, folds: Sequence[np.ndarray], deadline: float,
                say: Callable[[str], None] = lambda _: None,
                ) -> tuple[list[int], list[np.ndarray], dict[int, list[dict[str, np.ndarray]]]]:
    """Each held-out character's probability under the network of the other folds, at
    each evaluated step count: (steps, [(P,) per step count]), and the folds' networks at
    each step count. Once a fold is done, the next ones stop at twice the best step count
    so far (the schedule is the same; the held-out loss has long turned by then).
    TimeoutError past ``deadline``, or once the folds' mean time says that the other folds
    and a run on all the items would end past it."""
    per_step: dict[int, list[np.ndarray]] = {}
    snapshots: dict[int, list[dict[str, np.ndarray]]] = {}
    n = len(corpus.train)
    stop = net.total
    began = time.perf_counter()
    for f, held in enumerate(folds):
        say(f"fold {f + 1} of {len(folds)}")
        if time.perf_counter() > deadline:
            raise TimeoutError
        items = [corpus.train[i] for i in held]
        cond = None if corpus.train_cats is None else corpus.train_cats[held]

        def record(step: int, params: dict[str, np.ndarray], items: list[str] = items,
                   cond: np.ndarray | None = cond) -> None:
            scores = score_items(params, net.cfg, corpus.vocab, items, cond=cond)
            per_step.setdefault(step, []).append(np.exp(np.concatenate([s.char_logprobs for s in scores])))
            snapshots.setdefault(step, []).append({k: v.copy() for k, v in params.items()})

        _train_net(net, _sub(corpus, np.setdiff1d(np.arange(n), held)), stop, record, deadline)
        per_fold = (time.perf_counter() - began) / (f + 1)
        if time.perf_counter() + per_fold * (len(folds) - f) > deadline:
            raise TimeoutError  # the other folds and the run on all items would not end in time
        steps = [s for s in sorted(per_step) if len(per_step[s]) == f + 1]  # reached by every fold so far
        losses = [-np.log(np.concatenate(per_step[s])).mean() for s in steps]
        stop = min(stop, 2 * steps[int(np.argmin(losses))])
    return steps, [np.concatenate(per_step[s]) for s in steps], snapshots


@dataclass(frozen=True)
class _NetResult:
    """A network candidate's cross-validation: its loss at the best step count, the best
    mixture's loss, order and weights, and the folds' networks at that step count."""

    net: _Net
    steps: int
    loss: float
    mix_loss: float
    order: int
    weights: np.ndarray
    snapshots: list[dict[str, np.ndarray]]


def _net_candidate(net: _Net, corpus: LinesCorpus, folds: Sequence[np.ndarray], sizes: Sequence[int],
                   held: dict[int, tuple[np.ndarray, np.ndarray]], deadline: float,
                   say: Callable[[str], None]) -> _NetResult:
    eval_steps, p_nets, snapshots = net_heldout(net, corpus, folds, deadline, say)
    losses = [_nll(p) for p in p_nets]
    i = int(np.argmin(losses))
    mixes = {o: _mixture_cv(p_nets[i], *held[o], o, sizes) for o in held}
    order = min(mixes, key=lambda o: mixes[o][0])
    return _NetResult(net, eval_steps[i], losses[i], mixes[order][0], order, mixes[order][1],
                      snapshots[eval_steps[i]])


def _said(say: Callable[[str], None], name: str, text: str) -> None:
    say(f"{name}: {text}")


def _mixture_cv(p_net: np.ndarray, p_ng: np.ndarray, used: np.ndarray, order: int,
                sizes: Sequence[int]) -> tuple[float, np.ndarray]:
    """The cross-validated loss of the mixture (each fold's characters mixed with weights
    fitted on the other folds'), and the weights fitted on all folds."""
    bounds = np.cumsum([0, *sizes])
    total = 0.0
    for a, b in itertools.pairwise(bounds):
        rest = np.r_[0:a, b:len(p_net)]
        w = mixture.fit_weights(p_net[rest], p_ng[rest], used[rest], order)
        total -= float(np.log(mixture.combine(p_net[a:b], p_ng[a:b], used[a:b], w)).sum())
    return total / max(len(p_net), 1), mixture.fit_weights(p_net, p_ng, used, order)


# ----- the whole run -------------------------------------------------------------------------
def train_small(
    corpus: Corpus, out: str | os.PathLike[str], *, cell: str | None = None, seed: int = 0, lowercase: bool = False,
    force: bool = False, info: dict[str, Any] | None = None, budget: float = 45.0,
    on_start: Callable[[], None] | None = None, on_progress: Callable[[str], None] | None = None,
) -> Checkpoint:
    """Choose a model for ``corpus.train`` by cross-validation (``cell``: "ngram" or
    "mixture" limits the choice to that kind; None or "auto" weighs them all), train it on
    all of ``corpus.train``, save it in ``out`` and return it. A network candidate is
    dropped when its folds and its run on all the items would not end within ``budget``
    seconds (with none left, the n-gram model is chosen).
    ``on_start`` is called once ``out`` is locked for the run, before the folds;
    ``on_progress`` with a few words at each stage ("network: fold 2 of 5", ...)."""
    say = on_progress or (lambda _: None)
    if not isinstance(corpus, LinesCorpus):
        raise DataError("the n-gram model and the mixture learn lists of items; a running text trains a network")
    start = time.perf_counter()
    cell = cell or "auto"
    lock = open_run_dir(out, force=force)
    try:
        if on_start is not None:
            on_start()
        items = list(corpus.train)
        n = len(items)
        if n == 0:
            raise DataError("no items to train on")
        V, K = corpus.vocab.size, 0 if corpus.categories is None else corpus.categories.size
        cats = np.zeros(n, dtype=np.int64) if corpus.train_cats is None else np.asarray(corpus.train_cats)
        seqs = [s[1:-1] for s in encode_items(corpus.vocab, items)]
        tiny = tiny_list(corpus)
        folds = make_folds(n, np.random.default_rng(seed))
        sizes = [sum(len(seqs[i]) + 1 for i in f) for f in folds]
        orders = [o for o in ORDERS if max(K, 1) * V**o < 2**62]
        losses: dict[str, float] = {}
        held: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if n > 1:
            say("n-gram models of orders 1-7")
            for o in orders:
                held[o] = ngram_heldout(seqs, cats, V, K, o, folds)
                losses[f"ngram-{o}"] = _nll(held[o][0])
        best_order = min(orders, key=lambda o: losses.get(f"ngram-{o}", math.inf)) if n > 1 else 3
        chosen, steps, weights, net = f"ngram-{best_order}", 0, None, None
        results: dict[str, _NetResult] = {}
        if cell in ("auto", "mixture") and not tiny:
            for name, candidate in _networks(corpus, seed).items():
                try:
                    results[name] = _net_candidate(candidate, corpus, folds, sizes, held, start + budget,
                                                   functools.partial(_said, say, name))
                except TimeoutError:
                    break
            for name, r in results.items():
                losses[name], losses[MIXED[name]] = r.loss, r.mix_loss
            pool = [MIXED[c] for c in results] if cell == "mixture" else list(losses)
            if results:
                chosen = min(pool, key=lambda c: losses[c])
        snapshots: list[dict[str, np.ndarray]] = []
        tiny_start = start_available(corpus) if tiny and cell == "auto" else None
        if tiny_start is not None:  # too few items to choose: the start, fine-tuned on them all
            chosen, net = tiny_start, _start_setup(tiny_start, corpus, seed, cap=None)
            steps, weights = net.total, np.ones(best_order + 1)
        elif not chosen.startswith("ngram"):
            name = next(c for c in results if chosen in (c, MIXED[c]))
            r, net = results[name], results[name].net
            steps, snapshots = r.steps, r.snapshots
            weights = r.weights if chosen == MIXED[name] else np.ones(r.order + 1)
            best_order = r.order
        ng_cfg, ng_params = ngram.fit(seqs, V, best_order, cats=cats if K else None, categories=K)
        model: Any = ng_cfg
        params: dict[str, np.ndarray] = dict(ng_params)
        if net is not None and weights is not None:  # the folds' networks and one trained on all items, averaged
            say(f"training the chosen {chosen} on all {n} items")
            nets = [*snapshots, _train_net(net, corpus, steps)]
            model = mixture.MixtureConfig(net.cfg, ng_cfg, nets=len(nets))
            params = mixture.join(nets, ng_params, weights)
        choice = Choice(chosen, losses, len(folds), n, steps, round(time.perf_counter() - start, 2), tiny)
        start_name = next((name for name in STARTS if chosen in (name, MIXED[name])), "")
        train = TrainConfig(mode=LinesCorpus.mode, lowercase=lowercase, seed=seed, val_fraction=0.0, steps=steps, init=start_name,
                            **({} if net is None else {k: getattr(net.train, k) for k in (
                                "batch_size", "lr", "weight_decay", "warmup_steps", "decay", "min_lr_ratio", "freeze_steps")}))
        ckpt_info = dict(info or {}, mode=corpus.mode, data_fingerprint=corpus.fingerprint, train_items=n,
                         choice=choice.to_json(), cv_loss=losses.get(chosen),
                         habits=corpus.habits(alphabet=True))
        if corpus.val:  # the held-out report, as a network run gives it
            val = score_items(params, model, corpus.vocab, list(corpus.val), cond=corpus.val_cats)
            ckpt_info["best_val_loss"] = summarize(val).loss
        known = corpus.known()
        ckpt = Checkpoint(model, corpus.vocab, params, train, known, ckpt_info, corpus.categories)
        save_checkpoint(Path(out), ckpt)
        return ckpt
    finally:
        lock.release()
