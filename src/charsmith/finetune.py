"""Starting a run from a trained model: ``charsmith train FILE --init NAME_OR_DIR``.

The base (a bundled model or a checkpoint directory) fixes the network: cell, hidden size,
layers and the embedding widths. Its weights are the starting point, adapted to the data:

- **Vocabulary.** The new model's characters are the data's own (:func:`vocabulary`): each
  one the base has keeps its input row and output column, and the base's other characters
  are left out, so the model starts as the base's next-character distribution restricted to
  the data's alphabet (renormalised) and never writes a letter the data never uses. With
  ``base_chars`` the base's characters are all kept (ids and weights unchanged) and the
  data's new ones appended after them. A new character's input row is a copy of its
  relative's in the base (its other case, or the same letter without accents: ``o`` for
  ``O``, ``e`` for ``é``), so the model reads it as it reads the relative, or else the mean
  input row of the base's characters. Its output column is zero and its output bias the
  base's lowest, so it starts as unlikely as the base's rarest character and the base's
  predictions are unchanged until training raises it. (Copying the relative's output
  column instead would halve the probability of every letter that gains a new case: a
  names base trained in lower case lost log 2 nats on every character of capitalised names.)
  The exception is the other case of a base letter when the base has letters in both
  cases: the new letter starts as its relative moved by the base's own case shift (the mean
  difference capital minus small letter of its input rows, output columns and biases, see
  :func:`_case_shift`), so a capital Cyrillic letter on a base that knows capital Latin
  letters at the start of names is predicted there too (held-out loss 2.64 -> 2.51 and
  2.53 -> 2.48 nats/char on 30 and 100 capitalised Bulgarian words, see
  benchmarks/base_finetune.py).
- **Categories.** Labelled data on a base with categories: each category starts from the
  base's vector of the same name; a new one starts as the blend of the base's vectors that
  fits its training items best (as for unlabelled data below; the mean of the base's
  vectors if it has no training items), so it starts near the styles its items resemble. Labelled
  data on a base without categories: fresh category vectors and a zero projection
  ``W_cat``, so the run starts exactly as the base. Unlabelled data on a base with
  categories: the new model has none. The blend of the base's categories that fits the
  training items best (the maximum-likelihood mixture weights, see :func:`_blend_of`) is
  folded into layer 0's bias (``b += (w @ cat) @ W_cat``), so the run starts as the base
  writing in that blend.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Mapping
from typing import Any

import numpy as np

from charsmith._corpus import Corpus, LinesCorpus
from charsmith.categories import Categories, posterior
from charsmith.checkpoint import Checkpoint
from charsmith.config import ModelConfig
from charsmith.errors import CheckpointError
from charsmith.scoring import category_logliks
from charsmith.vocab import END, Vocab

__all__ = ["FIXED", "network", "start_params", "vocabulary"]

BLEND_EM_STEPS = 50  # EM steps of the blend a base's categories give the new items (see _blend_of)
FIXED = ("cell", "hidden", "layers", "embed", "cat_embed")  # the ModelConfig fields the base decides


def describe(cfg: ModelConfig) -> str:
    """The network in a few words, e.g. "gru x1, hidden 128, embed 32"."""
    cats = f", {cfg.categories} categories (embed {cfg.cat_embed})" if cfg.categories else ""
    return f"{cfg.cell} x{cfg.layers}, hidden {cfg.hidden}, embed {cfg.embed}{cats}"


def network(base: Checkpoint, init: str = "") -> ModelConfig:
    """The base's network; a model of another kind (an n-gram model, a mixture) is refused."""
    if not isinstance(base.model, ModelConfig):
        raise CheckpointError(f"`init` {init or 'the base'} is a {base.model.kind} model, which has no network weights "
                              "to start from; start from a network (or drop `init`)", param="init")
    return base.model


