"""The ``charsmith`` command line. The only module that talks to the terminal.

Every error a user can cause (the ``CharsmithError`` family, and ``OSError`` on the files and
directories named) prints one line, ``charsmith: error: ...``, and exits 2; any other exception
is a bug in charsmith and shows its traceback (exit 1).
"""

from __future__ import annotations

import os

# Small recurrent matmuls run fastest on one BLAS thread (and threads spinning on a busy
# machine cost far more than they give). Set before NumPy loads; the user's setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import contextlib
import functools
import json
import math
import shlex
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from charsmith import __version__, _cli_export, _plot, _runlog, backend, finetune, kinds, limits, smalllists
from charsmith._corpus import LinesCorpus
from charsmith._deadline import time_limit
from charsmith._labelled import read_file_items
from charsmith.api import CharModel, bundled_models, load, make_trainer, small_list_corpus, train_chosen
from charsmith.categories import accuracy
from charsmith.config import CELLS, DECAYS, MODES, OPTIMIZERS, TrainConfig
from charsmith.engines import ENGINES, RankLostError, quiet_rank
from charsmith.engines import describe as describe_engine
from charsmith.errors import CharsmithError, CharsmithWarning, InputError
from charsmith.generation import PARTICLES, SampleResult, SampleStream
from charsmith.generation.constraints import DEFAULT_MAX_LEN
from charsmith.openvocab import OUTSIDE
from charsmith.request import (
    LENGTH,
    N_ITEMS,
    N_TEXTS,
    SHOWN_CATEGORIES,
    TEMPERATURE,
    TOP_K,
    TOP_P,
    Generate,
    default_out,
)
from charsmith.smalllists import KINDS
from charsmith.trainer import Progress, Trainer
from charsmith.vocab import readable

__all__ = ["main"]

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors; ``commands`` are the subcommands' parsers."""

    commands: Mapping[str, argparse.ArgumentParser]

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"charsmith: error: {message} (see {self.prog} --help)\n")


def _number(kind: type, low: float | None = None, *, strict: bool = True, high: float | None = None,
            what: str = "") -> Callable[[str], Any]:
    """An argparse type: ``kind`` within (low, high]; strict=False makes low inclusive."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if low is not None and (value <= low if strict else value < low):
            raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {low}{what}, got {text}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high}{what}, got {text}")
        return value

    return parse


INT, FLOAT = _number(int), _number(float)  # the library checks the value
POS_INT = _number(int, 0)
NONNEG_INT = _number(int, 0, strict=False)
POS_FLOAT = _number(float, 0)
NONNEG_FLOAT = _number(float, 0, strict=False)


# ----- parsers ---------------------------------------------------------------------------
class _Once(argparse.Action):
    """An option that may be given once (a second --suffix would silently replace the first)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if getattr(namespace, self.dest) != self.default:
            parser.error(f"{option_string} was given twice; give it once")
        setattr(namespace, self.dest, values)


