"""The training loop: batches in, checkpoints and progress reports out.

``Trainer.run`` never prints; it calls ``on_progress`` with a ``Progress`` after every
step and every evaluation, and the CLI draws the progress bar from those. The best
checkpoint (by validation loss) is kept in ``out_dir``; the latest weights and the
optimiser state go to ``out_dir/resume.npz`` so ``resume=True`` continues exactly.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from charsmith import model as M
from charsmith import optim
from charsmith.checkpoint import Checkpoint, is_checkpoint, save_checkpoint
from charsmith.config import ModelConfig, TrainConfig, config_from_dict
from charsmith.data import Batch, Corpus, encode_items, item_hashes, line_batches, text_windows
from charsmith.errors import CheckpointError
from charsmith.fileio import atomic_write_bytes, atomic_write_text, npz_bytes
from charsmith.nn import native
from charsmith.sampling import complete, sample_items
from charsmith.scoring import lines_loss, stream_loss

__all__ = ["Progress", "Trainer", "prepare_out_dir", "train_step"]

RESUME_WEIGHTS = "resume.npz"
RESUME_STATE = "resume.json"
METRICS = "metrics.jsonl"
DEFAULT_PATIENCE = 5  # used when neither steps nor minutes bound the run


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
    check: bool = True,
) -> tuple[float, M.State, bool]:
    """One update of ``opt.params`` on ``batch``: the loss and gradients (:func:`charsmith.model.loss_and_grads`),
    clip, optimiser step. Returns (loss, final state, ok); ok is False (and nothing is
    updated) when the loss or the gradient is not finite. ``rng`` drives dropout."""
    loss, grads, new_state = M.loss_and_grads(opt.params, cfg, batch.ids, batch.targets, batch.mask, state,
                                              rng=rng, check=check)
    norm = opt.apply(grads, lr=lr, t=t, clip_norm=clip_norm, clip_value=clip_value, weight_decay=weight_decay)
    ok = math.isfinite(loss) and math.isfinite(norm)
    return float(loss), (new_state if ok else state), ok


def prepare_out_dir(out_dir: Path, *, resume: bool, force: bool) -> None:
    """Refuse to write over anything that is not ours, or over a checkpoint unless asked."""
    if out_dir.exists() and not out_dir.is_dir():
        raise CheckpointError(f"--out {out_dir} is a file; choose a new or empty directory")
    if resume:
        if not (out_dir / RESUME_STATE).is_file():
            raise CheckpointError(f"nothing to resume in {out_dir} (no {RESUME_STATE}); drop --resume to start a new run")
        return
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not is_checkpoint(out_dir):
            raise CheckpointError(f"--out {out_dir} holds other files; choose a new or empty directory")
        if not force:
            raise CheckpointError(
                f"--out {out_dir} already holds a checkpoint; pass --resume to continue it or --force to replace it"
            )


class Trainer:
    """Trains one model on one corpus. Build it, then call ``run``."""

    def __init__(
        self, corpus: Corpus, model_cfg: ModelConfig, train_cfg: TrainConfig, out_dir: str | Path, *,
        resume: bool = False, force: bool = False, info: dict[str, Any] | None = None,
    ) -> None:
        if model_cfg.vocab_size != corpus.vocab.size:
            raise ValueError(f"model vocab_size {model_cfg.vocab_size} != corpus vocabulary size {corpus.vocab.size}")
        self.corpus, self.model_cfg, self.cfg = corpus, model_cfg, train_cfg
        self.out_dir = Path(out_dir)
        prepare_out_dir(self.out_dir, resume=resume, force=force)
        self.info = dict(info or {}, mode=corpus.mode, data_fingerprint=corpus.fingerprint,
                         train_items=len(corpus.train) if corpus.mode == "lines" else None,
                         val_overlap=corpus.overlap)
        self.rng = np.random.default_rng(train_cfg.seed)
        self.opt = optim.FlatOptimizer(train_cfg.optimizer, M.init_params(model_cfg, self.rng))
        self.params = self.opt.params  # views of the optimiser's flat array
        self.step = 0
        self.elapsed = 0.0
        self.best_val = math.inf
        self.stale_evals = 0
        self._stop = False
        self.known = item_hashes(corpus.train) if corpus.mode == "lines" else None
        if resume:
            self._load_resume()

    def request_stop(self) -> None:
        """Ask the loop to stop after the current step and save a resumable checkpoint."""
        self._stop = True

    # ----- the loop -----------------------------------------------------------------
    def run(self, on_progress: Callable[[Progress], None] | None = None) -> Progress:
        """Train until a limit, early stopping, a NaN, or ``request_stop``; return the last report."""
        with native.blas_on_one_thread():  # the compiled kernels thread the work themselves
            return self._run(on_progress)

    def _run(self, on_progress: Callable[[Progress], None] | None) -> Progress:
        emit = on_progress or (lambda p: None)
        cfg = self.cfg
        self.out_dir.mkdir(parents=True, exist_ok=True)
        patience = cfg.patience or (DEFAULT_PATIENCE if not (cfg.steps or cfg.minutes) else 0)
        batches = self._batches()
        state = None
        smooth, rate = None, None
        start = time.perf_counter() - self.elapsed
        while True:
            reason = self._limit_reached()
            if reason:
                break
            batch, fresh = next(batches)
            if fresh or state is None or len(state[0][0]) != len(batch.ids):
                state = M.init_state(self.model_cfg, len(batch.ids))
            t0 = time.perf_counter()
            loss, state, ok = self._train_step(batch, state)
            if not ok:
                reason = "nan"
                break
            self.step += 1
            self.elapsed = time.perf_counter() - start
            smooth = loss if smooth is None else 0.98 * smooth + 0.02 * loss
            speed = batch.n_chars / max(time.perf_counter() - t0, 1e-9)
            rate = speed if rate is None else 0.95 * rate + 0.05 * speed
            emit(self._report("step", smooth, rate))
            if self.step % cfg.eval_every == 0:
                emit(self._evaluate(smooth, rate))
                if patience and self.stale_evals >= patience:
                    reason = "early-stop"
                    break
            if self._stop:
                reason = "interrupted"
                break
        if reason != "nan" and (self.step % cfg.eval_every or self.step == 0):
            emit(self._evaluate(smooth if smooth is not None else math.nan, rate or 0.0))
        done = self._report("done", smooth if smooth is not None else math.nan, rate or 0.0)
        return dataclasses.replace(done, reason=reason, best_val=self.best_val)

    def _limit_reached(self) -> str:
        if self.cfg.steps and self.step >= self.cfg.steps:
            return "steps"
        if self.cfg.minutes and self.elapsed >= self.cfg.minutes * 60:
            return "minutes"
        if self._stop:
            return "interrupted"
        return ""

    def _progress(self) -> float:
        """Fraction of the run done, by whichever limit is nearer."""
        p = 0.0
        if self.cfg.steps:
            p = self.step / self.cfg.steps
        if self.cfg.minutes:
            p = max(p, self.elapsed / (self.cfg.minutes * 60))
        return p

    def _train_step(self, batch: Batch, state: M.State) -> tuple[float, M.State, bool]:
        c = self.cfg
        return train_step(self.model_cfg, self.opt, batch, state, lr=self._lr(), t=self.step + 1,
                          clip_norm=c.clip_norm, clip_value=c.clip_value, weight_decay=c.weight_decay,
                          rng=self.rng if self.model_cfg.dropout else None, check=self.step == 0)

    def _lr(self) -> float:
        c = self.cfg
        return optim.lr_at(self._progress(), self.step, lr=c.lr, warmup_steps=c.warmup_steps, decay=c.decay,
                           min_lr_ratio=c.min_lr_ratio)

    def _batches(self) -> Iterator[tuple[Batch, bool]]:
        """Endless batches; the flag is True where the hidden state must start from zero."""
        corpus, cfg = self.corpus, self.cfg
        if corpus.mode == "lines":
            seqs = encode_items(corpus.vocab, corpus.train)  # type: ignore[arg-type]
            while True:
                for batch in line_batches(seqs, cfg.batch_size, self.rng):
                    yield batch, True
        ids = corpus.vocab.encode(corpus.train)  # type: ignore[arg-type]
        while True:
            offset = int(self.rng.integers(0, min(cfg.seq_len, max(len(ids) - 2, 1))))
            for i, batch in enumerate(text_windows(ids, cfg.batch_size, cfg.seq_len, offset=offset)):
                yield batch, i == 0

    # ----- evaluation, reports, saving -------------------------------------------------
    def _report(self, kind: str, loss: float, rate: float, **extra: Any) -> Progress:
        eta = None
        p = self._progress()
        if p > 0:
            eta = max(self.elapsed * (1 - p) / p, 0.0)
        return Progress(kind, self.step, loss, self._lr(), rate, self.elapsed, eta, best_val=self.best_val, **extra)

    def val_loss(self) -> float | None:
        corpus = self.corpus
        if not corpus.val:
            return None
        if corpus.mode == "lines":
            return lines_loss(self.params, self.model_cfg, corpus.vocab, corpus.val).loss  # type: ignore[arg-type]
        return stream_loss(self.params, self.model_cfg, corpus.vocab.encode(corpus.val),  # type: ignore[arg-type]
                           seq_len=self.cfg.seq_len).loss

    def preview(self, n: int = 5) -> list[str]:
        """A few samples from the current weights, as the notebooks print while training."""
        if self.corpus.mode == "lines":
            return sample_items(self.params, self.model_cfg, self.corpus.vocab, n, self.rng)
        return complete(self.params, self.model_cfg, self.corpus.vocab, "", 160, self.rng)

    def _evaluate(self, train_loss: float, rate: float) -> Progress:
        val = self.val_loss()
        score = val if val is not None else train_loss
        improved = math.isfinite(score) and score < self.best_val
        if improved:
            self.best_val, self.stale_evals = score, 0
            save_checkpoint(self.out_dir, self.checkpoint())
        else:
            self.stale_evals += 1
        self._save_resume()
        record = {"step": self.step, "elapsed": round(self.elapsed, 3), "train_loss": train_loss,
                  "val_loss": val, "lr": self._lr(), "chars_per_s": round(rate, 1)}
        with open(self.out_dir / METRICS, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        return self._report("eval", train_loss, rate, val_loss=val, samples=self.preview(), saved=improved)

    def checkpoint(self) -> Checkpoint:
        info = dict(self.info, step=self.step, best_val_loss=self.best_val if math.isfinite(self.best_val) else None)
        return Checkpoint(self.model_cfg, self.corpus.vocab, {k: v.copy() for k, v in self.params.items()},
                          self.cfg, self.known, info)

    def _save_resume(self) -> None:
        arrays = {f"param/{k}": v for k, v in self.params.items()}
        arrays.update({f"opt/{k}": v for k, v in self.opt.state.items()})
        atomic_write_bytes(self.out_dir / RESUME_WEIGHTS, npz_bytes(arrays))
        state = {"step": self.step, "elapsed": self.elapsed, "best_val": self.best_val if math.isfinite(self.best_val) else None,
                 "stale_evals": self.stale_evals, "rng": self.rng.bit_generator.state,
                 "model": dataclasses.asdict(self.model_cfg), "train": dataclasses.asdict(self.cfg),
                 "vocab": self.corpus.vocab.chars, "data_fingerprint": self.corpus.fingerprint}
        atomic_write_text(self.out_dir / RESUME_STATE, json.dumps(state) + "\n")

    def _load_resume(self) -> None:
        path = self.out_dir / RESUME_STATE
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            model_cfg = config_from_dict(ModelConfig, state["model"])
            train_cfg = config_from_dict(TrainConfig, state["train"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{path} is corrupt ({e}); start over with --force") from None
        if state.get("data_fingerprint") != self.corpus.fingerprint or state.get("vocab") != self.corpus.vocab.chars:
            raise CheckpointError(f"the training data differs from the run in {self.out_dir}; resume with the same file and options")
        if model_cfg != self.model_cfg:
            raise CheckpointError(f"the model options differ from the run in {self.out_dir} ({model_cfg}); resume with the same ones")
        if train_cfg.optimizer != self.cfg.optimizer:
            raise CheckpointError(f"the run in {self.out_dir} used --optimizer {train_cfg.optimizer}; resume with the same one")
        try:
            with np.load(self.out_dir / RESUME_WEIGHTS, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, EOFError) as e:
            raise CheckpointError(f"{self.out_dir / RESUME_WEIGHTS} is corrupt ({e}); start over with --force") from None
        for k in self.params:  # copy into the views of the optimiser's flat array
            self.params[k][...] = self._restored(arrays, f"param/{k}", self.params[k])
        for k in self.opt.state:
            self.opt.state[k][...] = self._restored(arrays, f"opt/{k}", self.opt.state[k])
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.best_val = math.inf if state.get("best_val") is None else float(state["best_val"])
        self.stale_evals = int(state.get("stale_evals", 0))
        self.rng.bit_generator.state = state["rng"]

    def _restored(self, arrays: dict[str, np.ndarray], key: str, like: np.ndarray) -> np.ndarray:
        if key not in arrays or arrays[key].shape != like.shape:
            raise CheckpointError(f"{self.out_dir / RESUME_WEIGHTS} lacks {key} of shape {like.shape}; start over with --force")
        return arrays[key].astype(like.dtype)
