"""A per-category character trigram model with interpolated Witten-Bell smoothing.

    lm = fit(train_pairs, alphabet)          # one WittenBell per category, plus training priors
    lm.nll_per_char(test_pairs)              # nats per character, end token included
    lm.classify(names, uniform_prior=False)  # argmax_c log P(name | c) + log prior_c

Each category's model predicts every character of a name and then the end token ``END``,
from the two characters before it (the name is padded on the left with two start symbols,
which are context only, never predicted). Witten-Bell interpolation, for a context ``h`` and
its shortening ``h'`` (trigram -> bigram -> unigram -> uniform):

    P(w | h) = (count(h, w) + types(h) * P(w | h')) / (count(h) + types(h))

where ``count(h)`` is how often ``h`` was seen and ``types(h)`` how many distinct symbols
followed it; an unseen context falls through to ``P(w | h')``. The uniform floor is
``1 / len(outcomes)`` over the alphabet plus ``END``, so every outcome keeps some mass.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

__all__ = ["END", "START", "CategoryTrigram", "WittenBell", "fit"]

START = "\x02"  # left padding (context only)
END = "\x03"  # the end token (predicted)
Pair = tuple[str, str]  # (category, name)


class WittenBell:
    """Interpolated Witten-Bell trigram over ``outcomes`` (the alphabet plus ``END``)."""

    def __init__(self, names: Iterable[str], outcomes: Sequence[str]) -> None:
        self.outcomes = list(outcomes)
        self.uniform = 1.0 / len(self.outcomes)
        # followers[h] counts the symbols seen after context h; h is "", "v" or "uv"
        self.followers: dict[str, Counter[str]] = defaultdict(Counter)
        for name in names:
            padded = START + START + name + END
            for i in range(2, len(padded)):
                w = padded[i]
                for h in ("", padded[i - 1], padded[i - 2:i]):
                    self.followers[h][w] += 1
        # count(h) and types(h) once per context
        self.totals = {h: (sum(c.values()), len(c)) for h, c in self.followers.items()}

    def prob(self, w: str, u: str, v: str) -> float:
        """P(w | u v): the trigram interpolated down to the uniform floor."""
        p = self.uniform
        for h in ("", v, u + v):  # unigram, bigram, trigram
            if h not in self.totals:
                break  # an unseen context: its longer extensions are unseen too
            n, t = self.totals[h]
            p = (self.followers[h][w] + t * p) / (n + t)
        return p

    def logprob(self, name: str) -> float:
        """log P(name END), natural log."""
        padded = START + START + name + END
        return sum(math.log(self.prob(padded[i], padded[i - 2], padded[i - 1])) for i in range(2, len(padded)))


class CategoryTrigram:
    """One ``WittenBell`` per category and the categories' training priors."""

    def __init__(self, models: dict[str, WittenBell], counts: dict[str, int]) -> None:
        self.models = models
        total = sum(counts.values())
        self.categories = sorted(models)
        self.log_prior = {c: math.log(counts[c] / total) for c in self.categories}

    def nll_per_char(self, pairs: Sequence[Pair]) -> float:
        """Held-out nats per character (end token included), each name under its own category."""
        nll = -sum(self.models[c].logprob(name) for c, name in pairs)
        return nll / sum(len(name) + 1 for _, name in pairs)

    def log_likelihoods(self, name: str) -> list[float]:
        """log P(name | c) for every category, in ``self.categories`` order."""
        return [self.models[c].logprob(name) for c in self.categories]

    def classify(self, names: Sequence[str], *, uniform_prior: bool = False) -> list[str]:
        """Naive Bayes: argmax_c log P(name | c) + log prior_c (prior dropped if uniform)."""
        out = []
        for name in names:
            scores = self.log_likelihoods(name)
            if not uniform_prior:
                scores = [s + self.log_prior[c] for s, c in zip(scores, self.categories)]
            out.append(self.categories[max(range(len(scores)), key=scores.__getitem__)])
        return out


def fit(train: Sequence[Pair], alphabet: Sequence[str]) -> CategoryTrigram:
    """Count the trigrams of every category in ``train``; ``alphabet`` must cover the test names."""
    by_cat: dict[str, list[str]] = defaultdict(list)
    for c, name in train:
        by_cat[c].append(name)
    outcomes = [*alphabet, END]
    models = {c: WittenBell(names, outcomes) for c, names in by_cat.items()}
    return CategoryTrigram(models, {c: len(names) for c, names in by_cat.items()})