def build_parser() -> _Parser:
    p = _Parser(prog="charsmith", description="Learn a list of names or a text one character at a time; write new ones.")
    p.add_argument("--version", action="version", version=f"charsmith {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    p.commands = sub.choices
    _add_train(sub)
    _add_sample(sub)
    _add_score(sub)
    _add_eval(sub)
    _add_classify(sub)
    _add_info(sub)
    _add_bench(sub)
    _add_serve(sub)
    _cli_export.add_parser(sub)
    for name in ("train", "sample", "score", "eval", "classify"):
        sub.choices[name].add_argument(
            "--threads", type=NONNEG_INT, help="threads for the compiled kernels (default 0: all usable cores)")
    try:
        from charsmith import _cli_classic
    except ImportError:
        pass
    else:
        _cli_classic.add_parser(sub)
    return p


def _add_train(sub: Any) -> None:
    t = sub.add_parser("train", help="train a model on a names file or a text", description=(
        "Train a character model on FILE. Options left out are chosen from the data "
        "(see the defaults printed at the start)."))
    t.add_argument("file", help="UTF-8 text: one item per line (lines mode) or running text (text mode); or labelled "
                                "items: category<TAB>item lines, or a folder with one file per category")
    t.add_argument("--out", help="checkpoint directory to write (default: runs/<file name>)")
    t.add_argument("--mode", choices=("auto", *MODES), help="default: guessed from the file")
    t.add_argument("--lowercase", action="store_true", help="lower-case the data first (as the notebooks do)")
    m = t.add_argument_group("model")
    m.add_argument("--model", choices=(*CELLS, *KINDS), dest="cell",
                   help="a recurrent cell, or ngram (Kneser-Ney), mixture (network + n-gram), auto (the best of them "
                        "by cross-validation; the default for lists of up to 1,000 items, see docs/small-lists.md)")
    m.add_argument("--hidden", type=INT, help="hidden units per layer")
    m.add_argument("--layers", type=INT, help="stacked recurrent layers")
    m.add_argument("--embed", type=INT, help="embedding width (0: one-hot input)")
    m.add_argument("--dropout", type=_number(float, 0, strict=False, high=0.95), help="dropout between layers")
    m.add_argument("--cat-embed", type=INT, dest="cat_embed", help="labelled items: category embedding width")
    m.add_argument("--init", metavar="NAME_OR_DIR", help="start from this bundled model or checkpoint directory "
                                                         "(it fixes the network; fine-tuning defaults)")
    m.add_argument("--keep-base-chars", action="store_true", dest="base_chars",
                   help="with --init: keep every character of the base (samples may then use letters the file "
                        "never has); default: the file's own characters")
    o = t.add_argument_group("optimisation")
    o.add_argument("--optimizer", choices=OPTIMIZERS)
    o.add_argument("--lr", type=FLOAT, help="peak learning rate")
    o.add_argument("--batch-size", type=INT, dest="batch_size")
    o.add_argument("--seq-len", type=INT, dest="seq_len", help="text mode: characters per window")
    o.add_argument("--weight-decay", type=FLOAT, dest="weight_decay")
    o.add_argument("--warmup", type=INT, dest="warmup_steps", help="warm-up steps")
    o.add_argument("--decay", choices=DECAYS)
    o.add_argument("--min-lr-ratio", type=FLOAT, dest="min_lr_ratio",
                   help=f"the cosine decay ends at this share of the peak learning rate (default {TrainConfig.min_lr_ratio:g})")
    o.add_argument("--ema", type=FLOAT,
                   help="evaluate and save a moving average of the weights with this decay, e.g. 0.999 (0: off)")
    o.add_argument("--freeze-steps", type=INT, dest="freeze_steps",
                   help="first steps in which the recurrent layers' matrices are frozen (fine-tuning)")
    o.add_argument("--clip-norm", type=FLOAT, dest="clip_norm", help="global-norm clip (0: off)")
    o.add_argument("--clip-value", type=FLOAT, dest="clip_value", help="elementwise clip, the notebooks' rule (0: off)")
    o.add_argument("--balance", type=FLOAT,
                   help="labelled items: category c's share of the batches goes as n_c ** (1 - balance), n_c its "
                        "training items (0: as they come, 1: every category equally often)")
    o.add_argument("--mix-order", type=NONNEG_INT, dest="mix_order",
                   help="lists: after training, mix the network with the items' n-gram model of this order, "
                        "weights fitted on the held-out items (0: the network alone)")
    s = t.add_argument_group("schedule")
    # --steps, --minutes and --dropout are stricter here than the library: a budget of 0 (none) given
    # on purpose is a mistake on the command line, and dropout above 0.95 leaves too little signal.
    s.add_argument("--steps", type=POS_INT, help="stop after this many steps in all")
    s.add_argument("--minutes", type=POS_FLOAT, help="stop after this much training time in all")
    s.add_argument("--eval-every", type=INT, dest="eval_every",
                   help=f"steps between evaluations (with --minutes alone, also every {_runlog.EVAL_EVERY * 100:g}%% of "
                        "it, whichever first)")
    s.add_argument("--eval-chars", type=INT, dest="eval_chars",
                   help="held-out characters scored at each evaluation, a fixed subset (default 200000; 0: all)")
    s.add_argument("--patience", type=INT, help="stop after this many evaluations without improvement")
    s.add_argument("--val-fraction", type=FLOAT, dest="val_fraction")
    s.add_argument("--seed", type=INT)
    e = t.add_argument_group("engine")
    e.add_argument("--engine", choices=ENGINES, default="numpy",
                   help="what computes the steps: numpy (default; the compiled kernels) or torch (PyTorch, "
                        'pip install "charsmith[torch]"); the checkpoint is the same')
    e.add_argument("--device", help="engine torch: cpu (default), cuda, cuda:N or mps")
    t.add_argument("--resume", action="store_true",
                   help="continue the run saved in --out, with its options (--steps/--minutes may be raised)")
    t.add_argument("--force", action="store_true", help="replace a checkpoint already in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar or samples")


def _add_sampling_controls(s: argparse.ArgumentParser) -> None:
    s.add_argument("--temperature", type=FLOAT,
                   help=f"> 0; lower is safer, higher is wilder (default {TEMPERATURE:g})")
    s.add_argument("--top-k", type=INT, dest="top_k", help=f"keep the k likeliest characters (default {TOP_K}: all)")
    s.add_argument("--top-p", type=FLOAT, dest="top_p",
                   help=f"nucleus sampling: keep the likeliest characters covering this mass (default {TOP_P:g})")
    s.add_argument("--seed", type=INT, help="make the output reproducible")
    s.add_argument("--greedy", action="store_true", help="always take the likeliest character (lists: the likeliest "
                   "item on that path, a beam of width 1)")


def _add_sample(sub: Any) -> None:
    s = sub.add_parser("sample", help="write new items (or complete a text)",
                       description="Write new items from MODEL (a checkpoint directory or a bundled model: "
                                   f"{', '.join(bundled_models()) or 'none installed'}).")
    s.add_argument("model", help="checkpoint directory or bundled model name")
    s.add_argument("-n", type=INT, help=f"how many items (default {N_ITEMS}; for text models {N_TEXTS})")
    _add_sampling_controls(s)
    s.add_argument("--prefix", default="", action=_Once, help="start every item (or the text) with this")
    c = s.add_argument_group("constraints (every item meets all; drawn from the model conditioned on them)")
    c.add_argument("--suffix", default="", action=_Once, help="end every item with this")
    c.add_argument("--contains", action="append", metavar="TEXT",
                   help="every item contains this (repeat for several)")
    c.add_argument("--exclude", default="", action=_Once, metavar="CHARS", help="no item contains any of these characters")
    c.add_argument("--pattern", action=_Once, metavar="REGEX", help="the whole item matches this regular expression (for a text "
                   "model: the continuation begins with a match); see docs/constraints.md for the subset supported")
    c.add_argument("--max-len", type=INT, dest="max_len", help=f"longest item, prefix included (default {DEFAULT_MAX_LEN})")
    c.add_argument("--min-len", type=INT, dest="min_len", help="shortest item, prefix included")
    c.add_argument("--particles", type=INT,
                   help=f"SMC particles per item when matches are rare (default {PARTICLES}; more is closer to exact)")
    c.add_argument("--max-draws", type=INT, dest="max_draws",
                   help="give up after this many draws and particles (default max(200, 4 x particles) x n + 20000)")
    s.add_argument("--length", type=INT, help=f"text models: characters to add after the prompt (default {LENGTH})")
    s.add_argument("--unique", action="store_true", help="no repeated items")
    s.add_argument("--allow-known", action="store_true", dest="allow_known", help="keep items of the data set")
    s.add_argument("--novel-edits", type=INT, dest="novel_edits",
                   help="1: also drop items one edit (a character deleted, added or changed) from an item of the data set")
    s.add_argument("--no-habits", action="store_false", dest="habits",
                   help="let items use any character the model knows, in any casing (by default they keep to the "
                        "list's own alphabet and casing habits)")
    s.add_argument("--beam", type=INT, help="the n most likely items by beam search of this width")
    s.add_argument("--json", action="store_true", help="one JSON object on stdout")
    _add_timeout(s)
    _add_category(s, "write in this category, or a blend like Japanese=0.7,Italian=0.3 (default: each item's "
                     "category drawn from the training counts)")


def _add_category(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument("--category", metavar="NAME_OR_BLEND", help=f"models with categories: {text}")


def _add_timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=NONNEG_FLOAT, default=limits.CLI_TIMEOUT, metavar="SECONDS",
                   help=f"stop all the work after this long (default {limits.CLI_TIMEOUT:g}; 0: no limit)")


def _add_score(sub: Any) -> None:
    s = sub.add_parser("score", help="rank items by likelihood")
    s.add_argument("model", help="checkpoint directory or bundled model name")
    s.add_argument("items", nargs="*", help="items to score")
    s.add_argument("--file", help="also score every line of this file")
    s.add_argument("--sort", action="store_true", help="likeliest first (by nats per character)")
    s.add_argument("--json", action="store_true", help="one JSON object on stdout")
    _add_timeout(s)
    _add_category(s, "score under this category or blend (default: under the mixture of all, weighted by "
                     "their training counts)")


def _add_eval(sub: Any) -> None:
    e = sub.add_parser("eval", help="mean held-out loss of a file")
    e.add_argument("model", help="checkpoint directory or bundled model name")
    e.add_argument("file", help="held-out data in the model's format")
    e.add_argument("--json", action="store_true", help="one JSON object on stdout")
    _add_timeout(e)
    _add_category(e, "score plain items under this category or blend (labelled files use each item's own)")


def _add_classify(sub: Any) -> None:
    c = sub.add_parser("classify", help="which category is each item? (models with categories)",
                       description="P(category | item) by Bayes' rule, from the model's likelihood of the item "
                                   "under each category and the training counts as priors (a mixture trained "
                                   "with --mix-order weighs its two parts as its held-out items say).")
    c.add_argument("model", help="checkpoint directory or bundled model name")
    c.add_argument("items", nargs="*", help="items to classify")
    c.add_argument("--file", help="also classify every line of this file")
    c.add_argument("--top", type=INT, default=SHOWN_CATEGORIES,
                   help=f"show the K likeliest categories (default {SHOWN_CATEGORIES})")
    _add_timeout(c)
    c.add_argument("--uniform-prior", action="store_true", dest="uniform_prior",
                   help="equal priors for every category (macro-balanced decisions)")
    c.add_argument("--json", action="store_true", help="one JSON object on stdout")


def _add_info(sub: Any) -> None:
    i = sub.add_parser("info", help="show a checkpoint's config, vocabulary and metrics, or the engine (--engine)")
    i.add_argument("model", nargs="?", help="checkpoint directory or bundled model name")
    i.add_argument("--engine", action="store_true",
                   help="instead, show the engine: the compiled kernels (instruction set, threads), or NumPy alone and why")
    i.add_argument("--json", action="store_true", help="one JSON object on stdout")
    i.add_argument("--plot", metavar="FILE.svg",
                   help="instead, draw the run's training and held-out loss against minutes into an SVG file")
    i.add_argument("--force", action="store_true", help="with --plot: replace the file if it exists")


def _add_bench(sub: Any) -> None:
    b = sub.add_parser("bench", help="measure training and sampling speed on this machine (about half a minute)",
                       description="Training chars/s and sampling names/s of a small GRU with the current engine, "
                                   "with its default threads and with one, alternating on the same work (read the "
                                   "ratio: the machine may be busy). The full benchmarks, against PyTorch, are "
                                   "benchmarks/ in the source checkout.")
    b.add_argument("--seconds", type=POS_FLOAT, default=2.0, help="timing window per side and round (default 2)")
    b.add_argument("--json", action="store_true", help="one JSON object on stdout")


def _add_serve(sub: Any) -> None:
    s = sub.add_parser("serve", help="a web page and JSON API for the models, on this machine",
                       description="Serve the bundled models and the checkpoint directories given on a web page "
                                   "and a JSON API (needs the web extra: pip install \"charsmith[web]\").")
    s.add_argument("models", nargs="*", metavar="MODEL_DIR", help="checkpoint directories to serve as well")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=_number(int, 0, strict=False, high=65535), default=8000,
                   help="port to listen on (default 8000; 0 picks a free one)")
    s.add_argument("--cors", action="append", default=[], metavar="ORIGIN",
                   help="let web pages from ORIGIN (e.g. https://game.example) call the API from a browser; "
                        "repeatable; none by default")
    s.add_argument("--threads", type=NONNEG_INT, default=1,
                   help="threads for the compiled kernels per request (default 1: requests already run side by "
                        "side, and one request's threads would wait on another's; 0: all usable cores)")


