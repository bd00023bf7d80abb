"""The defaults follow the time budget (benchmarks/QUALITY.md, "Budgets"): running text and long
lists get the budget grid's best model for the measured budget nearest to the one given, the
default budget when none is; short lists keep their model; explicit options win."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_names

from charsmith import load
from charsmith.api import plan_run
from charsmith.cli import main
from charsmith.defaults import BUDGET_THRESHOLDS, LIST_BUDGET, TEXT_BUDGET, budget_row


@pytest.fixture()
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "play.txt"
    path.write_text("ROMEO: but soft, what light through yonder window breaks?\nJULIET: ay me!\n" * 200)
    return path


@pytest.fixture(scope="module")
def long_list(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lists") / "names.txt"
    path.write_text("\n".join(make_names(12_000, seed=21)) + "\n")
    return path


def test_budget_rows() -> None:
    assert [round(t, 2) for t in BUDGET_THRESHOLDS] == [1.73, 5.48, 17.32]
    picks = [budget_row(m) for m in (0.2, 1.0, 1.7, 1.8, 3.0, 5.4, 5.5, 10.0, 17.0, 17.5, 30.0, 120.0)]
    assert picks == [1.0, 1.0, 1.0, 3.0, 3.0, 3.0, 10.0, 10.0, 10.0, 30.0, 30.0, 30.0]


# (minutes given, cell, hidden, layers, peak lr, minutes planned): the grid's best per budget
TEXT_CASES = [
    (1.0, "gru", 256, 1, 8e-3, 1.0), (1.5, "gru", 256, 1, 8e-3, 1.5), (2.0, "gru", 256, 1, 8e-3, 2.0),
    (3.0, "gru", 256, 1, 8e-3, 3.0), (10.0, "gru", 256, 1, 3e-3, 10.0), (12.5, "gru", 256, 1, 3e-3, 12.5),
    (30.0, "lstm", 256, 2, 3e-3, 30.0), (None, "lstm", 256, 2, 3e-3, TEXT_BUDGET),
]


@pytest.mark.parametrize(("minutes", "cell", "hidden", "layers", "lr", "planned"), TEXT_CASES)
def test_text_defaults_follow_the_budget(text_file: Path, minutes: float | None, cell: str, hidden: int,
                                         layers: int, lr: float, planned: float) -> None:
    _, cfg, tcfg = plan_run(text_file, mode="text", minutes=minutes)
    assert (cfg.cell, cfg.hidden, cfg.layers, cfg.embed, cfg.dropout) == (cell, hidden, layers, 64, 0.2)
    assert (tcfg.minutes, tcfg.batch_size, tcfg.seq_len, tcfg.lr) == (planned, 32, 128, lr)


LIST_CASES = [
    (1.0, "lstm", 256, 1, 5e-3, 1.0), (1.5, "lstm", 256, 1, 5e-3, 1.5), (3.0, "lstm", 256, 2, 3e-3, 3.0),
    (6.0, "lstm", 256, 2, 3e-3, 6.0), (10.0, "lstm", 256, 2, 3e-3, 10.0), (30.0, "lstm", 256, 2, 3e-3, 30.0),
    (None, "lstm", 256, 2, 3e-3, LIST_BUDGET),
]


@pytest.mark.parametrize(("minutes", "cell", "hidden", "layers", "lr", "planned"), LIST_CASES)
def test_long_list_defaults_follow_the_budget(long_list: Path, minutes: float | None, cell: str, hidden: int,
                                              layers: int, lr: float, planned: float) -> None:
    _, cfg, tcfg = plan_run(long_list, minutes=minutes)
    assert (cfg.cell, cfg.hidden, cfg.layers, cfg.embed, cfg.dropout) == (cell, hidden, layers, 64, 0.4)
    assert (tcfg.minutes, tcfg.batch_size, tcfg.lr, tcfg.weight_decay) == (planned, 64, lr, 0.1)


def test_a_short_budget_evaluates_early(text_file: Path, long_list: Path) -> None:
    """About 20 evaluations in the budget at the quiet machine's speed: a held-out loss early."""
    for path, mode in ((text_file, "text"), (long_list, "lines")):
        small = plan_run(path, mode=mode, minutes=1.0)[2].eval_every
        large = plan_run(path, mode=mode, minutes=10.0)[2].eval_every
        assert small < large


def test_a_short_list_keeps_its_model_whatever_the_budget(tmp_path: Path) -> None:
    path = tmp_path / "few.txt"
    path.write_text("\n".join(make_names(1500, seed=3)) + "\n")
    for minutes in (1.0, 30.0):
        _, cfg, tcfg = plan_run(path, cell="gru", minutes=minutes)
        assert (cfg.cell, cfg.hidden, cfg.layers, tcfg.patience) == ("gru", 128, 1, 10)


def test_explicit_options_win_over_the_budget(text_file: Path, long_list: Path) -> None:
    _, cfg, tcfg = plan_run(text_file, mode="text", minutes=1.0, cell="lstm", hidden=64, lr=2e-3, batch_size=16)
    assert (cfg.cell, cfg.hidden, cfg.layers, tcfg.lr, tcfg.batch_size) == ("lstm", 64, 1, 2e-3, 16)
    _, cfg, tcfg = plan_run(long_list, minutes=1.0, layers=2, lr=1e-3)
    assert (cfg.cell, cfg.hidden, cfg.layers, tcfg.lr) == ("lstm", 256, 2, 1e-3)
    _, cfg, tcfg = plan_run(text_file, mode="text", steps=5)  # a step budget: the default budget's model, no clock
    assert (cfg.cell, cfg.layers, tcfg.minutes, tcfg.steps) == ("lstm", 2, 0.0, 5)


def test_the_cli_passes_the_budget_and_explicit_options(text_file: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["train", str(text_file), "--mode", "text", "--minutes", "1", "--steps", "3", "--out", str(out),
                 "--quiet"]) == 0
    ckpt = load(out).ckpt
    assert (ckpt.model.cell, ckpt.model.hidden, ckpt.model.layers) == ("gru", 256, 1)
    assert (ckpt.train.minutes, ckpt.train.steps) == (1.0, 3)
    out2 = tmp_path / "run2"
    assert main(["train", str(text_file), "--mode", "text", "--minutes", "1", "--steps", "3", "--model", "lstm",
                 "--hidden", "32", "--out", str(out2), "--quiet"]) == 0
    ckpt = load(out2).ckpt
    assert (ckpt.model.cell, ckpt.model.hidden, ckpt.model.layers) == ("lstm", 32, 1)
    capsys.readouterr()
