"""charsmith export: the registry, the CLI's errors, and the sampling specification's parts."""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import charsmith
from charsmith import export as ex
from charsmith.cli import main
from charsmith.errors import CharsmithWarning, InputError
from charsmith.export._spec import Generator, Xoshiro128, draw, fnv1a32, normalise_blend, seed_state
from charsmith.scoring import score_items


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


# ----- the specification's parts -------------------------------------------------------------
def test_xoshiro128_reference_outputs() -> None:
    """The first outputs of xoshiro128** from the state (1, 2, 3, 4), as the authors' C code gives."""
    r = Xoshiro128(0)
    r.s = [1, 2, 3, 4]
    assert [r.next() for _ in range(6)] == [11520, 0, 5927040, 70819200, 2031721883, 1637235492]


def test_seeding_and_uniforms() -> None:
    assert seed_state(0) == [2462723854, 1020716019, 454327756, 1275600319]
    assert seed_state(0) != seed_state(1)
    u = [Xoshiro128(7).uniform() for _ in range(3)]
    assert u[0] == u[1] == u[2]  # a seed gives one stream
    r = Xoshiro128(7)
    draws = np.array([r.uniform() for _ in range(20000)])
    assert draws.min() >= 0 and draws.max() < 1 and abs(draws.mean() - 0.5) < 0.01
    for bad in (-1, 2**32, 1.5, True):
        with pytest.raises(InputError, match="seed"):
            seed_state(bad)  # type: ignore[arg-type]


def test_fnv1a32_reference_values() -> None:
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("foobar") == 0xBF9CF968
    assert fnv1a32("é") != fnv1a32("e")  # UTF-8 bytes


def test_draw_inverse_cdf_and_filters() -> None:
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    assert [draw(logits, u) for u in (0.0, 0.0999, 0.1001, 0.2999, 0.3001, 0.5999, 0.6001, 0.9999)] == \
        [0, 0, 1, 1, 2, 2, 3, 3]
    assert {draw(logits, u, top_k=2) for u in np.linspace(0, 0.999, 50)} == {2, 3}
    assert {draw(logits, u, top_p=0.4) for u in np.linspace(0, 0.999, 50)} == {3}
    assert {draw(logits, u, top_p=0.41) for u in np.linspace(0, 0.999, 50)} == {2, 3}
    tied = np.zeros(4)
    assert {draw(tied, u, top_k=1) for u in np.linspace(0, 0.999, 20)} == {0}  # ties: the lower id
    assert draw(logits, 0.5, temperature=1e-300) == 3  # the limit T -> 0: greedy


def test_blend_normalisation() -> None:
    assert normalise_blend([2, 0, 2]).tolist() == [0.5, 0.0, 0.5]
    with pytest.raises(charsmith.CategoryError):
        normalise_blend([0, 0])


def test_reference_matches_charsmith_scores() -> None:
    m = charsmith.load("dinosaurs")
    g = Generator(m)
    ck = m.ckpt  # the exported distribution: the known symbols only (no unknown class, charsmith.openvocab)
    for item in ["tyrannosaurus", "a", "qqq"]:
        ours = score_items(ck.params, ck.model, ck.vocab, [item])[0].logprob
        assert g.score(item) == pytest.approx(ours, abs=1e-5 * (len(item) + 1))
        assert m.score([item])[0].logprob == pytest.approx(ours + (len(item) + 1) * math.log1p(-ck.unknown))


# ----- the registry and the command -------------------------------------------------------------
def test_cli_writes_js_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "dinos.js"
    code, text, err = run("export", "dinosaurs", "--format", "js", "--out", str(out))
    assert code == 0 and "dinos.js" in text and "dinos.d.ts" in text, err
    before = out.read_bytes()
    code, _, err = run("export", "dinosaurs", "--format", "js", "--out", str(out), "--dtype", "float16")
    assert code == 2 and err.count("\n") == 1 and "already exist" in err and "replace with --force" in err
    assert out.read_bytes() == before
    code, _, err = run("export", "dinosaurs", "--format", "js", "--out", str(out), "--dtype", "float16", "--force")
    assert code == 0 and out.stat().st_size < 0.6 * len(before)


@pytest.mark.parametrize(("argv", "message"), [
    (["--format", "cobol"], "unknown export --format 'cobol'; choose one of js, html, csharp, onnx"),
    (["--format", "js", "--known"], "--known needs the training items"),
    (["--format", "js", "--known", "{data}"], "not in this model's data set"),
])
def test_cli_errors_are_one_line_and_write_nothing(argv: list[str], message: str, tmp_path: Path) -> None:
    data = tmp_path / "other.txt"
    data.write_text("zzzz\nqqqq\n", encoding="utf-8")
    argv = [a.replace("{data}", str(data)) for a in argv]
    code, _, err = run("export", "dinosaurs", "--out", str(tmp_path / "x.js"), *argv)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt"]