# ----- commands --------------------------------------------------------------------------
TRAIN_OPTIONS = ("mode", "lowercase", "cell", "hidden", "layers", "embed", "dropout", "cat_embed", "optimizer", "lr",
                 "batch_size", "seq_len", "weight_decay", "warmup_steps", "decay", "clip_norm", "clip_value",
                 "steps", "minutes", "eval_every", "eval_chars", "patience", "val_fraction", "seed", "init",
                 "min_lr_ratio", "ema", "freeze_steps", "balance", "mix_order",
                 "base_chars")


def cmd_train(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    options = {k: getattr(args, k) for k in TRAIN_OPTIONS}
    options["lowercase"] = args.lowercase or None
    options["base_chars"] = args.base_chars or None
    out_dir = Path(args.out) if args.out else default_out(args.file)
    corpus = small_list_corpus(args.file, resume=args.resume, engine=args.engine, **options)
    if corpus is not None:
        return _train_small(args, options, corpus, out_dir, out, err)
    trainer = make_trainer(args.file, out_dir, resume=args.resume, force=args.force, engine=args.engine,
                           device=args.device, **options)
    quiet = args.quiet or not trainer.lead  # under torchrun, process 0 alone reports
    if not quiet:
        _describe_run(trainer, out_dir, err)
        if args.resume:
            best = f", best validation loss so far {trainer.best_val:.4f}" if math.isfinite(trainer.best_val) else ""
            print(f"resuming {out_dir} at step {trainer.step:,} after {_clock(trainer.elapsed)} of training{best}",
                  file=err)
    if smalllists.tiny_list(trainer.corpus):  # said even when quiet: the model will know little
        _tiny_note(len(trainer.corpus.train) + len(trainer.corpus.val), "", err)
    bar = _ProgressBar(err, trainer.cfg, quiet=quiet)

    def stop(*_: object) -> None:  # the first Ctrl-C asks for a clean stop; a second one interrupts
        trainer.request_stop()
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, stop)
    term = signal.signal(signal.SIGTERM, stop) if trainer.engine.world > 1 else None  # how torchrun stops a run
    try:
        done = trainer.run(bar)
    finally:
        signal.signal(signal.SIGINT, previous)
        if term is not None:
            signal.signal(signal.SIGTERM, term)
    bar.close()
    if not trainer.lead:
        return 130 if done.reason == "interrupted" else 0
    resume = shlex.join(["charsmith", "train", args.file, "--out", str(out_dir), "--resume"])
    return _finish_train(done, out_dir, bool(len(trainer.corpus.val)), out, err, resume, trainer)


