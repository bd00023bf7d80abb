"""The compiled backend against the NumPy reference, and how backends are chosen and used.

Finite differences and PyTorch check both backends through the ``engine`` fixture (see
test_cells, test_model, test_torch_parity); here: the compiled time loop equals the NumPy
loop for awkward sizes, thread counts and both ways of splitting, in every instruction set
variant this CPU runs; inputs read by id; float32 stays close to float64; the threaded
matmul, Adam, scatter, one-step kernel and the fused output layer match NumPy; the numbers
depend on the thread budget only, never on how many threads ran the blocks; a forked child,
concurrent callers and CHARSMITH_NATIVE=0 still work; a backend chosen in one thread does not
change another's; a kernel failing its check is not used; a missing or stale library and a
missing BLAS fall back to NumPy with the reason, and looking for the BLAS never loads a library.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import compiled_backend, has_compiler, plant_library

from charsmith import backend, optim
from charsmith.backend import _check, _library
from charsmith.backend.compiled import Compiled, Kernels
from charsmith.nn import gru, layer, lstm, rnn

CELLS = ("rnn", "lstm", "gru")
SMALL = {"min_work": 1, "min_matmul": 1, "min_elements": 1, "min_head_cols": 1}  # split even tiny calls


@pytest.fixture()
def compiled() -> Compiled:
    return compiled_backend()


@pytest.fixture(params=_library.VARIANTS)
def variant(request: pytest.FixtureRequest, compiled: Compiled) -> Compiled:
    """The compiled backend on the kernels of each instruction set this CPU runs."""
    if request.param not in compiled.variants:
        pytest.skip(f"this CPU does not run the {request.param} kernels (it runs {', '.join(compiled.variants)})")
    return compiled.with_options(isa=request.param)


def on(be: backend.Backend, fn, *args):  # type: ignore[no-untyped-def]
    """fn(*args) with ``be`` as the current backend."""
    with backend.use(be):
        return fn(*args)


def run_layer(cell: str, p: dict, xp: np.ndarray, state: tuple, dhs: np.ndarray, d_state: tuple) -> list[np.ndarray]:
    hs, final, cache = layer.recur_forward(cell, p, xp, state)
    dxp, d0, grads = layer.recur_backward(cell, p, dhs, d_state, cache)
    return [hs.copy(), *final, dxp.copy(), *d0, *(grads[k] for k in sorted(grads))]


def random_problem(cell: str, T: int, B: int, H: int, dtype: type, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    p = {k: v.astype(dtype) for k, v in layer.init_params(cell, 3, H, rng, np.float64).items()}
    p = {k: (v + rng.normal(0, 0.3, v.shape)).astype(dtype) for k, v in p.items()}  # non-zero biases
    n = 2 if cell == "lstm" else 1
    G = p["W_hh"].shape[1]
    state = tuple(rng.normal(0, 0.7, (B, H)).astype(dtype) for _ in range(n))
    d_state = tuple(rng.normal(0, 1, (B, H)).astype(dtype) for _ in range(n))
    xp = rng.normal(0, 1.5, (G, T, B)).astype(dtype)
    dhs = rng.normal(0, 1, (H, T, B)).astype(dtype)
    return p, xp, state, dhs, d_state


REF = backend.reference()


@pytest.mark.parametrize("threads,split,pace", [(1, "", "all"), (3, "batch", "all"), (3, "units", "all"),
                                                (3, "units", "one"), (3, "batch", "adaptive")])  # fmt: skip
@pytest.mark.parametrize("T,B,H", [(1, 1, 1), (4, 5, 3), (7, 33, 9), (3, 64, 16)])
@pytest.mark.parametrize("cell", CELLS)
def test_compiled_matches_numpy_loop_float64(variant: Compiled, cell: str, T: int, B: int, H: int, threads: int,
                                             split: str, pace: str) -> None:  # fmt: skip
    """Split by batch columns or by hidden units (a phase per step), into more blocks than
    cores and uneven ones, run by the pool or by the caller alone: the NumPy loop's numbers."""
    be = variant.with_options(threads=threads, min_work=1, split=split, pace=pace)
    args = random_problem(cell, T, B, H, np.float64)
    ours = on(be, run_layer, cell, *args)
    ref = on(REF, run_layer, cell, *args)
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("split", ["batch", "units"])
@pytest.mark.parametrize("cell", CELLS)
def test_inputs_gathered_by_id_match_the_gathered_array(variant: Compiled, cell: str, split: str) -> None:
    """Layer 0 reads its inputs from the projected table by id, step by step (id -1 = the
    table's last column): the same as running on the gathered (G, T, B) array."""
    p, _, state, _, _ = random_problem(cell, 1, 1, 6, np.float64)
    rng = np.random.default_rng(9)
    T, B, V = 5, 37, 7
    table = rng.normal(size=(p["W_hh"].shape[1], V + 1))
    ids = rng.integers(-1, V, size=(T, B))
    state = tuple(rng.normal(size=(B, 6)) for _ in state)
    with backend.use(variant.with_options(threads=3, min_work=1, split=split)):
        hs, final, (S, C) = layer.recur_forward(cell, p, table, state, ids=ids)
        xp = table[:, np.where(ids < 0, V, ids)]  # (G, T, B)
        hs2, final2, (S2, C2) = layer.recur_forward(cell, p, xp, state)
    for a, b in zip([hs, *final, *S, *C], [hs2, *final2, *S2, *C2], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("cell", CELLS)
def test_float32_kernels_stay_close_to_float64(variant: Compiled, cell: str) -> None:
    """The float32 kernels use their own vectorised exp: compare them with float64."""
    args64 = random_problem(cell, 6, 40, 12, np.float64, seed=3)
    args32 = tuple(to_float32(a) for a in args64)
    ours = on(variant, run_layer, cell, *args32)
    ref = on(REF, run_layer, cell, *args64)
    for a, b in zip(ours, ref, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5 * max(1.0, float(np.abs(b).max())))


def to_float32(a: object) -> object:
    """float64 arrays (also inside tuples and dicts) to float32."""
    if isinstance(a, np.ndarray):
        return a.astype(np.float32)
    if isinstance(a, tuple):
        return tuple(to_float32(x) for x in a)
    if isinstance(a, dict):
        return {k: to_float32(v) for k, v in a.items()}
    return a


def test_sigmoid_and_tanh_extremes_stay_finite(compiled: Compiled) -> None:
    """Huge pre-activations saturate (exp is clamped) instead of overflowing to nan."""
    p, xp, state, dhs, d_state = random_problem("lstm", 3, 8, 4, np.float32)
    xp[:, 0] = 1e30
    xp[:, 1] = -1e30
    out = on(compiled, run_layer, "lstm", p, xp, state, dhs, d_state)
    assert all(np.isfinite(a).all() for a in out)
    assert np.all(np.abs(out[0][:, 1:]) <= 1.0)  # outputs; step 0 is the given state


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_threaded_matmul_matches_numpy(variant: Compiled, ta: bool, tb: bool, dtype: type) -> None:
    be = variant.with_options(threads=3, min_matmul=1)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}
    rng = np.random.default_rng(5)
    for M, N, K in [(1, 1, 1), (7, 300, 5), (300, 7, 11), (64, 65, 66)]:
        a = rng.normal(size=(K, M) if ta else (M, K)).astype(dtype)
        b = rng.normal(size=(N, K) if tb else (K, N)).astype(dtype)
        a, b = (a.T if ta else a), (b.T if tb else b)
        np.testing.assert_allclose(be.matmul(a, b), a @ b, **tol)
    strided = rng.normal(size=(20, 3, 30)).astype(dtype)[:, :2].reshape(20, 60)  # rows of stride 90
    w = rng.normal(size=(60, 8)).astype(dtype)
    np.testing.assert_allclose(be.matmul(strided, w), strided @ w, **tol)


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_adam_matches_numpy(variant: Compiled, dtype: type, threads: int) -> None:
    rng = np.random.default_rng(6)
    flat = {"all": rng.normal(size=1000).astype(dtype)}
    grads = {"all": rng.normal(size=1000).astype(dtype)}
    mask = {"all": (rng.random(1000) < 0.5).astype(dtype)}
    results = []
    for be in (variant.with_options(threads=threads, min_elements=1), REF):
        p = {"all": flat["all"].copy()}
        state = optim.init_state("adam", p)
        state["v/all"] += 0.01
        with backend.use(be):
            for t in (1, 2, 3):
                optim.update("adam", p, grads, state, lr=0.01, t=t, weight_decay=0.1, decay_mask=mask)
        results.append((p["all"], state["m/all"], state["v/all"]))
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-7)


