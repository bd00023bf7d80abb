"""Optimisers, clipping and the learning-rate schedule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from charsmith import optim


def test_global_norm_clipping_scales_all_gradients_together() -> None:
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0, 4.0]])}
    assert optim.clip_by_global_norm(grads, 1.0) == pytest.approx(5.0)
    assert math.sqrt(sum((g**2).sum() for g in grads.values())) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(grads["a"] / grads["b"].sum(), [0.75, 0.0])
    small = {"a": np.array([0.1, 0.2])}
    optim.clip_by_global_norm(small, 1.0)
    np.testing.assert_array_equal(small["a"], [0.1, 0.2])


def test_value_clipping_is_elementwise_in_place() -> None:
    g = {"w": np.array([-7.0, 2.0, 9.0])}
    optim.clip_by_value(g, 5.0)
    np.testing.assert_array_equal(g["w"], [-5.0, 2.0, 5.0])


def test_adam_first_step_moves_by_lr_times_sign() -> None:
    p = {"w": np.array([1.0, 1.0, 1.0])}
    g = {"w": np.array([0.5, -2.0, 1e-3])}
    state = optim.init_state("adam", p)
    optim.update("adam", p, g, state, lr=0.1, t=1)
    np.testing.assert_allclose(p["w"], [0.9, 1.1, 0.9], atol=1e-4)


def test_adagrad_matches_min_char_rnn_rule() -> None:
    rng = np.random.default_rng(0)
    p = {"w": rng.normal(size=4)}
    ref, mem = p["w"].copy(), np.zeros(4)
    state = optim.init_state("adagrad", p)
    for _ in range(3):
        g = rng.normal(size=4)
        optim.update("adagrad", p, {"w": g}, state, lr=0.1, t=1)
        mem += g * g
        ref += -0.1 * g / np.sqrt(mem + 1e-8)
    np.testing.assert_allclose(p["w"], ref, rtol=1e-12)


def test_sgd_and_weight_decay_on_matrices_only() -> None:
    p = {"W": np.ones((2, 2)), "b": np.ones(2)}
    optim.update("sgd", p, {"W": np.zeros((2, 2)), "b": np.zeros(2)}, {}, lr=0.5, t=1, weight_decay=0.1)
    np.testing.assert_allclose(p["W"], 0.95)
    np.testing.assert_array_equal(p["b"], 1.0)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        optim.init_state("rmsprop", p)


def test_schedule_warms_up_then_decays_to_the_floor() -> None:
    kw = dict(lr=1.0, warmup_steps=10, decay="cosine", min_lr_ratio=0.1)
    assert optim.lr_at(0.0, 0, **kw) == pytest.approx(0.1)
    assert optim.lr_at(0.0, 9, **kw) == pytest.approx(1.0)
    assert optim.lr_at(0.5, 50, **kw) == pytest.approx(0.55)
    assert optim.lr_at(1.0, 100, **kw) == pytest.approx(0.1)
    assert optim.lr_at(0.7, 100, lr=2.0, warmup_steps=0, decay="none", min_lr_ratio=0.1) == 2.0


def test_flatten_gives_views_of_one_array() -> None:
    params = {"W": np.arange(6.0).reshape(2, 3), "b": np.array([7.0, 8.0])}
    flat, views = optim.flatten(params)
    np.testing.assert_array_equal(flat, [0, 1, 2, 3, 4, 5, 7, 8])
    assert views["W"].shape == (2, 3) and np.shares_memory(views["W"], flat)
    flat += 1
    assert views["b"][1] == 9.0 and params["b"][1] == 8.0  # the originals are untouched


def test_flat_update_equals_per_parameter_update() -> None:
    rng = np.random.default_rng(0)
    params = {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}
    grads = {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}
    ref = {k: v.copy() for k, v in params.items()}
    ref_state = optim.init_state("adam", ref)
    flat, views = optim.flatten(params)
    state = optim.init_state("adam", {"all": flat})
    mask = np.concatenate([np.full(p.size, p.ndim > 1, dtype=float) for p in params.values()])
    for t in (1, 2):
        optim.update("adam", ref, grads, ref_state, lr=0.1, t=t, weight_decay=0.5)
        g = np.concatenate([grads[k].ravel() for k in params])
        optim.update("adam", {"all": flat}, {"all": g}, state, lr=0.1, t=t, weight_decay=0.5,
                     decay_mask={"all": mask})
    for k in params:
        np.testing.assert_allclose(views[k], ref[k], rtol=1e-12)
