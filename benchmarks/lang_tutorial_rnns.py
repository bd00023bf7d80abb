"""The PyTorch "NLP From Scratch" tutorials' name models, re-implemented for a time budget.

    generator(train, test, alphabet, categories, seconds)    # "Generating Names with a Character-Level RNN"
    classifier(train, test, alphabet, categories, seconds)   # "Classifying Names with a Character-Level RNN"
    gru_classifier(train, test, alphabet, categories, seconds)  # a plain batched GRU classifier, for scale

The two tutorial models follow pytorch/tutorials, intermediate_source/char_rnn_generation_tutorial.py
and char_rnn_classification_tutorial.py (the i2h/i2o versions, at commits 4ce8b871 and 016d0cc0): the same layers, initialisation
(PyTorch's defaults), one-hot inputs, learning rate, plain SGD written as ``p -= lr * grad``,
one random example per step (a category drawn uniformly, then a name of it), and the same
loss. What differs is listed in ``GENERATOR_DEPARTURES`` and ``CLASSIFIER_DEPARTURES``.

Each function trains until ``seconds`` of wall clock have passed and returns a dict of
figures and the steps reached; the classifiers return their held-out ``log_probs`` (N, C) and
``native_prior``, the prior their training corresponds to ("uniform" for the tutorial, which
draws categories uniformly; "training" for the GRU, which sees the names as they come).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = [
    "CLASSIFIER_DEPARTURES", "GENERATOR_DEPARTURES", "GRU_CONFIG",
    "GRUClassifier", "TutorialClassifier", "TutorialGenerator", "classifier", "generator", "gru_classifier",
]

Pair = tuple[str, str]  # (category, name)

GENERATOR_DEPARTURES = [
    "alphabet: every character in the data files (names kept as written, no unicodeToAscii), plus EOS",
    ("start: the name's first character is predicted too, from a start input that is the EOS "
     "column of the one-hot input (never used as an input by the tutorial), so the per-character "
     "NLL covers every character and EOS like the trigram's; the tutorial starts from a given first letter"),
    "training runs for a wall-clock budget instead of n_iters = 100000",
    "the NLL is computed in eval mode (dropout off) and without gradients",
    "the one-hot tensors of a name are built once and cached (speed only)",
    "random and torch are seeded (the tutorial does not seed)",
    "p.data.add_(p.grad, alpha=-lr) for the deprecated p.data.add_(-lr, p.grad)",
]
CLASSIFIER_DEPARTURES = [
    "alphabet: every character in the data files (names kept as written, no unicodeToAscii)",
    "training runs for a wall-clock budget instead of n_iters = 100000",
    "accuracy is measured on the held-out split (the tutorial's confusion matrix uses random training examples)",
    "the one-hot tensor of a name is built once and cached (speed only)",
    "random and torch are seeded (the tutorial does not seed)",
    "p.data.add_(p.grad, alpha=-lr) for the deprecated p.data.add_(-lr, p.grad)",
]
GRU_CONFIG: dict[str, Any] = {"embed": 32, "hidden": 128, "layers": 1, "optimizer": "adam", "lr": 0.002,
                              "batch_size": 64, "sampling": "shuffled epochs over the training names", "loss": "cross-entropy"}


class TutorialGenerator(nn.Module):
    """The generation tutorial's RNN: category one-hot + letter one-hot + hidden -> next letter."""

    def __init__(self, n_categories: int, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(n_categories + input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(n_categories + input_size + hidden_size, output_size)
        self.o2o = nn.Linear(hidden_size + output_size, output_size)
        self.dropout = nn.Dropout(0.1)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, category: torch.Tensor, input: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        input_combined = torch.cat((category, input, hidden), 1)  # (1, C + V + H)
        hidden = self.i2h(input_combined)  # (1, H), no nonlinearity, as in the tutorial
        output = self.i2o(input_combined)  # (1, V)
        output = self.o2o(torch.cat((hidden, output), 1))
        return self.softmax(self.dropout(output)), hidden

    def init_hidden(self) -> torch.Tensor:
        return torch.zeros(1, self.hidden_size)


class TutorialClassifier(nn.Module):
    """The classification tutorial's RNN: letter one-hot + hidden -> hidden, category log-probs."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(input_size + hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        combined = torch.cat((input, hidden), 1)  # (1, V + H)
        return self.softmax(self.i2o(combined)), self.i2h(combined)

    def init_hidden(self) -> torch.Tensor:
        return torch.zeros(1, self.hidden_size)


def _one_hot(indices: Sequence[int], width: int) -> torch.Tensor:
    """(len, 1, width) one-hot rows, the tutorials' ``lineToTensor`` layout."""
    t = torch.zeros(len(indices), 1, width)
    t[torch.arange(len(indices)), 0, torch.tensor(list(indices), dtype=torch.long)] = 1
    return t


def _by_category(train: Sequence[Pair], categories: Sequence[str]) -> dict[str, list[str]]:
    lines: dict[str, list[str]] = {c: [] for c in categories}
    for c, name in train:
        lines[c].append(name)
    return lines


def generator(train: Sequence[Pair], test: Sequence[Pair], alphabet: Sequence[str], categories: Sequence[str],
              seconds: float, *, seed: int = 0, hidden: int = 128, lr: float = 0.0005) -> dict[str, Any]:
    """Train the conditional generator for ``seconds``; held-out nats/char with EOS included."""
    random.seed(seed)
    torch.manual_seed(seed)
    eos = len(alphabet)  # the tutorial's EOS is the last index, n_letters - 1
    n_letters = len(alphabet) + 1
    index = {ch: i for i, ch in enumerate(alphabet)}
    cat_onehot = {c: torch.eye(len(categories))[i:i + 1] for i, c in enumerate(categories)}  # (1, C)
    cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def tensors(name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name not in cache:  # inputs: START(=EOS column), c1..cn; targets: c1..cn, EOS
            ids = [index[ch] for ch in name]
            cache[name] = _one_hot([eos, *ids], n_letters), torch.tensor([*ids, eos], dtype=torch.long)
        return cache[name]

    rnn = TutorialGenerator(len(categories), n_letters, hidden, n_letters)
    criterion = nn.NLLLoss()
    lines = _by_category(train, categories)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        category = random.choice(categories)  # randomTrainingPair
        inputs, targets = tensors(random.choice(lines[category]))
        h = rnn.init_hidden()
        rnn.zero_grad()
        loss: torch.Tensor = torch.zeros(())
        for i in range(inputs.size(0)):
            output, h = rnn(cat_onehot[category], inputs[i], h)
            loss = loss + criterion(output, targets[i:i + 1])  # summed over the name, as in the tutorial
        loss.backward()
        with torch.no_grad():
            for p in rnn.parameters():
                assert p.grad is not None
                p.add_(p.grad, alpha=-lr)
        steps += 1
    train_s = time.perf_counter() - start

    rnn.eval()
    nll, n_chars = 0.0, 0
    with torch.no_grad():
        for category, name in test:
            inputs, targets = tensors(name)
            h = rnn.init_hidden()
            for i in range(inputs.size(0)):
                output, h = rnn(cat_onehot[category], inputs[i], h)
                nll -= float(output[0, targets[i]])
            n_chars += len(name) + 1
    return {"nll_per_char": nll / n_chars, "steps": steps, "unit": "examples", "train_seconds": train_s,
            "eval_seconds": time.perf_counter() - start - train_s, "hidden": hidden, "lr": lr,
            "departures": GENERATOR_DEPARTURES}


def classifier(train: Sequence[Pair], test: Sequence[Pair], alphabet: Sequence[str], categories: Sequence[str],
               seconds: float, *, seed: int = 0, hidden: int = 128, lr: float = 0.005) -> dict[str, Any]:
    """Train the tutorial classifier for ``seconds``; its held-out log-probabilities."""
    random.seed(seed)
    torch.manual_seed(seed)
    index = {ch: i for i, ch in enumerate(alphabet)}
    cache: dict[str, torch.Tensor] = {}

    def line_tensor(name: str) -> torch.Tensor:
        if name not in cache:
            cache[name] = _one_hot([index[ch] for ch in name], len(alphabet))
        return cache[name]

    rnn = TutorialClassifier(len(alphabet), hidden, len(categories))
    criterion = nn.NLLLoss()
    lines = _by_category(train, categories)
    targets = {c: torch.tensor([i], dtype=torch.long) for i, c in enumerate(categories)}
    steps, diverged, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        category = random.choice(categories)  # randomTrainingExample
        x = line_tensor(random.choice(lines[category]))
        h = rnn.init_hidden()
        rnn.zero_grad()
        for i in range(x.size(0)):
            output, h = rnn(x[i], h)
        loss = criterion(output, targets[category])  # the last step's output only
        loss.backward()
        with torch.no_grad():
            for p in rnn.parameters():
                assert p.grad is not None
                p.add_(p.grad, alpha=-lr)
        diverged += not math.isfinite(loss.item())
        steps += 1
    train_s = time.perf_counter() - start

    with torch.no_grad():
        rows = []
        for _, name in test:
            x, h = line_tensor(name), rnn.init_hidden()
            for i in range(x.size(0)):
                output, h = rnn(x[i], h)
            rows.append(output[0])
        logq = torch.stack(rows).double().numpy()  # (N, C)
    # Uniform category sampling in training makes the model's own decision the uniform-prior one.
    return {"log_probs": logq, "native_prior": "uniform", "steps": steps, "unit": "examples", "non_finite_losses": diverged, "train_seconds": train_s,
            "eval_seconds": time.perf_counter() - start - train_s, "hidden": hidden, "lr": lr,
            "departures": CLASSIFIER_DEPARTURES}


class GRUClassifier(nn.Module):
    """Embedding -> GRU -> linear on the last hidden state."""

    def __init__(self, vocab: int, n_categories: int, embed: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.gru = nn.GRU(embed, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, n_categories)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(ids), lengths, batch_first=True, enforce_sorted=False)
        _, h = self.gru(packed)  # h: (layers, B, H)
        return self.head(h[-1])  # (B, C) logits


def gru_classifier(train: Sequence[Pair], test: Sequence[Pair], alphabet: Sequence[str], categories: Sequence[str],
                   seconds: float, *, seed: int = 0) -> dict[str, Any]:
    """A batched GRU classifier (``GRU_CONFIG``) trained for ``seconds`` on the natural category mix."""
    torch.manual_seed(seed)
    cfg = GRU_CONFIG
    index = {ch: i for i, ch in enumerate(alphabet)}
    cat_index = {c: i for i, c in enumerate(categories)}

    def batch(pairs: Sequence[Pair]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        lengths = torch.tensor([len(n) for _, n in pairs])
        ids = torch.zeros(len(pairs), int(lengths.max()), dtype=torch.long)  # (B, T), padded with 0
        for b, (_, name) in enumerate(pairs):
            ids[b, :len(name)] = torch.tensor([index[ch] for ch in name])
        return ids, lengths, torch.tensor([cat_index[c] for c, _ in pairs])

    model = GRUClassifier(len(alphabet), len(categories), cfg["embed"], cfg["hidden"], cfg["layers"])
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    bs = cfg["batch_size"]
    steps, epochs, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        order = torch.randperm(len(train)).tolist()
        for k in range(0, len(order), bs):
            ids, lengths, y = batch([train[i] for i in order[k:k + bs]])
            loss = nn.functional.cross_entropy(model(ids, lengths), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            if time.perf_counter() - start >= seconds:
                break
        else:
            epochs += 1
    train_s = time.perf_counter() - start

    model.eval()
    with torch.no_grad():
        ids, lengths, _ = batch(test)
        logq = torch.log_softmax(model(ids, lengths), 1).double().numpy()  # (N, C)
    return {"log_probs": logq, "native_prior": "training", "steps": steps, "unit": f"batches of {bs}", "full_epochs": epochs, "train_seconds": train_s,
            "eval_seconds": time.perf_counter() - start - train_s, "config": cfg}