def _describe_run(trainer: Trainer, out_dir: Path, err: TextIO) -> None:
    corpus, model_cfg, cfg, info = trainer.corpus, trainer.model_cfg, trainer.cfg, trainer.info
    if isinstance(corpus, LinesCorpus):
        data = (f"{_count(len(corpus.train), 'training item')}, {len(corpus.val)} held out "
                f"({corpus.overlap} of them also in training)")
    else:
        data = f"{_count(len(corpus.train), 'training character')}, {len(corpus.val)} held out"
    limits = ", ".join(x for x in (cfg.steps and _count(cfg.steps, "step"), cfg.minutes and f"{cfg.minutes:g} min") if x)
    print(f"data: {corpus.mode} mode, {data}, {corpus.vocab.size} symbols", file=err)
    if corpus.categories is not None:
        rows = (f"{n} {c}/{h}/{o}" for n, c, h, o in zip(corpus.categories.names, corpus.categories.counts,
                                                            corpus.val_counts, corpus.overlaps))
        print(f"categories (training/held out/held out also in training): {', '.join(rows)}", file=err)
    if cfg.init:
        added = info.get("added_characters", "")
        start = f"start: the weights of {cfg.init} ({info.get('init_model')})"
        start += f", {len(added)} new characters {added!r}" if added else ", no new characters"
        if info.get("dropped_characters"):
            start += f", {info['dropped_characters']} of its characters left out (--keep-base-chars keeps them)"
        if info.get("folded_blend"):
            blend = ", ".join(f"{n} {w:.2f}" for n, w in sorted(info["folded_blend"].items(), key=lambda x: -x[1])[:4])
            start += f"; unlabelled data: its categories folded in as the blend {blend}, ..."
        print(start, file=err)
    patience = f" or after {cfg.patience} without improvement" if cfg.patience else ""
    print(f"model: {finetune.describe(model_cfg)}, "
          f"dropout {model_cfg.dropout:g}; {cfg.optimizer} lr {cfg.lr:g}, batch {cfg.batch_size}, "
          f"weight decay {cfg.weight_decay:g}{f', weight average {cfg.ema:g}' if cfg.ema else ''}"
          f"{f', recurrent matrices frozen for {cfg.freeze_steps} steps' if cfg.freeze_steps else ''}"
          f"{f', category-balanced batches {cfg.balance:g}' if cfg.balance and model_cfg.categories else ''}"
          f"{f', then mixed with the n-gram model of order {cfg.mix_order}' if cfg.mix_order else ''}; "
          f"evaluate every {cfg.eval_every} steps{_by_time(cfg)}, "
          f"stop at {limits or 'early stopping'}{patience}; writing {out_dir}", file=err)
    print(f"engine: {_engine() if trainer.engine.name == 'numpy' else describe_engine(trainer.engine, cfg.batch_size, cfg.lr)}",
          file=err)
    scored, held_chars = trainer.val_chars
    if scored < held_chars:
        print(f"validation: every {cfg.eval_every} steps{_by_time(cfg)} on a fixed {scored:,} of the {held_chars:,} held-out "
              "characters (--eval-chars 0 scores them all)", file=err)


