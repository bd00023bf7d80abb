"""The compiled kernels (charsmith.nn.native) against NumPy, and their fallbacks.

Finite differences and PyTorch check both engines through the ``engine`` fixture (see
test_cells, test_model, test_torch_parity); here: the compiled time loop equals the NumPy
loop for awkward sizes, thread counts and both ways of splitting, in every instruction set
variant this CPU runs; inputs read by id; float32 stays close to float64; the threaded
matmul, Adam, scatter, one-step kernel and the fused output layer match NumPy and are
reproducible; a forked child and CHARSMITH_NATIVE=0 still work; a missing or stale library
and a missing BLAS fall back to NumPy with the reason, and looking for the BLAS never loads
a library.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import has_compiler, plant_library

from charsmith import optim
from charsmith.nn import layer, native
from charsmith.nn.native import _library

CELLS = ("rnn", "lstm", "gru")


@pytest.fixture(autouse=True)
def kernels() -> Iterator[None]:
    if not native.available():
        if has_compiler() and os.environ.get("CHARSMITH_NATIVE", "1") != "0":
            pytest.fail(f"a C compiler is present but the compiled kernels are not: {native.status()}")
        pytest.skip(f"no compiled kernels on this machine: {native.status()}")
    yield
    native.set_threads(0)


@pytest.fixture(params=_library.VARIANTS)
def variant(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test on the kernels compiled for each instruction set this CPU runs."""
    if request.param not in native._variants:
        pytest.skip(f"this CPU does not run the {request.param} kernels (it runs {', '.join(native._variants)})")
    chosen = dict(native._SFX)
    native._use_variant(request.param)
    yield request.param
    native._SFX.update(chosen)


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


@pytest.mark.parametrize("threads,split", [(1, ""), (3, "batch"), (3, "units")])
@pytest.mark.parametrize("T,B,H", [(1, 1, 1), (4, 5, 3), (7, 33, 9), (3, 64, 16)])
@pytest.mark.parametrize("cell", CELLS)
def test_compiled_matches_numpy_loop_float64(variant: str, cell: str, T: int, B: int, H: int, threads: int, split: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Split by batch columns or by hidden units (a barrier per step), over more threads
    than cores and uneven blocks: the same numbers as the NumPy loop."""
    monkeypatch.setattr(native, "_MIN_WORK", 1)  # split even tiny problems over the threads
    monkeypatch.setattr(native, "_FORCE_SPLIT", split)
    native.set_threads(threads)
    args = random_problem(cell, T, B, H, np.float64)
    ours = run_layer(cell, *args)
    with native.disabled():
        ref = run_layer(cell, *args)
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("split", ["batch", "units"])
@pytest.mark.parametrize("cell", CELLS)
def test_inputs_gathered_by_id_match_the_gathered_array(variant: str, cell: str, split: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Layer 0 reads its inputs from the projected table by id, step by step (id -1 = the
    table's last column): the same as running on the gathered (G, T, B) array."""
    monkeypatch.setattr(native, "_MIN_WORK", 1)
    monkeypatch.setattr(native, "_FORCE_SPLIT", split)
    native.set_threads(3)
    p, _, state, _, _ = random_problem(cell, 1, 1, 6, np.float64)
    rng = np.random.default_rng(9)
    T, B, V = 5, 37, 7
    table = rng.normal(size=(p["W_hh"].shape[1], V + 1))
    ids = rng.integers(-1, V, size=(T, B))
    state = tuple(rng.normal(size=(B, 6)) for _ in state)
    hs, final, (S, C) = layer.recur_forward(cell, p, table, state, ids=ids)
    xp = table[:, np.where(ids < 0, V, ids)]  # (G, T, B)
    hs2, final2, (S2, C2) = layer.recur_forward(cell, p, xp, state)
    for a, b in zip([hs, *final, *S, *C], [hs2, *final2, *S2, *C2], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("cell", CELLS)
def test_float32_kernels_stay_close_to_float64(variant: str, cell: str) -> None:
    """The float32 kernels use their own vectorised exp: compare them with float64."""
    args64 = random_problem(cell, 6, 40, 12, np.float64, seed=3)
    args32 = tuple(to_float32(a) for a in args64)
    ours = run_layer(cell, *args32)
    with native.disabled():
        ref = run_layer(cell, *args64)
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


def test_sigmoid_and_tanh_extremes_stay_finite() -> None:
    """Huge pre-activations saturate (exp is clamped) instead of overflowing to nan."""
    p, xp, state, dhs, d_state = random_problem("lstm", 3, 8, 4, np.float32)
    xp[:, 0] = 1e30
    xp[:, 1] = -1e30
    out = run_layer("lstm", p, xp, state, dhs, d_state)
    assert all(np.isfinite(a).all() for a in out)
    assert np.all(np.abs(out[0][:, 1:]) <= 1.0)  # outputs; step 0 is the given state


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_threaded_matmul_matches_numpy(variant: str, ta: bool, tb: bool, dtype: type, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native, "_MIN_MATMUL", 1)
    native.set_threads(3)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}
    rng = np.random.default_rng(5)
    for M, N, K in [(1, 1, 1), (7, 300, 5), (300, 7, 11), (64, 65, 66)]:
        a = rng.normal(size=(K, M) if ta else (M, K)).astype(dtype)
        b = rng.normal(size=(N, K) if tb else (K, N)).astype(dtype)
        a, b = (a.T if ta else a), (b.T if tb else b)
        np.testing.assert_allclose(native.matmul(a, b), a @ b, **tol)
    strided = rng.normal(size=(20, 3, 30)).astype(dtype)[:, :2].reshape(20, 60)  # rows of stride 90
    w = rng.normal(size=(60, 8)).astype(dtype)
    np.testing.assert_allclose(native.matmul(strided, w), strided @ w, **tol)


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_adam_matches_numpy(variant: str, dtype: type, threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native, "_MIN_ELEMENTS", 1)  # split even 1,000 elements
    native.set_threads(threads)
    rng = np.random.default_rng(6)
    flat = {"all": rng.normal(size=1000).astype(dtype)}
    grads = {"all": rng.normal(size=1000).astype(dtype)}
    mask = {"all": (rng.random(1000) < 0.5).astype(dtype)}
    results = []
    for use_native in (True, False):
        p = {"all": flat["all"].copy()}
        state = optim.init_state("adam", p)
        state["v/all"] += 0.01
        ctx = contextlib.nullcontext() if use_native else native.disabled()
        with ctx:
            for t in (1, 2, 3):
                optim.update("adam", p, grads, state, lr=0.01, t=t, weight_decay=0.1, decay_mask=mask)
        results.append((p["all"], state["m/all"], state["v/all"]))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-7)


