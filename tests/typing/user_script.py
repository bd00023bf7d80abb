"""A user's script, checked by mypy in CI (``.ci/run``) and never run: it proves that the
top-level API is typed. ``assert_type`` fails the check if a type is not the one written;
each ``type: ignore`` fails it (warn_unused_ignores) if the mistake below it were not caught."""

from __future__ import annotations

from typing import Any, assert_type

import charsmith
from charsmith.kinds import AnyConfig


def use_a_model() -> None:
    m = charsmith.load("names")
    assert_type(m, charsmith.CharModel)
    r = m.sample(3, temperature=0.8, seed=1)
    assert_type(r, charsmith.SampleResult)
    assert_type(r.samples, list[str])
    assert_type(m.stream(2), charsmith.SampleStream)
    assert_type(m.most_likely(2), list[tuple[str, float]])
    assert_type(m.complete("ROMEO:", 40), list[str])
    scores = m.score(["emma", "zoe"])
    assert_type(scores, list[charsmith.ItemScore])
    assert_type(scores[0].nats_per_char, float)
    assert_type(m.classify("Rossi"), list[charsmith.Classification])
    assert_type(m.evaluate("held_out.txt"), charsmith.EvalResult)
    assert_type(m.describe(), dict[str, Any])
    assert_type(charsmith.Generate(n=3, beam=4).run(m), charsmith.SampleResult)
    m.sampel(3)  # type: ignore[attr-defined]
    m.sample("3")  # type: ignore[arg-type]
    charsmith.lod("names")  # type: ignore[attr-defined]


def train_one() -> None:
    def report(p: charsmith.Progress) -> None:
        assert_type(p.step, int)

    m = charsmith.train("names.txt", "runs/names", on_progress=report, hidden=64, steps=100)
    assert_type(m, charsmith.CharModel)
    assert_type(m.ckpt.model, AnyConfig)  # a network, an n-gram model or their mixture


def catch() -> None:
    try:
        use_a_model()
    except charsmith.InputError as e:
        assert_type(e.param, str | None)
    except charsmith.CharsmithError as e:
        assert_type(e.render(lambda name, value: name), str)
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("error", charsmith.CharsmithWarning)