def _by_time(cfg: TrainConfig) -> str:
    """How often a time budget makes the run evaluate, as words."""
    seconds = _runlog.eval_seconds(cfg.minutes, cfg.steps)
    return f" or {seconds:.3g} s (whichever first)" if seconds else ""


def _train_small(args: argparse.Namespace, options: dict[str, Any], corpus: LinesCorpus, out_dir: Path, out: TextIO,
                 err: TextIO) -> int:
    """A model chosen by cross-validation (charsmith.smalllists): what it weighed, what it chose."""
    n = len(corpus.train)

    def describe() -> None:
        held = f", {len(corpus.val)} held out" if len(corpus.val) else ""
        print(f"data: lines mode, {_count(n, 'training item')}{held}, {corpus.vocab.size} symbols", file=err)
        if not smalllists.tiny_list(corpus):
            print("choosing the model by 5-fold cross-validation on the items ...", file=err)

    ckpt = train_chosen(args.file, corpus, out_dir, force=args.force, on_start=None if args.quiet else describe,
                        **options)
    choice = ckpt.info["choice"]
    if choice["tiny"]:  # said even when quiet: the model will know little
        _tiny_note(n + len(corpus.val), ckpt.train.init if ckpt.train else "", err)
    if not args.quiet:
        for name, loss in sorted(choice["losses"].items(), key=lambda x: x[1]):
            mark = "  <- chosen" if name == choice["chosen"] else ""
            print(f"    {name:<10} {loss:.4f} nats/char{mark}", file=err)
        for s in CharModel(ckpt).preview(seed=args.seed):
            print(f"    {s}", file=err)
    val = ckpt.info.get("best_val_loss")
    report = f"held-out loss {val:.4f} nats/char; " if val is not None else ""
    cv = choice["losses"].get(choice["chosen"])
    cv_text = f" (cross-validated loss {cv:.4f} nats/char)" if cv is not None else ""
    print(f"chose {choice['chosen']}: {kinds.of(ckpt.model).describe(ckpt.model)}{cv_text} in {_clock(choice['seconds'])}; "
          f"{report}checkpoint: {out_dir}", file=out)
    return 0


def _tiny_note(n: int, start: str, err: TextIO) -> None:
    how = f", so it fine-tunes the bundled {start} model on them" if start else ""
    print(f"note: a tiny list ({_count(n, 'item')}): too few to learn from alone{how}; its samples follow it "
          "loosely (a few dozen items teach a list's own style)", file=err)


def _engine() -> str:
    be = backend.current()
    return f"{be.status}, {be.threads} threads" if be.compiled else f"NumPy only: {be.status}"


def _finish_train(done: Progress, out_dir: Path, held_out: bool, out: TextIO, err: TextIO, resume: str,
                  trainer: Trainer) -> int:
    messages = {
        "steps": "reached the step limit", "minutes": "reached the time limit",
        "early-stop": "stopped early: the validation loss stopped improving",
        "interrupted": f"interrupted; `{resume}` continues",
    }
    if done.reason == "nan":
        if trainer.saved_step is not None:
            kept = f"the checkpoint of step {trainer.saved_step} is kept in {out_dir}"
        elif trainer.kept_previous:
            kept = f"no checkpoint of this run was saved; {out_dir} still holds the checkpoint it had before"
        else:
            kept = "no checkpoint was saved"
        print(f"charsmith: error: the loss became NaN/inf at step {done.step + 1}; {kept}; lower --lr or set "
              "--clip-norm", file=err)
        return 1
    best = ""
    if done.best_val is not None and math.isfinite(done.best_val):  # nothing held out: the training loss ranks
        best = f"best {'validation' if held_out else 'training'} loss {done.best_val:.4f} nats/char; "
    mix = trainer.info.get("mix")
    if mix:
        best = (f"best validation loss {mix['val_loss_network']:.4f} nats/char, {mix['val_loss_mixture']:.4f} mixed with "
                f"the items' n-gram model of order {mix['order']} (weights fitted there); ")
    print(f"{messages.get(done.reason, done.reason)} after {_count(done.step, 'step')} ({_clock(done.elapsed)}); "
          f"{best}checkpoint: {out_dir}", file=out)
    return 130 if done.reason == "interrupted" else 0


