"""The Python API: train, load, sample, score, evaluate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PACKAGE_ROOT, make_names

import charsmith


def test_train_then_use(tmp_path: Path) -> None:
    data = tmp_path / "dinos.txt"
    data.write_text("\n".join(make_names(300, seed=5)).upper())
    seen = []
    m = charsmith.train(data, tmp_path / "out", cell="lstm", hidden=24, steps=40, eval_every=20, lowercase=True,
                        on_progress=seen.append)
    assert isinstance(m, charsmith.CharModel) and m.mode == "lines"
    assert m.ckpt.model.cell == "lstm" and m.ckpt.model.hidden == 24 and m.ckpt.train.lowercase
    assert m.ckpt.vocab.chars == m.ckpt.vocab.chars.lower()
    assert [p.step for p in seen if p.kind == "eval"] == [20, 40]
    assert len(m.sample(3, seed=0).samples) == 3
    assert m.score(["bado"])[0].n_chars == 5
    held = tmp_path / "held.txt"
    held.write_text("BADOSAURUS\n")
    assert m.evaluate(held).n_chars == 11


def test_unknown_option_is_a_type_error(tmp_path: Path) -> None:
    (tmp_path / "d.txt").write_text("abc\n")
    with pytest.raises(TypeError, match=r"unknown training option.*hiden"):
        charsmith.train(tmp_path / "d.txt", tmp_path / "o", hiden=3)


def test_public_names_resolve() -> None:
    for name in charsmith.__all__:
        assert getattr(charsmith, name) is not None
    with pytest.raises(AttributeError):
        charsmith.nope  # noqa: B018


def test_each_public_module_exports_what_it_defines_and_internals_are_private() -> None:
    """Every name of a public module's ``__all__`` is there; the internal modules are ``_name``."""
    import importlib
    import pkgutil

    pytest.importorskip("starlette")  # charsmith.web's modules need the web extra
    root = Path(charsmith.__file__).parent
    for info in pkgutil.walk_packages([str(root)], "charsmith."):
        if any(part.startswith("_") for part in info.name.split(".")) or info.name.endswith("onnx_sampler"):
            continue  # private, or the ONNX export's stand-alone script (it needs onnxruntime)
        module = importlib.import_module(info.name)
        missing = [n for n in getattr(module, "__all__", ()) if not hasattr(module, n)]
        assert not missing, (info.name, missing)
    for name in ("fileio", "safeload", "rundir", "resources", "deadline", "idcache", "checks", "resume"):
        assert (root / f"_{name}.py").exists() and not (root / f"{name}.py").exists(), name
    assert not (root / "data.py").exists()  # split: _reading, _labelled, _novelty, _corpus, _batching


def test_importing_the_cli_sets_one_blas_thread_before_numpy() -> None:
    code = "import os, charsmith.cli, numpy; print(os.environ['OPENBLAS_NUM_THREADS'])"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": PACKAGE_ROOT}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "1", out.stderr


def test_bundled_models_work_offline(capsys: pytest.CaptureFixture[str]) -> None:
    from charsmith.cli import main

    assert {"dinosaurs", "names", "shakespeare"} <= set(charsmith.bundled_models())
    assert main(["sample", "dinosaurs", "-n", "10", "--seed", "1"]) == 0
    names = capsys.readouterr().out.split()
    assert len(names) == 10 and all(n.isalpha() and n.islower() for n in names)
    dinos = charsmith.load("dinosaurs")
    assert dinos.ckpt.known is not None and dinos.ckpt.known.size > 1000
    assert dinos.ckpt.info["best_val_loss"] < 2.0
    likely, unlikely = dinos.score(["stegosaurus", "qxzvvkq"])
    assert likely.nats_per_char < 1.5 < unlikely.nats_per_char
    bard = charsmith.load("shakespeare")
    text = bard.complete("ROMEO:", 80, seed=0)[0]
    assert text.startswith("ROMEO:") and len(text) == 86
    assert charsmith.load("names").mode == "lines"


def test_text_models_point_to_complete() -> None:
    with pytest.raises(ValueError, match="use complete"):
        charsmith.load("shakespeare").sample(3)
