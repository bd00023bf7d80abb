"""Defaults for ``charsmith train FILE`` with no other flags, chosen from the data.

A user who passes only a file gets a model and schedule suited to its size and mode.
Explicit options always win; these only fill the gaps. The choices come from the runs in
``benchmarks/QUALITY.md`` (held-out loss per wall-clock minute on a 2-core machine):

- running text: a 2-layer LSTM 256 with dropout, 128-character windows, 30 minutes; for a
  budget under ``TEXT_SMALL_BUDGET`` minutes a 1-layer GRU 128, which learns faster than the
  LSTM early on: on tinyshakespeare (last 10% held out, this 2-core machine, busy) it reached
  1.863 nats/char in 1 minute and 1.629 in 3, where the LSTM reached 3.314 and 2.075
  ("Budgets for running text", QUALITY.md). The threshold between the two measured points
  (3 and 30 minutes) is not yet measured: a grid over cells, sizes and budgets is to come;
- a long list (the 32k makemore names): a 2-layer LSTM 256 with dropout 0.4 and weight
  decay (with less, it overfits after ~7 epochs, 2 minutes here), 5 minutes;
- a short list (the 1.5k dinosaur names): a 1-layer GRU 128 with more dropout and weight
  decay, which overfits within a minute, so early stopping ends it;
- a long labelled list (the 18k names of ``names_by_language``, 18 languages): a 1-layer
  GRU 256 with a 64-wide category embedding, dropout 0.3 and weight decay, 5 minutes,
  evaluating and saving a moving average of the weights (decay 0.999), which lowered the
  held-out loss from 1.73 to 1.71 nats/char. The long-list LSTM 2x256 reached 2.05 (a fifth
  of the steps); a 384-wide GRU, two GRU layers, less regularisation, balanced category
  weights or a discriminative loss term did no better (QUALITY.md). Its batches are
  category-balanced (``balance`` 0.3: a category's share goes as n_c ** 0.7), so that the
  small categories' samples sound like them: an independent trigram classifier recognised
  samples at least 0.85 times as often as real names for 12 of 17 languages, against 6 of
  17 without, for 0.004 of micro accuracy ("Names by language: categories", QUALITY.md).
  When it is trained, the network is mixed with the category-conditional Kneser-Ney model
  of order ``LABELLED_MIX_ORDER`` (5) of its training items, the weights fitted on the
  held-out items (``mix_order``, :mod:`charsmith.netmix`): on that benchmark's split the
  held-out loss fell by about 0.1 nats/char and the trigram classifier recognised the samples
  of all 17 languages often enough (16 of 16 novel), with classification accuracy up from
  0.849 to 0.857; order 4 classified a little better (0.861) but left Vietnamese short and
  lost 0.03 nats/char, 6 matched 5, 3 did worse. Nothing held out
  (``val_fraction`` 0): the network alone;
- short labelled lists get a 16-wide category embedding on the short-list model;
- a run started from a trained model (``--init``, see :func:`finetune`) keeps the base's
  network and gets a lower learning rate, frozen recurrent matrices for its first steps,
  frequent evaluation and early stopping; on a small list, a fixed number of passes with the
  matrices frozen throughout.
"""

from __future__ import annotations

import math
from typing import Any

from charsmith._corpus import Corpus, TextCorpus
from charsmith.config import ModelConfig

__all__ = ["CAT_EMBED", "LABELLED_MIX_ORDER", "SMALL_LIST_CHARS", "TEXT_SMALL_BUDGET", "finetune", "suggest"]

SMALL_LIST_CHARS = 50_000  # training characters below which a list counts as short
CAT_EMBED = 16  # category embedding width for short labelled lists (64 for long ones)
LABELLED_MIX_ORDER = 5  # the n-gram order a long labelled list's network is mixed with (charsmith.netmix)
TEXT_SMALL_BUDGET = 10.0  # minutes: running text trained for less gets the small, fast-learning network
SMALL_FINETUNE_ITEMS = 1000  # training items up to which a run from a base follows a fixed schedule
FINETUNE_EPOCHS = 100  # passes over a small list that schedule makes (within FINETUNE_STEPS)
FINETUNE_STEPS = (60, 1000)  # the fewest and most steps of that schedule


