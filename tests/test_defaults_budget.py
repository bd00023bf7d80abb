"""The defaults follow the time budget: running text trained for a few minutes gets the small,
fast-learning network; the default (and a long) budget the large one; explicit options win."""

from __future__ import annotations

from pathlib import Path

import pytest

from charsmith.api import plan_run
from charsmith.defaults import TEXT_SMALL_BUDGET


@pytest.fixture()
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "play.txt"
    path.write_text("ROMEO: but soft, what light through yonder window breaks?\nJULIET: ay me!\n" * 200)
    return path


@pytest.mark.parametrize(("minutes", "cell", "hidden", "layers"), [
    (1.0, "gru", 128, 1), (3.0, "gru", 128, 1), (TEXT_SMALL_BUDGET - 0.5, "gru", 128, 1),
    (TEXT_SMALL_BUDGET, "lstm", 256, 2), (30.0, "lstm", 256, 2), (None, "lstm", 256, 2),
])
def test_text_defaults_follow_the_budget(text_file: Path, minutes: float | None, cell: str, hidden: int,
                                         layers: int) -> None:
    _, cfg, tcfg = plan_run(text_file, mode="text", minutes=minutes)
    assert (cfg.cell, cfg.hidden, cfg.layers) == (cell, hidden, layers)
    assert tcfg.minutes == (30.0 if minutes is None else minutes)
    if minutes is not None and minutes < TEXT_SMALL_BUDGET:
        assert tcfg.eval_every <= 100  # a held-out loss early in a short run


def test_explicit_options_win_over_the_budget(text_file: Path) -> None:
    _, cfg, _ = plan_run(text_file, mode="text", minutes=1.0, cell="lstm", hidden=64)
    assert (cfg.cell, cfg.hidden, cfg.layers) == ("lstm", 64, 1)
