"""The n-gram model and the mixture: against a brute-force count, as distributions, and
through the same generation, scoring, classification and checkpoint code as the network."""

from __future__ import annotations

import itertools
import zipfile
from collections import Counter, defaultdict

import numpy as np
import pytest
from conftest import known_only

from charsmith import kinds, mixture, ngram, smalllists
from charsmith import model as M
from charsmith._novelty import item_hashes
from charsmith.api import CharModel, load
from charsmith.categories import Categories
from charsmith.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from charsmith.cli import main
from charsmith.config import ModelConfig, TrainConfig
from charsmith.generation import Stepper
from charsmith.vocab import Vocab

ITEMS = ["abba", "abc", "ba", "cab", "a", "bcb", "abab", "cc"]


def _discounts(a: list[int]) -> tuple[float, float, float]:
    n = [sum(1 for x in a if x == r) for r in (1, 2, 3, 4)]
    y = min(max(n[0] / (n[0] + 2 * n[1]) if n[0] + n[1] else 0.5, 0.05), 0.95)
    out = []
    for r in (1, 2, 3):
        d = r - (r + 1) * y * n[r] / n[r - 1] if n[r - 1] and n[r] else y
        out.append(d if 0 < d <= r else y)
    return out[0], out[1], out[2]


def brute_force(items: list[str], vocab: Vocab, N: int):
    """P(w | h) by the textbook recursion over Python dicts: a separate reading of the method."""
    V = vocab.size
    seqs = [[0] * (N - 1) + list(vocab.encode(s)) + [0] for s in items]
    grams: Counter[tuple[int, ...]] = Counter()
    for s in seqs:
        for t in range(N - 1, len(s)):
            grams[tuple(s[t - N + 1 : t + 1])] += 1
    counts = {N: dict(grams)}  # m -> {m-gram: a}
    for m in range(N - 1, 0, -1):
        raw: Counter[tuple[int, ...]] = Counter()
        left: defaultdict[tuple[int, ...], set[int]] = defaultdict(set)
        for g, c in grams.items():
            raw[g[N - m :]] += c
        for g in counts[m + 1]:
            left[g[1:]].add(g[0])
        counts[m] = {g: (raw[g] if g[0] == 0 else len(left[g])) for g in raw}
    D = {m: _discounts(list(counts[m].values())) for m in counts}

    def p(w: int, h: tuple[int, ...]) -> float:
        m = len(h) + 1
        lower = p(w, h[1:]) if h else 1.0 / V
        rows = {g: a for g, a in counts[m].items() if g[:-1] == h}
        total = sum(rows.values())
        if total == 0:
            return lower
        d = lambda a: D[m][min(a, 3) - 1]  # noqa: E731
        gamma = sum(d(a) for a in rows.values()) / total
        return max(rows.get(h + (w,), 0) - d(rows.get(h + (w,), 1)), 0) / total + gamma * lower

    return p


@pytest.fixture(scope="module")
def vocab() -> Vocab:
    return Vocab.from_texts(ITEMS)


def _fit(vocab: Vocab, N: int, items: list[str] = ITEMS, **kw):
    return ngram.fit([vocab.encode(s) for s in items], vocab.size, N, **kw)


@pytest.mark.parametrize("N", [1, 2, 3, 4])
def test_matches_brute_force_and_every_distribution_sums_to_one(vocab: Vocab, N: int) -> None:
    cfg, params = _fit(vocab, N)
    p = brute_force(ITEMS, vocab, N)
    V = vocab.size
    contexts = list(itertools.product(range(V), repeat=N - 1))  # every window, seen or not ([()] for N = 1)
    windows = np.array(contexts, dtype=np.int64).reshape(len(contexts), N - 1)
    probs, _ = ngram.lookup(params, cfg, windows, np.zeros(len(windows), dtype=np.int64))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=0, atol=1e-12)  # every context, seen or not
    for window, row in zip(windows, probs):
        h = tuple(int(x) for x in window)
        expected = [p(w, h) for w in range(V)]
        np.testing.assert_allclose(row, expected, rtol=1e-12, atol=1e-15, err_msg=f"context {h}")
    ngram.check_params(params, cfg, finite=True)


