"""Defaults for ``charsmith train FILE`` with no other flags, chosen from the data and the budget.

A user who passes only a file (and perhaps ``--minutes``) gets a model and schedule suited to
the data's size and mode and to the time budget. Explicit options always win; these only fill
the gaps. The choices come from the runs in ``benchmarks/QUALITY.md``.

Running text and long lists follow the time budget ("Budgets", QUALITY.md): a grid of models
(cell, width, depth, batch, window, learning rate; ``benchmarks/budget_grid.py``) trained on tinyshakespeare and
makemore's names for the steps a 1, 3, 10 or 30-minute budget makes on a quiet 2-core machine,
each data set's final 10% held out apart from the part that tuned. A budget gets the grid's
best model at the measured budget nearest to it on a log scale (thresholds at the geometric
means: 1.7, 5.5 and 17 minutes, ``BUDGET_THRESHOLDS``):

==========  ==============================  ====================================
budget      running text                    a long list
==========  ==============================  ====================================
< 1.7 min   GRU 1x256, lr 8e-3 (1.701)      LSTM 1x256, lr 5e-3 (1.919)
< 5.5 min   GRU 1x256, lr 8e-3 (1.688)      LSTM 2x256 (1.908 at 3 min)
< 17 min    GRU 1x256 (1.706 at 10 min)     LSTM 2x256 (not measured at 10 min)
otherwise   LSTM 2x256 (1.512 at 30 min)    LSTM 2x256 (not measured at 30 min)
==========  ==============================  ====================================

(loss per character on the final held-out set at the budget measured; the 30-minute text figure
is the recipe's on the file's last 10%, QUALITY.md's first table). Long lists at 10 and 30
minutes keep the 3-minute winner, the recipe that earlier reached 1.887 in 5 minutes and 1.890
in 15 (a plateau: it overfits after ~7 epochs). No budget: 30 minutes for running
text (``TEXT_BUDGET``), 5 for a long list (``LIST_BUDGET``). Text models read 128-character
windows, 32 at a time, through a 64-wide embedding with dropout 0.2; list models batches of 64
items, embedding 64, dropout 0.4 and weight decay 0.1 (with less, the 2-layer LSTM overfits
after ~7 epochs). Each model evaluates 20 to 40 times in its budget on a quiet machine (as in
the grid), so the first held-out loss comes after 3-5% of it.

Other data:

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
- short labelled lists get a 16-wide category embedding on the short-list model, and its
  mixture with the n-gram model too (``LABELLED_MIX_ORDER``): on six lists of 960 to 2,200
  names of 3 to 8 languages (``benchmarks/QUALITY.md``, "Short labelled lists") the held-out
  loss fell by 0.06 to 0.10 nats/char in every one and classification rose in five of six;
- a run started from a trained model (``--init``, see :func:`finetune`) keeps the base's
  network and gets a lower learning rate, frozen recurrent matrices for its first steps,
  frequent evaluation and early stopping; on a small list, a fixed number of passes with the
  matrices frozen throughout.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from charsmith._corpus import Corpus, TextCorpus
from charsmith.config import ModelConfig

__all__ = ["BUDGETS", "BUDGET_THRESHOLDS", "CAT_EMBED", "LABELLED_MIX_ORDER", "LIST_BUDGET", "SMALL_LIST_CHARS",
           "TEXT_BUDGET", "budget_row", "finetune", "suggest"]

SMALL_LIST_CHARS = 50_000  # training characters below which a list counts as short
CAT_EMBED = 16  # category embedding width for short labelled lists (64 for long ones)
LABELLED_MIX_ORDER = 5  # the n-gram order a long labelled list's network is mixed with (charsmith.netmix)
SMALL_FINETUNE_ITEMS = 1000  # training items up to which a run from a base follows a fixed schedule
FINETUNE_EPOCHS = 100  # passes over a small list that schedule makes (within FINETUNE_STEPS)
FINETUNE_STEPS = (60, 1000)  # the fewest and most steps of that schedule

BUDGETS = (1.0, 3.0, 10.0, 30.0)  # minutes the budget grid measured (QUALITY.md, "Budgets")
BUDGET_THRESHOLDS = tuple(math.sqrt(a * b) for a, b in itertools.pairwise(BUDGETS))  # 1.73, 5.48, 17.3
TEXT_BUDGET = 30.0  # minutes for running text when none is given
LIST_BUDGET = 5.0  # minutes for a long list when none is given

# The grid's best model per measured budget: cell, hidden, layers, peak learning rate (measured at 1 and 3
# minutes; 3e-3 where only it was run); eval_every as the grid's runs (~20 per budget).
TEXT_MODELS: dict[float, dict[str, Any]] = {
    1.0: dict(cell="gru", hidden=256, layers=1, lr=8e-3, eval_every=50),
    3.0: dict(cell="gru", hidden=256, layers=1, lr=8e-3, eval_every=180),
    10.0: dict(cell="gru", hidden=256, layers=1, lr=3e-3, eval_every=600),
    30.0: dict(cell="lstm", hidden=256, layers=2, lr=3e-3, eval_every=250),
}
LIST_MODELS: dict[float, dict[str, Any]] = {
    1.0: dict(cell="lstm", hidden=256, layers=1, lr=5e-3, eval_every=400),
    3.0: dict(cell="lstm", hidden=256, layers=2, lr=3e-3, eval_every=500),
    10.0: dict(cell="lstm", hidden=256, layers=2, lr=3e-3, eval_every=1000),
    30.0: dict(cell="lstm", hidden=256, layers=2, lr=3e-3, eval_every=2000),
}
TEXT_OPTIONS = dict(embed=64, dropout=0.2, batch_size=32, seq_len=128)
LIST_OPTIONS = dict(embed=64, dropout=0.4, weight_decay=0.1, batch_size=64)


def budget_row(minutes: float) -> float:
    """The measured budget nearest to ``minutes`` on a log scale (the first one whose
    threshold it is under)."""
    return next((b for b, t in zip(BUDGETS, BUDGET_THRESHOLDS) if minutes < t), BUDGETS[-1])


def suggest(corpus: Corpus, minutes: float | None = None) -> dict[str, Any]:
    """Model and training options for ``corpus`` (keys are ModelConfig/TrainConfig fields),
    for a time budget of ``minutes`` (None: the default budget)."""
    if isinstance(corpus, TextCorpus):
        budget = minutes or TEXT_BUDGET
        return dict(**TEXT_MODELS[budget_row(budget)], **TEXT_OPTIONS, minutes=budget)
    labelled = corpus.categories is not None
    mix = {"mix_order": LABELLED_MIX_ORDER if corpus.val else 0}  # its weights are fitted on held-out items
    if corpus.train_chars < SMALL_LIST_CHARS:
        return dict(cell="gru", hidden=128, layers=1, embed=32, dropout=0.3, weight_decay=0.1, batch_size=32,
                    lr=3e-3, minutes=2.0, eval_every=50, patience=10, **({"cat_embed": CAT_EMBED, **mix} if labelled else {}))
    if labelled:
        return dict(cell="gru", hidden=256, layers=1, embed=32, cat_embed=64, dropout=0.3, weight_decay=0.1,
                    batch_size=64, lr=3e-3, minutes=5.0, eval_every=200, ema=0.999, balance=0.3, **mix)
    budget = minutes or LIST_BUDGET
    return dict(**LIST_MODELS[budget_row(budget)], **LIST_OPTIONS, minutes=budget)


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