def check_base(base: Checkpoint, init: str, mode: str, given: Mapping[str, Any]) -> None:
    """Refuse a base of the other mode or kind, or options that would change its network's shape."""
    network(base, init)
    if base.mode != mode:
        what = {"lines": "a list of items (lines mode)", "text": "running text (text mode)"}
        raise CheckpointError(f"`init` {init} learned {what[base.mode]}, but the data is {what[mode]}; "
                              f"start from a {mode}-mode model", param="init")
    for name in FIXED:
        ours = getattr(base.model, name)
        if name in given and given[name] != ours and not (name == "cat_embed" and base.model.categories == 0):
            raise CheckpointError(f"`init` {init} is a {describe(network(base))}; `{name}` {given[name]} conflicts with "
                                  f"its {name.replace('_', ' ')} {ours}: drop `{name}` (the base fixes the network)",
                                  param=name)


def fixed_options(base: Checkpoint) -> dict[str, Any]:
    """The ModelConfig fields the base fixes (cat_embed only if it has categories)."""
    out = {name: getattr(base.model, name) for name in FIXED}
    if base.model.categories == 0:
        del out["cat_embed"]
    return out


def extend_vocab(base: Vocab, data: Vocab) -> Vocab:
    """The base's characters (ids unchanged), then the data's new ones in sorted order."""
    return Vocab(base.chars + "".join(sorted(ch for ch in data.chars if ch not in base)))


def vocabulary(base: Vocab, data: Vocab, *, base_chars: bool = False) -> Vocab:
    """The characters of a run on ``data`` started from a base of vocabulary ``base``: the
    data's own, or with ``base_chars`` the base's and then the data's new ones."""
    return extend_vocab(base, data) if base_chars else data


def _relative(ch: str, vocab: Vocab) -> int | None:
    """The id of a base character ``ch`` can start from: its other case or its accentless letter."""
    bare = unicodedata.normalize("NFD", ch)[0]
    for cand in (ch.lower(), ch.upper(), bare, bare.lower(), bare.upper()):
        if len(cand) == 1 and cand != ch and cand != END and cand in vocab:
            return vocab.index(cand)
    return None


def _carry_rows(base: Checkpoint, vocab: Vocab) -> dict[str, np.ndarray]:
    """The base's params with the input rows and output columns of ``vocab``'s characters:
    the base's own for a character it has, a new character's as the module docstring says."""
    params = {k: v.copy() for k, v in base.params.items()}
    if vocab.chars == base.vocab.chars:
        return params
    inp = "wte" if network(base).embed > 0 else "l0.W_ih"
    mean_row = params[inp][1:].mean(axis=0) if base.vocab.size > 1 else params[inp][0]  # (D,)
    lowest = params["b_out"][1:].min() if base.vocab.size > 1 else params["b_out"][0]
    shift = _case_shift(params, inp, base.vocab)
    rows, cols, bias = [], [], []
    for ch in vocab.chars:
        if ch in base.vocab:
            i = base.vocab.index(ch)
            rows.append(params[inp][i])
            cols.append(params["W_out"][:, i])
            bias.append(params["b_out"][i])
            continue
        r = _relative(ch, base.vocab)
        if r is not None and shift is not None and ch.swapcase() == base.vocab.chars[r]:
            sign = 1.0 if ch.isupper() else -1.0  # the other case of a base letter: the base's case shift
            rows.append(params[inp][r] + sign * shift[0])
            cols.append(params["W_out"][:, r] + sign * shift[1])
            bias.append(params["b_out"][r] + sign * shift[2])
        else:  # read as its relative (or an average character), predicted as the base's rarest
            rows.append(mean_row if r is None else params[inp][r])
            cols.append(np.zeros_like(params["W_out"][:, 0]))
            bias.append(lowest)
    params[inp] = np.stack(rows).astype(params[inp].dtype)
    params["W_out"] = np.stack(cols, axis=1).astype(params["W_out"].dtype)
    params["b_out"] = np.array(bias, dtype=params["b_out"].dtype)
    return params


def _case_shift(params: dict[str, np.ndarray], inp: str, vocab: Vocab) -> tuple[np.ndarray, ...] | None:
    """The mean difference capital minus small letter over the base's letters it has in both
    cases: of the input rows (D,), output columns (H,) and output biases (); None if it has
    none."""
    pairs = [(vocab.index(ch), vocab.index(ch.upper())) for ch in vocab.chars
             if ch.islower() and len(ch.upper()) == 1 and ch.upper() in vocab]
    if not pairs:
        return None
    lo, up = (np.array(x) for x in zip(*pairs))
    return ((params[inp][up] - params[inp][lo]).mean(axis=0), (params["W_out"][:, up] - params["W_out"][:, lo]).mean(axis=1),
            (params["b_out"][up] - params["b_out"][lo]).mean())


