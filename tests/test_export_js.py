"""The js export in Node, against charsmith and the spec's Python reference.

For every bundled model, a model with categories (``languages``) and a small random one of
the other kinds (rnn cell, one-hot input, two layers, categories):

- log-probs of 1,000 items equal charsmith's to 1e-5 nats/char;
- seeded samples (and completions) identical to the Python reference of the spec;
- the length and first-letter distributions of 20,000 draws within the noise of 20,000 draws
  of ``charsmith sample`` (the bound is derived below; a negative control shows it can fail);
- prefix, length bounds, categories and blends, and the known set honoured.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import known_only

import charsmith
from charsmith.api import CharModel
from charsmith.categories import Categories
from charsmith.checkpoint import Checkpoint
from charsmith.config import ModelConfig, TrainConfig
from charsmith.export import export
from charsmith.export._spec import Generator, fnv1a32
from charsmith.model import init_params
from charsmith.vocab import Vocab

NODE = shutil.which("node")
DRIVER = Path(__file__).with_name("export_node.mjs")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (apt-get install nodejs)")
BUNDLED = ["dinosaurs", "languages", "names", "shakespeare"]
TOL = 1e-5  # nats/char


def tiny_model() -> CharModel:
    """A random rnn model with one-hot inputs, two layers and three categories (weights scaled
    up so that its distribution is far from uniform)."""
    vocab = Vocab("\nabcdefgh")
    cfg = ModelConfig(cell="rnn", vocab_size=vocab.size, hidden=12, layers=2, embed=0, dropout=0.0, categories=3,
                      cat_embed=4)
    params = {k: v * 3 for k, v in init_params(cfg, np.random.default_rng(5)).items()}
    params["b_out"][0] = 1.0  # items end soon enough
    cats = Categories(("x", "y", "z"), (5, 3, 2))
    return CharModel(Checkpoint(model=cfg, vocab=vocab, params=params, train=TrainConfig(mode="lines"),
                                categories=cats))


@pytest.fixture(scope="module")
def models() -> dict[str, CharModel]:
    return {**{name: charsmith.load(name) for name in BUNDLED}, "tiny": tiny_model()}


@pytest.fixture(scope="module")
def modules(models: dict[str, CharModel], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("js")
    return {name: export(m, root / f"{name}.js", format="js")[0] for name, m in models.items()}


def run_node(module: Path, job: dict, tmp_path: Path, *, wasm: bool = True) -> dict:
    """Run ``job`` on ``module`` in Node; ``wasm=False`` forces its plain JavaScript path."""
    spec = tmp_path / f"job-{module.stem}.json"
    spec.write_text(json.dumps(job), encoding="utf-8")
    env = {**os.environ, "CHARSMITH_NO_WASM": "0" if wasm else "1"}
    res = subprocess.run([NODE, str(DRIVER), str(module), str(spec)], capture_output=True, text=True, timeout=600,
                         env=env)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_tiny_model_is_not_degenerate(models: dict[str, CharModel]) -> None:
    items = models["tiny"].sample(200, seed=0, allow_known=True, category="x").samples
    assert len(set(items)) > 50 and 2 < np.mean([len(s) for s in items]) < 20


# ----- log-probs ----------------------------------------------------------------------------
def score_items(m: CharModel) -> list[str]:
    """1,000 items to score: the model's own draws (text models: pieces of a completion of
    1 to 12 characters), and single characters."""
    rng = np.random.default_rng(1)
    singles = [c for c in m.ckpt.vocab.chars[1:] if c.strip()][:10]
    if m.mode == "text":
        text = " ".join(m.complete("", 1200, n=8, seed=1)).replace("\n", " ")
        cuts = np.cumsum(rng.integers(1, 13, size=1000))
        items = [text[a:b] for a, b in itertools.pairwise(cuts) if b <= len(text)]
    else:
        items = m.sample(1000 - len(singles), seed=1, allow_known=True, category=m.categories[0] if m.categories else None).samples
    return (items + singles)[:1000]


@pytest.mark.parametrize("name", [*BUNDLED, "tiny"])
def test_log_probs_match_charsmith(name: str, models: dict[str, CharModel], modules: dict[str, Path],
                                   tmp_path: Path) -> None:
    m = models[name]
    items = score_items(m)
    assert len(items) == 1000
    cats = m.categories
    # with categories: each item under one category, and the first 20 under the mixture
    conds = [None] * len(items) if not cats else [cats[i % len(cats)] if i >= 20 else None for i in range(len(items))]
    got = run_node(modules[name], {"score": [[s, c] for s, c in zip(items, conds, strict=True)]}, tmp_path)["score"]
    want: list = [None] * len(items)
    for c in set(conds):  # charsmith scores each condition's items at once
        idx = [i for i, ci in enumerate(conds) if ci == c]
        for i, score in zip(idx, known_only(m, m.score([items[i] for i in idx], category=c)), strict=True):
            want[i] = score
    per_char = np.abs(np.array(got) - [w.logprob for w in want]) / [w.n_chars for w in want]
    assert per_char.max() < TOL, (items[int(per_char.argmax())], per_char.max())


# ----- seeded samples: identical to the reference -----------------------------------------------
SAMPLE_OPTIONS = [
    {"n": 25, "seed": 7},
    {"n": 15, "seed": 4294967295, "temperature": 0.6, "topK": 5, "prefix": "b"},
    {"n": 15, "seed": 123, "topP": 0.85, "minLen": 6, "maxLen": 9, "temperature": 1.3},
    {"n": 40, "seed": 5, "temperature": 0.4, "unique": True},
]


def reference_sample(g: Generator, o: dict) -> list[str]:
    return g.sample(o["n"], seed=o["seed"], temperature=o.get("temperature", 1.0), top_k=o.get("topK", 0),
                    top_p=o.get("topP", 1.0), prefix=o.get("prefix", ""), min_len=o.get("minLen", 1),
                    max_len=o.get("maxLen", 50), category=o.get("category"), unique=o.get("unique", False))


@pytest.mark.parametrize("wasm", [True, False], ids=["wasm", "plain-js"])
@pytest.mark.parametrize("name", ["dinosaurs", "languages", "names", "tiny"])
def test_seeded_samples_identical_to_reference(name: str, wasm: bool, models: dict[str, CharModel],
                                               modules: dict[str, Path], tmp_path: Path) -> None:
    """Both of the module's paths (WebAssembly's matrix-vector sums and plain JavaScript)."""
    m = models[name]
    options = [dict(o) for o in SAMPLE_OPTIONS]
    if m.categories:
        first, second = m.categories[0], m.categories[-1]
        options += [{"n": 15, "seed": 9, "category": first}, {"n": 15, "seed": 9, "category": {first: 2, second: 1}}]
        options[1]["prefix"] = m.sample(1, seed=3, allow_known=True).samples[0][:1]
    got = run_node(modules[name], {"sample": options}, tmp_path, wasm=wasm)["sample"]
    g = Generator(m)
    for o, items in zip(options, got, strict=True):
        assert items == reference_sample(g, o), o
        assert len(items) == o["n"]
        if o.get("unique"):
            assert len(set(items)) == len(items)


def test_completions_identical_to_reference(models: dict[str, CharModel], modules: dict[str, Path],
                                            tmp_path: Path) -> None:
    jobs = [["ROMEO:", 120, {"seed": 1}], ["", 80, {"seed": 2, "temperature": 0.7, "topK": 10, "topP": 0.9}]]
    got = run_node(modules["shakespeare"], {"complete": jobs}, tmp_path)["complete"]
    g = Generator(models["shakespeare"])
    for (prompt, length, o), text in zip(jobs, got, strict=True):
        want = g.complete(prompt, length, seed=o["seed"], temperature=o.get("temperature", 1.0),
                          top_k=o.get("topK", 0), top_p=o.get("topP", 1.0))
        assert text == want and text.startswith(prompt) and len(text) == len(prompt) + length


# ----- distributions: 20,000 draws against charsmith sample ---------------------------------------
DRAWS = 20_000
FALSE_ALARM = 1e-4  # per comparison


def total_variation(a: Counter, b: Counter) -> float:
    na, nb = sum(a.values()), sum(b.values())
    return 0.5 * sum(abs(a[k] / na - b[k] / nb) for k in set(a) | set(b))


def tv_bound(a: Counter, b: Counter, rng: np.random.Generator, sims: int = 20_000) -> float:
    """The noise of the total variation between two samples of these sizes drawn from one
    distribution: under the null both come from the pooled distribution p; simulate pairs of
    multinomial samples of the same sizes from p and take the (1 - FALSE_ALARM) quantile of
    their TV. (For k outcomes, E TV ~ sum_k sqrt(p_k (1 - p_k) / (pi n)): ~0.01 here.)"""
    keys = sorted(set(a) | set(b))
    pooled = np.array([a[k] + b[k] for k in keys], dtype=np.float64)
    p = pooled / pooled.sum()
    na, nb = sum(a.values()), sum(b.values())
    x = rng.multinomial(na, p, size=sims) / na
    y = rng.multinomial(nb, p, size=sims) / nb
    return float(np.quantile(0.5 * np.abs(x - y).sum(axis=1), 1 - FALSE_ALARM))


def features(items: list[str]) -> dict[str, Counter]:
    return {"length": Counter(len(s) for s in items), "first letter": Counter(s[0] for s in items)}


@pytest.mark.parametrize(("name", "category"), [("dinosaurs", None), ("languages", None), ("languages", "Japanese"),
                                              ("names", None), ("tiny", "y")])
def test_distribution_matches_charsmith(name: str, category: str | None, models: dict[str, CharModel],
                                        modules: dict[str, Path], tmp_path: Path) -> None:
    """20,000 JS draws vs 20,000 ``charsmith sample`` draws (without a category, a model with
    categories draws each item's from the priors, in both)."""
    m = models[name]
    opts = {"n": DRAWS, "seed": 11} | ({"category": category} if category else {})
    js = run_node(modules[name], {"sample": [opts]}, tmp_path)["sample"][0]
    ours = m.sample(DRAWS, seed=12, allow_known=True, category=category).samples
    hot = m.sample(DRAWS, seed=13, allow_known=True, category=category, temperature=1.3).samples
    rng = np.random.default_rng(0)
    detected = []
    for (what, a), b, c in zip(features(js).items(), features(ours).values(), features(hot).values(), strict=True):
        bound = tv_bound(a, b, rng)
        assert total_variation(a, b) < bound, (what, total_variation(a, b), bound)
        detected.append(total_variation(a, c) > tv_bound(a, c, rng))
    assert any(detected), "negative control: draws at temperature 1.3 should differ beyond the bound"


# ----- controls honoured -----------------------------------------------------------------------
def test_prefix_length_and_category_honoured(models: dict[str, CharModel], modules: dict[str, Path],
                                             tmp_path: Path) -> None:
    jobs = {"dinosaurs": [{"n": 200, "seed": 1, "prefix": "Tri", "minLen": 7, "maxLen": 10}],
            "languages": [{"n": 200, "seed": 2, "category": "Japanese"},
                          {"n": 200, "seed": 3, "category": {"Japanese": 1, "Italian": 1}},
                          {"n": 200, "seed": 3, "category": "Italian"}]}
    dinos = run_node(modules["dinosaurs"], {"sample": jobs["dinosaurs"]}, tmp_path)["sample"][0]
    assert len(dinos) == 200 and all(s.startswith("tri") and 7 <= len(s) <= 10 for s in dinos)  # lower-cased model
    japanese, blend, italian = run_node(modules["languages"], {"sample": jobs["languages"]}, tmp_path)["sample"]
    lang = models["languages"]

    def share(items: list[str], category: str) -> float:
        return float(np.mean([c.best == category for c in lang.classify(items)]))

    assert share(japanese, "Japanese") > 0.8 and share(italian, "Italian") > 0.6
    assert 0.15 < share(blend, "Japanese") < 0.85 and 0.15 < share(blend, "Italian") < 0.85


def test_known_items_are_skipped(tmp_path: Path) -> None:
    m = charsmith.load("dinosaurs")
    train = sorted({s for s in m.sample(300, seed=0, allow_known=True, temperature=0.5).samples})
    items = [s for s, k in zip(train, m.is_known(train), strict=True) if k]  # real data-set items among the draws
    assert len(items) > 20
    plain = export(m, tmp_path / "plain.js", format="js")[0]
    with_known = export(m, tmp_path / "known.js", format="js", known=items)[0]
    job = {"sample": [{"n": 300, "seed": 0, "temperature": 0.5}, {"n": 300, "seed": 0, "temperature": 0.5,
                                                                    "allowKnown": True}]}
    free, = run_node(plain, job, tmp_path)["sample"][:1]
    skipped, allowed = run_node(with_known, job, tmp_path)["sample"]
    assert set(free) & set(items), "at temperature 0.5 the model writes some data-set items"
    assert not set(skipped) & set(items)
    assert allowed == free
    assert Generator(m, known=np.unique([fnv1a32(s) for s in items]).astype(np.uint32)).sample(
        300, seed=0, temperature=0.5) == skipped


def test_bad_arguments_throw_one_line_errors(modules: dict[str, Path], tmp_path: Path) -> None:
    script = tmp_path / "errors.mjs"
    script.write_text("""
import { pathToFileURL } from "node:url";
const d = await import(pathToFileURL(process.argv[2]).href), s = await import(pathToFileURL(process.argv[3]).href);
const l = await import(pathToFileURL(process.argv[4]).href);
if (d.info.engine !== "webassembly") throw new Error("Node 20 has WebAssembly SIMD: the fast path should run");
const cases = [() => d.sample({ prefix: "t9" }), () => d.sample({ temperature: 0 }), () => d.sample({ seed: -1 }),
  () => d.sample({ minLen: 5, maxLen: 3 }), () => d.sample({ category: "Japanese" }), () => d.complete("a"),
  () => s.sample(), () => l.sample({ category: "Klingon" }), () => l.sample({ category: { Japanese: 0 } }),
  () => d.score("rex\\n")];
console.log(JSON.stringify(cases.map((f) => { try { f(); return "no error"; } catch (e) { return `${e.name}: ${e.message}`; } })));
""", encoding="utf-8")
    res = subprocess.run([NODE, str(script), str(modules["dinosaurs"]), str(modules["shakespeare"]),
                          str(modules["languages"])], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    errors = json.loads(res.stdout)
    assert all("\n" not in e and e != "no error" for e in errors), errors
    assert errors[0] == 'RangeError: prefix "t9" has characters the model never saw: "9"'
    assert "temperature" in errors[1] and "seed" in errors[2] and "minLen" in errors[3]
    assert "no categories" in errors[4] and "use sample()" in errors[5] and "use complete()" in errors[6]
    assert "unknown category \"Klingon\"; this model knows: Arabic" in errors[7] and "positive" in errors[8]


def test_float16_module_matches_the_float16_reference(models: dict[str, CharModel], tmp_path: Path) -> None:
    m = models["names"]
    module = export(m, tmp_path / "names16.js", format="js", dtype="float16")[0]
    got = run_node(module, {"sample": [{"n": 20, "seed": 3}], "score": [["emma", None]]}, tmp_path)
    assert got["sample"][0] == Generator(m, dtype="float16").sample(20, seed=3)
    assert got["score"][0] == pytest.approx(m.score(["emma"])[0].logprob, abs=5 * 1e-3)  # float16 moves it a little
