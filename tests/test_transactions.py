"""Nothing lost: checkpoints as transactions, kills at every file boundary and at random,
readers racing a writer, locked run directories, and --force touching only charsmith's files.

A kill is injected, not timed: a forked child SIGKILLs itself just before its n-th file
boundary (an fsync, a rename, an unlink), for every n until the save completes. SIGKILL
runs no cleanup, so the directory is left exactly as a crash or power cut would leave it.
"""

from __future__ import annotations

import functools
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import PACKAGE_ROOT, make_names

from charsmith import _runlog
from charsmith._corpus import make_corpus
from charsmith._rundir import RunLock
from charsmith.checkpoint import (
    Checkpoint,
    data_files,
    is_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from charsmith.cli import main
from charsmith.config import ModelConfig, TrainConfig
from charsmith.errors import RunLockedError
from charsmith.model import param_shapes
from charsmith.trainer import Trainer
from charsmith.vocab import Vocab

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="kill injection forks a child process")

BOUNDARIES = ("fsync", "replace", "rename", "unlink")
SRC = PACKAGE_ROOT


def killed_at(n: int, action: Callable[[], None]) -> bool:
    """Run ``action`` in a forked child that SIGKILLs itself just before its n-th file
    boundary; True if it was killed there, False if it finished first."""
    pid = os.fork()
    if pid == 0:  # the child: count boundaries, die at the n-th
        count = itertools.count(1)

        def dying(real: Callable[..., object]) -> Callable[..., object]:
            def wrapper(*args: object, **kw: object) -> object:
                if next(count) == n:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(*args, **kw)
            return wrapper

        try:
            for name in BOUNDARIES:
                setattr(os, name, dying(getattr(os, name)))
            action()
        except BaseException:  # noqa: BLE001 - any failure: report it by the exit status
            os._exit(3)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    assert os.WEXITSTATUS(status) == 0, "the save raised in the child"
    return False


# ----- one checkpoint save ---------------------------------------------------------------
VOCAB = Vocab("\nab")
CFG = ModelConfig("gru", VOCAB.size, hidden=4)


def version(v: float) -> Checkpoint:
    """A checkpoint whose every weight is ``v``: a mix of two versions cannot go unseen."""
    params = {k: np.full(s, v, dtype=np.float32) for k, s in param_shapes(CFG).items()}
    return Checkpoint(CFG, VOCAB, params, known=np.array([int(v)], dtype=np.uint64), info={"v": v})


def version_of(path: Path) -> float:
    ckpt = load_checkpoint(path)
    values = {float(x) for p in ckpt.params.values() for x in np.unique(p)} | {float(ckpt.known[0]), ckpt.info["v"]}
    assert len(values) == 1, f"a mixed checkpoint: {values}"
    return values.pop()


def test_a_kill_at_every_file_boundary_of_a_save_leaves_one_complete_version(tmp_path: Path) -> None:
    seen = set()
    for n in itertools.count(1):
        d = tmp_path / f"kill{n}"
        save_checkpoint(d, version(1))
        killed = killed_at(n, functools.partial(save_checkpoint, d, version(2)))
        got = version_of(d)  # always loads: the old version or the new one, never a mix
        if not killed:
            assert got == 2
            break
        seen.add(got)
        save_checkpoint(d, version(3))  # the next save after a crash works and cleans up
        assert version_of(d) == 3
        left = {p.name for p in d.iterdir()} - {"config.json", *(p.name for p in data_files(d).values())}
        assert all(name.startswith(".") and name.endswith(".tmp") for name in left), left
    assert seen == {1, 2} and n > 6  # kills landed before and after the commit


# ----- a whole evaluation save of a run ------------------------------------------------------
def names_corpus(n: int = 300):
    return make_corpus("\n".join(make_names(n, seed=2)), mode="lines", lowercase=False, val_fraction=0.1,
                       rng=np.random.default_rng(0))


def locked_save(trainer: Trainer, out: Path, record: dict) -> None:
    """The writes of one evaluation, as the trainer makes them while it holds the lock."""
    with RunLock(out):
        trainer._save(True, record)


