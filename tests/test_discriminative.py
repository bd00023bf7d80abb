"""The discriminative term of labelled training (charsmith.discriminative): its value is
-log P(c | x) from the model's own per-category likelihoods, and its gradients match
central differences in float64."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import assert_grads_close

from charsmith import model as M
from charsmith.categories import posterior
from charsmith.config import ModelConfig
from charsmith.discriminative import hybrid_loss_and_grads
from charsmith.nn.loss import cross_entropy_forward


def setup(cell: str, layers: int) -> tuple[ModelConfig, dict[str, np.ndarray], tuple[np.ndarray, ...]]:
    cfg = ModelConfig(cell, vocab_size=7, hidden=5, layers=layers, embed=3, categories=3, cat_embed=2)  # type: ignore[arg-type]
    rng = np.random.default_rng(1)
    params = M.init_params(cfg, rng, np.float64)
    params["W_out"] = rng.standard_normal(params["W_out"].shape)  # sharper per-category likelihoods
    B, T = 4, 5
    ids, targets = rng.integers(0, 7, (B, T)), rng.integers(0, 7, (B, T))
    mask = np.ones((B, T))
    mask[1, 3:] = mask[2, 4:] = 0.0  # shorter items
    cats = np.array([0, 2, 1, 2])
    return cfg, params, (ids, targets, mask, cats)


LOG_PRIOR = np.log(np.array([0.5, 0.3, 0.2]))


@pytest.mark.parametrize("cell,layers", [("gru", 2), ("lstm", 1), ("rnn", 1)])
def test_gradients_match_central_differences(cell: str, layers: int) -> None:
    cfg, params, (ids, targets, mask, cats) = setup(cell, layers)

    def f() -> float:
        xent, disc, _ = hybrid_loss_and_grads(params, cfg, ids, targets, mask, cats, LOG_PRIOR, disc_weight=0.7,
                                              disc_items=3)
        return xent + 0.7 * disc

    grads = hybrid_loss_and_grads(params, cfg, ids, targets, mask, cats, LOG_PRIOR, disc_weight=0.7, disc_items=3)[2]
    assert_grads_close(f, params, grads)


def test_values_are_the_mean_xent_and_minus_log_posterior() -> None:
    cfg, params, (ids, targets, mask, cats) = setup("gru", 1)
    xent, disc, grads = hybrid_loss_and_grads(params, cfg, ids, targets, mask, cats, LOG_PRIOR, disc_weight=0.5,
                                              disc_items=2)
    logits = M.forward(params, cfg, ids, M.init_state(cfg, 4, np.float64), cond=cats)[0]
    assert xent == pytest.approx(cross_entropy_forward(logits, targets, mask)[0], rel=1e-12)
    loglik = np.zeros((2, 3))  # item i under category k, by the plain forward pass
    for k in range(3):
        lg = M.forward(params, cfg, ids[:2], M.init_state(cfg, 2, np.float64), cond=np.full(2, k))[0]
        logp = lg - np.log(np.exp(lg).sum(axis=2, keepdims=True))
        loglik[:, k] = (np.take_along_axis(logp, targets[:2, :, None], axis=2)[..., 0] * mask[:2]).sum(axis=1)
    q = posterior(loglik, LOG_PRIOR)
    assert disc == pytest.approx(-np.log(q[[0, 1], cats[:2]]).mean(), rel=1e-10)
    # without the term, the gradients are those of the plain loss
    plain = M.loss_and_grads(params, cfg, ids, targets, mask, M.init_state(cfg, 4, np.float64), cond=cats)[1]
    off = hybrid_loss_and_grads(params, cfg, ids, targets, mask, cats, LOG_PRIOR, disc_weight=0.0, disc_items=0)[2]
    for k in plain:
        np.testing.assert_allclose(off[k], plain[k], rtol=1e-10, atol=1e-12, err_msg=k)
    assert any(not np.allclose(grads[k], plain[k]) for k in plain)  # with it, they differ
