"""The torch engine against the NumPy engine: the same steps give the same weights, and a
checkpoint or resume state written by one is read by the other.

Parity runs 20 steps of each engine from the same initial weights and data order (dropout
off) and compares the flat weight arrays; the bound is float32 rounding carried through
20 Adam steps (see PARITY_ATOL). Tests that need torch skip, saying so, where it is
missing; those that need CUDA skip on machines without a GPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import known_only, make_names, make_styles

from charsmith import load
from charsmith._batching import encode_items, pad_batch
from charsmith._corpus import make_corpus, make_labelled_corpus
from charsmith._labelled import Labelled
from charsmith._reading import fingerprint
from charsmith.config import ModelConfig, TrainConfig
from charsmith.trainer import Trainer

torch = pytest.importorskip("torch", reason="the torch engine needs PyTorch (pip install torch)")

PARITY_ATOL = 1e-6  # float32 rounding through 20 steps; measured at most 2.4e-7 (weights of size ~1)
STEPS = 20


def lines_corpus(seed: int = 0):  # type: ignore[no-untyped-def]
    text = "\n".join(make_names(200, seed))
    return make_corpus(text, mode="lines", lowercase=False, val_fraction=0.1, rng=np.random.default_rng(0))


def text_corpus():  # type: ignore[no-untyped-def]
    text = " ".join(make_names(800, 3)) + "\n"
    return make_corpus(text, mode="text", lowercase=False, val_fraction=0.1, rng=np.random.default_rng(0))


def labelled_corpus():  # type: ignore[no-untyped-def]
    styles = make_styles(120)
    pairs = [(c, s) for c in sorted(styles) for s in styles[c]]
    names = tuple(sorted(styles))
    data = Labelled(names, [s for _, s in pairs], np.array([names.index(c) for c, _ in pairs]),
                    fingerprint("".join(f"{c}\t{s}\n" for c, s in pairs)))
    return make_labelled_corpus(data, val_fraction=0.1, rng=np.random.default_rng(0))


def run(corpus, mcfg: ModelConfig, tcfg: TrainConfig, out: Path, engine: str, **kw) -> Trainer:  # type: ignore[no-untyped-def]
    t = Trainer(corpus, mcfg, tcfg, out, engine=engine, **kw)
    t.run()
    return t


CASES = {
    "rnn": dict(cell="rnn", layers=2, embed=0),
    "gru": dict(cell="gru", layers=2, embed=8),
    "lstm": dict(cell="lstm", layers=2, embed=0),
    "lstm-embed": dict(cell="lstm", layers=1, embed=8),
}


def parity(tmp_path: Path, corpus, model: dict, **train) -> float:  # type: ignore[no-untyped-def]
    cats = corpus.categories.size if corpus.categories is not None else 0
    mcfg = ModelConfig(vocab_size=corpus.vocab.size, hidden=24, categories=cats, cat_embed=4 if cats else 0, **model)
    tcfg = TrainConfig(mode=corpus.mode, batch_size=16, seq_len=16, steps=STEPS, eval_every=1000, warmup_steps=5,
                       **train)
    a = run(corpus, mcfg, tcfg, tmp_path / "numpy", "numpy")
    b = run(corpus, mcfg, tcfg, tmp_path / "torch", "torch")
    assert a.step == b.step == STEPS
    start = Trainer(corpus, mcfg, tcfg, tmp_path / "start")
    start.close()
    moved = np.abs(a.opt.flat - start.opt.flat).max()
    diff = float(np.abs(a.opt.flat - b.opt.flat).max())
    for k, v in a.eval_params.items():  # the weights saved (the moving average, with ema)
        diff = max(diff, float(np.abs(v - b.eval_params[k]).max()))
    assert moved > 100 * PARITY_ATOL  # the weights did move: the comparison means something
    assert abs(a.best_val - b.best_val) < 1e-5  # text: scored on the device by the torch engine
    return diff


@pytest.mark.parametrize("case", CASES)
def test_lines_parity(tmp_path: Path, case: str) -> None:
    assert parity(tmp_path, lines_corpus(), CASES[case]) < PARITY_ATOL


@pytest.mark.parametrize("case", ["gru", "lstm"])
def test_text_parity(tmp_path: Path, case: str) -> None:
    """Text windows carry the state from window to window, in both engines."""
    assert parity(tmp_path, text_corpus(), CASES[case]) < PARITY_ATOL


@pytest.mark.parametrize("case", ["rnn", "gru", "lstm-embed"])
def test_categories_parity(tmp_path: Path, case: str) -> None:
    """The category input: folded into layer 0's table (numpy), concatenated to its input (torch)."""
    assert parity(tmp_path, labelled_corpus(), CASES[case]) < PARITY_ATOL


def test_options_parity(tmp_path: Path) -> None:
    """Weight decay, elementwise and norm clipping, frozen recurrent matrices, weight average, sgd and adagrad."""
    corpus = lines_corpus()
    assert parity(tmp_path / "a", corpus, CASES["gru"], weight_decay=0.1, clip_value=0.05, clip_norm=0.5,
                  freeze_steps=8, ema=0.9) < PARITY_ATOL
    assert parity(tmp_path / "b", corpus, CASES["lstm"], optimizer="adagrad", lr=0.05) < PARITY_ATOL
    assert parity(tmp_path / "c", corpus, CASES["rnn"], optimizer="sgd", lr=0.5) < PARITY_ATOL