def test_a_kill_at_every_boundary_of_an_evaluation_leaves_a_run_that_resumes_exactly(tmp_path: Path) -> None:
    """Kill the writes of the evaluation at step 20 at each boundary: the checkpoint loads
    (step 10 or 20), the resume state is never newer than the checkpoint it follows, and
    resuming to step 30 gives the very weights of an uninterrupted run."""
    c = names_corpus()
    mcfg = ModelConfig("gru", c.vocab.size, 16, embed=8, dropout=0.1)

    def cfg(steps: int) -> TrainConfig:
        return TrainConfig(steps=steps, eval_every=10, batch_size=16, lr=1e-2, warmup_steps=0, decay="none")

    reference = Trainer(c, mcfg, cfg(30), tmp_path / "ref")
    reference.run()
    Trainer(c, mcfg, cfg(10), tmp_path / "base").run()
    shutil.copytree(tmp_path / "base", tmp_path / "scratch")
    at20 = Trainer(c, mcfg, cfg(20), tmp_path / "scratch", resume=True)
    assert at20.run().step == 20
    record = {"step": 20, "val_loss": at20.best_val}
    steps_seen = set()
    for n in itertools.count(1):
        work = tmp_path / f"kill{n}"
        shutil.copytree(tmp_path / "base", work)
        at20.out_dir = work

        killed = killed_at(n, functools.partial(locked_save, at20, work, record))
        ckpt_step = load_checkpoint(work).info["step"]
        resumed = Trainer(c, mcfg, cfg(30), work, resume=True)
        assert ckpt_step in (10, 20) and resumed.step <= ckpt_step
        steps_seen.add((ckpt_step, resumed.step))
        metrics = [r["step"] for r in _runlog.read(work) if r["kind"] == "eval"]
        assert metrics == [10, 20][: metrics.count(20) + 1] and max(metrics) <= resumed.step
        resumed.run()
        for k, p in reference.params.items():
            np.testing.assert_array_equal(resumed.params[k], p, err_msg=f"{k} after a kill at boundary {n}")
        if not killed:
            break
    assert {(10, 10), (20, 10), (20, 20)} <= steps_seen


def test_a_run_killed_before_its_first_save_restarts_with_force(tmp_path: Path) -> None:
    c = names_corpus(100)
    mcfg, tcfg = ModelConfig("rnn", c.vocab.size, 8), TrainConfig(steps=4, eval_every=2, batch_size=8)
    for n in itertools.count(1):
        out = tmp_path / f"kill{n}"
        t = Trainer(c, mcfg, tcfg, out)
        t.close()

        killed = killed_at(n, functools.partial(locked_save, t, out, {"step": 0}))
        Trainer(c, mcfg, tcfg, out, force=True).run()
        assert load_checkpoint(out).info["step"] == 4
        if not killed:
            break


def test_random_kills_of_the_cli_leave_a_loadable_run(tmp_path: Path) -> None:
    """SIGKILL ``charsmith train`` at random moments: whatever it had saved loads, and the
    run continues with --resume (or, killed before any save, restarts with --force).
    benchmarks/kill_loop.py does this 50 times and more."""
    data = tmp_path / "names.txt"
    data.write_text("\n".join(make_names(400)))
    out = tmp_path / "run"
    rng = random.Random(0)
    env = {**os.environ, "PYTHONPATH": SRC}
    args = [sys.executable, "-m", "charsmith", "train", str(data), "--out", str(out), "--hidden", "16",
            "--eval-every", "3", "--minutes", "5", "--patience", "0", "--quiet"]
    for _ in range(2):
        flag = ["--resume"] if (out / "resume.npz").exists() else ["--force"]
        proc = subprocess.Popen(args + flag, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.5, 1.5))
        proc.kill()
        _, err = proc.communicate()
        assert b"Traceback" not in err, err
        if is_checkpoint(out):
            load_checkpoint(out)
    assert main(["train", str(data), "--out", str(out), "--hidden", "16", "--eval-every", "3", "--steps", "200",
                 "--quiet", "--resume" if (out / "resume.npz").exists() else "--force"]) == 0
    assert load_checkpoint(out).info["step"] > 0


# ----- readers racing a writer -------------------------------------------------------------
def test_a_reader_racing_a_writer_always_gets_a_complete_version(tmp_path: Path) -> None:
    d = tmp_path / "c"
    save_checkpoint(d, version(0))
    pid = os.fork()
    if pid == 0:  # the writer: a new version as fast as it can, for a second and a half
        try:
            end = time.monotonic() + 1.5
            for v in itertools.count(1):
                save_checkpoint(d, version(v))
                if time.monotonic() > end:
                    break
        finally:
            os._exit(0)
    loads, versions = 0, set()
    try:
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            versions.add(version_of(d))  # raises on a mixed, missing or mismatched version
            loads += 1
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    assert loads > 20 and len(versions) > 5, (loads, versions)


