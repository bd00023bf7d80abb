"""A trained network mixed with the n-gram model of its own training items.

After a network run on a list (``TrainConfig.mix_order`` N > 0; the default for long
labelled lists, see :mod:`charsmith.defaults`), :func:`mix_network` fits the
category-conditional Kneser-Ney model of order N on the training items
(:mod:`charsmith.ngram`) and the mixture's per-context weights on the held-out items, by
EM (:func:`charsmith.mixture.fit_weights`):

    p(w | h, c) = lam[u] p_net(w | h, c) + (1 - lam[u]) p_ngram(w | h, c)

u = 1 + the length of the n-gram context the estimate came from. The result is one model
of kind "mixture" (:mod:`charsmith.mixture`) that samples, scores and classifies: the
network knows the long-range shape of an item, the n-gram model the exact local spelling
of each category, which a small category's vector only partly holds. With categories, the
mixture classifies by its two parts' evidence weighed on the same held-out items
(:mod:`charsmith.calibration`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from charsmith import calibration, mixture, ngram
from charsmith._batching import encode_items
from charsmith._corpus import Corpus, LinesCorpus
from charsmith.checkpoint import Checkpoint
from charsmith.config import ModelConfig
from charsmith.errors import InputError
from charsmith.scoring import score_items

__all__ = ["check_mixable", "heldout_probs", "mix_network", "mix_networks", "network_part"]


def check_mixable(corpus: Corpus, order: int) -> None:
    """InputError unless a network on ``corpus`` can be mixed with an n-gram model of
    ``order`` (0: no mixture): a list with held-out items to fit the weights on."""
    if not order:
        return
    if order > ngram.MAX_ORDER:
        raise InputError(f"`mix_order` must be at most {ngram.MAX_ORDER}, got {order}", param="mix_order")
    if not isinstance(corpus, LinesCorpus):
        raise InputError("`mix_order` mixes the network with an n-gram model of the items; a running text has no "
                         "items: drop `mix_order`", param="mix_order")
    if not corpus.val:
        raise InputError("`mix_order` fits the mixture's weights on the held-out items and there are none; give "
                         "`val_fraction` > 0 or `mix_order` 0", param="mix_order")
    K = 0 if corpus.categories is None else corpus.categories.size
    try:  # the n-gram model's own limit on its order, checked before the network trains
        ngram.NgramConfig(corpus.vocab.size, order, (0,) * order, ((1.0, 1.0, 1.0),) * order, K)
    except InputError as e:
        raise InputError(f"`mix_order`: {e}", param="mix_order") from None


def _seqs(corpus: Corpus, items: list[str]) -> list[np.ndarray]:
    return [s[1:-1] for s in encode_items(corpus.vocab, items)]


def _cats(cats: np.ndarray | None, n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.int64) if cats is None else np.asarray(cats, dtype=np.int64)


def heldout_probs(
    params: dict[str, np.ndarray], net: ModelConfig, ng_params: dict[str, np.ndarray], ng: ngram.NgramConfig,
    corpus: Corpus,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each held-out character's (end tokens included) probability under the network and
    under the n-gram model, given its item's category, and the n-gram context length it came
    from: three (P,) arrays, item by item."""
    return (_net_probs(params, net, corpus), *_ngram_probs(ng_params, ng, corpus))


def _val_cats(corpus: Corpus) -> np.ndarray | None:
    return None if corpus.val_cats is None else np.asarray(corpus.val_cats)


def _net_probs(params: dict[str, np.ndarray], net: ModelConfig, corpus: Corpus) -> np.ndarray:
    """(P,) the network's probability of each held-out character."""
    scores = score_items(params, net, corpus.vocab, list(corpus.val), cond=_val_cats(corpus))
    return np.exp(np.concatenate([s.char_logprobs for s in scores]))