def test_disabled_block_uses_the_numpy_loop() -> None:
    assert native.available()
    with native.disabled():
        assert not native.available()
        assert "turned off" in native.status()
    assert native.available()
    assert native.status().startswith("compiled kernels in use")


def test_set_threads_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="non-negative integer"):
        native.set_threads(-1)
    native.set_threads(2)
    assert native.threads() == 2


def _fresh_process(env: dict[str, str]) -> subprocess.CompletedProcess:
    """A new interpreter: load the kernels under ``env``, then train a tiny model on the outcome."""
    code = (
        "import numpy as np\n"
        "from charsmith.nn import native\n"
        "from charsmith import model\n"
        "from charsmith.config import ModelConfig\n"
        "print(native.available(), native.status())\n"
        "cfg = ModelConfig('gru', 5, 4)\n"
        "p = model.init_params(cfg, np.random.default_rng(0))\n"
        "logits, _, _ = model.forward(p, cfg, np.zeros((2, 3), int), model.init_state(cfg, 2))\n"
        "print(logits.shape)\n"
    )
    full = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=300)


def test_environment_switch_turns_the_kernels_off() -> None:
    proc = _fresh_process({"CHARSMITH_NATIVE": "0"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["False turned off by CHARSMITH_NATIVE=0", "(2, 3, 5)"]


def test_a_cpu_variant_can_be_chosen_and_a_bad_choice_is_ignored() -> None:
    proc = _fresh_process({"CHARSMITH_ISA": "base"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("True compiled kernels in use (base)")
    proc = _fresh_process({"CHARSMITH_ISA": "sse9"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"True compiled kernels in use ({native._variants[-1]})")
    assert "CharsmithWarning: CHARSMITH_ISA='sse9' is not one of base, avx2, avx512; ignored" in proc.stderr


def test_a_missing_library_falls_back_to_numpy(tmp_path: Path) -> None:
    loaded, why = _library.load(tmp_path / "_kernels.so")
    assert loaded is None
    assert why.startswith("the compiled kernels were not built when charsmith was installed; reinstall")


def test_a_library_built_from_other_sources_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """An editable install whose C sources changed after the build: NumPy, and why."""
    monkeypatch.setattr(_library, "source_hash", lambda folder: "0" * 16)
    loaded, why = _library.load()
    assert loaded is None
    assert why == f"_kernels.so was built from other C sources than the ones beside it; {_library.REINSTALL}"


def test_without_numpys_blas_it_falls_back_to_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_library, "_loaded_libraries", lambda: ["/nowhere/libopenblas.so"])
    assert _library.load() == (None, "could not find NumPy's BLAS (cblas_sgemm) among the loaded libraries")


def test_numpys_blas_is_found_among_the_loaded_libraries() -> None:
    import numpy  # noqa: F401  (loads its BLAS)

    assert _library._find_gemm(_library._loaded_libraries()) is not None


@pytest.mark.skipif(not has_compiler(), reason="needs a C compiler to build the library it plants")
def test_looking_for_the_blas_never_loads_a_library(tmp_path: Path) -> None:
    """A library named like a BLAS that this process has not loaded is skipped, not loaded:
    its constructor never runs."""
    marker = tmp_path / "ran"
    planted = plant_library(tmp_path / "libopenblas.so", marker)
    assert _library._find_gemm([str(planted)]) is None
    assert not marker.exists()


@pytest.mark.parametrize("threads", [1, 3])
def test_scatter_cols_matches_a_loop(variant: str, threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of one id (as padding makes) and a length that is no multiple of the partial sums."""
    monkeypatch.setattr(native, "_MIN_ELEMENTS", 1)
    native.set_threads(threads)
    rng = np.random.default_rng(13)
    idx = np.concatenate([rng.integers(-1, 6, size=50), np.full(17, -1), np.full(6, 2)])
    cols = rng.normal(size=(7, idx.size))
    want = np.zeros((7, 7))
    for k, v in enumerate(idx):
        want[:, v if v >= 0 else 6] += cols[:, k]
    np.testing.assert_allclose(native.scatter_cols(idx, cols, 6), want, rtol=1e-12, atol=1e-12)


def _units_split_call() -> None:
    p, xp, state, dhs, d_state = random_problem("gru", 3, 8, 6, np.float64)
    run_layer("gru", p, xp, state, dhs, d_state)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_can_use_the_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child of a fork has none of the parent's pool threads; a split call (with a
    barrier per step) must start its own instead of waiting for them forever."""
    import multiprocessing

    monkeypatch.setattr(native, "_MIN_WORK", 1)
    monkeypatch.setattr(native, "_FORCE_SPLIT", "units")
    native.set_threads(2)
    _units_split_call()  # the parent's pool now has a worker
    child = multiprocessing.get_context("fork").Process(target=_units_split_call)
    child.start()
    child.join(timeout=120)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung in a threaded kernel call")
    assert child.exitcode == 0


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("cell", CELLS)
def test_one_step_for_sampling_matches_numpy(variant: str, cell: str, threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch-major step (sampling), over blocks of rows that do not divide the batch."""
    from charsmith.nn import gru, lstm, rnn

    monkeypatch.setattr(native, "_MIN_MATMUL", 1)
    native.set_threads(threads)
    mod = {"rnn": rnn, "gru": gru, "lstm": lstm}[cell]
    p, _, _, _, _ = random_problem(cell, 1, 1, 9, np.float64)
    rng = np.random.default_rng(17)
    B = 130
    xp = rng.normal(size=(B, p["W_hh"].shape[1]))
    state = tuple(rng.normal(size=(B, 9)) for _ in range(mod.STATE_SIZE))
    ours = native.cell_step(cell, p, xp, state)
    ref = mod.step(p, xp, state)  # the NumPy cell
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_threaded_training_gradients_are_reproducible(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same inputs, same threads: bit-identical gradients, whichever thread finishes first
    (per-thread sums are added in a fixed order), so a seeded run can be repeated."""
    from charsmith import model
    from charsmith.config import ModelConfig

    for name in ("_MIN_HEAD_COLS", "_MIN_MATMUL", "_MIN_WORK", "_MIN_ELEMENTS"):
        monkeypatch.setattr(native, name, 1)
    native.set_threads(3)
    cfg = ModelConfig("lstm", 11, 16, layers=2, embed=8)
    rng = np.random.default_rng(21)
    params = model.init_params(cfg, rng)
    ids = rng.integers(-1, 11, size=(40, 9))
    targets = rng.integers(0, 11, size=(40, 9))
    mask = rng.random((40, 9)) < 0.8
    state = model.init_state(cfg, 40)
    runs = [model.loss_and_grads(params, cfg, ids, targets, mask, state) for _ in range(5)]
    for value, grads, _ in runs[1:]:
        assert value == runs[0][0]
        for k in grads:
            np.testing.assert_array_equal(grads[k], runs[0][1][k], err_msg=k)


def test_blas_on_one_thread_sets_and_restores_this_threads_blas() -> None:
    """Training pins this thread's BLAS to one thread (the kernels bring their own) and
    gives the user's setting back afterwards."""
    lib = native._lib
    before = lib.cs_blas_local_threads(3)
    if before < 0:
        pytest.skip("this BLAS has no per-thread thread count")
    try:
        with native.blas_on_one_thread():
            assert lib.cs_blas_local_threads(1) == 1
        assert lib.cs_blas_local_threads(3) == 3  # restored
    finally:
        lib.cs_blas_local_threads(before)
