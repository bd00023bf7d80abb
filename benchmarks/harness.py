"""The benchmark harness: data, references and measurements shared by the scripts here.

Pure functions that return numbers; nothing here prints. Every speed is meant to be read
as a ratio against a reference measured in the same run (the machine may be shared and
noisy): :func:`interleave` alternates the sides A B A B ... on the *same* batches and the
ratio is the median of the per-round ratios. The measuring primitives (``interleave``,
``Timing``, ``calibrate``, ``timed``, ``CharsmithTrainer``, ``make_batches``) are the
library's own (``charsmith._bench``, behind ``charsmith bench``); this module adds what needs
the source checkout: the shared data (``<repo>/../shared/data``), the references next to
this file (``torch_reference.py``: the same model in PyTorch; ``../tests/classic_reference.py``:
a straight transcription of the seed notebooks' per-name loop, also the tests' oracle), FLOP counts and the
environment.

A "character" is a real training target: each letter of an item plus its end token
(padding is not counted), i.e. ``Batch.n_chars``.

One BLAS thread: the ``charsmith`` CLI sets ``OPENBLAS_NUM_THREADS=1`` before NumPy loads;
scripts using this module should do the same.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from charsmith import backend
from charsmith._batching import Batch
from charsmith._bench import CharsmithTrainer, Timing, calibrate, interleave, make_batches, synthetic_names, timed
from charsmith.config import ModelConfig
from charsmith.generation import Stepper, sample_items
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
    "calibrate",
    "timed",
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
HERE = Path(__file__).resolve().parent


def default_data_dir() -> Path:
    """``<repo>/../shared/data`` (the project's shared data, never copied into the repo)."""
    return HERE.parent.parent / "shared" / "data"


def benchmarks_dir() -> Path:
    """This directory: the source checkout's ``benchmarks/``."""
    return HERE


def load_reference(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` (``tests/`` for ``classic_reference``, the tests' oracle
    too); ImportError when torch (for the torch one) is missing."""
    d = HERE.parent / "tests" if name == "classic_reference" else HERE
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
    return synthetic_names(32_000), f"synthetic (no {path})"


# ----- the charsmith side ---------------------------------------------------------------
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


# ----- the seeds' loop against charsmith ------------------------------------------------
def _row(name: str, unit: str, ours: float | None, ref: float | None, ref_name: str, target: float | None,
         note: str = "", spread: tuple[float, float] | None = None) -> dict[str, Any]:
    ratio = ours / ref if ours and ref else None
    return {"case": name, "unit": unit, "charsmith": ours, "reference": ref, "reference_name": ref_name,
            "ratio": ratio, "spread": spread, "target": target,
            "met": None if target is None or (ratio is None and unit != "names/s") else
            (ratio >= target if unit != "names/s" else (ours or 0) >= target),
            "note": note}


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
