"""Every wrong argument of the Python API is an InputError naming its parameter, raised before
any data is read or any model work starts (a seeded table over every parameter and a seeded
fuzz over combinations): never a TypeError, an AttributeError or a NumPy error."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import charsmith
from charsmith.errors import CharsmithError, InputError

BAD: dict[str, list[Any]] = {  # wrong values of each kind
    "int>=1": [0, -1, 1.5, math.nan, "3", True, [1]],
    "int>=0": [-1, 1.5, math.nan, math.inf, "3", True, [1]],
    "positive": [0, -1.0, math.nan, math.inf, "1", True, [1]],
    "probability": [0, 1.5, -0.1, math.nan, "1", True],
    "fraction": [1.0, 1.5, -0.1, math.nan, "0.5", True],
    "str": [None, 3, b"a", ["a"]],
    "str or None": [3, b"a", ["a"]],
    "strs": [None, 3, [3], b"a", [b"a"], {"a": 1}],
    "bool": [None, 1, "yes", 0.0],
    "category": [3, ["a"], 1.5, {1: 0.5}],
    "rng": [1, "x", np.random.RandomState(0)],
    "path": [None, 3, ["a"]],
}
KIND = {
    "n": "int>=1", "beam": "int>=1", "particles": "int>=1", "max_draws": "int>=1", "max_len": "int>=1",
    "top": "int>=1", "top_k": "int>=0", "min_len": "int>=0", "seed": "int>=0", "length": "int>=0",
    "temperature": "positive", "timeout": "positive", "top_p": "probability", "prefix": "str", "suffix": "str",
    "exclude": "str", "prompt": "str", "pattern": "str or None", "contains": "strs", "items": "strs",
    "allow_known": "bool", "unique": "bool", "greedy": "bool", "uniform_prior": "bool", "category": "category",
    "rng": "rng", "path": "path",
}  # fmt: skip
SAMPLE = ["n", "temperature", "top_k", "top_p", "prefix", "suffix", "contains", "exclude", "pattern", "max_len",
          "min_len", "seed", "rng", "allow_known", "unique", "particles", "max_draws", "timeout", "category"]
METHODS: dict[str, tuple[str, dict[str, Any], list[str]]] = {  # method: (model, valid arguments, parameters)
    "sample": ("names", {"n": 2, "seed": 0}, SAMPLE),
    "stream": ("names", {"n": 2, "seed": 0}, SAMPLE),
    "most_likely": ("names", {"n": 2}, ["n", "beam", "prefix", "suffix", "contains", "exclude", "pattern",
                                        "max_len", "min_len", "allow_known", "timeout", "category"]),
    "complete": ("shakespeare", {"prompt": "A", "length": 5, "seed": 0},
                 ["prompt", "length", "n", "temperature", "top_k", "top_p", "seed", "pattern", "exclude", "suffix",
                  "contains", "min_len", "max_len", "particles", "max_draws", "timeout"]),
    "complete_stream": ("shakespeare", {"prompt": "A", "length": 5, "seed": 0},
                        ["prompt", "length", "temperature", "top_k", "top_p", "seed", "pattern", "exclude",
                         "timeout"]),
    "score": ("names", {"items": ["emma"]}, ["items", "timeout", "category"]),
    "classify": ("languages", {"items": ["Rossi"]}, ["items", "top", "uniform_prior", "timeout"]),
    "is_known": ("names", {"items": ["emma"]}, ["items"]),
    "evaluate": ("names", {}, ["path", "category"]),
}
TRAIN = {"seed": "int>=0", "hidden": "int>=1", "layers": "int>=1", "batch_size": "int>=1", "steps": "int>=0",
         "embed": "int>=0", "lr": "positive", "dropout": "fraction", "init": "str", "lowercase": "bool"}

MODELS: dict[str, charsmith.CharModel] = {}


def model(name: str) -> charsmith.CharModel:
    if name not in MODELS:
        MODELS[name] = charsmith.load(name)
    return MODELS[name]


def call(method: str, args: dict[str, Any], held_out: Path) -> Any:
    name, valid, _ = METHODS[method]
    fn: Callable[..., Any] = getattr(model(name), method)
    kwargs = {**valid, **({"path": held_out} if method == "evaluate" else {}), **args}
    if method == "evaluate":
        return fn(kwargs.pop("path"), **kwargs)
    return fn(**kwargs)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("args") / "held.txt"
    path.write_text("emma\nzoe\n")
    return path


TABLE = [(method, param, value) for method, (_, _, params) in METHODS.items() for param in params
         for value in BAD[KIND[param]]]  # fmt: skip
random.Random(16).shuffle(TABLE)


@pytest.mark.parametrize("method, param, value", TABLE, ids=[f"{m}-{p}-{v!r}"[:60] for m, p, v in TABLE])
def test_a_wrong_argument_is_an_input_error_naming_it(method: str, param: str, value: Any, held_out: Path) -> None:
    with pytest.raises(InputError) as info:
        result = call(method, {param: value}, held_out)
        if method == "complete_stream":
            "".join(result)
    assert info.value.param == param, (str(info.value), info.value.param)
    assert f"`{param}`" in str(info.value)


@pytest.mark.parametrize("option, value", [(o, v) for o, kind in TRAIN.items() for v in BAD[kind]
                                           if v is not None])  # None: not given
def test_a_wrong_training_option_is_refused_before_the_data_is_read(option: str, value: Any, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-file.txt"  # reading it would be a FileNotFoundError, not an InputError
    with pytest.raises(InputError) as info:
        charsmith.train(missing, tmp_path / "out", **{option: value})
    assert info.value.param == option
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, param", [({"out": 3}, "out"), ({"resume": "yes"}, "resume"), ({"force": 1}, "force"),
                                         ({"resume": True, "force": True}, "force")])
def test_train_checks_its_own_arguments_first(args: dict[str, Any], param: str, tmp_path: Path) -> None:
    out = args.pop("out", tmp_path / "out")
    with pytest.raises(InputError) as info:
        charsmith.train(tmp_path / "missing.txt", out, **args)
    assert info.value.param == param


@pytest.mark.parametrize("value", BAD["path"])
def test_load_checks_its_argument(value: Any) -> None:
    with pytest.raises(InputError) as info:
        charsmith.load(value)
    assert info.value.param == "name_or_path"


def test_a_string_is_one_item() -> None:
    """issue 22, item 7: a string where a list of items is expected is one item, as in the web API."""
    names, langs = model("names"), model("languages")
    assert [s.item for s in names.score("abc")] == ["abc"]
    assert names.score("emma")[0].logprob == names.score(["emma"])[0].logprob
    assert [r.item for r in langs.classify(items="rossi")] == ["rossi"]
    assert names.is_known("emma") == [True]
    assert names.sample(2, seed=0, contains="li").samples == names.sample(2, seed=0, contains=["li"]).samples


@pytest.mark.parametrize("kwargs, param", [({"max_draws": math.nan}, "max_draws"), ({"contains": None}, "contains"),
                                           ({"seed": 1.5}, "seed"), ({"rng": 1}, "rng")])
def test_the_cases_of_issue_22(kwargs: dict[str, Any], param: str) -> None:
    with pytest.raises(InputError) as info:
        model("names").sample(3, **kwargs)
    assert info.value.param == param


GOOD: dict[str, list[Any]] = {  # right values of each kind, small enough to run fast
    "int>=1": [1, 2, 3, np.int64(2)], "int>=0": [0, 1, 2], "positive": [0.5, 1, 2.0],
    "probability": [0.5, 0.9, 1.0], "str": ["", "a", "ma"], "str or None": [None, "a.*", "[aeiou]+"],
    "strs": [[], "a", ["a"], ("e", "a")], "bool": [True, False], "category": [None],
    "rng": [None, np.random.default_rng(0)], "path": [],
}  # fmt: skip


def test_fuzz_combinations_never_escape_the_error_family(held_out: Path) -> None:
    """300 seeded calls, each with one to three arguments drawn from right and wrong values:
    an answer, or a CharsmithError, never another exception."""
    rng = random.Random(22)
    for _ in range(300):
        method = rng.choice(list(METHODS))
        params = METHODS[method][2]
        args = {}
        for param in rng.sample(params, min(len(params), rng.randint(1, 3))):
            pool = GOOD[KIND[param]] + BAD[KIND[param]]
            args[param] = rng.choice(pool)
        if "timeout" not in args and "timeout" in params:
            args["timeout"] = 5
        try:
            result = call(method, args, held_out)
            if method in ("stream", "complete_stream"):
                list(result)
        except CharsmithError:
            pass
        except Exception as e:  # noqa: BLE001 (the point: no other exception)
            raise AssertionError(f"{method}({args}) raised {e!r}") from e