def torch_logprob(t: Trainer, item: str, cat: int | None) -> float:
    """log P(item (+ end) | cat) computed by the torch engine's own model."""
    seq = encode_items(t.corpus.vocab, [item])
    batch = pad_batch(seq, cats=None if cat is None else np.array([cat]))
    net = t.engine.net  # type: ignore[attr-defined]
    as_t = lambda a: torch.from_numpy(np.asarray(a))  # noqa: E731
    with torch.no_grad():
        nll, _ = net(as_t(batch.ids), as_t(batch.targets), as_t(batch.mask), t.engine.zero_state(1),
                     None if cat is None else as_t(batch.cats), None)
    return -float(nll)


def test_torch_checkpoint_reads_with_numpy(tmp_path: Path) -> None:
    """Trained on torch; scored, classified and sampled by the NumPy engine from the checkpoint:
    the log-probabilities the torch model gives, to 1e-5."""
    corpus = labelled_corpus()
    mcfg = ModelConfig("lstm", corpus.vocab.size, hidden=24, layers=2, embed=8, categories=2, cat_embed=4)
    tcfg = TrainConfig(batch_size=16, steps=60, eval_every=30, lr=1e-2)
    t = run(corpus, mcfg, tcfg, tmp_path / "run", "torch")
    m = load(tmp_path / "run")
    items = list(corpus.val[:8])
    for k, name in enumerate(corpus.categories.names):
        ours = [s.logprob for s in known_only(m, m.score(items, category=name))]  # torch: the known symbols
        np.testing.assert_allclose(ours, [torch_logprob(t, s, k) for s in items], rtol=0, atol=1e-5)
    logliks = np.array([[torch_logprob(t, s, k) for k in range(2)] for s in items])
    prior = np.log(np.array(corpus.categories.counts) / sum(corpus.categories.counts))
    post = np.exp(logliks + prior - np.logaddexp.reduce(logliks + prior, axis=1, keepdims=True))
    got = {c.item: dict(c.probs) for c in m.classify(items)}
    for s, p in zip(items, post):
        np.testing.assert_allclose([got[s][n] for n in corpus.categories.names], p, rtol=0, atol=1e-5)
    assert len(m.sample(5, seed=1).samples) == 5


@pytest.mark.parametrize("first,second", [("numpy", "torch"), ("torch", "numpy")])
def test_resume_across_engines(tmp_path: Path, first: str, second: str) -> None:
    """A text run stopped after 10 steps on one engine and resumed to 20 on the other ends
    where 20 uninterrupted steps do (weights, optimiser state and carried state all move)."""
    corpus = text_corpus()
    mcfg = ModelConfig("lstm", corpus.vocab.size, hidden=24, layers=2, embed=8)
    half = TrainConfig(mode="text", batch_size=8, seq_len=16, steps=10, eval_every=5, warmup_steps=5, decay="none")
    full = TrainConfig(**{**half.__dict__, "steps": 20})
    whole = run(corpus, mcfg, full, tmp_path / "whole", first)
    run(corpus, mcfg, half, tmp_path / "split", first)
    resumed = run(corpus, mcfg, full, tmp_path / "split", second, resume=True)
    assert resumed.step == 20
    assert float(np.abs(whole.opt.flat - resumed.opt.flat).max()) < PARITY_ATOL
    assert load(tmp_path / "split").ckpt.info["engine"].startswith(second)


def cli(args: list[str], tmp_path: Path, *, block_torch: bool = False, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    from conftest import PACKAGE_ROOT

    pre = "sys.modules['torch'] = None; " if block_torch else ""
    code = "import sys; " + pre + "from charsmith.cli import main; raise SystemExit(main(sys.argv[1:]))"
    full_env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT, **(env or {})}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=tmp_path,
                          env=full_env, timeout=300)


def test_bad_engine_input_is_one_line(tmp_path: Path, names_file: Path) -> None:
    """Exit 2, one line naming the fix, and nothing written."""
    out = tmp_path / "run"
    cases = [
        (["--engine", "torch"], {"block_torch": True}, 'pip install "charsmith[torch]"'),
        (["--engine", "numpy", "--device", "cuda"], {}, "needs --engine torch"),
        (["--engine", "torch", "--device", "tpu"], {}, "device must be cpu, cuda, cuda:N or mps"),
        (["--engine", "numpy"], {"env": {"WORLD_SIZE": "2", "RANK": "0"}}, "only with --engine torch"),
        (["--engine", "torch", "--batch-size", "15"], {"env": {"WORLD_SIZE": "2", "RANK": "0"}},
         "--batch-size 15 does not split over 2 processes; pass --batch-size 14 or --batch-size 16"),
    ]
    if not torch.cuda.is_available():
        cases.append((["--engine", "torch", "--device", "cuda"], {}, "no CUDA GPU"))
    for extra, kw, words in cases:
        r = cli(["train", str(names_file), "--out", str(out), "--steps", "2", *extra], tmp_path, **kw)
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("\n") == 1 and words in r.stderr, r.stderr
        assert not out.exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine (torch.cuda.is_available() is False)")
def test_cuda_parity(tmp_path: Path) -> None:
    """The CUDA path is the CPU path with the device changed: the same weights after 20 steps
    (cuDNN's float32 arithmetic: a looser bound than the CPU's)."""
    corpus = lines_corpus()
    mcfg = ModelConfig("lstm", corpus.vocab.size, hidden=24, layers=2, embed=8)
    tcfg = TrainConfig(batch_size=16, steps=STEPS, eval_every=1000, warmup_steps=5)
    a = run(corpus, mcfg, tcfg, tmp_path / "cpu", "torch")
    b = run(corpus, mcfg, tcfg, tmp_path / "cuda", "torch", device="cuda")
    assert float(np.abs(a.opt.flat - b.opt.flat).max()) < 1e-4