def start_params(
    base: Checkpoint, corpus: Corpus, cfg: ModelConfig, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The first weights of a run of ``cfg`` on ``corpus`` (whose vocabulary is the data's
    own or extends the base's, see :func:`vocabulary`) started from ``base``, and facts for the run's info:
    the characters added, and how the categories were carried over."""
    params = _carry_rows(base, corpus.vocab)
    info: dict[str, Any] = {"added_characters": "".join(ch for ch in corpus.vocab.chars if ch not in base.vocab),
                            "dropped_characters": sum(ch not in corpus.vocab for ch in base.vocab.chars)}
    ours, theirs = corpus.categories, base.categories
    if theirs is not None:  # a base with categories learned a list, so the data is one too (check_base)
        assert isinstance(corpus, LinesCorpus)
        if ours is not None:
            idx = [theirs.names.index(n) if n in theirs.names else -1 for n in ours.names]
            params["cat"] = np.stack([params["cat"][i] if i >= 0 else _new_category(base, params, corpus, k)
                                      for k, i in enumerate(idx)])
            info["new_categories"] = [n for n, i in zip(ours.names, idx) if i < 0]
        else:  # unlabelled data: fold the base classifier's blend into the bias
            w = _blend_of(base, params, corpus.vocab, corpus.train)
            shift = (w @ params.pop("cat")) @ params.pop("W_cat")  # (G,): the blend's input, fed at every step
            params["l0.b"] = (params["l0.b"] + shift).astype(params["l0.b"].dtype)
            info["folded_blend"] = {n: float(x) for n, x in zip(theirs.names, w)}
    elif ours is not None:  # a base without categories: fresh vectors, zero projection
        dtype = params["W_out"].dtype
        params["cat"] = rng.standard_normal((cfg.categories, cfg.cat_embed)).astype(dtype)
        params["W_cat"] = np.zeros((cfg.cat_embed, params["l0.b"].shape[0]), dtype)
    return params, info


def _new_category(base: Checkpoint, params: dict[str, np.ndarray], corpus: LinesCorpus, k: int) -> np.ndarray:
    """The starting vector (C,) of the data's category k, which the base lacks: w @ cat for
    the blend w that fits that category's training items best (:func:`_blend_of`), or the
    mean of the base's vectors if it has none."""
    assert corpus.train_cats is not None  # the data's categories
    items = [s for s, c in zip(corpus.train, corpus.train_cats) if c == k]
    if not items:
        return params["cat"].mean(axis=0)
    return (_blend_of(base, params, corpus.vocab, items) @ params["cat"]).astype(params["cat"].dtype)


def _blend_of(base: Checkpoint, params: dict[str, np.ndarray], vocab: Vocab, items: list[str]) -> np.ndarray:
    """The blend w (K,) of the base's categories that ``items`` fit best: the mixture weights
    that maximise sum_i log sum_k w_k P(item_i | k) under the base (vocabulary already
    extended to ``vocab``), by EM from the base's priors (w <- the mean posterior of the items
    under prior w), for at most ``BLEND_EM_STEPS`` steps. (One step gives the mean posterior
    under the base's priors, which leans towards the categories with many training items.)"""
    cats: Categories = base.categories  # type: ignore[assignment]
    cfg = dataclasses.replace(network(base), vocab_size=vocab.size)
    loglik = category_logliks(params, cfg, vocab, items)  # (N, K)
    w = np.exp(cats.log_priors())
    for _ in range(BLEND_EM_STEPS):
        with np.errstate(divide="ignore"):  # a weight of 0 stays 0
            new = posterior(loglik, np.log(w)).mean(axis=0)
        done = np.abs(new - w).max() < 1e-6
        w = new
        if done:
            break
    return w / w.sum()