def _ckpt(vocab: Vocab, N: int = 3) -> Checkpoint:
    cfg, params = _fit(vocab, N)
    return Checkpoint(cfg, vocab, params, TrainConfig(), item_hashes(ITEMS), {"mode": "lines"})


def _stepped(m: CharModel, vocab: Vocab, item: str) -> float:
    """log P(item) summed over the Stepper's steps (the way generation reads the model),
    each step's distribution checked to sum to 1."""
    ids = np.concatenate(([0], vocab.encode(item), [0]))
    stepper = m.stepper(habits=False)
    x, rows = stepper.prime(ids[:1], 1)
    total = 0.0
    for target in ids[1:]:
        logits, rows = stepper.step(x, rows)
        assert np.exp(logits).sum() == pytest.approx(1.0, abs=1e-9)
        total += float(logits[0, target])
        x = np.array([target])
    return total


def test_scores_are_the_steps_of_the_stepper(vocab: Vocab) -> None:
    m = CharModel(_ckpt(vocab))
    for item in ["abc", "cabba", "a"]:
        # generation reads the known symbols alone: without the unknown class's share (charsmith.openvocab)
        assert known_only(m, m.score([item]))[0].logprob == pytest.approx(_stepped(m, vocab, item), abs=1e-9)


def test_samples_beam_and_constraints_go_through_generation(vocab: Vocab) -> None:
    m = CharModel(_ckpt(vocab))
    out = m.sample(20, seed=3, max_draws=100_000)
    assert len(out.samples) == 20 and not set(out.samples) & set(ITEMS)  # known items dropped
    again = m.sample(20, seed=3, max_draws=100_000)
    assert out.samples == again.samples
    assert all(s.startswith("ca") and s.endswith("b") for s in m.sample(5, prefix="ca", suffix="b", seed=1).samples)
    assert all(set(s) <= {"a", "b"} for s in m.sample(5, pattern="[ab]+", seed=1).samples)
    best = m.most_likely(3, allow_known=True)
    lp = [s for _, s in best]
    assert lp == sorted(lp, reverse=True)
    assert best[0][1] == pytest.approx(m.score([best[0][0]])[0].logprob, abs=1e-9)


def test_categories_classify_and_blend(vocab: Vocab) -> None:
    items = ["aaa", "aab", "aa", "bbb", "bba", "bb"]
    cats = np.array([0, 0, 0, 1, 1, 1])
    cfg, params = _fit(vocab, 2, items, cats=cats, categories=2)
    ck = Checkpoint(cfg, vocab, params, TrainConfig(), item_hashes(items), {"mode": "lines"},
                    Categories(("A", "B"), (3, 3)))
    m = CharModel(ck)
    got = m.classify(["aaaa", "bbbb"])
    assert [c.best for c in got] == ["A", "B"]
    assert all(set(s) <= set("abc") for s in m.sample(5, category="A=0.5,B=0.5", seed=0).samples)
    stepper = Stepper(params, cfg, cond=np.array([0.5, 0.5]))
    logits, _ = stepper.step(*stepper.prime(np.array([0]), 1))
    assert np.exp(logits).sum() == pytest.approx(1.0)


def test_checkpoint_round_trip_without_pickles(vocab: Vocab, tmp_path) -> None:
    ck = _ckpt(vocab, 4)
    save_checkpoint(tmp_path / "c", ck)
    back = load_checkpoint(tmp_path / "c")
    assert back.model == ck.model
    for k, v in ck.params.items():
        np.testing.assert_array_equal(back.params[k], v)
    weights = next((tmp_path / "c").glob("weights-*.npz"))
    with zipfile.ZipFile(weights) as z:  # plain arrays: loading with allow_pickle=False reads them all
        assert all(n.endswith(".npy") for n in z.namelist())
    with np.load(weights, allow_pickle=False) as z:
        assert z["keys3"].dtype == np.int64
    assert load(tmp_path / "c").score(["abc"])[0].logprob == pytest.approx(CharModel(ck).score(["abc"])[0].logprob)