def _ngram_probs(ng_params: dict[str, np.ndarray], ng: ngram.NgramConfig,
                 corpus: Corpus) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(P,) the n-gram model's probability of each held-out character, and (P,) the context
    length each came from."""
    items = list(corpus.val)
    grams, gcats = ngram.item_grams(_seqs(corpus, items), _cats(_val_cats(corpus), len(items)), ng.order)
    probs, used = ngram.lookup(ng_params, ng, grams[:, :-1], gcats)
    return probs[np.arange(len(grams)), grams[:, -1]], used


def mix_network(ckpt: Checkpoint, corpus: Corpus, order: int) -> tuple[Checkpoint, dict[str, Any]]:
    """``ckpt`` (a network trained on ``corpus.train``) mixed with the n-gram model of order
    ``order`` of ``corpus.train``, its weights fitted on ``corpus.val``; and what the fit
    found: the held-out loss (nats/char) of the network, the n-gram model and the mixture,
    and the weights (an in-sample figure for the mixture: its weights were fitted there)."""
    return mix_networks([ckpt], corpus, order)


def mix_networks(ckpts: Sequence[Checkpoint], corpus: Corpus, order: int) -> tuple[Checkpoint, dict[str, Any]]:
    """As :func:`mix_network` for E networks of one shape trained on ``corpus`` (an ensemble:
    p_net is the mean of their distributions); the result keeps the first one's run facts."""
    check_mixable(corpus, order)
    if not ckpts:
        raise TypeError("mix_networks needs at least one network")
    first = ckpts[0]
    for ck in ckpts:
        if not isinstance(ck.model, ModelConfig):
            raise TypeError(f"mix_networks mixes networks, not a {ck.model.kind} model")
        if ck.model != first.model or ck.vocab != first.vocab or ck.categories != first.categories:
            raise InputError("the networks of a mixture must have one shape, vocabulary and set of categories; "
                             "train them with the same options on the same file", param="ckpts")
    assert isinstance(first.model, ModelConfig)
    K = 0 if corpus.categories is None else corpus.categories.size
    train = list(corpus.train)
    ng_cfg, ng_params = ngram.fit(_seqs(corpus, train), corpus.vocab.size, order,
                                  cats=None if corpus.train_cats is None else _cats(corpus.train_cats, len(train)),
                                  categories=K)
    nets = [_net_probs(ck.params, first.model, corpus) for ck in ckpts]
    p_net = np.mean(nets, axis=0)
    p_ng, used = _ngram_probs(ng_params, ng_cfg, corpus)
    weights = mixture.fit_weights(p_net, p_ng, used, order)
    p_mix = mixture.combine(p_net, p_ng, used, weights)
    facts = {"order": order, "weights": [round(float(w), 4) for w in weights],
             "val_loss_network": float(-np.log(p_net).mean()), "val_loss_ngram": float(-np.log(p_ng).mean()),
             "val_loss_mixture": float(-np.log(p_mix).mean())}
    if len(ckpts) > 1:
        facts["val_loss_networks"] = [round(float(-np.log(p).mean()), 4) for p in nets]
    model = mixture.MixtureConfig(first.model, ng_cfg, nets=len(ckpts))
    params = mixture.join([ck.params for ck in ckpts], ng_params, weights)
    if corpus.categories is not None and K >= 2:  # how it classifies, fitted on the same held-out items
        theta = calibration.calibrate(params, model, corpus.vocab, list(corpus.val), _cats(_val_cats(corpus), len(corpus.val)),
                                      corpus.categories.log_priors())
        if theta is not None:
            model = dataclasses.replace(model, calibrated=True)
            params = {**params, mixture.CALIBRATION: theta}
            facts["calibration"] = [round(float(t), 4) for t in theta]
    info = dict(first.info, mix=facts, best_val_loss=facts["val_loss_mixture"])
    return dataclasses.replace(first, model=model, params=params, info=info), facts


def network_part(ckpt: Checkpoint) -> Checkpoint:
    """The network of a mixture of one network, as a checkpoint of its own (what a run that
    starts from it, ``init``, starts from); any other checkpoint as it is."""
    model = ckpt.model
    if not isinstance(model, mixture.MixtureConfig) or model.nets != 1:
        return ckpt
    return dataclasses.replace(ckpt, model=model.net, params=mixture.split(ckpt.params, model)[0][0])
