"""How a mixture classifies (charsmith.calibration): the objective's derivatives against
central differences, the fit recovering known weights, and a calibrated mixture's
classification against the formula computed from its parts by another path."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from gradcheck import numerical_grad, rel_error

import charsmith
from charsmith import calibration, mixture
from charsmith.categories import posterior
from charsmith.checkpoint import load_checkpoint, save_checkpoint
from charsmith.errors import CheckpointError
from charsmith.mixture import CALIBRATION, MixtureConfig
from charsmith.scoring import category_logliks


def synthetic(theta: np.ndarray, log_prior: np.ndarray, N: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """L (2, N, K) of two noisy 'parts', and categories y (N,) drawn from the calibrated
    posterior with weights ``theta``."""
    rng = np.random.default_rng(seed)
    K = len(log_prior)
    signal = rng.normal(size=(N, K)) * 3.0
    L = np.stack([signal + rng.normal(size=(N, K)), 2.0 * signal + rng.normal(size=(N, K))]) - 20.0
    P = posterior(calibration.evidence(theta, L), log_prior)
    y = np.array([rng.choice(K, p=p) for p in P])
    return L, y


LOG_PRIOR = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
THETA = np.array([0.3, 0.2, 0.4, -0.3, 0.1, -0.2])  # a (2,), then b (4,) summing to 0


def test_the_objective_has_the_derivatives_central_differences_give() -> None:
    L, y = synthetic(THETA, LOG_PRIOR, 60, seed=0)
    theta = np.array([0.7, 0.1, 0.3, -0.5, 0.2, 0.0])
    _, g, H = calibration.objective(theta, L, y, LOG_PRIOR)
    want_g = numerical_grad(lambda: calibration.objective(theta, L, y, LOG_PRIOR)[0], theta)
    assert rel_error(g, want_g) < 1e-7
    for i in range(len(theta)):
        want_row = numerical_grad(lambda i=i: float(calibration.objective(theta, L, y, LOG_PRIOR)[1][i]), theta)
        assert rel_error(H[i], want_row) < 1e-6
    assert np.allclose(H, H.T) and np.linalg.eigvalsh(H).min() > 0  # convex: one minimum


def test_the_fit_recovers_the_weights_the_categories_were_drawn_with() -> None:
    L, y = synthetic(THETA, LOG_PRIOR, 20000, seed=1)
    theta = calibration.fit(L, y, LOG_PRIOR)
    _, g, _ = calibration.objective(theta, L, y, LOG_PRIOR)
    assert np.abs(g).max() < 1e-6  # a stationary point of a convex objective: the minimum
    assert np.allclose(theta[:2], THETA[:2], atol=0.02)
    assert np.allclose(theta[2:] - theta[2:].mean(), THETA[2:], atol=0.1)  # b up to a shared constant
    # negative control: the same fit on categories unrelated to L finds no weight in them
    shuffled = calibration.fit(L, np.random.default_rng(2).permutation(y), LOG_PRIOR)
    assert np.abs(shuffled[:2]).max() < 0.02


def test_very_long_items_fit_as_short_ones() -> None:
    L, y = synthetic(THETA, LOG_PRIOR, 4000, seed=4)
    near = calibration.fit(L, y, LOG_PRIOR)
    far = calibration.fit(L - 1e6, y, LOG_PRIOR)  # log-likelihoods of items of ~100,000 characters
    assert np.allclose(far, near, atol=1e-8) and not np.allclose(far[:2], calibration.A0, atol=0.05)


def test_the_fit_reads_a_share_of_many_held_out_items(styled_mix: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mixed = load_checkpoint(styled_mix)
    items = ["gadolon", "kisetiki"] * 500
    cats = np.array([0, 1] * 500)
    seen: list[list[str]] = []
    real = calibration.part_logliks
    monkeypatch.setattr(calibration, "part_logliks", lambda *a, **k: seen.append(a[3]) or real(*a, **k))
    monkeypatch.setattr(calibration, "MAX_POSITIONS", 2 * 8.5 * 100)  # 2 categories x 8.5 positions an item: 100 items
    theta = calibration.calibrate(mixed.params, mixed.model, mixed.vocab, items, cats, mixed.categories.log_priors())
    assert theta is not None and len(seen[0]) == 100 and seen[0].count("gadolon") == 50  # evenly spaced: both kinds


def test_a_category_without_held_out_items_keeps_a_moderate_bias() -> None:
    L, y = synthetic(THETA, LOG_PRIOR, 300, seed=3)
    keep = y != 3  # the rarest category has no held-out item
    theta = calibration.fit(L[:, keep], y[keep], LOG_PRIOR)
    assert np.isfinite(theta).all() and -3 < theta[2 + 3] < 0  # pulled down, not to minus infinity


def test_a_labelled_mixture_classifies_by_its_parts_as_the_formula_says(styled: Path, styled_mix: Path) -> None:
    net, mixed = load_checkpoint(styled), load_checkpoint(styled_mix)
    assert isinstance(mixed.model, MixtureConfig) and mixed.model.calibrated
    theta = mixed.params[CALIBRATION]
    assert theta.shape == (4,) and mixed.info["mix"]["calibration"] == [round(float(t), 4) for t in theta]
    items = ["gadolon", "kisetiki", "gadőlon", "bakis"]
    u = mixed.unknown
    _, ng = mixture.split(mixed.params, mixed.model)
    # the parts scored on their own: the trained network as itself, the n-gram model as itself
    L = np.stack([category_logliks(net.params, net.model, net.vocab, items, unknown_mass=u),
                  category_logliks(ng, mixed.model.ngram, mixed.vocab, items, unknown_mass=u)])
    assert np.allclose(calibration.part_logliks(mixed.params, mixed.model, mixed.vocab, items, unknown_mass=u), L,
                       atol=1e-9)
    log_prior = mixed.categories.log_priors()
    m = charsmith.CharModel(mixed)
    got = np.array([dict(r.probs)["bo"] for r in m.classify(items, top=2)])
    want = posterior(theta[0] * L[0] + theta[1] * L[1] + theta[2:] + log_prior, np.zeros(2))[:, 0]
    assert np.allclose(got, want, atol=1e-9)
    uniform = np.array([dict(r.probs)["bo"] for r in m.classify(items, top=2, uniform_prior=True)])
    assert np.allclose(uniform, posterior(theta[0] * L[0] + theta[1] * L[1], np.zeros(2))[:, 0], atol=1e-9)
    # and not Bayes' rule on the mixture's own likelihood, which an uncalibrated mixture uses
    bayes = posterior(category_logliks(mixed.params, mixed.model, mixed.vocab, items, unknown_mass=u), log_prior)
    assert not np.allclose(got, bayes[:, 0], atol=1e-3)


def test_a_mixture_saved_before_calibration_classifies_by_bayes_rule(styled_mix: Path, tmp_path: Path) -> None:
    mixed = load_checkpoint(styled_mix)
    params = {k: v for k, v in mixed.params.items() if k != CALIBRATION}
    old = dataclasses.replace(mixed, model=dataclasses.replace(mixed.model, calibrated=False), params=params)
    save_checkpoint(tmp_path / "old", old)
    meta = json.loads((tmp_path / "old" / "config.json").read_text())
    del meta["model"]["calibrated"]  # as a mixture of an earlier charsmith was written
    (tmp_path / "old" / "config.json").write_text(json.dumps(meta))
    m = charsmith.load(tmp_path / "old")
    assert isinstance(m.ckpt.model, MixtureConfig) and not m.ckpt.model.calibrated
    items = ["gadolon", "kisetiki"]
    loglik = category_logliks(m.ckpt.params, m.ckpt.model, m.ckpt.vocab, items)
    want = posterior(loglik, m.ckpt.categories.log_priors())[:, 0]
    assert np.allclose([dict(r.probs)["bo"] for r in m.classify(items, top=2)], want, atol=1e-12)


@pytest.mark.parametrize("value", [np.array([0.3, np.nan, 0.0, 0.0]), np.array([0.3, 0.2, 0.0])])
def test_a_broken_calibration_is_refused(styled_mix: Path, value: np.ndarray) -> None:
    mixed = load_checkpoint(styled_mix)  # a checkpoint checks its arrays as it is made, so loading one does too
    with pytest.raises(CheckpointError, match=r"mix\.calibration must be"):
        dataclasses.replace(mixed, params={**mixed.params, CALIBRATION: value})


def test_a_mixture_without_categories_is_not_calibrated(styled_mix: Path) -> None:
    mixed = load_checkpoint(styled_mix)
    with pytest.raises(charsmith.CharsmithError, match="calibrated"):
        dataclasses.replace(mixed.model, net=dataclasses.replace(mixed.model.net, categories=0, cat_embed=0),
                            ngram=dataclasses.replace(mixed.model.ngram, categories=0))