def suggest(corpus: Corpus, minutes: float | None = None) -> dict[str, Any]:
    """Model and training options for ``corpus`` (keys are ModelConfig/TrainConfig fields),
    for a time budget of ``minutes`` (None: the default budget)."""
    if isinstance(corpus, TextCorpus):
        text = dict(embed=64, dropout=0.2, batch_size=32, seq_len=128, lr=3e-3)
        if minutes and minutes < TEXT_SMALL_BUDGET:
            return dict(cell="gru", hidden=128, layers=1, eval_every=100, **text)
        return dict(cell="lstm", hidden=256, layers=2, minutes=30.0, eval_every=250, **text)
    labelled = corpus.categories is not None
    if corpus.train_chars < SMALL_LIST_CHARS:
        return dict(cell="gru", hidden=128, layers=1, embed=32, dropout=0.3, weight_decay=0.1, batch_size=32,
                    lr=3e-3, minutes=2.0, eval_every=50, patience=10, **({"cat_embed": CAT_EMBED} if labelled else {}))
    if labelled:
        return dict(cell="gru", hidden=256, layers=1, embed=32, cat_embed=64, dropout=0.3, weight_decay=0.1,
                    batch_size=64, lr=3e-3, minutes=5.0, eval_every=200, ema=0.999, balance=0.3,
                    mix_order=LABELLED_MIX_ORDER if corpus.val else 0)  # its weights are fitted on held-out items
    return dict(cell="lstm", hidden=256, layers=2, embed=64, dropout=0.4, weight_decay=0.1, batch_size=64, lr=3e-3,
                minutes=5.0, eval_every=200)


def finetune(base: ModelConfig, corpus: Corpus) -> dict[str, Any]:
    """Training options for a run that starts from ``base``'s weights (its network is
    fixed, see :mod:`charsmith.finetune`): a third of the usual learning rate and a short
    warm-up (Adam's moments start afresh), at least the base's dropout, no weight decay
    (it would pull the weights towards zero, away from the base), the recurrent layers'
    matrices frozen for the first 50 steps (the embeddings, biases and output layer adapt
    to the new items first; lower held-out loss on all four lists of QUALITY.md's
    "Fine-tuning small lists"), evaluation every few steps with early stopping, and a
    minute at most.

    A small list (up to ``SMALL_FINETUNE_ITEMS`` training items) does not stop on its
    held-out items (with 30 items they are 3): the recurrent matrices stay frozen for the
    whole run, which makes the held-out loss flat around its best step, and the run makes
    ``FINETUNE_EPOCHS`` passes over the list (within ``FINETUNE_STEPS``), evaluated once at
    the end. (Held-out curves every 10 steps, ``benchmarks/base_finetune.py --curves``, on
    the development lists of 30, 100 and 300 items: with the matrices frozen the loss stays
    near its best over a wide range of steps, where with them free after 50 steps it rose by
    0.4 to 1.4 nats/char on 30 items by step 400; the best steps were 60-120 on 30 items and
    140 to past 400 on 100 or 300, so 100 passes. A learning rate of 3e-4 or 3e-3 did worse.)"""
    out: dict[str, Any] = dict(dropout=max(base.dropout, 0.3), lr=1e-3, warmup_steps=10, weight_decay=0.0,
                               freeze_steps=50, batch_size=32, eval_every=10, patience=10, minutes=1.0)
    if corpus.categories is not None:
        out["cat_embed"] = base.cat_embed or CAT_EMBED
    if isinstance(corpus, TextCorpus):
        out.update(seq_len=128, eval_every=50)
    elif len(corpus.train) <= SMALL_FINETUNE_ITEMS:
        lo, hi = FINETUNE_STEPS
        steps = min(max(math.ceil(FINETUNE_EPOCHS * len(corpus.train) / out["batch_size"]), lo), hi)
        out.update(steps=steps, freeze_steps=steps, eval_every=steps, patience=0)
    return out