# ----- locks ---------------------------------------------------------------------------------
def test_a_second_training_into_the_same_directory_names_the_first(tmp_path: Path, capsys) -> None:
    data = tmp_path / "names.txt"
    data.write_text("\n".join(make_names(200)))
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "charsmith", "train", str(data), "--out", str(out), "--hidden", "8",
                             "--minutes", "2", "--eval-every", "5", "--patience", "0", "--quiet"],
                            env={**os.environ, "PYTHONPATH": SRC},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (out / "resume.npz").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        for flags in ([], ["--force"], ["--resume"]):
            code = main(["train", str(data), "--out", str(out), "--hidden", "8", "--steps", "5", *flags])
            err = capsys.readouterr().err
            assert code == 2 and err.count("\n") == 1, err
            assert f"in use by another charsmith process (pid {proc.pid})" in err
    finally:
        proc.kill()
        proc.wait()
    steps = [r["step"] for r in _runlog.read(out)]
    assert steps == sorted(steps)  # one writer's lines only


def test_the_lock_is_held_from_construction_to_the_end_of_run(tmp_path: Path) -> None:
    c = names_corpus(50)
    mcfg, tcfg = ModelConfig("rnn", c.vocab.size, 8), TrainConfig(steps=3, eval_every=3)
    first = Trainer(c, mcfg, tcfg, tmp_path / "r")
    with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
        Trainer(c, mcfg, tcfg, tmp_path / "r", force=True)
    first.run()
    Trainer(c, mcfg, tcfg, tmp_path / "r", resume=True).close()  # free again


# ----- --force and charsmith's own files -------------------------------------------------------
def train_cli(data: Path, out: Path, *flags: str) -> int:
    return main(["train", str(data), "--out", str(out), "--hidden", "8", "--steps", "4", "--eval-every", "2",
                 "--quiet", *flags])


def test_force_never_replaces_a_users_own_config_or_metrics(tmp_path: Path, capsys) -> None:
    data = tmp_path / "names.txt"
    data.write_text("\n".join(make_names(100)))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"learning_rate": 0.1}')
    (mine / "metrics.jsonl").write_text('{"my": "numbers"}\n')
    for flags in ([], ["--force"]):
        assert train_cli(data, mine, *flags) == 2
        assert "holds other files" in capsys.readouterr().err
    assert (mine / "config.json").read_text() == '{"learning_rate": 0.1}'
    assert (mine / "metrics.jsonl").read_text() == '{"my": "numbers"}\n'
    assert sorted(p.name for p in mine.iterdir()) == ["config.json", "metrics.jsonl"]


def test_force_replaces_charsmiths_files_and_keeps_the_users(tmp_path: Path, capsys) -> None:
    data = tmp_path / "names.txt"
    data.write_text("\n".join(make_names(100)))
    run = tmp_path / "run"
    assert train_cli(data, run) == 0
    (run / "notes.txt").write_text("why this run")
    assert train_cli(data, run, "--force") == 0
    assert (run / "notes.txt").read_text() == "why this run"
    steps = [r["step"] for r in _runlog.read(run) if r["kind"] == "eval"]
    assert steps == [2, 4]  # a fresh log, not appended to the old one
    (run / "config.json").write_text('{"mine": true}')  # a config.json charsmith did not write
    assert train_cli(data, run, "--force") == 2
    assert "config.json charsmith did not write" in capsys.readouterr().err
    assert (run / "config.json").read_text() == '{"mine": true}'


def test_classic_export_follows_the_rules_of_train(tmp_path: Path, capsys) -> None:
    from charsmith.classic.bridge import from_modern, to_modern
    from charsmith.classic.dinos import initialize_parameters

    classic = initialize_parameters(8, 27, 27)
    np.savez(tmp_path / "p.npz", **from_modern(to_modern(classic)))
    data = tmp_path / "names.txt"
    data.write_text("\n".join(make_names(100)))
    run = tmp_path / "run"
    assert train_cli(data, run) == 0
    before = load_checkpoint(run).params["W_out"].copy()
    assert main(["classic", "export", str(tmp_path / "p.npz"), "--out", str(run)]) == 2
    assert "--force" in capsys.readouterr().err
    np.testing.assert_array_equal(load_checkpoint(run).params["W_out"], before)
    assert main(["classic", "export", str(tmp_path / "p.npz"), "--out", str(run), "--force"]) == 0
    assert load_checkpoint(run).model.hidden == 8
    other = tmp_path / "other"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    assert main(["classic", "export", str(tmp_path / "p.npz"), "--out", str(other), "--force"]) == 2
    assert "holds other files" in capsys.readouterr().err and (other / "thesis.tex").read_text() == "precious"