def test_a_corrupt_table_is_refused(vocab: Vocab) -> None:
    cfg, params = _fit(vocab, 2)
    params["probs1"] = params["probs1"] * 0.5
    with pytest.raises(Exception, match="not distributions"):
        Checkpoint(cfg, vocab, params, TrainConfig(), None, {"mode": "lines"})


def test_mixture_is_a_model_like_any_other(vocab: Vocab, tmp_path) -> None:
    net_cfg = ModelConfig("gru", vocab.size, 8, embed=4)
    net = M.init_params(net_cfg, np.random.default_rng(0), np.float64)
    ng_cfg, ng = _fit(vocab, 3)
    cfg = mixture.MixtureConfig(net_cfg, ng_cfg, nets=2)
    params = mixture.join([net, M.init_params(net_cfg, np.random.default_rng(1), np.float64)], ng,
                          np.linspace(0.2, 0.8, 4))
    ck = Checkpoint(cfg, vocab, params, TrainConfig(), item_hashes(ITEMS), {"mode": "lines"})
    save_checkpoint(tmp_path / "m", ck)
    m = load(tmp_path / "m")
    assert isinstance(m.ckpt.model, mixture.MixtureConfig)
    assert known_only(m, m.score(["abcab"]))[0].logprob == pytest.approx(_stepped(m, vocab, "abcab"), abs=1e-6)
    assert len(m.sample(3, seed=0).samples) == 3


def test_mixture_weights_follow_the_better_model() -> None:
    rng = np.random.default_rng(0)
    used = rng.integers(-1, 3, 2000)
    p_net = np.where(used >= 1, 0.1, 0.6)  # the network is better where the n-gram context is short
    p_ng = np.where(used >= 1, 0.6, 0.1)
    w = mixture.fit_weights(p_net, p_ng, used, 3)
    assert w[0] > 0.8 and w[1] > 0.8 and w[2] < 0.2 and w[3] < 0.2


def test_kind_of_a_saved_config() -> None:
    assert isinstance(kinds.config_from_json({"cell": "gru", "vocab_size": 3, "hidden": 2}), ModelConfig)
    with pytest.raises(ValueError, match="unknown model kind"):
        kinds.config_from_json({"kind": "transformer"})