@pytest.mark.parametrize("threads", [1, 3])
def test_scatter_cols_matches_a_loop(variant: Compiled, threads: int) -> None:
    """Runs of one id (as padding makes) and a length that is no multiple of the partial sums."""
    rng = np.random.default_rng(13)
    idx = np.concatenate([rng.integers(-1, 6, size=50), np.full(17, -1), np.full(6, 2)])
    cols = rng.normal(size=(7, idx.size))
    want = np.zeros((7, 7))
    for k, v in enumerate(idx):
        want[:, v if v >= 0 else 6] += cols[:, k]
    got = variant.with_options(threads=threads, min_elements=1).scatter_cols(idx, cols, 6)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(("B", "H"), [(130, 9), (600, 300)])  # H 300: GEMM blocks of 54-218 rows, a remainder
def test_one_step_for_sampling_matches_numpy(variant: Compiled, cell: str, threads: int, B: int, H: int) -> None:
    """The batch-major step (sampling), over blocks of rows that do not divide the batch."""
    mod = {"rnn": rnn, "gru": gru, "lstm": lstm}[cell]
    p, _, _, _, _ = random_problem(cell, 1, 1, H, np.float64)
    rng = np.random.default_rng(17)
    xp = rng.normal(size=(B, p["W_hh"].shape[1]))
    state = tuple(rng.normal(size=(B, H)) for _ in range(mod.STATE_SIZE))
    ours = variant.with_options(threads=threads, min_matmul=1).cell_step(mod, p, xp, state)
    ref = mod.step(p, xp, state)  # the NumPy cell
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    table, ids = xp[:7], rng.integers(0, 7, B)  # the inputs as rows of a table, read by id
    by_id = variant.with_options(threads=threads, min_matmul=1).cell_step(mod, p, table, state, ids)
    for a, b in zip(by_id, mod.step(p, table[ids], state), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("threads", [1, 3])
def test_fused_output_layer_matches_numpy(variant: Compiled, threads: int) -> None:
    """head_xent over blocks of columns, y's rows strided as the model's are (a view of hs)."""
    rng = np.random.default_rng(19)
    H, N, V = 6, 70, 9
    y = rng.normal(size=(H, N + 5))[:, :N]  # rows of stride N + 5
    W_out, b_out = rng.normal(size=(H, V)), rng.normal(size=V)
    targets, w = rng.integers(0, V, N), rng.random(N) * (rng.random(N) < 0.8)
    ours = variant.with_options(threads=threads, min_head_cols=1).head_xent(y, W_out, b_out, targets, w)
    ref = REF.head_xent(y, W_out, b_out, targets, w)
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def train_step_numbers(be: backend.Backend) -> list[np.ndarray]:
    """Loss, gradients and final state of one LSTM 2x16 training step, and one sampling step."""
    from charsmith import model
    from charsmith.config import ModelConfig

    cfg = ModelConfig("lstm", 11, 16, layers=2, embed=8)
    rng = np.random.default_rng(21)
    params = model.init_params(cfg, rng)
    ids = rng.integers(-1, 11, size=(40, 9))
    targets = rng.integers(0, 11, size=(40, 9))
    mask = rng.random((40, 9)) < 0.8
    with backend.use(be):
        value, grads, final = model.loss_and_grads(params, cfg, ids, targets, mask, model.init_state(cfg, 40))
        logits, state = model.step(params, cfg, ids[:, 0], final)
    return [np.array(value), *grads.values(), *(a for s in final for a in s), logits, *(a for s in state for a in s)]


def test_the_numbers_depend_on_the_budget_not_on_who_runs_the_blocks(compiled: Compiled) -> None:
    """A budget of 3 threads splits every call in 3 blocks; run by 3 threads, by the caller
    alone or as the pace decides, and repeated: the same bits (seeded runs repeat whatever
    the load on the machine)."""
    be = compiled.with_options(threads=3, **SMALL)
    runs = [train_step_numbers(be.with_options(pace=pace)) for pace in ("all", "one", "adaptive", "all", "one")]
    for run in runs[1:]:
        for a, b in zip(run, runs[0], strict=True):
            np.testing.assert_array_equal(a, b)
    for split in ("units", "batch"):  # both ways of splitting the recurrence
        a, b = (train_step_numbers(be.with_options(split=split, pace=pace)) for pace in ("all", "one"))
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)


