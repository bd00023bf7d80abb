"""Speed measurements behind ``charsmith bench`` and the scripts in ``benchmarks/``.

Pure functions that return numbers; nothing here prints. Every speed is meant to be read
as a ratio against a reference measured in the same run (the machine may be shared and
noisy): :func:`interleave` alternates the sides A B A B ... on the *same* batches and the
ratio is the median of the per-round ratios.

A "character" is a real training target: each letter of an item plus its end token
(padding is not counted), i.e. ``Batch.n_chars``.

The references live in the source checkout's ``benchmarks/`` directory
(``torch_reference.py``: the same model in PyTorch; ``classic_reference.py``: a straight
transcription of the seed notebooks' per-name loop). :func:`quick_bench` uses them when
they are there and says so when they are not (or when torch is not installed).

One BLAS thread: the ``charsmith`` CLI sets ``OPENBLAS_NUM_THREADS=1`` before NumPy loads;
scripts using this module should do the same (see ``benchmarks/``).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from charsmith import backend, optim
from charsmith import model as M
from charsmith.config import ModelConfig
from charsmith.data import Batch, encode_items, line_batches
from charsmith.generation import Stepper, sample_items
from charsmith.trainer import train_step
from charsmith.vocab import END, Vocab

__all__ = [
    "DATA_FILE",
    "TARGETS",
    "TORCH_HINT",
    "Timing",
    "CharsmithTrainer",
    "benchmarks_dir",
    "best_torch_threads",
    "run_capped",
    "blas_threads",
    "copy_gru_to_torch",
    "default_data_dir",
    "environment",
    "interleave",
    "load_names",
    "load_reference",
    "make_batches",
    "matmul_peak",
    "quick_bench",
    "sample_rate",
    "seeds_case",
    "seeds_loop_step",
    "train_flops",
    "warm_model",
]

DATA_FILE = "makemore_names.txt"
TORCH_HINT = "pip install torch"
# The targets (benchmarks, not tests).
TARGETS = {"train_vs_torch_makemore": 2.0, "train_vs_torch_h128": 2.0, "vs_seeds_loop": 50.0,
           "sample_names_per_s": 50_000.0, "train_vs_torch_any": 1.0}


# ----- locating data and references ---------------------------------------------------
def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]  # src/charsmith/bench.py -> repo


def default_data_dir() -> Path:
    """``<repo>/../shared/data`` (the project's shared data, never copied into the repo)."""
    return _repo_root().parent / "shared" / "data"


def benchmarks_dir() -> Path | None:
    """The source checkout's ``benchmarks/`` directory, or None (e.g. a non-editable install)."""
    d = _repo_root() / "benchmarks"
    return d if (d / "torch_reference.py").is_file() else None


def load_reference(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py``; ImportError when it (or torch, for the torch one) is missing."""
    d = benchmarks_dir()
    if d is None or not (d / f"{name}.py").is_file():
        raise ImportError(f"benchmarks/{name}.py not found (it ships with the source checkout)")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, d / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[name]
        raise
    return mod


def load_names(data_dir: str | os.PathLike[str] | None = None) -> tuple[list[str], str]:
    """The makemore names (one per line) and where they came from.

    Without the shared data file (a user's machine), a deterministic synthetic list of
    32,000 name-like strings with the same length distribution is used instead.
    """
    path = Path(data_dir or default_data_dir()) / DATA_FILE
    if path.is_file():
        names = [s.strip() for s in path.read_text(encoding="utf-8").split("\n") if s.strip()]
        return names, str(path)
    rng = np.random.default_rng(0)
    lengths = np.clip(np.rint(rng.normal(6.1, 1.5, 32_000)), 2, 15).astype(int)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, n)) for n in lengths], f"synthetic (no {path})"


def make_batches(names: Sequence[str], batch_size: int, *, seed: int = 0, limit: int | None = None,
                 vocab: Vocab | None = None) -> tuple[Vocab, list[Batch]]:
    """One epoch of charsmith's own training batches (length-bucketed, padded, masked), as
    ``Trainer`` makes them: ``line_batches(encode_items(...), batch_size, rng)``."""
    vocab = vocab or Vocab.from_texts(names)
    seqs = encode_items(vocab, names)
    batches = list(line_batches(seqs, batch_size, np.random.default_rng(seed)))
    return vocab, batches[:limit] if limit else batches


# ----- the charsmith side ---------------------------------------------------------------
class CharsmithTrainer:
    """charsmith's real training step (``charsmith.trainer.train_step``: forward ->
    cross_entropy_forward/backward -> backward -> clip -> flat optimiser update), at a fixed
    learning rate."""

    def __init__(self, cfg: ModelConfig, *, optimizer: str = "adam", lr: float = 3e-3, clip_norm: float = 5.0,
                 clip_value: float = 0.0, seed: int = 0, dtype: Any = np.float32) -> None:
        self.cfg, self.lr, self.clip_norm, self.clip_value = cfg, lr, clip_norm, clip_value
        self.rng = np.random.default_rng(seed)
        self.opt = optim.FlatOptimizer(optimizer, M.init_params(cfg, self.rng, dtype))
        self.params = self.opt.params
        self.t = 0

    def step(self, batch: Batch) -> float:
        state = M.init_state(self.cfg, len(batch.ids), self.params["W_out"].dtype)
        loss, _, ok = train_step(self.cfg, self.opt, batch, state, lr=self.lr, t=self.t + 1, clip_norm=self.clip_norm,
                                 clip_value=self.clip_value, rng=self.rng if self.cfg.dropout else None,
                                 check=self.t == 0)
        if not ok:
            raise FloatingPointError("non-finite loss or gradient norm in the benchmark")
        self.t += 1
        return loss


def warm_model(names: Sequence[str], cfg: ModelConfig, *, steps: int = 150, batch_size: int = 128,
               lr: float = 1e-2, seed: int = 0) -> tuple[dict[str, np.ndarray], Vocab]:
    """A briefly trained model, so that samples have realistic lengths (an untrained model
    ends a name with probability ~1/V per character: names ~4x too long)."""
    vocab, batches = make_batches(names, batch_size, seed=seed)
    tr = CharsmithTrainer(cfg, lr=lr, seed=seed)
    for i in range(steps):
        tr.step(batches[i % len(batches)])
    return tr.params, vocab


def sample_rate(params: dict[str, np.ndarray], cfg: ModelConfig, vocab: Vocab, n: int,
                rng: np.random.Generator) -> Callable[[], int]:
    """A callable drawing ``n`` names with charsmith's batched sampler; returns n."""
    def run() -> int:
        return len(sample_items(Stepper(params, cfg), vocab, n, rng))
    return run


def copy_gru_to_torch(params: dict[str, np.ndarray], cfg: ModelConfig, tmodel: Any) -> None:
    """Load charsmith weights into a ``TorchCharModel`` (1-layer, embed > 0) so both sides
    sample from the same distribution. charsmith's GRU ``b`` is b_ih + b_hh except the n
    slice, whose b_hh part is ``b_hn``."""
    import torch

    if cfg.layers != 1 or cfg.embed <= 0:
        raise ValueError("copy_gru_to_torch handles 1-layer models with an embedding")
    H = cfg.hidden
    with torch.no_grad():
        tmodel.emb.weight.copy_(torch.from_numpy(params["wte"]))
        tmodel.rnn.weight_ih_l0.copy_(torch.from_numpy(params["l0.W_ih"].T.copy()))
        tmodel.rnn.weight_hh_l0.copy_(torch.from_numpy(params["l0.W_hh"].T.copy()))
        tmodel.rnn.bias_ih_l0.copy_(torch.from_numpy(params["l0.b"]))
        b_hh = np.zeros(3 * H, dtype=params["l0.b"].dtype)
        if cfg.cell == "gru":
            b_hh[2 * H:] = params["l0.b_hn"]
        tmodel.rnn.bias_hh_l0.copy_(torch.from_numpy(b_hh[: tmodel.rnn.bias_hh_l0.numel()]))
        tmodel.head.weight.copy_(torch.from_numpy(params["W_out"].T.copy()))
        tmodel.head.bias.copy_(torch.from_numpy(params["b_out"]))


# ----- the seeds' loop ---------------------------------------------------------------
def seeds_loop_step(ref: ModuleType, names: Sequence[str], hidden: int = 50, seed: int = 1) -> Callable[[int, int], int]:
    """The seed notebooks' per-name loop (``classic_reference.optimize``: one name per SGD
    step, float64 column vectors, clip 5, lr 0.01), as ``run(start, count) -> chars``.
    Building X and Y from the name is part of the loop, as in the notebook."""
    chars = END + "".join(sorted(set("".join(names)) - {END}))
    c2i = {c: i for i, c in enumerate(chars)}
    V = len(chars)
    np.random.seed(seed)
    params = ref.initialize_parameters(hidden, V, V)
    state = {"a_prev": np.zeros((hidden, 1))}
    if V != 27:  # rnn_forward's one-hot width is the notebook's 27
        raise ValueError(f"the seeds' loop needs a 27-symbol alphabet, got {V}")

    def run(start: int, count: int) -> int:
        n_chars = 0
        for j in range(start, start + count):
            name = names[j % len(names)]
            X = [None] + [c2i[ch] for ch in name]
            Y = X[1:] + [c2i[END]]
            _, _, state["a_prev"] = ref.optimize(X, Y, state["a_prev"], params, learning_rate=0.01)
            n_chars += len(name) + 1
        return n_chars
    return run


# ----- measuring ----------------------------------------------------------------------
@dataclass(frozen=True)
class Timing:
    """Interleaved measurement of several sides on the same work.

    rates: per side, one rate (units/s) per round; ratio(a, b): median over rounds of
    rate_a / rate_b (the rounds are adjacent in time, so load changes hit both alike)."""

    rates: dict[str, list[float]]
    units: dict[str, int]

    def median(self, side: str) -> float:
        return statistics.median(self.rates[side])

    def ratio(self, a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(self.rates[a], self.rates[b]))

    def spread(self, a: str, b: str) -> tuple[float, float]:
        r = [x / y for x, y in zip(self.rates[a], self.rates[b])]
        return min(r), max(r)


def interleave(sides: dict[str, Callable[[int], tuple[float, float]]], *, rounds: int = 3) -> Timing:
    """Run every side once per round, alternating (A B A B ...; the order flips every round
    so neither side always goes first). ``sides[name](round) -> (units, seconds)``."""
    names = list(sides)
    rates: dict[str, list[float]] = {k: [] for k in names}
    units: dict[str, int] = {k: 0 for k in names}
    for r in range(rounds):
        for k in (names if r % 2 == 0 else names[::-1]):
            u, s = sides[k](r)
            rates[k].append(u / max(s, 1e-12))
            units[k] += int(u)
    return Timing(rates, units)


def timed(fn: Callable[[], float]) -> tuple[float, float]:
    t0 = time.perf_counter()
    u = fn()
    return u, time.perf_counter() - t0


def run_capped(fn: Callable[[Any], float], items: Sequence[Any], cap: float) -> tuple[float, float]:
    """Apply ``fn`` (returning units done) to ``items`` in order, stopping early once ``cap``
    seconds have passed: -> (units, seconds). Keeps a pathologically slow side (e.g. a
    2-thread PyTorch on a core another process is using) from eating the time budget."""
    t0 = time.perf_counter()
    units = 0.0
    for item in items:
        units += fn(item)
        if time.perf_counter() - t0 > cap:
            break
    return units, time.perf_counter() - t0


def best_torch_threads(tr_mod: ModuleType, fn: Callable[[int], Any], probe: float = 0.3) -> int:
    """Set and return the faster torch intra-op thread count, 1 or all cores, timing ``fn(i)``
    calls for ``probe`` seconds each (on a shared machine 2 threads can be far slower)."""
    cores = os.cpu_count() or 1
    best, best_rate = cores, -1.0
    for n in sorted({cores, 1}, reverse=True):
        tr_mod.setup_threads(n)
        fn(0)
        calls, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < probe:
            fn(calls)
            calls += 1
        rate = calls / (time.perf_counter() - t0)
        if rate > best_rate:
            best, best_rate = n, rate
    tr_mod.setup_threads(best)
    return best


def calibrate(fn: Callable[[int], Any], seconds: float, *, first: int = 3, cap: int = 1_000_000) -> int:
    """How many calls of ``fn(i)`` take about ``seconds`` (after ``first`` warm-up calls)."""
    for i in range(first):
        fn(i)
    n, t = first, 0.0
    while True:
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        t = time.perf_counter() - t0
        if t >= 0.2 or n >= cap:
            break
        n *= 2
    return max(1, min(cap, int(n * seconds / max(t, 1e-9))))


# ----- FLOPs -----------------------------------------------------------------------
_GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def train_flops(cfg: ModelConfig, batches: Sequence[Batch]) -> float:
    """Matmul FLOPs of training on ``batches``: 3x the forward matmuls (forward, plus the
    two backward products per matmul), counted over padded B*T positions, which is what
    both implementations compute. Forward per position: 2*(D*G + H*G) per layer + 2*H*V."""
    G = _GATES[cfg.cell] * cfg.hidden
    H, V = cfg.hidden, cfg.vocab_size
    per_pos = 2 * H * V
    for i in range(cfg.layers):
        D = (cfg.embed if cfg.embed > 0 else 0) if i == 0 else H  # one-hot input is a gather, not a matmul
        per_pos += 2 * (D * G + H * G)
    return 3.0 * per_pos * sum(b.ids.size for b in batches)


def matmul_peak(n: int = 1024, seconds: float = 1.0, dtype: Any = np.float32) -> float:
    """Measured float32 matmul GFLOP/s of (n, n) @ (n, n) with the current BLAS threads."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype)
    np.matmul(a, b, out=out)
    reps, best = 0, 0.0
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end or reps < 3:
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        best = max(best, 2.0 * n**3 / (time.perf_counter() - t0) / 1e9)
        reps += 1
    return best


# ----- the environment ------------------------------------------------------------------
def blas_threads() -> str:
    """The BLAS thread setting as the environment gives it (what NumPy read at load)."""
    return os.environ.get("OPENBLAS_NUM_THREADS", "unset (all cores)")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """Machine, versions and BLAS configuration for a results header."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "platform": platform.platform(), "openblas_num_threads": blas_threads(),
        "kernels": backend.status(), "kernel_threads": backend.current().threads if backend.current().compiled else None,
    }
    try:
        cfg = np.show_config(mode="dicts")  # type: ignore[call-arg]
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        info["blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # pragma: no cover - older NumPy
        info["blas"] = "unknown"
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    return info


# ----- the quick bench (``charsmith bench``) --------------------------------------------
def _row(name: str, unit: str, ours: float | None, ref: float | None, ref_name: str, target: float | None,
         note: str = "", spread: tuple[float, float] | None = None) -> dict[str, Any]:
    ratio = ours / ref if ours and ref else None
    return {"case": name, "unit": unit, "charsmith": ours, "reference": ref, "reference_name": ref_name,
            "ratio": ratio, "spread": spread, "target": target,
            "met": None if target is None or (ratio is None and unit != "names/s") else
            (ratio >= target if unit != "names/s" else (ours or 0) >= target),
            "note": note}


def _train_case(names: Sequence[str], cell: str, hidden: int, batch: int, seconds: float, rounds: int,
                tr_mod: ModuleType | None) -> dict[str, Any]:
    vocab, batches = make_batches(names, batch, seed=0)
    cfg = ModelConfig(cell=cell, vocab_size=vocab.size, hidden=hidden, embed=64)  # type: ignore[arg-type]
    ours = CharsmithTrainer(cfg)
    k = calibrate(lambda i: ours.step(batches[i % len(batches)]), seconds / 2, cap=len(batches))
    work = [batches[(r * k + i) % len(batches)] for r in range(rounds) for i in range(k)]
    chars = [sum(b.n_chars for b in work[r * k:(r + 1) * k]) for r in range(rounds)]

    def run_ours(r: int) -> tuple[float, float]:
        return timed(lambda: [ours.step(b) for b in work[r * k:(r + 1) * k]] and chars[r])

    sides: dict[str, Callable[[int], tuple[float, float]]] = {"charsmith": run_ours}
    name = f"train {cell.upper()} E64 H{hidden} B{batch}"
    if tr_mod is not None:
        import torch

        torch.manual_seed(0)
        tstep = tr_mod.make_trainer(tr_mod.TorchCharModel(cell, vocab.size, hidden, 64))
        tb = tr_mod.to_torch_batches(work)
        threads = best_torch_threads(tr_mod, lambda i: tstep(*tb[i % len(tb)][:2]))
        cap = 3 * seconds

        def run_torch(r: int) -> tuple[float, float]:
            return run_capped(lambda item: (tstep(item[0], item[1]), item[2])[1], tb[r * k:(r + 1) * k], cap)

        sides["torch"] = run_torch
    t = interleave(sides, rounds=rounds)
    if tr_mod is None:
        return _row(name, "chars/s", t.median("charsmith"), None, "PyTorch", 2.0 if hidden <= 128 else 1.0,
                    f"torch not installed: {TORCH_HINT}")
    return _row(name, "chars/s", t.median("charsmith"), t.median("torch"),
                f"PyTorch {tr_mod.torch.__version__} ({threads} thread{'s' if threads > 1 else ''})",
                2.0 if hidden <= 128 else 1.0, spread=t.spread("charsmith", "torch"))


def quick_bench(seconds_per_case: float = 2.0, *, data_dir: str | os.PathLike[str] | None = None,
                use_torch: bool = True, rounds: int = 3) -> list[dict[str, Any]]:
    """The quick subset a user runs to see the speed ratios on their machine (~1 minute at
    the default 2 s per case). Returns one dict per case:

        case, unit ("chars/s" or "names/s"), charsmith, reference, reference_name,
        ratio (charsmith / reference, None without a reference), spread (min, max ratio
        over the interleaved rounds), target, met (bool or None), note

    Cases: GRU E64 H64 B32 and H128 B32 training vs PyTorch; the RNN H50 (one-hot,
    batch 256) vs the seeds' per-name loop; sampling names/s from a GRU 128 vs PyTorch.
    Without torch (or outside a source checkout) the PyTorch cases carry charsmith's
    numbers only and a note with the install hint.
    """
    names, _source = load_names(data_dir)
    tr_mod: ModuleType | None = None
    torch_note = ""
    if use_torch:
        try:
            tr_mod = load_reference("torch_reference")
        except ImportError as e:
            torch_note = (f"torch not installed: {TORCH_HINT}" if "torch" in str(e) and "benchmarks/" not in str(e)
                          else str(e))
    else:
        torch_note = "torch comparison skipped"
    rows = []
    for hidden in (64, 128):
        row = _train_case(names, "gru", hidden, 32, seconds_per_case, rounds, tr_mod)
        if tr_mod is None:
            row["note"] = torch_note
        rows.append(row)
    rows.append(seeds_case(names, seconds_per_case, rounds, batch=256))
    rows.append(_sample_case(names, seconds_per_case, rounds, tr_mod, torch_note))
    return rows


def seeds_case(names: Sequence[str], seconds: float, rounds: int, batch: int = 32) -> dict[str, Any]:
    """charsmith's RNN H50 (one-hot input, Adam, clip-norm 5) trained on ``batch``-name batches
    against the seeds' per-name loop, chars/s, interleaved."""
    name = f"train RNN H50 one-hot B{batch} vs seeds' per-name loop"
    try:
        ref = load_reference("classic_reference")
    except ImportError as e:
        return _row(name, "chars/s", None, None, "seeds' loop", 50.0, str(e))
    vocab, batches = make_batches(names, batch, seed=0)
    cfg = ModelConfig(cell="rnn", vocab_size=vocab.size, hidden=50, embed=0)
    ours = CharsmithTrainer(cfg)
    k = calibrate(lambda i: ours.step(batches[i % len(batches)]), seconds / 2, cap=len(batches))
    loop = seeds_loop_step(ref, names)
    m = calibrate(lambda i: loop(i, 1), seconds / 2, cap=len(names))

    def run_ours(r: int) -> tuple[float, float]:
        bs = [batches[(r * k + i) % len(batches)] for i in range(k)]
        return timed(lambda: [ours.step(b) for b in bs] and sum(b.n_chars for b in bs))

    t = interleave({"charsmith": run_ours, "seeds": lambda r: timed(lambda: loop(r * m, m))}, rounds=rounds)
    return _row(name, "chars/s", t.median("charsmith"), t.median("seeds"), "seeds' per-name loop (float64)", 50.0,
                spread=t.spread("charsmith", "seeds"))


def _sample_case(names: Sequence[str], seconds: float, rounds: int, tr_mod: ModuleType | None,
                 torch_note: str, n: int = 1000) -> dict[str, Any]:
    vocab = Vocab.from_texts(names)
    cfg = ModelConfig(cell="gru", vocab_size=vocab.size, hidden=128, embed=64)
    params, vocab = warm_model(names, cfg, steps=60)
    run = sample_rate(params, cfg, vocab, n, np.random.default_rng(0))
    reps = calibrate(lambda i: run(), seconds / 2)
    sides: dict[str, Callable[[int], tuple[float, float]]] = {
        "charsmith": lambda r: timed(lambda: sum(run() for _ in range(reps)))}
    if tr_mod is not None:
        import torch

        tm = tr_mod.TorchCharModel("gru", vocab.size, 128, 64)
        copy_gru_to_torch(params, cfg, tm)
        gen = torch.Generator().manual_seed(0)
        end = vocab.index(END)
        threads = best_torch_threads(tr_mod, lambda i: tr_mod.sample_names(tm, n, end, vocab.chars, generator=gen))
        sides["torch"] = lambda r: run_capped(
            lambda _: len(tr_mod.sample_names(tm, n, end, vocab.chars, generator=gen)), range(reps), 3 * seconds)
    t = interleave(sides, rounds=rounds)
    name = f"sample GRU E64 H128, {n} names per call"
    if tr_mod is None:
        return _row(name, "names/s", t.median("charsmith"), None, "PyTorch", 50_000.0, torch_note)
    return _row(name, "names/s", t.median("charsmith"), t.median("torch"),
                f"PyTorch {tr_mod.torch.__version__} ({threads} thread{'s' if threads > 1 else ''})",
                50_000.0, spread=t.spread("charsmith", "torch"))
