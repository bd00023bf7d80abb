"""Progress worth watching: evaluations by time as well as by steps, the training loss at a
steady interval in metrics.jsonl, and the curve as an SVG (``charsmith info RUN --plot``).

The time-budget tests run the trainer on a controlled clock (a training step takes STEP
seconds of it, nothing else moves it unless a test says so), so what they assert does not
depend on the machine's speed or load.
"""

from __future__ import annotations

import itertools
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import make_names

from charsmith import _plot, _runlog
from charsmith import trainer as trainer_module
from charsmith._corpus import make_corpus
from charsmith.cli import main
from charsmith.config import ModelConfig, TrainConfig
from charsmith.errors import InputError
from charsmith.trainer import Trainer

STEP = 0.25  # seconds of the controlled clock a training step takes (exact in binary: sums of it are too)


def corpus():
    text = "\n".join(make_names(300, seed=4))
    return make_corpus(text, mode="lines", lowercase=False, val_fraction=0.1, rng=np.random.default_rng(1))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The trainer's clock, controlled: each training step advances ``clock.now`` by STEP."""
    state = SimpleNamespace(now=0.0)
    real = Trainer._train_step

    def step(self: Trainer, *args: object) -> tuple:
        state.now += STEP
        return real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(trainer_module, "time", SimpleNamespace(perf_counter=lambda: state.now))
    monkeypatch.setattr(Trainer, "_train_step", step)
    return state


def run(out: Path, **train: object) -> Trainer:
    c = corpus()
    t = Trainer(c, ModelConfig("gru", c.vocab.size, 16, embed=8),
                TrainConfig(**{"batch_size": 16, "seed": 3, **train}), out)  # type: ignore[arg-type]
    t.run()
    return t


def evals(out: Path) -> list[dict]:
    return [r for r in _runlog.read(out) if r["kind"] == _runlog.EVAL]


def trains(out: Path) -> list[dict]:
    return [r for r in _runlog.read(out) if r["kind"] == _runlog.TRAIN]


# ----- evaluation by time --------------------------------------------------------------------------
def test_the_first_evaluation_comes_at_a_twentieth_of_the_time_budget(tmp_path: Path, clock) -> None:
    run(tmp_path / "r", minutes=1.0, eval_every=10**6)  # no evaluation by steps in this run
    rows = evals(tmp_path / "r")
    assert [r["elapsed"] for r in rows] == [3.0 * k for k in range(1, 21)]  # every 5% of 60 s, the last at the end


def test_slow_evaluations_are_spaced_to_take_a_small_share_of_the_budget(tmp_path: Path, clock,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(self: Trainer) -> float | None:
        clock.now += 1.0  # each evaluation takes a second: a third of the 3 s interval
        return real(self)

    real = Trainer.val_loss
    monkeypatch.setattr(Trainer, "val_loss", slow)
    run(tmp_path / "r", minutes=1.0, eval_every=5)  # every 5 steps would be every 1.25 s
    rows = evals(tmp_path / "r")
    assert rows[0]["step"] == 5  # the first is not held back: its cost is unknown
    starts = [r["elapsed"] for r in rows[:-1]]
    assert all(b - a >= 1.0 / _runlog.MAX_EVAL_SHARE for a, b in itertools.pairwise(starts))
    assert sum(r["eval_seconds"] for r in rows) <= _runlog.MAX_EVAL_SHARE * 60 + 2  # but for the first and the last
    assert 3 <= len(rows) <= 5


def test_eval_every_still_applies_with_a_time_budget(tmp_path: Path, clock) -> None:
    run(tmp_path / "r", minutes=1.0, eval_every=4)  # 4 steps: 1 s, sooner than 3 s
    steps = [r["step"] for r in evals(tmp_path / "r")]
    assert steps[:-1] == list(range(4, 4 * len(steps) - 3, 4))


@pytest.mark.parametrize("minutes", [0.0, 1.0])  # a step limit keeps the evaluations on their steps
def test_with_a_step_limit_evaluations_follow_the_steps_alone(tmp_path: Path, clock, minutes: float) -> None:
    run(tmp_path / "r", steps=30, eval_every=7, minutes=minutes)
    assert [r["step"] for r in evals(tmp_path / "r")] == [7, 14, 21, 28, 30]


def test_a_resumed_time_budget_run_evaluates_where_the_whole_run_did(tmp_path: Path, clock) -> None:
    whole = run(tmp_path / "whole", minutes=0.5, eval_every=10**6)
    c, cfg = whole.corpus, whole.model_cfg
    tcfg = TrainConfig(batch_size=16, seed=3, minutes=0.5, eval_every=10**6)
    t = Trainer(c, cfg, tcfg, tmp_path / "parts")
    for stop in (2, 13, 31):  # steps of the whole run: before and after evaluations
        t.run(lambda p, t=t, stop=stop: t.request_stop() if p.kind == "step" and p.step == stop else None)
        t = Trainer(c, cfg, tcfg, tmp_path / "parts", resume=True)
    t.run()
    assert [r["step"] for r in evals(tmp_path / "parts")] == [r["step"] for r in evals(tmp_path / "whole")]
    assert [r["step"] for r in trains(tmp_path / "parts")] == [r["step"] for r in trains(tmp_path / "whole")]
    for k, p in whole.params.items():
        np.testing.assert_array_equal(t.params[k], p, err_msg=k)


# ----- the training loss at a steady interval ------------------------------------------------------
def test_training_records_every_fiftieth_of_a_step_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    losses: list[float] = []
    real = Trainer._train_step

    def step(self: Trainer, *args: object) -> tuple:
        out = real(self, *args)  # type: ignore[arg-type]
        losses.append(out[0])
        return out

    monkeypatch.setattr(Trainer, "_train_step", step)
    run(tmp_path / "r", steps=200, eval_every=50)
    rows = trains(tmp_path / "r")
    assert [r["step"] for r in rows] == list(range(4, 201, 4))
    assert all(r["steps"] == 4 for r in rows)
    for r in rows:  # each the mean of its steps' losses
        assert r["train_loss"] == pytest.approx(np.mean(losses[r["step"] - 4: r["step"]]), rel=1e-12)
    assert {"val_loss", "val_chars"}.isdisjoint(rows[0]) and rows[0].keys() >= {"elapsed", "lr", "chars_per_s"}


def test_training_records_every_fiftieth_of_a_time_budget(tmp_path: Path, clock) -> None:
    run(tmp_path / "r", minutes=0.5, eval_every=10**6)
    rows = trains(tmp_path / "r")
    assert len(rows) == _runlog.TRAIN_RECORDS
    for k, r in enumerate(rows, 1):  # at the first step past each 2% of 30 s
        assert 0.6 * k - 1e-9 <= r["elapsed"] < 0.6 * k + STEP


def test_an_old_log_and_an_old_resume_state_still_read() -> None:
    assert _runlog.Clock.from_json(None, step=130, eval_every=50).eval_step == 100
    with pytest.raises(TypeError):
        _runlog.Clock.from_json({"nonsense": 1}, step=1, eval_every=1)


def test_readers_take_lines_without_a_kind_as_evaluations_and_skip_torn_lines(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 10, "elapsed": 6.0, "train_loss": 2.5, "val_loss": 2.4}\n'
                                           '{"kind": "train", "step": 12, "elapsed": 7.0, "train_loss": 2.3}\n'
                                           '{"kind": "eval", "st')
    rows = _runlog.read(tmp_path)
    assert [r["kind"] for r in rows] == ["eval", "train"]