def _clock(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


class _ProgressBar:
    """Draws training progress: a live line on a terminal, a line per evaluation otherwise."""

    def __init__(self, err: TextIO, cfg: TrainConfig, *, quiet: bool) -> None:
        self.err, self.cfg, self.quiet = err, cfg, quiet
        self.live = hasattr(err, "isatty") and err.isatty()
        self.last_val: float | None = None
        self.drawn = 0.0

    def _line(self, p: Progress) -> str:
        total = f"/{self.cfg.steps}" if self.cfg.steps else ""
        val = f"{self.last_val:.4f}" if self.last_val is not None else "-"
        return (f"step {p.step}{total} | loss {p.loss:.4f} | val {val} | {p.chars_per_s / 1000:.1f}k chars/s | "
                f"{_clock(p.elapsed)} elapsed | ETA {_clock(p.eta)}")

    def __call__(self, p: Progress) -> None:
        if self.quiet:
            return
        if p.kind == "eval":
            self.last_val = p.val_loss
            if self.live:
                self.err.write("\r\x1b[2K")
            mark = " *" if p.saved else ""
            print(self._line(p) + mark, file=self.err)
            for s in p.samples:  # a text model's preview is text: its lines indented under the report
                print("    " + s.rstrip("\n").replace("\n", "\n    "), file=self.err)
        elif self.live and p.elapsed - self.drawn > 0.1:
            self.drawn = p.elapsed
            self.err.write("\r\x1b[2K" + self._line(p))
            self.err.flush()

    def close(self) -> None:
        if self.live and not self.quiet:
            self.err.write("\r\x1b[2K")
            self.err.flush()


SAMPLE_OPTIONS = ("n", "temperature", "top_k", "top_p", "seed", "greedy", "beam", "prefix", "suffix", "contains",
                  "exclude", "pattern", "min_len", "max_len", "length", "particles", "max_draws", "allow_known",
                  "unique", "novel_edits", "habits", "category")  # Generate's fields this command sets


def cmd_sample(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    request = Generate(**{k: getattr(args, k) for k in SAMPLE_OPTIONS if getattr(args, k) is not None})
    m = load(args.model)
    started = request.start(m)
    n = request.count(m.mode)
    if isinstance(started, SampleResult):  # a text's continuations, or the likeliest items
        found = started
        sep = "\n" if m.writes_lists else "\n\n"
        short = _warn_short(found.short_by(n), n, err, drawn=found.drawn or None, constrained=not m.writes_lists)
        return _emit(args, out, {**found.to_json(), "model": m.describe()}, sep.join(found.samples)) or short
    stream = started
    _write_stream(stream, args.json, out)
    if args.json:
        out.write("".join(f", {json.dumps(k)}: {json.dumps(v)}" for k, v in stream.counts().items()))
        out.write(f", \"model\": {json.dumps(m.describe(), ensure_ascii=False)}}}\n")
        return _warn_short(stream.short_by, n, err, drawn=stream.drawn, constrained=stream.plan.constrained)
    note = []
    if stream.plan.constrained and stream.acceptance is not None:
        how = (f"items drawn by SMC, {stream.particles} particles each (approximate; more --particles is closer)"
               if stream.method == "smc" else "items are exact matches")
        note.append(f"{100 * stream.acceptance:.3g}% of {_count(stream.plain_draws, 'plain draw')} met the constraints"
                    + (f"; {how}" if stream.delivered else ""))
    if stream.dropped_known:
        note.append(f"dropped {_count(stream.dropped_known, 'item')} already in the data set "
                    "(--allow-known keeps them)")
    if stream.dropped_duplicate:
        note.append(f"dropped {_count(stream.dropped_duplicate, 'repeat')}")
    if note:
        print("; ".join(note), file=err)
    return _warn_short(stream.short_by, n, err, drawn=stream.drawn, constrained=stream.plan.constrained)


def _write_stream(stream: SampleStream, as_json: bool, out: TextIO) -> None:
    """Write items as they come (a JSON array's opening and items with ``as_json``): one
    write and one flush per batch the stream draws."""
    if as_json:
        out.write('{"samples": [')
    sep = ""
    for items in stream.batches():
        if as_json:
            out.write(sep + ", ".join(json.dumps(item, ensure_ascii=False) for item in items))
            sep = ", "
        else:
            out.write("\n".join(items) + "\n")
        out.flush()
    if as_json:
        out.write("]")
    out.flush()


def _count(k: int, noun: str) -> str:
    return f"{k:,} {noun}{'' if k == 1 else 's'}"


def _warn_short(short: int, asked: int, err: TextIO, *, drawn: int | None = None, constrained: bool = False) -> int:
    """Say so when ``short`` fewer items were found than asked for; the exit status: 1 then, else 0."""
    if not short:
        return 0
    found = asked - short
    if drawn is None:  # beam search
        print(f"charsmith: warning: the search found {found} of the {asked} items asked for; widen --beam, "
              "loosen the constraints or pass --allow-known", file=err)
    elif constrained:
        print(f"charsmith: warning: found {found} of the {asked} items asked for after {drawn:,} draws and particles; "
              "the constraints are too unlikely under this model: loosen them, raise --max-draws or --temperature, "
              "or pass --allow-known", file=err)
    else:
        print(f"charsmith: warning: found {found} of the {asked} items asked for after {drawn:,} draws; the rest were "
              "items of the data set or repeats: pass --allow-known, raise --temperature or --max-draws", file=err)
    return 1


def _items(args: argparse.Namespace, what: str) -> tuple[list[str], list[str] | None]:
    """The items of the command line and of --file (the model lower-cases them if it learned
    so), and the categories of the file's items if it is labelled."""
    items, labels = list(args.items), None
    if args.file:
        more, labels = read_file_items(args.file)
        items += more
    if not items:
        raise InputError(f"nothing to {what}: give items on the command line or --file FILE")
    return items, labels


def cmd_score(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    m = load(args.model)
    items, labels = _items(args, "score")
    if labels is not None and args.category is None:
        raise InputError(f"{args.file} is labelled (category<TAB>item): `charsmith eval` scores each item under its "
                         "own category; pass --category to score its items under one")
    scores = m.score(items, category=args.category)
    if args.sort:
        scores.sort(key=lambda s: s.nats_per_char)
    rows = [s.to_json() for s in scores]
    width = max(len(s.item) for s in scores)
    table = [f"{'item':<{width}}  {'log-prob':>9}  {'nats/char':>9}  {'bits/char':>9}"]
    table += [f"{s.item:<{width}}  {s.logprob:9.3f}  {s.nats_per_char:9.4f}  {s.bits_per_char:9.4f}" for s in scores]
    _note_unknown(m, [(s.item, s.unknown_chars) for s in scores], err)
    return _emit(args, out, {"scores": rows, "model": m.describe()}, "\n".join(table))


def _note_unknown(m: CharModel, counts: list[tuple[str, int]], err: TextIO) -> None:
    """Say on stderr how many characters of the items the model never saw, and what they cost."""
    held = [(item, k) for item, k in counts if k]
    if held:
        chars = "".join(dict.fromkeys(ch for item, _ in held for ch in m.ckpt.vocab.unknown(item)))
        print(f"charsmith: note: {_count(len(held), 'item')} {'holds' if len(held) == 1 else 'hold'} {_count(sum(k for _, k in held), 'character')} "
              f"the model never saw ({chars!r}); each was scored as one of {OUTSIDE:,} unknown characters sharing "
              f"probability {m.ckpt.unknown:.3g}", file=err)


def cmd_eval(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    m = load(args.model)
    r = m.evaluate(args.file, category=args.category)
    lines = m.writes_lists
    apart = r.unknown
    data = {**r.to_json(), "model": m.describe()}
    text = [f"{r.loss:.4f} nats/char ({r.bits_per_char:.4f} bits/char) over {_count(r.n_chars, 'character')}"
            + (f" in {_count(r.n_items, 'item')}" if lines else "")
            + ((" whose characters the model all knows" if lines else " the model knows") if r.unknown_chars else "")]
    if apart is not None:
        text.append(f"{apart.loss:.4f} nats/char ({apart.bits_per_char:.4f} bits/char) over "
                    f"{_count(apart.n_chars, 'character')} in the {_count(apart.n_items, 'item')} holding "
                    f"{_count(r.unknown_chars, 'character')} the model never saw (scored apart)")
    elif r.unknown_chars:
        text.append(f"{_count(r.unknown_chars, 'character')} the model never saw left out (scored apart)")
    return _emit(args, out, data, "\n".join(text))


def cmd_classify(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    m = load(args.model)
    items, labels = _items(args, "classify")
    results = m.classify(items, top=args.top, uniform_prior=args.uniform_prior)
    rows = [r.to_json() for r in results]
    _note_unknown(m, [(r.item, r.unknown_chars) for r in results], err)
    width = max(len(r.item) for r in results)
    lines = [f"{r.item:<{width}}  " + "  ".join(f"{c} {p:.3f}" for c, p in r.probs) for r in results]
    data: dict[str, Any] = {"classifications": rows, "uniform_prior": args.uniform_prior, "model": m.describe()}
    if labels is not None:  # a labelled file: how often the best guess is the item's category
        first = len(args.items)
        for row, label in zip(rows[first:], labels):
            row["label"] = label
        acc = accuracy(labels, [r.best for r in results[first:]])
        data["accuracy"] = acc.to_json()
        unknown = sorted(set(labels) - set(m.categories or ()))
        print(f"charsmith: {args.file}: {acc.micro:.3f} of its {_count(acc.items, 'labelled item')} classified as "
              f"labelled, mean recall per category {acc.macro:.3f}"
              + (f" ({len(unknown)} of its categories the model does not know: {', '.join(unknown)})" if unknown else ""),
              file=err)
    return _emit(args, out, data, "\n".join(lines))


def cmd_info(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.engine == (args.model is not None):
        raise InputError("info takes a model (a checkpoint directory or bundled model name) or --engine")
    if args.engine:
        be = backend.current()
        data = {"compiled": be.compiled, "status": be.status, "threads": be.threads}
        return _emit(args, out, data, f"engine: {_engine()}")
    if args.plot:
        print(f"wrote {_plot.write(args.model, args.plot, force=args.force)}", file=out)
        return 0
    m = load(args.model)
    data = m.describe()
    return _emit(args, out, data, _info_text(m, data) + _log_summary(args.model))


def _info_text(m: CharModel, data: dict[str, Any]) -> str:
    """``info`` for a person: one line per part, numbers rounded, the alphabet as text."""
    info = data.get("info") or {}
    lines = [f"{k}: {_readable(data[k])}" for k in ("mode", "model", "parameters", "train") if data.get(k) is not None]
    loss = info.get("best_val_loss")
    if isinstance(loss, float) and math.isfinite(loss):
        lines.append(f"held-out loss: {loss:.4f} nats/char ({loss / math.log(2):.4f} bits/char)")
    lines.append(f"run: {_readable({k: v for k, v in info.items() if k != 'best_val_loss'})}")
    chars = data["vocab"][1:]
    plain = "".join(ch for ch in chars if ch.isprintable() and not ch.isspace())
    other = "".join(ch for ch in chars if ch not in plain)
    lines.append(f"alphabet ({len(chars)} characters and the end token): {plain}"
                 + (f" and {readable(other)}" if other else ""))
    if m.ckpt.categories is not None:
        c = m.ckpt.categories
        lines.append("categories (training items): " + ", ".join(f"{n} ({k:,})" for n, k in zip(c.names, c.counts)))
    return "\n".join(lines)


def _log_summary(run: str) -> str:
    """A line on a run directory's metrics.jsonl, if it has one."""
    try:
        records = _runlog.read(run)
    except (FileNotFoundError, NotADirectoryError, CharsmithError):
        return ""
    evals = sum(r["kind"] == _runlog.EVAL for r in records)
    return (f"\nlog: {_count(evals, 'evaluation')} and {_count(len(records) - evals, 'training record')} in "
            f"{Path(run) / _runlog.METRICS_FILE} (--plot FILE.svg draws them)")


def _readable(value: Any) -> str:
    """A value of ``describe()`` as short text: floats to 4 significant digits, thousands
    separated, mappings as ``key value`` pairs."""
    if isinstance(value, dict):
        return " · ".join(f"{k} {_readable(v)}" for k, v in value.items() if v not in (None, "", {}, []))
    if isinstance(value, list | tuple):
        return ", ".join(_readable(v) for v in value)
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "-"}[value]
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def cmd_bench(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from charsmith import _bench

    print(f"measuring, about {int(args.seconds * 14 + 2)} s ...", file=err)
    report = _bench.quick_bench(args.seconds)
    lines = [f"engine: {_engine()}"]
    for r in report["rows"]:
        lo, hi = r["spread"]
        lines.append(f"{r['case']}: {r['default']:,.0f} {r['unit']} | one thread {r['one_thread']:,.0f} | "
                     f"{r['ratio']:.2f}x ({lo:.2f}-{hi:.2f})")
    return _emit(args, out, report, "\n".join(lines))


def cmd_serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        from charsmith import web
        from charsmith.web import _server
    except ModuleNotFoundError as e:
        if e.name in ("starlette", "uvicorn"):
            raise InputError(str(e)) from None
        raise
    models = web.Models.load(args.models)
    app = web.create_app(models, allowed_hosts=_server.local_host_names(args.host), cors=args.cors)
    sock = _server.bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    if not _server.is_loopback(args.host):
        print(f"charsmith: warning: listening on {args.host}, so anyone who can reach this machine can use the "
              "page and the API (there is no login); the default --host 127.0.0.1 keeps it to this machine", file=err)
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    print(f"serving {', '.join(models.names)} on {url} (Ctrl-C stops)", file=out, flush=True)
    with sock:
        try:
            _server.run(app, sock)
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a server is stopped
    return 0


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinity (recursively) replaced by None: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _emit(args: argparse.Namespace, out: TextIO, data: dict[str, Any], text: str) -> int:
    if args.json:  # strict JSON: a number that is not finite is written as null
        json.dump(_finite(data), out, ensure_ascii=False, allow_nan=False)
        out.write("\n")
    else:
        print(text, file=out)
    return 0


@contextlib.contextmanager
def _warnings_as_lines(err: TextIO) -> Iterator[None]:
    """Inside the block, charsmith's own warnings print as one line: ``charsmith: warning: ...``."""
    with warnings.catch_warnings():
        show = warnings.showwarning

        def one_line(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            if issubclass(category, CharsmithWarning):
                print(f"charsmith: warning: {message}", file=err)
            else:
                show(message, category, *args, **kwargs)

        warnings.showwarning = one_line
        yield


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _os_error(e: OSError) -> str:
    """``/proc/x: No such file or directory``, not ``[Errno 2] No such file or directory: '/proc/x'``."""
    if not (e.filename and e.strerror):
        return str(e)
    return f"{e.filename}" + (f" -> {e.filename2}" if e.filename2 else "") + f": {e.strerror}"


# Library parameters spelled differently here than any option's dest (the others are found by dest).
PARAM_FLAGS = {"path": "FILE", "name_or_path": "MODEL", "prompt": "--prefix", "items": "ITEMS"}


def _flag(parser: argparse.ArgumentParser, param: str, value: str | None = None) -> str:
    """How this command line spells the library parameter ``param`` (set to ``value``): its
    option (``cell`` is ``--model``, ``mode=text`` is ``--mode text``), or the parameter
    itself if no option sets it."""
    flag = PARAM_FLAGS.get(param) or next(_options(parser, param), param)
    return flag if value is None or value == "True" else f"{flag} {value}"


def _options(parser: argparse.ArgumentParser, dest: str) -> Iterator[str]:
    """The options that set ``dest`` in ``parser`` and its subcommands (longest spelling)."""
    for action in parser._actions:
        if action.dest == dest and action.option_strings:
            yield max(action.option_strings, key=len)
        for sub in (action.choices or {}).values() if isinstance(action, argparse._SubParsersAction) else ():
            yield from _options(sub, dest)


def _message(e: CharsmithError, parser: argparse.ArgumentParser) -> str:
    """``e``'s message with the parameters it names spelled as this command's options."""
    return e.render(functools.partial(_flag, parser))


def _parse(parser: _Parser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``; items may also follow options (``classify languages --top 1 Rossi``)."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        if isinstance(getattr(args, "items", None), list) and not any(x.startswith("-") for x in extra):
            args.items += extra
        else:
            parser.commands.get(args.command, parser).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


COMMANDS = {"train": cmd_train, "sample": cmd_sample, "score": cmd_score, "eval": cmd_eval, "classify": cmd_classify,
            "info": cmd_info, "bench": cmd_bench, "serve": cmd_serve, "export": _cli_export.run}


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the CLI; return the exit status (0 ok, 2 bad input, 1 training failed, 130 interrupted)."""
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = _parse(parser, argv)
    except SystemExit as e:
        return int(e.code or 0)
    try:
        if args.command == "classic":
            from charsmith import _cli_classic

            return _cli_classic.run(args, out)
        with _warnings_as_lines(err), time_limit(getattr(args, "timeout", None) or None):
            if getattr(args, "threads", None) is None:
                return COMMANDS[args.command](args, out, err)
            with backend.use(backend.current().with_threads(args.threads)):  # this call only
                return COMMANDS[args.command](args, out, err)
    except BrokenPipeError:  # e.g. `charsmith sample ... | head`: the reader left; not an error
        _silence_stdout()
        return 0
    except (CharsmithError, OSError) as e:  # the user's mistakes, and files they named; anything else is a bug
        if quiet_rank() and not isinstance(e, RankLostError):  # torchrun: rank 0 says it for all
            return EXIT_USAGE
        text = _os_error(e) if isinstance(e, OSError) else _message(e, parser.commands.get(args.command, parser))
        print(f"charsmith: error: {text}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("charsmith: interrupted", file=err)
        return 130

