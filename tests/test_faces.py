"""One library, three faces: the same request through Python, the CLI and the web API gives the
same answer, or fails with the same error (class, parameter and words, each face spelling the
parameter its own way); library errors name parameters, never flags."""

from __future__ import annotations

import ast
import io
import json
import pickle
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import charsmith
from charsmith import cli
from charsmith.errors import CharsmithError, CheckpointError, ConstraintError, InputError, plain
from charsmith.request import LENGTH, SHOWN_CATEGORIES

pytest.importorskip("starlette", reason="the web extra is not installed (pip install -e '.[web,test]')")
from starlette.testclient import TestClient  # noqa: E402

from charsmith.web import create_app  # noqa: E402

SRC = Path(charsmith.__file__).parent


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("faces") / "held.txt"
    path.write_text("emma\nolivia\nnoah\nzoe\n")
    return path


# ----- errors carry their parameter ------------------------------------------------------------
def test_an_error_names_its_parameter_and_each_face_spells_it() -> None:
    e = InputError("`mode=text` is not for a folder; drop `cell` or `hidden`", param="cell")
    assert e.param == "cell" and e.params == ["mode", "cell", "hidden"]
    assert e.render(lambda name, value: name.upper() + (f"={value}" if value else "")) == (
        "MODE=text is not for a folder; drop CELL or HIDDEN")
    assert plain(e) == "mode=text is not for a folder; drop cell or hidden"
    train = cli.build_parser().commands["train"]
    assert cli._message(e, train) == "--mode text is not for a folder; drop --model or --hidden"
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is InputError and again.param == "cell" and str(again) == str(e)


def test_a_python_caller_is_told_parameters_not_flags(tmp_path: Path, trained: Path) -> None:
    data = tmp_path / "mine.txt"
    data.write_text("\n".join(["anna", "bert", "carl", "dora", "emil"] * 6) + "\n")
    with pytest.raises(CheckpointError, match="drop `hidden`") as info:
        charsmith.train(data, tmp_path / "o", init=str(trained), hidden=64)
    assert info.value.param == "hidden" and "--" not in str(info.value)
    (tmp_path / "o2").mkdir()
    (tmp_path / "o2" / "other.txt").write_text("mine")
    with pytest.raises(CheckpointError) as info:
        charsmith.train(data, tmp_path / "o2", steps=1)
    assert info.value.param == "out" and str(info.value).startswith("`out` ")


