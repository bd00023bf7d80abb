"""`charsmith info`: a summary a person reads (no Python dicts or reprs, numbers rounded),
and with --json the model's description for machines."""

from __future__ import annotations

import json

import pytest

import charsmith
from charsmith.cli import main


@pytest.mark.parametrize("model", ["dinosaurs", "languages", "shakespeare"])
def test_info_reads_as_text(model: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", model]) == 0
    text = capsys.readouterr().out
    assert not any(mark in text for mark in ("{", "}", "'\\n", "\\x", "None", "True", "False")), text
    keys = [line.split(":", 1)[0] for line in text.splitlines()]
    assert keys[:4] == ["mode", "model", "parameters", "train"] and "alphabet (" in text and "held-out loss" in keys
    loss = charsmith.load(model).ckpt.info["best_val_loss"]
    assert f"held-out loss: {loss:.4f} nats/char" in text
    assert "0.30000000000000004" not in text and "1.5841162680202225" not in text  # rounded


def test_info_names_unprintable_characters_and_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "languages"]) == 0
    text = capsys.readouterr().out
    assert "U+00A0 NO-BREAK SPACE" in text and "Russian (8,467)" in text and "parameters: 297,944" in text


def test_info_json_is_the_description(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "dinosaurs", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == json.loads(json.dumps(charsmith.load("dinosaurs").describe()))