def test_a_text_model_has_no_known_set(tmp_path: Path) -> None:
    code, _, err = run("export", "shakespeare", "--format", "js", "--out", str(tmp_path / "s.js"), "--known",
                       str(tmp_path))
    assert code == 2 and "running text" in err


def test_missing_folder_is_named(tmp_path: Path) -> None:
    code, _, err = run("export", "dinosaurs", "--format", "html", "--out", str(tmp_path / "no" / "x.html"))
    assert code == 2 and "does not exist" in err and ".tmp" not in err


def test_missing_format_module_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(ex.FORMATS, "csharp", "charsmith.export._no_such_module")
    with pytest.raises(InputError, match="format csharp is not available"):
        ex.export(charsmith.load("dinosaurs"), tmp_path / "x.cs", format="csharp")
    assert not list(tmp_path.iterdir())


def test_format_that_cannot_express_the_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A format's check() refusing the model: one line naming why, and nothing written."""
    from charsmith.export import js

    def refuse(model: object) -> None:
        raise InputError("the js format cannot express this model: because")

    monkeypatch.setattr(js, "check", refuse)
    code, _, err = run("export", "dinosaurs", "--format", "js", "--out", str(tmp_path / "x.js"))
    assert code == 2 and err == "charsmith: error: the js format cannot express this model: because\n"
    assert not list(tmp_path.iterdir())


def test_size_warning(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(ex.SIZE_WARNING, "js", 100_000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ex.export(charsmith.load("dinosaurs"), tmp_path / "d.js", format="js")
    message = next(str(w.message) for w in caught if w.category is CharsmithWarning)
    assert message.startswith("the js export is 0.4 MB")
    code, _, err = run("export", "dinosaurs", "--format", "js", "--out", str(tmp_path / "e.js"))
    assert code == 0 and err.startswith("charsmith: warning: the js export is")


def test_known_items_from_a_folder_of_categories(tmp_path: Path) -> None:
    folder = tmp_path / "langs"
    folder.mkdir()
    (folder / "Japanese.txt").write_text("Abe\nAdachi\n", encoding="utf-8")
    (folder / "Italian.txt").write_text("Abbadelli\n", encoding="utf-8")
    m = ex.with_known_items(charsmith.load("languages"), ["Abe", "Adachi", "Abbadelli"])
    from charsmith.export._spec import known_hashes

    assert known_hashes(m).tolist() == sorted({fnv1a32(s) for s in ["Abe", "Adachi", "Abbadelli"]})
    written = ex.export(charsmith.load("languages"), tmp_path / "l.html", format="html", known=folder)
    assert written == [tmp_path / "l.html"] and '"known": "' in written[0].read_text(encoding="utf-8")


def test_a_python_caller_is_told_parameters(tmp_path: Path) -> None:
    m = charsmith.load("dinosaurs")
    ex.export(m, tmp_path / "d.html", format="html")
    with pytest.raises(InputError, match="replace with `force`") as info:
        ex.export(m, tmp_path / "d.html", format="html")
    assert info.value.param == "out" and "--" not in str(info.value)
    with pytest.raises(InputError, match="`known=FILE`") as info:
        m.export(tmp_path / "e.html", format="html", known=True)
    assert info.value.param == "known"


def test_an_ngram_model_is_refused_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "names.txt"
    data.write_text("\n".join(["anna", "bella", "carla", "dora", "emma", "fiona", "greta", "hanna"] * 3) + "\n")
    assert main(["train", str(data), "--model", "ngram", "--out", str(tmp_path / "ng"), "--quiet"]) == 0
    for fmt in ("js", "csharp"):
        code, out, err = run("export", str(tmp_path / "ng"), "--format", fmt, "--out", str(tmp_path / f"x.{fmt}"))
        assert code == 2 and err.count("\n") == 1 and "recurrent networks" in err and "Kneser-Ney" in err, err
        assert not list(tmp_path.glob("x.*"))


def test_a_mixed_run_exports_its_network_and_says_so(styled_mix: Path, styled: Path, tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = ex.export(charsmith.load(styled_mix), tmp_path / "m.js", format="js")
    assert any("writes the network alone" in str(w.message) for w in caught if w.category is CharsmithWarning)
    (tmp_path / "alone").mkdir()
    alone = ex.export(charsmith.load(styled), tmp_path / "alone" / "m.js", format="js")  # the same network, alone
    assert written[0].read_bytes() == alone[0].read_bytes()
    code, _, err = run("export", str(styled_mix), "--format", "html", "--out", str(tmp_path / "m.html"))
    assert code == 0 and err.startswith("charsmith: warning: this model is a network mixed with an n-gram model")
