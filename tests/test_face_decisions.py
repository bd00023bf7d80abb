"""The decisions the CLI and the web API used to make themselves, now the library's: the
server's limits, rating items (bits per character, novelty), what a model writes, how many
items fell short, held-out items per category, a run's preview and the items of a file."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from charsmith import smalllists
from charsmith._corpus import LinesCorpus, TextCorpus, make_labelled_corpus
from charsmith._labelled import read_file_items, read_labelled
from charsmith._rating import rate, sample_rated
from charsmith._reading import MAX_ITEM_CHARS, read_items
from charsmith.api import CharModel, load
from charsmith.errors import DataError, InputError
from charsmith.generation import SampleStream
from charsmith.request import LENGTH, Generate
from charsmith.web.limits import LimitError, Limits


@pytest.fixture(scope="module")
def dinos() -> CharModel:
    return load("dinosaurs")


def test_what_a_model_writes(dinos: CharModel) -> None:
    assert dinos.writes_lists and not load("shakespeare").writes_lists


@pytest.mark.parametrize(("ask", "limit", "param", "message"), [
    (Generate(n=101), "max_n", "n", "n is 101, over this server's limit of 100 (max_n)"),
    (Generate(max_len=65), "max_len", "max_len", "max_len is 65, over this server's limit of 64 (max_len)"),
    (Generate(n=3, beam=33), "max_beam", "beam", "beam is 33, over this server's limit of 32 (max_beam)"),
])
def test_limits_of_a_request_for_items(dinos: CharModel, ask: Generate, limit: str, param: str,
                                      message: str) -> None:
    with pytest.raises(LimitError) as e:
        Limits().check_generate(ask, dinos)
    assert (e.value.limit, e.value.param, str(e.value)) == (limit, param, message)
    assert isinstance(e.value, InputError)
    again = pickle.loads(pickle.dumps(e.value))
    assert (type(again), again.limit, again.param, str(again)) == (LimitError, limit, param, message)
    Limits().check_generate(Generate(n=100, max_len=64), dinos)  # at the limits: allowed
    with pytest.raises(LimitError):  # n not given: the library's default count is what is checked
        Limits(max_n=9).check_generate(Generate(), dinos)


def test_limits_of_a_completion_and_of_items() -> None:
    with pytest.raises(LimitError, match=rf"length is {LENGTH}, over this server's limit of 10 \(max_length\)"):
        Limits(max_length=10).check_completion("", None)  # None: the library's default length
    with pytest.raises(LimitError, match=r"the prompt's length is 3, over .* \(max_prompt\)") as e:
        Limits(max_prompt=2).check_completion("abc", 5)
    assert e.value.param == "prompt"
    with pytest.raises(InputError, match="nothing to score: 'items' is empty") as empty:
        Limits().check_items([], "score")
    assert not isinstance(empty.value, LimitError)
    with pytest.raises(LimitError, match=r"the longest item's length is 4, .* \(max_item_chars\)"):
        Limits(max_item_chars=3).check_items(["ab", "abcd"], "classify")
    with pytest.raises(LimitError, match=r"the number of items is 3, .* \(max_items\)"):
        Limits(max_items=2).check_items(["a", "b", "c"], "score")


def test_rate_scores_and_marks_novelty(dinos: CharModel) -> None:
    rated = rate(dinos, ["Tyrannosaurus", "Zzqxosaurus"])
    assert [r.novel for r in rated] == [False, True]
    scores = dinos.score(["Tyrannosaurus", "Zzqxosaurus"])
    assert [r.score.logprob for r in rated] == [s.logprob for s in scores]
    row = rated[0].to_json(chars=True)
    assert row["bits_per_char"] == round(scores[0].bits_per_char, 4)
    assert len(row["surprisal_bits"]) == len("Tyrannosaurus") + 1  # the end token last
    assert "surprisal_bits" not in rated[0].to_json()
    assert all(r.novel is None for r in rate(load("shakespeare"), ["to be"]))  # a text model keeps no record


def test_sample_rated_is_the_sample_scored(dinos: CharModel) -> None:
    ask = Generate(n=6, seed=3)
    found = sample_rated(dinos, ask)
    assert found.result.samples == ask.run(dinos).samples
    assert [r.score.item for r in found.items] == found.result.samples and found.short_by == 0
    assert all(r.novel for r in found.items)  # known items are dropped unless allow_known
    out = found.to_json()
    assert set(out) == {"items", "short_by", "drawn", "dropped_known", "dropped_duplicate"}
    beam = sample_rated(dinos, Generate(n=2, beam=4)).to_json()
    assert set(beam) == {"items", "short_by"}


def test_a_stream_says_how_many_it_fell_short(dinos: CharModel) -> None:
    stream = Generate(n=40, seed=0, max_draws=30).start(dinos)
    assert isinstance(stream, SampleStream)
    assert stream.short_by == 40  # nothing handed out yet
    items = list(stream)
    assert 0 < stream.short_by == 40 - len(items)
    result = Generate(n=40, seed=0, max_draws=30).run(dinos)
    assert result.short_by(40) == stream.short_by


def test_held_out_items_per_category(tmp_path: Path) -> None:
    path = tmp_path / "cats.tsv"
    path.write_text("".join(f"{c}\t{c}{i}\n" for c in ("a", "b", "c") for i in range(10 * (ord(c) - 96))))
    corpus = make_labelled_corpus(read_labelled(path, lowercase=False), val_fraction=0.2,
                                  rng=np.random.default_rng(0))
    counts = corpus.val_counts
    assert corpus.categories is not None and corpus.val_cats is not None
    assert len(counts) == corpus.categories.size and sum(counts) == len(corpus.val)
    assert list(counts) == np.bincount(corpus.val_cats, minlength=3).tolist() and counts[2] > counts[0] > 0
    plain = LinesCorpus.from_text("x\ny\nz\n", lowercase=False, val_fraction=0.0, rng=np.random.default_rng(0))
    assert plain.val_counts == ()
    text = TextCorpus.from_text("some running text " * 20, lowercase=False, val_fraction=0.1,
                                rng=np.random.default_rng(0))
    assert text.val_counts == () and not smalllists.tiny_list(text)


def test_tiny_list_counts_the_held_out_items() -> None:
    rng = np.random.default_rng(0)
    five = LinesCorpus.from_text("a\nb\nc\nd\ne\n", lowercase=False, val_fraction=0.0, rng=rng)
    six = LinesCorpus.from_text("a\nb\nc\nd\ne\nf\n", lowercase=False, val_fraction=0.5, rng=rng)
    assert smalllists.tiny_list(five) and not smalllists.tiny_list(six)


def test_preview_is_the_seeded_sample(dinos: CharModel) -> None:
    assert dinos.preview(seed=4) == dinos.sample(5, seed=4).samples
    with pytest.raises(InputError):
        load("shakespeare").preview(seed=0)


def test_read_items(tmp_path: Path) -> None:
    path = tmp_path / "items.txt"
    path.write_text("  Anna \n\nBob\n")
    assert read_items(path) == ["Anna", "Bob"]
    path.write_text("x" * (MAX_ITEM_CHARS + 1) + "\n")  # longer than a training list's line: the scorer's to judge
    assert read_items(path) == ["x" * (MAX_ITEM_CHARS + 1)]
    path.write_text("\n \n")
    with pytest.raises(DataError, match=r"items\.txt"):
        read_items(path)
    tsv = tmp_path / "labelled.tsv"
    tsv.write_text("bo\tgadolon\nki\t kisetiki\n")
    assert read_file_items(tsv) == (["gadolon", "kisetiki"], ["bo", "ki"])  # the items, and their categories
    path.write_text("Anna\nBob\n")
    assert read_file_items(path) == (["Anna", "Bob"], None)


def test_results_as_json(dinos: CharModel, tmp_path: Path) -> None:
    s = dinos.score(["Tyrannosaurus"])[0]
    assert s.to_json() == {"item": "tyrannosaurus", "logprob": s.logprob, "nats_per_char": s.nats_per_char,
                           "bits_per_char": s.bits_per_char, "n_chars": 14, "unknown_chars": 0}
    path = tmp_path / "held.txt"
    path.write_text("zuniceratops\nraptorä\n")
    r = dinos.evaluate(path)
    out = r.to_json()
    assert out["loss"] == r.loss and out["n_items"] == 1 and out["unknown_chars"] == 1
    assert r.unknown is not None and out["with_unknown"] == {"loss": r.unknown.loss, "n_chars": r.unknown.n_chars,
                                                             "bits_per_char": r.unknown.bits_per_char, "n_items": 1}
    c = load("languages").classify(["Rossi"], top=2)[0]
    assert c.to_json() == {"item": "Rossi", "unknown_chars": 0,
                           "categories": [{"category": n, "probability": p} for n, p in c.probs]}
    stream = Generate(n=5, seed=1, unique=True).start(dinos)
    assert isinstance(stream, SampleStream)
    found = stream.result()
    assert stream.counts() == {k: v for k, v in found.to_json().items() if k != "samples"}
