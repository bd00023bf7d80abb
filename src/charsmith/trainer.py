"""The training loop: batches in, checkpoints and progress reports out.

``Trainer.run`` never prints; it calls ``on_progress`` with a ``Progress`` after every
step and every evaluation, and the CLI draws the progress bar from those.

A run directory (locked while the run writes it, see :mod:`charsmith._rundir`) holds the best
checkpoint by validation loss (:mod:`charsmith.checkpoint`), ``metrics.jsonl`` (a line per
evaluation, and the training loss at a steady interval: :mod:`charsmith._runlog`, which also
says when a run evaluates) and ``resume.npz`` (:mod:`charsmith._resume`): in one atomically replaced file,
the latest weights, the optimiser state, the data position, the hidden state carried between
text windows and the counters. Every random stream of a run is drawn from the seed and a
counter (the epoch for the data order, the step for dropout and for previews), so there is
no generator state to lose: ``resume=True`` continues with the very numbers the uninterrupted run would have
used, and the same seed, steps and thread count give bit-identical weights.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from charsmith import _resume, _runlog, backend, optim
from charsmith import model as M
from charsmith._batching import Batch, seeded_rng
from charsmith._corpus import Corpus
from charsmith._resources import check_training_memory
from charsmith._rundir import LOCK_FILE, RunLock, open_run_dir
from charsmith._safeload import read_regular
from charsmith.checkpoint import Checkpoint, is_checkpoint, load_checkpoint, save_checkpoint
from charsmith.config import ModelConfig, TrainConfig
from charsmith.engines import Engine, make_engine
from charsmith.errors import CheckpointError, InputError
from charsmith.netmix import check_mixable, mix_network

__all__ = ["Progress", "Trainer"]

DEFAULT_PATIENCE = 5  # used when neither steps nor minutes bound the run
DROPOUT_STREAM, PREVIEW_STREAM = 1, 2  # seeded_rng keys (the training batches use 0 for the data order)
RECURRENT = (".W_ih", ".W_hh")  # the recurrent layers' weight matrices ("l0.W_hh", ...), frozen for cfg.freeze_steps
LIMITS = ("", "minutes", "steps", "interrupted")  # why a run stops; the processes of a run agree on the last


@dataclass(frozen=True)
class Progress:
    """A report from the loop. kind: "step", "eval" or "done" (then ``reason`` says why)."""

    kind: str
    step: int
    loss: float  # smoothed training loss, nats/char
    lr: float
    chars_per_s: float
    elapsed: float
    eta: float | None = None
    val_loss: float | None = None
    best_val: float | None = None
    samples: list[str] = field(default_factory=list)
    reason: str = ""
    saved: bool = False


def train_step(
    cfg: ModelConfig, opt: optim.FlatOptimizer, batch: Batch, state: M.State, *, lr: float, t: int,
    clip_norm: float, clip_value: float = 0.0, weight_decay: float = 0.0, rng: np.random.Generator | None = None,
    check: bool = True, frozen: tuple[str, ...] = (),
) -> tuple[float, M.State, bool]:
    """One update of ``opt.params`` on ``batch``: the loss and gradients (:func:`charsmith.model.loss_and_grads`),
    clip, optimiser step. Returns (loss, final state, ok); ok is False (and nothing is
    updated) when the loss or the gradient is not finite. ``rng`` drives dropout; the
    params named in ``frozen`` keep their values (a zero gradient, and no weight decay)."""
    loss, grads, new_state = M.loss_and_grads(opt.params, cfg, batch.ids, batch.targets, batch.mask, state,
                                              cond=batch.cats, rng=rng, check=check)
    kept = {name: opt.params[name].copy() for name in frozen}
    for name in frozen:
        grads[name][...] = 0.0
    norm = opt.apply(grads, lr=lr, t=t, clip_norm=clip_norm, clip_value=clip_value, weight_decay=weight_decay)
    for name, value in kept.items():
        opt.params[name][...] = value
    ok = math.isfinite(loss) and math.isfinite(norm)
    return float(loss), (new_state if ok else state), ok


class Trainer:
    """Trains one model on one corpus. Build it, then call ``run``.

    Building it checks the memory the model needs, then locks ``out_dir`` (released when
    ``run`` returns, or by ``close``).
    ``params``: the starting weights (e.g. from :func:`charsmith.finetune.start_params`);
    None draws fresh ones from the seed. ``engine`` ("numpy" or "torch") and ``device``
    choose what computes the steps (:mod:`charsmith.engines`); under torchrun, process 0
    alone locks and writes ``out_dir``, which every process must see.
    """

    def __init__(
        self, corpus: Corpus, model_cfg: ModelConfig, train_cfg: TrainConfig, out_dir: str | os.PathLike[str], *,
        resume: bool = False, force: bool = False, info: dict[str, Any] | None = None,
        params: dict[str, np.ndarray] | None = None, engine: str = "numpy", device: str | None = None,
    ) -> None:
        if model_cfg.vocab_size != corpus.vocab.size:
            raise ValueError(f"model vocab_size {model_cfg.vocab_size} != corpus vocabulary size {corpus.vocab.size}")
        n_cats = 0 if corpus.categories is None else corpus.categories.size
        if model_cfg.categories != n_cats:
            raise ValueError(f"model categories {model_cfg.categories} != the corpus's {n_cats} categories")
        self.corpus, self.model_cfg, self.cfg = corpus, model_cfg, train_cfg
        self.out_dir = Path(out_dir)
        check_training_memory(model_cfg, train_cfg, corpus.longest(train_cfg.seq_len))
        self._setup(info, params)
        self.engine: Engine = make_engine(engine, device, model_cfg, self.opt, self._ema_flat, train_cfg.batch_size)
        self.info["engine"] = self.engine.name
        self.batches = corpus.batches(train_cfg.batch_size, train_cfg.seq_len, train_cfg.seed,
                                      part=(self.engine.rank, self.engine.world), balance=train_cfg.balance)
        self._lock = self._open_run_dir(resume, force)
        # the step of the checkpoint in out_dir that belongs to this run (None: none yet); with force, a
        # previous run's checkpoint may stay there until this run saves its first
        self.saved_step: int | None = None
        self.kept_previous = force and is_checkpoint(self.out_dir)
        try:
            if resume:
                self._load_resume()
                self.saved_step = _resume.saved_step(self.out_dir)
        except BaseException:
            self.close()
            raise

    @property
    def lead(self) -> bool:
        """Whether this process writes the run (always, but under torchrun for rank 0 alone)."""
        return self.engine.rank == 0

    def _open_run_dir(self, resume: bool, force: bool) -> RunLock | None:
        """Lock the run directory (process 0); under torchrun, check every process sees it."""
        lock: RunLock | None = None
        failed = 0
        try:
            if self.lead:
                lock = open_run_dir(self.out_dir, resume=resume, force=force)
        except BaseException:
            failed = 1
            if self.engine.world == 1:
                raise
            self.engine.agree(failed)
            self.engine.close()
            raise
        if self.engine.world == 1:
            return lock
        if self.engine.agree(failed):
            self.engine.close()
            raise InputError(f"process 0 could not open the run directory {self.out_dir}; see its message",
                             param="out")
        pid = self.engine.agree(os.getpid() if self.lead else 0)
        unseen = 0
        if not self.lead:
            try:
                unseen = int(json.loads(read_regular(self.out_dir / LOCK_FILE, 4096)).get("pid") != pid)
            except (OSError, ValueError, AttributeError, CheckpointError):
                unseen = 1
        if self.engine.agree(unseen):
            if lock is not None:
                lock.release()
            self.engine.close()
            raise InputError(f"the run directory {self.out_dir} is not shared by all the processes (some do not see "
                             "process 0's lock file there); put `out` on a file system every machine mounts at "
                             "the same path", param="out")
        return lock

    def _setup(self, info: dict[str, Any] | None, params: dict[str, np.ndarray] | None) -> None:
        corpus, cfg = self.corpus, self.cfg
        fresh = M.init_params(self.model_cfg, np.random.default_rng(cfg.seed))
        if params is not None:
            M.check_params(params, self.model_cfg)
            fresh = {k: params[k].astype(fresh[k].dtype) for k in fresh}
        self.opt = optim.FlatOptimizer(cfg.optimizer, fresh)
        self.params = self.opt.params  # views of the optimiser's flat array
        # the weights evaluated and saved: the optimiser's, or their moving average (cfg.ema)
        self._ema_flat: np.ndarray | None = None
        self.eval_params = self.params
        if cfg.ema:
            self._ema_flat, self.eval_params = optim.flatten(self.params)
        self.carry: Any = None  # the hidden state carried into the next text window (the engine's form)
        self.step = 0
        self.elapsed = 0.0
        self.smooth: float | None = None  # smoothed training loss
        self.best_val = math.inf
        self.stale_evals = 0
        self.log = _runlog.Clock()  # when the next evaluation and training record are due
        self._stop = False
        self.known = corpus.known()
        self.unknown_mass = corpus.unknown_mass()
        check_mixable(corpus, cfg.mix_order)
        self.held_out = corpus.held_out(cfg.eval_chars, cfg.seq_len)
        self.val_chars = self.held_out.chars
        self.info = dict(info or {}, mode=corpus.mode, data_fingerprint=corpus.fingerprint,
                         train_items=corpus.train_items, val_overlap=corpus.overlap, val_chars=list(self.val_chars))
        keep = corpus.habits(alphabet=not cfg.base_chars)  # what samples keep to; base_chars: any of the base's
        if keep is not None:
            self.info["habits"] = keep
        if corpus.categories is not None:
            self.info["val_overlap_by_category"] = dict(zip(corpus.categories.names, corpus.overlaps))

    def request_stop(self) -> None:
        """Ask the loop to stop after the current step and save a resumable state."""
        self._stop = True

    def close(self) -> None:
        """Release the run directory's lock and leave the other processes (``run`` does this
        when it returns)."""
        if self._lock is not None:
            self._lock.release()
        self.engine.close()

    # ----- the loop -----------------------------------------------------------------
    def run(self, on_progress: Callable[[Progress], None] | None = None) -> Progress:
        """Train until a limit, early stopping, a NaN, or ``request_stop``; return the last report."""
        if self.lead and not (self._lock and self._lock.held):
            self._lock = RunLock(self.out_dir)
        try:
            with backend.current().blas_on_one_thread():  # the compiled kernels thread the work themselves
                return self._run(on_progress)
        finally:
            self.close()

    def _run(self, on_progress: Callable[[Progress], None] | None) -> Progress:
        emit = (on_progress or (lambda p: None)) if self.lead else (lambda p: None)
        cfg, eng = self.cfg, self.engine
        patience = cfg.patience or (DEFAULT_PATIENCE if not (cfg.steps or cfg.minutes) else 0)
        rate: float | None = None
        by_time = _runlog.eval_seconds(cfg.minutes, cfg.steps)
        start = time.perf_counter() - self.elapsed
        while True:  # one agreement a step: the limit reached, and what the clock says of evaluating (process 0's)
            due = self.log.eval_due(self.elapsed, by_time) if self.lead else _runlog.NOT_YET
            agreed = eng.agree(LIMITS.index(self._limit_reached()) * 3 + due)
            reason, due = LIMITS[agreed // 3], agreed % 3
            if not reason and due == _runlog.NOW:  # the weights of this step, at once
                reason = self._evaluate_in_loop(emit, rate or 0.0, patience)
            if reason:
                break
            batch, fresh = next(self.batches)
            batch = eng.shard(batch)
            if fresh or self.carry is None or eng.rows(self.carry) != len(batch.ids):
                self.carry = eng.zero_state(len(batch.ids))
            t0 = time.perf_counter()
            loss, state, ok = self._train_step(batch, self.carry)
            if not ok:
                reason = "nan"
                break
            self.carry = state
            self.step += 1
            self._average()
            self.elapsed = time.perf_counter() - start
            self.smooth = loss if self.smooth is None else 0.98 * self.smooth + 0.02 * loss
            speed = (batch.total or batch.n_chars) / max(time.perf_counter() - t0, 1e-9)
            rate = speed if rate is None else 0.95 * rate + 0.05 * speed
            self.log.add(loss)
            if self.lead and self.log.record_due(_runlog.mark(self._progress(), self.elapsed, self._bounded())):
                _runlog.append(self.out_dir, self.log.train_record(self.step, self.elapsed, self._lr(), rate))
            emit(self._report("step", rate))
            if due == _runlog.ON_STEP and self.step % cfg.eval_every == 0 and (reason := self._evaluate_in_loop(
                    emit, rate, patience)):
                break
        if reason == "interrupted":
            self._save_interrupted()
        elif reason != "nan":
            if self.lead and self.log.loss_steps:  # the steps since the last training record
                _runlog.append(self.out_dir, self.log.train_record(self.step, self.elapsed, self._lr(), rate or 0.0))
            if self.log.eval_step != self.step or self.step == 0:
                emit(self._evaluate(rate or 0.0))
        eng.pull()
        if reason not in ("interrupted", "nan") and self.lead:
            self._mix()
        done = self._report("done", rate or 0.0)
        return dataclasses.replace(done, reason=reason, best_val=self.best_val)

    def _evaluate_in_loop(self, emit: Callable[[Progress], None], rate: float, patience: int) -> str:
        """Evaluate; "early-stop" if the run has waited ``patience`` evaluations for a better one."""
        emit(self._evaluate(rate))
        return "early-stop" if self.engine.agree(int(bool(patience and self.stale_evals >= patience))) else ""

    def _limit_reached(self) -> str:
        if self._stop:
            return "interrupted"
        if self.cfg.steps and self.step >= self.cfg.steps:
            return "steps"
        if self.cfg.minutes and self.elapsed >= self.cfg.minutes * 60:
            return "minutes"
        return ""

    def _bounded(self) -> bool:
        return bool(self.cfg.steps or self.cfg.minutes)

    def _progress(self) -> float:
        """Fraction of the run done, by whichever limit is nearer."""
        p = 0.0
        if self.cfg.steps:
            p = self.step / self.cfg.steps
        if self.cfg.minutes:
            p = max(p, self.elapsed / (self.cfg.minutes * 60))
        return p

    def _frozen(self) -> tuple[str, ...]:
        """The recurrent layers' weight matrices, but layer 0's input matrix when it is the
        characters' own table (no embedding): the characters adapt from the start."""
        table = "l0.W_ih" if self.model_cfg.embed == 0 else ""
        return tuple(k for k in self.params if k.endswith(RECURRENT) and k != table)

    def _train_step(self, batch: Batch, state: M.State) -> tuple[float, M.State, bool]:
        c = self.cfg
        rng = seeded_rng(c.seed, DROPOUT_STREAM, self.step) if self.model_cfg.dropout else None
        frozen = self._frozen() if self.step < c.freeze_steps else ()
        with np.errstate(over="ignore", invalid="ignore"):  # a step that overflows is reported as NaN, not warned
            return self.engine.step(batch, state, lr=self._lr(), t=self.step + 1, clip_norm=c.clip_norm,
                                    clip_value=c.clip_value, weight_decay=c.weight_decay, rng=rng, frozen=frozen,
                                    check=self.step == 0)

    def _average(self) -> None:
        """Move the weights' average towards the weights (cfg.ema; at step n the decay is
        at most (1 + n) / (10 + n), so the first steps do not keep the starting weights)."""
        if self._ema_flat is not None:
            self.engine.average(min(self.cfg.ema, (1 + self.step) / (10 + self.step)))

    def _lr(self) -> float:
        c = self.cfg
        return optim.lr_at(self._progress(), self.step, lr=c.lr, warmup_steps=c.warmup_steps, decay=c.decay,
                           min_lr_ratio=c.min_lr_ratio)

    # ----- evaluation, reports --------------------------------------------------------
    def _report(self, kind: str, rate: float, **extra: Any) -> Progress:
        eta = None
        p = self._progress()
        if p > 0:
            eta = max(self.elapsed * (1 - p) / p, 0.0)
        loss = self.smooth if self.smooth is not None else math.nan
        return Progress(kind, self.step, loss, self._lr(), rate, self.elapsed, eta, best_val=self.best_val, **extra)

    def val_loss(self) -> float | None:
        """Mean loss on the held-out subset (``val_chars[0]`` characters), or None without one."""
        if not self.val_chars[0]:
            return None
        return self.held_out.loss(self.eval_params, self.model_cfg, self.engine)

    def preview(self) -> list[str]:
        """A few samples from the current weights, as the notebooks print while training."""
        rng = seeded_rng(self.cfg.seed, PREVIEW_STREAM, self.step)
        return self.corpus.preview(self.eval_params, self.model_cfg, rng, self.info.get("habits"))

    def _evaluate(self, rate: float) -> Progress:
        """Score the held-out data, save, report (process 0; the others only hand over their
        rows' carried state and learn whether the run stops early)."""
        self.engine.pull()
        carry = self._host_carry()
        self.log.eval_step = self.step
        if not self.lead:
            self.stale_evals = self.engine.agree(0)
            return self._report("eval", rate)
        t0 = time.perf_counter()
        val = self.val_loss()
        samples = self.preview()
        train_loss = self.smooth if self.smooth is not None else math.nan
        score = val if val is not None else train_loss
        improved = math.isfinite(score) and score < self.best_val
        if improved:
            self.best_val, self.stale_evals = score, 0
        else:
            self.stale_evals += 1
        if self.engine.world > 1:
            self.engine.agree(self.stale_evals)
        cost = time.perf_counter() - t0
        self.log.evaluated(self.step, self.elapsed, cost)
        record = {"kind": _runlog.EVAL, "step": self.step, "elapsed": round(self.elapsed, 3), "train_loss": train_loss,
                  "val_loss": val, "val_chars": self.val_chars[0], "lr": self._lr(), "chars_per_s": round(rate, 1),
                  "eval_seconds": round(cost, 3)}
        self._save(improved, record, carry)
        return self._report("eval", rate, val_loss=val, samples=samples, saved=improved)

    # ----- saving and resuming ----------------------------------------------------------
    def checkpoint(self) -> Checkpoint:
        info = dict(self.info, step=self.step, best_val_loss=self.best_val if math.isfinite(self.best_val) else None)
        return Checkpoint(self.model_cfg, self.corpus.vocab, {k: v.copy() for k, v in self.eval_params.items()},
                          self.cfg, self.known, info, self.corpus.categories, self.unknown_mass)

    def _mix(self) -> None:
        """With ``mix_order``, replace the saved network by its mixture with the n-gram model
        of the training items (:mod:`charsmith.netmix`); once (a resumed finished run keeps it)."""
        if not self.cfg.mix_order or self.saved_step is None:
            return
        ckpt = load_checkpoint(self.out_dir)
        if isinstance(ckpt.model, ModelConfig):
            mixed, facts = mix_network(ckpt, self.corpus, self.cfg.mix_order)
            save_checkpoint(self.out_dir, mixed)
            self.info["mix"] = facts

    def _host_carry(self) -> M.State | None:
        """The carried state of the whole global batch, on the host (a collective under torchrun)."""
        return None if self.carry is None else self.engine.state_to_host(self.carry)

    def _save(self, improved: bool, record: dict[str, Any], carry: M.State | None = None) -> None:
        """An evaluation's writes, in an order a crash cannot make inconsistent: the best
        checkpoint (one transaction), the resume state (one file), then the metrics line
        (a resumed run drops lines past its step)."""
        if improved:
            self._save_checkpoint()
        self._save_resume(carry if carry is not None else self._host_carry())
        _runlog.append(self.out_dir, record)

    def _save_interrupted(self) -> None:
        """Save the resume state; and the current weights as the checkpoint if there is none
        yet, so an early interruption still leaves a usable model. An interruption is not an
        evaluation: the best loss and patience are untouched, as if the run had not stopped."""
        self.engine.pull()
        carry = self._host_carry()
        if not self.lead:
            return
        if self.saved_step is None:
            self._save_checkpoint()
        self._save_resume(carry)

    def _save_checkpoint(self) -> None:
        """Commit the weights as the checkpoint; the first commit also removes what is left
        of a checkpoint this run replaces (``force``)."""
        save_checkpoint(self.out_dir, self.checkpoint())
        self.saved_step, self.kept_previous = self.step, False
        assert self._lock is not None  # process 0 alone saves, and holds the lock
        for old in self._lock.replaced:
            old.unlink(missing_ok=True)
        self._lock.replaced = []

    def _counters(self) -> _resume.Counters:
        return _resume.Counters(self.step, self.elapsed, self.best_val, self.stale_evals, self.smooth,
                                self.batches.position, self.log)

    def _save_resume(self, carry: M.State | None) -> None:
        _resume.write(self.out_dir, self._counters(), self.model_cfg, self.cfg, self.corpus, self.opt, self._ema_flat,
                      carry)

    def _load_resume(self) -> None:
        c, carry = _resume.read(self.out_dir, self.model_cfg, self.cfg, self.corpus, self.opt, self._ema_flat)
        if carry is not None:
            self.carry = self.engine.state_from_host(carry)
        self.batches.position = c.position
        self.step, self.elapsed, self.best_val, self.stale_evals, self.smooth, self.log = (
            c.step, c.elapsed, c.best_val, c.stale_evals, c.smooth, c.log)
        # a new limit (steps, minutes) renumbers the intervals of the training records
        self.log.mark = min(self.log.mark, _runlog.mark(self._progress(), self.elapsed, self._bounded()))
        self.engine.push()
        if self.lead:
            _runlog.trim(self.out_dir, self.step)