# ----- the curve ------------------------------------------------------------------------------------
def polylines(text: str) -> dict[str, int]:
    root = ET.fromstring(text)
    return {el.get("class"): len(el.get("points", "").split()) for el in root.iter("{http://www.w3.org/2000/svg}polyline")}


def test_the_svg_parses_and_draws_both_series_point_for_point(tmp_path: Path) -> None:
    run(tmp_path / "r", steps=100, eval_every=25)
    records = _runlog.read(tmp_path / "r")
    text = _plot.svg(records, title="a <run> & more")
    assert polylines(text) == {"training": _runlog.TRAIN_RECORDS, "held-out": 4}
    root = ET.fromstring(text)
    words = " ".join(el.text or "" for el in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "minutes of training" in words and "loss (nats/char)" in words and "held-out loss" in words
    assert "a <run> & more" in words  # escaped in the file, whole once parsed


def test_an_old_log_plots_the_training_loss_of_its_evaluations() -> None:
    records = [{"kind": "eval", "step": s, "elapsed": 6.0 * s, "train_loss": 3.0 - 0.1 * s, "val_loss": 3.1 - 0.1 * s}
               for s in range(1, 6)]
    assert polylines(_plot.svg(records)) == {"training": 5, "held-out": 5}
    no_val = [{**r, "val_loss": None} for r in records]
    assert polylines(_plot.svg(no_val)) == {"training": 5}


def test_nothing_to_plot_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no loss to plot"):
        _plot.svg([])
    with pytest.raises(InputError, match="no loss to plot"):
        _plot.svg([{"kind": "eval", "step": 1, "elapsed": 1.0, "train_loss": math.nan, "val_loss": None}])


def test_info_plot_writes_refuses_to_overwrite_and_explains_bad_runs(tmp_path: Path, capsys) -> None:
    run(tmp_path / "r", steps=40, eval_every=20)
    svg = tmp_path / "curve.svg"
    assert main(["info", str(tmp_path / "r"), "--plot", str(svg)]) == 0
    assert capsys.readouterr().out == f"wrote {svg}\n"
    assert polylines(svg.read_text())["held-out"] == 2
    assert main(["info", str(tmp_path / "r")]) == 0  # the summary counts the log's records (one a step: 40 < 50)
    assert f"log: 2 evaluations and 40 training records in {tmp_path / 'r' / 'metrics.jsonl'}" in capsys.readouterr().out
    svg.write_text("mine")
    assert main(["info", str(tmp_path / "r"), "--plot", str(svg)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err and "--force" in err and "Traceback" not in err
    assert svg.read_text() == "mine"
    assert main(["info", str(tmp_path / "r"), "--plot", str(svg), "--force"]) == 0
    assert svg.read_text().startswith("<svg")
    capsys.readouterr()
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "metrics.jsonl").write_text("")
    for bad in ("dinosaurs", str(tmp_path / "nowhere"), str(tmp_path / "empty")):
        assert main(["info", bad, "--plot", str(tmp_path / "x.svg")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("charsmith: error: ") and "Traceback" not in err, err
    assert not (tmp_path / "x.svg").exists()
    assert main(["info", str(tmp_path / "r"), "--plot", str(tmp_path / "no" / "x.svg")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_metrics_lines_are_json_objects_with_a_kind(tmp_path: Path) -> None:
    run(tmp_path / "r", steps=20, eval_every=10)
    lines = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    assert {json.loads(ln)["kind"] for ln in lines} == {"eval", "train"}