def _literals(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """The string literals of a module that are not docstrings (f-strings' literal parts too)."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}  # fmt: skip
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_no_library_message_names_a_command_line_flag() -> None:
    """Only the CLI (cli.py, _cli_classic.py, _cli_export.py) and its help texts may spell an option as ``--x``
    (and the ONNX export's sampler, a command-line script of its own that the export copies beside the graph)."""
    flag = re.compile(r"(^|[\s(`'\"])--[a-z][a-z-]+")
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name in ("cli.py", "_cli_classic.py", "_cli_export.py", "onnx_sampler.py"):
            continue
        for line, text in _literals(ast.parse(path.read_text())):
            if flag.search(text):
                found.append(f"{path.relative_to(SRC)}:{line}: {text[:70]!r}")
    assert not found, found


def test_every_error_raised_is_an_exact_subclass() -> None:
    """No ``raise CharsmithError(...)``: each user error is raised as its exact subclass."""
    found = [f"{path.relative_to(SRC)}:{node.lineno}" for path in sorted(SRC.rglob("*.py"))
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
             and isinstance(node.exc.func, ast.Name) and node.exc.func.id == "CharsmithError"]  # fmt: skip
    assert not found, found


def test_the_top_level_names_are_the_ones_type_checkers_see() -> None:
    """Every lazily loaded name is imported under TYPE_CHECKING from the same module, and the
    other way round; ``import charsmith`` does not load NumPy."""
    tree = ast.parse((SRC / "__init__.py").read_text())
    typed = {(node.module, a.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
             for a in node.names if node.module != "charsmith.errors" and node.module not in ("__future__", "typing")}  # fmt: skip
    lazy = {(module, name) for module, names in charsmith._LAZY.items() for name in names}
    assert typed == lazy
    assert set(charsmith.__all__) == {"__version__", *(n for _, n in lazy), *charsmith.errors.__all__} - {"plain"}
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import sys, charsmith; print('numpy' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ----- the same request through the three faces ------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One request: how Python asks it, the CLI's argv (with --json for answers), the web's
    (path, body) or None if the web has no such request, and the answer's comparable part."""

    name: str
    python: Callable[[], Any]
    argv: list[str]
    web: tuple[str, dict[str, Any]] | None
    answer: Callable[[str, Any], Any] | None = None  # (face, raw answer) -> comparable


def _samples(face: str, raw: Any) -> Any:
    if face == "python":
        return raw.samples if hasattr(raw, "samples") else raw
    if face == "cli":
        return raw["samples"]
    return [row["item"] for row in raw["items"]]


def _logprobs(face: str, raw: Any) -> Any:
    rows = raw if face == "python" else raw["scores"] if face == "cli" else raw["items"]
    # rounded as the web API rounds (4 places), then to 3: the same figure from every face
    return [(r.item, round(round(r.logprob, 4), 3)) if face == "python" else (r["item"], round(round(r["logprob"], 4), 3))
            for r in rows]


def _unknowns(face: str, raw: Any) -> Any:
    """Each item's count of characters the model never saw (charsmith.openvocab) and its log-probability."""
    rows = raw if face == "python" else raw["scores"] if face == "cli" else raw["items"]
    counts = [r.unknown_chars if face == "python" else r["unknown_chars"] for r in rows]
    return counts, _logprobs(face, raw)


def _classes(face: str, raw: Any) -> Any:
    if face == "python":
        return [(r.item, [(c, round(p, 3)) for c, p in r.probs]) for r in raw]
    rows = raw["classifications"] if face == "cli" else raw["items"]
    return [(r["item"], [(c["category"], round(c["probability"], 3)) for c in r["categories"]]) for r in rows]


def _completion(face: str, raw: Any) -> Any:
    if face == "web":
        return "ROMEO:" + "".join(msg.get("text", "") for msg in raw)
    return _samples(face, raw)[0]


def _eval(face: str, raw: Any) -> Any:
    return round(raw.loss if face == "python" else raw["loss"], 6)


def _load(name: str) -> charsmith.CharModel:
    return charsmith.load(name)


def cases(held_out: Path) -> list[Case]:
    G = charsmith.Generate
    names, langs, bard = (lambda: _load("names")), (lambda: _load("languages")), (lambda: _load("shakespeare"))
    return [
        # answers
        Case("sample", lambda: names().sample(5, seed=1), ["sample", "names", "-n", "5", "--seed", "1"],
             ("/api/sample", {"model": "names", "n": 5, "seed": 1}), _samples),
        Case("sample, default n", lambda: names().sample(seed=4), ["sample", "names", "--seed", "4"],
             ("/api/sample", {"model": "names", "seed": 4}), _samples),
        Case("sample, controls", lambda: names().sample(4, seed=2, temperature=0.7, top_k=5, top_p=0.9, unique=True),
             ["sample", "names", "-n", "4", "--seed", "2", "--temperature", "0.7", "--top-k", "5", "--top-p", "0.9",
              "--unique"],
             ("/api/sample", {"model": "names", "n": 4, "seed": 2, "temperature": 0.7, "top_k": 5, "top_p": 0.9,
                              "unique": True}), _samples),
        Case("constraints", lambda: names().sample(4, seed=3, prefix="ma", suffix="a", exclude="z", max_len=8),
             ["sample", "names", "-n", "4", "--seed", "3", "--prefix", "ma", "--suffix", "a", "--exclude", "z",
              "--max-len", "8"],
             ("/api/sample", {"model": "names", "n": 4, "seed": 3, "prefix": "ma", "suffix": "a", "exclude": "z",
                              "max_len": 8}), _samples),
        Case("pattern and contains", lambda: names().sample(3, seed=5, pattern="[aeiou].*", contains=["li"]),
             ["sample", "names", "-n", "3", "--seed", "5", "--pattern", "[aeiou].*", "--contains", "li"],
             ("/api/sample", {"model": "names", "n": 3, "seed": 5, "pattern": "[aeiou].*", "contains": ["li"]}),
             _samples),
        Case("beam", lambda: G(n=3, beam=4, prefix="jo").run(names()),
             ["sample", "names", "-n", "3", "--beam", "4", "--prefix", "jo"],
             ("/api/sample", {"model": "names", "n": 3, "beam": 4, "prefix": "jo"}), _samples),
        Case("most_likely", lambda: [s for s, _ in names().most_likely(3, beam=4, prefix="jo")],
             ["sample", "names", "-n", "3", "--beam", "4", "--prefix", "jo"], None, _samples),
        Case("category", lambda: langs().sample(3, seed=1, category="Italian"),
             ["sample", "languages", "-n", "3", "--seed", "1", "--category", "Italian"],
             ("/api/sample", {"model": "languages", "n": 3, "seed": 1, "category": "Italian"}), _samples),
        Case("complete, greedy, default length", lambda: bard().complete("ROMEO:", greedy=True),
             ["sample", "shakespeare", "--prefix", "ROMEO:", "--greedy"],
             ("/api/complete", {"model": "shakespeare", "prompt": "ROMEO:", "greedy": True}), _completion),
        Case("complete, seeded", lambda: bard().complete("ROMEO:", 60, seed=3),
             ["sample", "shakespeare", "--prefix", "ROMEO:", "--length", "60", "--seed", "3"], None, _completion),
        Case("score", lambda: names().score(["emma", "zoe"]), ["score", "names", "emma", "zoe"],
             ("/api/score", {"model": "names", "items": ["emma", "zoe"]}), _logprobs),
        Case("score one string", lambda: names().score("emma"), ["score", "names", "emma"],
             ("/api/score", {"model": "names", "items": "emma"}), _logprobs),
        Case("classify", lambda: langs().classify(["Rossi", "Nakamura"], top=2),
             ["classify", "languages", "Rossi", "Nakamura", "--top", "2"],
             ("/api/classify", {"model": "languages", "items": ["Rossi", "Nakamura"], "top": 2}), _classes),
        Case("classify one string", lambda: langs().classify("Rossi", top=1), ["classify", "languages", "Rossi",
             "--top", "1"], ("/api/classify", {"model": "languages", "items": "Rossi", "top": 1}), _classes),
        Case("classify, the faces' default top", lambda: langs().classify("Rossi", top=SHOWN_CATEGORIES),
             ["classify", "languages", "Rossi"], ("/api/classify", {"model": "languages", "items": "Rossi"}), _classes),
        Case("eval", lambda: names().evaluate(held_out), ["eval", "names", str(held_out)], None, _eval),
        # mistakes
        Case("n = 0", lambda: names().sample(0), ["sample", "names", "-n", "0"],
             ("/api/sample", {"model": "names", "n": 0})),
        Case("temperature = 0", lambda: names().sample(2, temperature=0.0), ["sample", "names", "--temperature", "0"],
             ("/api/sample", {"model": "names", "temperature": 0.0})),
        Case("top_p > 1", lambda: names().sample(2, top_p=1.5), ["sample", "names", "--top-p", "1.5"],
             ("/api/sample", {"model": "names", "top_p": 1.5})),
        Case("beam with temperature", lambda: G(n=3, beam=4, temperature=0.5).run(names()),
             ["sample", "names", "-n", "3", "--beam", "4", "--temperature", "0.5"],
             ("/api/sample", {"model": "names", "n": 3, "beam": 4, "temperature": 0.5})),
        Case("beam with seed", lambda: G(beam=2, seed=1).run(names()), ["sample", "names", "--beam", "2", "--seed", "1"],
             ("/api/sample", {"model": "names", "beam": 2, "seed": 1})),
        Case("greedy with top_k", lambda: bard().complete("A", 5, greedy=True, top_k=3),
             ["sample", "shakespeare", "--prefix", "A", "--length", "5", "--greedy", "--top-k", "3"],
             ("/api/complete", {"model": "shakespeare", "prompt": "A", "length": 5, "greedy": True, "top_k": 3})),
        Case("length on a list model", lambda: G(length=10).run(names()), ["sample", "names", "--length", "10"], None),
        Case("beam on a text model", lambda: G(beam=2).run(bard()), ["sample", "shakespeare", "--beam", "2"], None),
        Case("unknown prefix character", lambda: names().sample(2, prefix="a7"), ["sample", "names", "--prefix", "a7"],
             ("/api/sample", {"model": "names", "prefix": "a7"})),
        Case("min_len above max_len", lambda: names().sample(2, min_len=9, max_len=5),
             ["sample", "names", "--min-len", "9", "--max-len", "5"],
             ("/api/sample", {"model": "names", "min_len": 9, "max_len": 5})),
        Case("impossible constraints", lambda: names().sample(2, prefix="ab", max_len=2, suffix="c"),
             ["sample", "names", "--prefix", "ab", "--max-len", "2", "--suffix", "c"],
             ("/api/sample", {"model": "names", "prefix": "ab", "max_len": 2, "suffix": "c"})),
        Case("unknown category", lambda: langs().sample(2, category="Klingon"),
             ["sample", "languages", "--category", "Klingon"],
             ("/api/sample", {"model": "languages", "category": "Klingon"})),
        Case("category on a model without", lambda: names().score(["emma"], category="Italian"),
             ["score", "names", "emma", "--category", "Italian"],
             ("/api/score", {"model": "names", "items": ["emma"], "category": "Italian"})),
        Case("score an unknown character", lambda: names().score(["emma7"]), ["score", "names", "emma7"],
             ("/api/score", {"model": "names", "items": ["emma7"]}), _unknowns),
        Case("classify without categories", lambda: names().classify(["emma"]), ["classify", "names", "emma"],
             ("/api/classify", {"model": "names", "items": ["emma"]})),
        Case("classify top = 0", lambda: langs().classify(["Rossi"], top=0),
             ["classify", "languages", "Rossi", "--top", "0"],
             ("/api/classify", {"model": "languages", "items": ["Rossi"], "top": 0})),
        Case("eval a missing file", lambda: names().evaluate(held_out.with_name("missing.txt")),
             ["eval", "names", str(held_out.with_name("missing.txt"))], None),
    ]  # fmt: skip


def _run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    """Exit status, the --json answer, and stderr (argparse's refusals go to sys.stderr)."""
    out, err = io.StringIO(), io.StringIO()
    capsys.readouterr()
    code = cli.main(argv + ["--json"], out=out, err=err)
    return code, (json.loads(out.getvalue()) if code == 0 else None), err.getvalue() + capsys.readouterr().err


def _run_web(client: TestClient, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    r = client.post(path, json=body)
    if path == "/api/complete" and r.status_code == 200:
        return 200, [json.loads(line) for line in r.text.splitlines() if line]
    return r.status_code, r.json()


def _web_field(path: str) -> Callable[[str, str | None], str]:
    names = {"prefix": "prompt"} if path == "/api/complete" else {}

    def field(param: str, value: str | None) -> str:
        name = repr(names.get(param, param))
        return name if value is None else f"{name}: {json.dumps(value)}"

    return field


CASE_NAMES = [c.name for c in cases(Path("held.txt"))]
PARAMS = {"n = 0": "n", "temperature = 0": "temperature", "top_p > 1": "top_p", "beam with temperature": "temperature",
          "beam with seed": "seed", "greedy with top_k": "top_k", "length on a list model": "length",
          "beam on a text model": "beam", "unknown prefix character": "prefix", "min_len above max_len": "min_len",
          "unknown category": "category", "category on a model without": "category", "classify top = 0": "top"}  # the parameter each mistake is about


@pytest.mark.parametrize("name", CASE_NAMES)
def test_python_the_cli_and_the_web_agree(name: str, client: TestClient, held_out: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    case = next(c for c in cases(held_out) if c.name == name)
    try:
        raw, error = case.python(), None
    except (CharsmithError, OSError) as e:
        raw, error = None, e
    code, answer, err = _run_cli(case.argv, capsys)
    web = _run_web(client, *case.web) if case.web else None
    if error is None:
        assert case.answer is not None, f"{name} should have failed"
        expected = case.answer("python", raw)
        assert code == 0, err
        assert case.answer("cli", answer) == expected
        if web is not None:
            assert web[0] == 200, web
            assert case.answer("web", web[1]) == expected
        return
    assert case.answer is None, f"{name} failed in Python: {error!r}"
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    if name in PARAMS:
        assert getattr(error, "param", None) == PARAMS[name], error
    command = cli.build_parser().commands[case.argv[0]]
    if isinstance(error, CharsmithError):
        flag = cli._flag(command, error.param) if error.param else None
        if err.startswith("charsmith: error: argument"):  # the CLI's parser refused the value first
            assert flag is not None and f"argument {flag}" in err, (err, flag)
        else:  # the library's very error, in the CLI's words
            assert err == f"charsmith: error: {cli._message(error, command)}\n"
    if web is not None:
        path, _ = case.web  # type: ignore[misc]
        status, body = web
        assert isinstance(error, CharsmithError) and status == 422, (status, body)
        assert body.get("param") == (None if error.param is None else {"prefix": "prompt"}.get(error.param, error.param)
                                     if path == "/api/complete" else error.param)
        assert body["error"] == error.render(_web_field(path))


def test_the_default_length_is_the_libraries(capsys: pytest.CaptureFixture[str]) -> None:
    """200 characters whichever face asks (the CLI used to add 400)."""
    bard = charsmith.load("shakespeare")
    text = bard.complete("A", greedy=True)[0]
    assert len(text) == 1 + LENGTH == 201
    code, answer, _ = _run_cli(["sample", "shakespeare", "--prefix", "A", "--greedy"], capsys)
    assert code == 0 and answer["samples"] == [text]


def test_constraint_errors_say_which_constraints() -> None:
    with pytest.raises(ConstraintError) as info:
        charsmith.load("names").sample(2, min_len=9, max_len=5)
    assert info.value.param == "min_len" and "`min_len`" in str(info.value)


@pytest.mark.parametrize("argv, keys", [
    (["sample", "shakespeare", "--prefix", "A", "--length", "5", "--seed", "1"], {"samples"}),
    (["sample", "names", "-n", "2", "--beam", "3"], {"samples", "logprobs"}),
    (["sample", "names", "-n", "2", "--seed", "1"], {"samples", "drawn", "dropped_known", "dropped_duplicate", "method",
                                                     "acceptance"}),
])  # fmt: skip
def test_the_json_of_each_kind_of_answer(argv: list[str], keys: set[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, answer, _ = _run_cli(argv, capsys)
    assert code == 0 and set(answer) == keys | {"model"}
    assert answer["model"] == charsmith.load(argv[1]).describe() | {"parameters": answer["model"]["parameters"]}
    assert answer["model"]["parameters"] == charsmith.load(argv[1]).parameters > 0


def test_every_training_option_of_the_library_has_its_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """ema, freeze_steps and min_lr_ratio reach the run from the CLI; every other TrainConfig or
    ModelConfig field a user sets is an option of ``charsmith train`` too."""
    import dataclasses

    from charsmith.config import ModelConfig, TrainConfig

    data = tmp_path / "names.txt"
    data.write_text("\n".join(["anna", "bert", "carl", "dora", "emil", "frida"] * 3) + "\n")
    argv = ["train", str(data), "--out", str(tmp_path / "o"), "--steps", "2", "--hidden", "8", "--quiet",
            "--ema", "0.9", "--freeze-steps", "1", "--min-lr-ratio", "0.2"]
    assert cli.main(argv) == 0, capsys.readouterr().err
    train = json.loads((tmp_path / "o" / "config.json").read_text())["train"]
    assert (train["ema"], train["freeze_steps"], train["min_lr_ratio"]) == (0.9, 1, 0.2)
    settable = {f.name for f in dataclasses.fields(TrainConfig)} | {f.name for f in dataclasses.fields(ModelConfig)}
    settable -= {"vocab_size", "categories"}  # set by the data
    assert settable <= set(cli.TRAIN_OPTIONS)
    command = cli.build_parser().commands["train"]
    assert all(cli._flag(command, name).startswith("--") for name in cli.TRAIN_OPTIONS)