def test_cli_ngram(tmp_path, capsys, monkeypatch) -> None:
    data = tmp_path / "names.txt"
    data.write_text("\n".join(["Aoife", "Brigid", "Ciara", "Deirdre", "Eithne", "Fionnuala", "Grainne", "Orla",
                               "Niamh", "Siobhan", "Roisin", "Sinead"]) + "\n", encoding="utf-8")
    assert main(["train", str(data), "--model", "ngram", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr()
    assert "chose ngram-" in out.out and ": Kneser-Ney" in out.out and "ngram-3" in out.err
    assert main(["sample", str(tmp_path / "r"), "-n", "3", "--seed", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["train", str(data), "--model", "ngram", "--init", "names", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "init" in err
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("Zork\nZorba\n", encoding="utf-8")
    monkeypatch.setattr(smalllists, "STARTS", ())  # no bundled start: a tiny list gets the n-gram model alone
    assert main(["train", str(tiny), "--out", str(tmp_path / "t")]) == 0
    out = capsys.readouterr()
    assert "note: a tiny list (2 items): too few to learn from alone;" in out.err and "Kneser-Ney" in out.out


def test_habits_keep_alphabet_and_casing(vocab: Vocab) -> None:
    from charsmith.habits import allowed_next, of_items

    items = ["Dublin", "Cork", "Galway", "Sligo"]
    v = Vocab.from_texts([*items, "xQ"])  # a vocabulary that knows more than the list (as a base's does)
    h = of_items(items)
    assert not h["capital_inside"] and not h["small_start"]
    ok = allowed_next(v, h)
    assert ok is not None
    idx = v.chars.index
    assert not ok[idx("u"), idx("C")] and ok[idx("u"), idx("b")]  # no capital after a letter
    assert not ok[0, idx("u")] and ok[0, idx("C")]  # no small first letter
    assert not ok[:, idx("x")].any() and not ok[:, idx("Q")].any()  # outside the list's alphabet
    assert ok[:, 0].all()  # an item may always end
    everything = of_items(["a" + v.chars[1:], "Dq"])  # every character, a small start, a capital inside
    assert allowed_next(v, everything) is None
    cfg, params = ngram.fit([v.encode(s) for s in items], v.size, 2)
    m = CharModel(Checkpoint(cfg, v, params, TrainConfig(), item_hashes(items), {"mode": "lines", "habits": h}))
    got = m.sample(200, seed=0).samples
    assert all(s[0].isupper() and not any(c.isupper() for c in s[1:]) and not set(s) & {"x", "Q"} for s in got)
    free = m.sample(200, seed=0, habits=False).samples  # the model's own distribution breaks them
    assert any(not s[0].isupper() or any(c.isupper() for c in s[1:]) for s in free)


def test_novel_edits_drops_near_copies(vocab: Vocab) -> None:
    from charsmith._novelty import is_near_known

    known = item_hashes(["abba", "cab"])
    got = is_near_known(["abba", "abb", "abbaa", "xbba", "ab", "cb", "cabba", "bc"], known, "abcx")
    assert got.tolist() == [True, True, True, True, True, True, True, False]  # ab: cab less c; cabba: abba plus c
    m = CharModel(_ckpt(vocab))
    out = m.sample(30, seed=2, novel_edits=1, max_draws=200_000)
    near = is_near_known(out.samples, item_hashes(ITEMS), "abc")
    assert not near.any() and out.dropped_known > 0


def test_the_web_page_serves_an_ngram_model(tmp_path) -> None:
    pytest.importorskip("starlette", reason="the web extra is not installed (pip install -e '.[web,test]')")
    from starlette.testclient import TestClient

    from charsmith._novelty import is_near_known
    from charsmith.web import Models, create_app

    data = tmp_path / "names.txt"
    names = ["Aoife", "Brigid", "Ciara", "Deirdre", "Eithne", "Orla", "Niamh", "Siobhan", "Roisin", "Sinead"]
    data.write_text("\n".join(names) + "\n", encoding="utf-8")
    out = tmp_path / "irish"
    assert main(["train", str(data), "--model", "ngram", "--out", str(out), "--quiet"]) == 0
    with TestClient(create_app(Models.load([str(out)]))) as client:
        models = {m["name"]: m for m in client.get("/api/models").json()["models"]}
        name = next(n for n in models if n not in charsmith_bundled())
        assert models[name]["cell"] == "ngram" and models[name]["supports"]["sample"]
        r = client.post("/api/sample", json={"model": name, "n": 8, "seed": 1, "novel_edits": 1})
        assert r.status_code == 200, r.text
        items = [row["item"] for row in r.json()["items"]]
        assert len(items) == 8 and not is_near_known(items, item_hashes(names), "".join(sorted(set("".join(names))))).any()
        assert items == load(out).sample(8, seed=1, novel_edits=1).samples
        scored = client.post("/api/score", json={"model": name, "items": ["Aoife"]}).json()["items"][0]
        assert scored["logprob"] == pytest.approx(load(out).score(["Aoife"])[0].logprob, abs=1e-3)  # rounded
        bad = client.post("/api/sample", json={"model": name, "n": 3, "beam": 3, "novel_edits": 1})
        assert bad.status_code == 422 and "novel_edits" in bad.json()["error"]


def charsmith_bundled() -> list[str]:
    from charsmith.api import bundled_models

    return bundled_models()