def test_concurrent_callers_each_get_their_own_numbers(compiled: Compiled) -> None:
    """Threads calling the kernels at once (a web server's requests): one uses the pool, the
    others find it busy and run on their own thread, and nobody waits forever or mixes."""
    be = compiled.with_options(threads=2, **SMALL)
    want = train_step_numbers(be)
    got: dict[int, list[np.ndarray]] = {}

    def work(k: int) -> None:
        for _ in range(5):
            got[k] = train_step_numbers(be.with_threads(2 if k % 2 else 1).with_options(**SMALL))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a caller hung"
    for k in range(4):
        budget_2 = k % 2 == 1
        for a, b in zip(got[k], want if budget_2 else train_step_numbers(be.with_threads(1)), strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_backend_chosen_in_one_thread_leaves_the_others_alone(compiled: Compiled) -> None:
    assert backend.current() is compiled
    seen: list[backend.Backend] = []
    inside, done = threading.Event(), threading.Event()

    def other() -> None:
        inside.wait(10)
        seen.append(backend.current())
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with backend.use(backend.reference()):
        assert backend.current() is backend.reference()
        assert backend.status() == "the NumPy reference"
        inside.set()
        done.wait(10)
    t.join()
    assert seen == [compiled]
    assert backend.current() is compiled and backend.status().startswith("compiled kernels in use")


def test_thread_budgets_are_per_object(compiled: Compiled) -> None:
    with pytest.raises(ValueError, match="non-negative integer"):
        compiled.with_threads(-1)
    two = compiled.with_threads(2)
    assert two.threads == 2 and two is not compiled and compiled.threads == backend.default().threads
    assert compiled.with_threads(0).threads == compiled._k.default_threads
    assert backend.reference().with_threads(4) is backend.reference()
    with pytest.raises(TypeError, match=r"takes a charsmith\.backend\.Backend"), \
            backend.use("compiled"):  # type: ignore[arg-type]
        pass


def test_a_kernel_that_disagrees_with_numpy_is_not_used(compiled: Compiled) -> None:
    """A cell whose NumPy maths differ from the kernels of its name (a ReLU RNN calling
    itself "rnn"): the check on first use catches it, its calls run on NumPy, status says so."""
    fresh = Compiled(Kernels(_library.Loaded(compiled._k.lib, compiled.isa), 2), compiled.isa, 2, compiled.tuning)

    def forward_fm(q, xp, state, new_state, cache):  # type: ignore[no-untyped-def]
        np.maximum(q["W_hhT"] @ state[0] + xp, 0, out=new_state[0])

    relu = SimpleNamespace(**{k: getattr(rnn, k) for k in rnn.__all__})
    relu.forward_fm = forward_fm
    p, xp, state, _, _ = random_problem("rnn", 4, 5, 3, np.float64)
    S, C = [np.empty((3, 5, 5))], []
    S[0][:, 0] = state[0].T
    fresh.recur_forward(relu, p, xp, S, C)
    want = [np.empty((3, 5, 5))]
    want[0][:, 0] = state[0].T
    REF.recur_forward(relu, p, xp, want, [])
    np.testing.assert_array_equal(S[0], want[0])
    assert fresh._k.checked[(fresh.isa, "rnn")].startswith("units split: differ by")
    assert "; the rnn kernels disagree with NumPy (units split: differ by" in fresh.status


def test_each_kernel_is_checked_once_before_its_first_use(compiled: Compiled, monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads racing to a kernel's first use: one runs the check, the others wait for it."""
    fresh = Compiled(Kernels(_library.Loaded(compiled._k.lib, compiled.isa), 2), compiled.isa, 2, compiled.tuning)
    fresh = fresh.with_options(min_matmul=1)
    calls: list[str] = []
    check = _check.check

    def slow_check(*args):  # type: ignore[no-untyped-def]
        calls.append(args[2])
        threading.Event().wait(0.2)
        return check(*args)

    monkeypatch.setattr(_check, "check", slow_check)
    a = np.random.default_rng(1).normal(size=(40, 30))
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(fresh.matmul(a, a.T))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["matmul"]
    assert fresh._k.checked == {(fresh.isa, "matmul"): ""}
    for r in results:
        np.testing.assert_allclose(r, a @ a.T, rtol=1e-12)


def _fresh_process(env: dict[str, str]) -> subprocess.CompletedProcess:
    """A new interpreter: choose the backend under ``env``, then run a tiny model on it."""
    code = (
        "import numpy as np\n"
        "from charsmith import backend, model\n"
        "from charsmith.config import ModelConfig\n"
        "be = backend.default()\n"
        "print(be.compiled, be.status)\n"
        "cfg = ModelConfig('gru', 5, 4)\n"
        "p = model.init_params(cfg, np.random.default_rng(0))\n"
        "logits, _, _ = model.forward(p, cfg, np.zeros((2, 3), int), model.init_state(cfg, 2))\n"
        "print(logits.shape)\n"
    )
    full = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=300)


def test_environment_switch_turns_the_kernels_off(compiled: Compiled) -> None:
    proc = _fresh_process({"CHARSMITH_NATIVE": "0"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["False turned off by CHARSMITH_NATIVE=0", "(2, 3, 5)"]


def test_a_cpu_variant_can_be_chosen_and_a_bad_choice_is_ignored(compiled: Compiled) -> None:
    proc = _fresh_process({"CHARSMITH_ISA": "base"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("True compiled kernels in use (base)")
    proc = _fresh_process({"CHARSMITH_ISA": "sse9"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"True compiled kernels in use ({compiled.variants[-1]})")
    assert "CharsmithWarning: CHARSMITH_ISA='sse9' is not one of base, avx2, avx512; ignored" in proc.stderr


def test_a_missing_library_falls_back_to_numpy(tmp_path: Path) -> None:
    loaded, why = _library.load(tmp_path / "_kernels.so")
    assert loaded is None
    assert why.startswith("the compiled kernels were not built when charsmith was installed; reinstall")


def test_a_library_built_from_other_sources_is_refused(compiled: Compiled, monkeypatch: pytest.MonkeyPatch) -> None:
    """An editable install whose C sources changed after the build: NumPy, and why."""
    monkeypatch.setattr(_library, "source_hash", lambda folder: "0" * 16)
    loaded, why = _library.load()
    assert loaded is None
    assert why == f"_kernels.so was built from other C sources than the ones beside it; {_library.REINSTALL}"


def test_without_numpys_blas_it_falls_back_to_numpy(compiled: Compiled, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_library, "_loaded_libraries", lambda: ["/nowhere/libopenblas.so"])
    assert _library.load() == (None, "could not find NumPy's BLAS (cblas_sgemm) among the loaded libraries")


def test_numpys_blas_is_found_among_the_loaded_libraries(compiled: Compiled) -> None:
    assert _library._find_gemm(_library._loaded_libraries()) is not None


@pytest.mark.skipif(not has_compiler(), reason="needs a C compiler to build the library it plants")
def test_looking_for_the_blas_never_loads_a_library(tmp_path: Path) -> None:
    """A library named like a BLAS that this process has not loaded is skipped, not loaded:
    its constructor never runs."""
    marker = tmp_path / "ran"
    planted = plant_library(tmp_path / "libopenblas.so", marker)
    assert _library._find_gemm([str(planted)]) is None
    assert not marker.exists()


def _units_split_call(be: Compiled) -> None:
    p, xp, state, dhs, d_state = random_problem("gru", 3, 8, 6, np.float64)
    on(be, run_layer, "gru", p, xp, state, dhs, d_state)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_can_use_the_threads(compiled: Compiled) -> None:
    """The child of a fork has none of the parent's pool threads; a split call must start
    its own (or run alone) instead of waiting for them forever."""
    import multiprocessing

    be = compiled.with_options(threads=2, min_work=1, split="units", pace="all")
    _units_split_call(be)  # the parent's pool now has a worker
    child = multiprocessing.get_context("fork").Process(target=_units_split_call, args=(be,))
    child.start()
    child.join(timeout=120)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung in a threaded kernel call")
    assert child.exitcode == 0


def test_blas_on_one_thread_sets_and_restores_this_threads_blas(compiled: Compiled) -> None:
    """Training pins this thread's BLAS to one thread (the kernels bring their own) and
    gives the user's setting back afterwards."""
    lib = compiled._k.lib
    before = lib.cs_blas_local_threads(3)
    if before < 0:
        pytest.skip("this BLAS has no per-thread thread count")
    try:
        with compiled.blas_on_one_thread():
            assert lib.cs_blas_local_threads(1) == 1
        assert lib.cs_blas_local_threads(3) == 3  # restored
    finally:
        lib.cs_blas_local_threads(before)


def test_the_pace_runs_the_faster_way_and_tries_the_other_now_and_then() -> None:
    """Idle cores: both threads; a busy core (two threads 3.4x slower, as measured on main):
    the caller alone within a few calls, trying both threads ever more rarely; cores free
    again: both threads within one try interval."""
    from charsmith.backend import _pace

    pace = _pace.Pace()
    cost: dict[int, float] = {2: 1.0, 1: 1.6}
    used: list[int] = []

    def calls(n: int, two: object = None) -> list[int]:
        start = len(used)
        for _ in range(n):
            k = pace.threads("site", 2)
            used.append(k)
            pace.record("site", 2, k, (two() if k == 2 and callable(two) else cost[k]) * 1e-3, 1.0)
        return used[start:]

    idle = calls(300)
    assert idle[-1] == 2 and idle.count(1) <= 8 * _pace.TRY_CALLS  # a few tries of one thread
    cost[2], cost[1] = 3.4, 1.0
    busy = calls(1000)
    assert busy.index(1) <= 6 and busy[-1] == 1
    assert busy[10:].count(2) <= 8 * _pace.TRY_CALLS  # tries, ever rarer
    cost[2], cost[1] = 1.0, 1.6
    free = calls(_pace.MAX_INTERVAL + 2 * _pace.TRY_CALLS)
    assert free[-5:] == [2] * 5
    # a busy core again, two threads now fast or very slow by luck (1.8x one on average): the
    # caller alone nearly always
    rng = np.random.default_rng(0)
    cost[1] = 1.0
    lucky = calls(3000, two=lambda: 0.6 if rng.random() < 0.5 else 3.0)
    assert lucky[-2000:].count(2) < 100


def test_read_only_and_strided_inputs_are_read_where_they_are(compiled: Compiled) -> None:
    """Weights loaded read-only, and strided views, go to the kernels as they are (their
    addresses are found another way than a writable buffer's)."""
    p, xp, state, dhs, d_state = random_problem("gru", 4, 6, 5, np.float64)
    want = on(REF, run_layer, "gru", p, xp, state, dhs, d_state)
    for a in (*p.values(), xp, *state, dhs, *d_state):
        a.flags.writeable = False
    got = on(compiled.with_options(threads=2, min_work=1), run_layer, "gru", p, xp, state, dhs, d_state)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    step = compiled.cell_step(gru, p, xp[:, 0].T, state)  # xp[:, 0].T: a strided (B, G) view
    for a, b in zip(step, gru.step(p, xp[:, 0].T, state), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
