"""Sample, score and complete with a charsmith model exported as an ONNX step graph
(``charsmith export MODEL --format onnx --out model.onnx``), with onnxruntime and NumPy only.

    python model_sampler.py model.onnx -n 10 --temperature 0.8 --seed 1
    python model_sampler.py model.onnx --score tyrannosaurus velociraptor

    from model_sampler import StepModel, sample, score
    m = StepModel("model.onnx")
    sample(m, 10, temperature=0.8, seed=1)          # list models
    score(m, ["tyrannosaurus"])                     # [(log-prob, characters scored)]
    complete(m, "ROMEO:", 200, seed=1)              # text models

Draws follow charsmith's sampling specification, so a seed gives the same items as the C# and
JavaScript exports: PRNG xoshiro128** seeded through the murmur3 finaliser, one uniform double
per character, logits / temperature minus their maximum, w = exp(.), top-k then top-p (ties:
lower id first), and the first id whose running sum of w (ascending ids) exceeds u * total.
Items are drawn one at a time: primed with the end token and the prefix, abandoned past
max_len, rejected below min_len or when known, at most 256 n + 20000 tries.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import sys
import time
from collections.abc import Sequence

import numpy as np

END = 0  # the end token's id (the newline)

__all__ = ["StepModel", "Xoshiro128", "complete", "draw", "fnv1a", "inverse_cdf", "sample", "score"]


class Xoshiro128:
    """xoshiro128** (32-bit), seeded from an integer in [0, 2^32)."""

    def __init__(self, seed: int) -> None:
        if not 0 <= seed < 1 << 32:
            raise ValueError(f"seed must be in [0, 2^32), got {seed}")
        s, x = [], seed
        for _ in range(4):
            x = (x + 0x9E3779B9) & 0xFFFFFFFF
            z = x
            z = ((z ^ (z >> 16)) * 0x85EBCA6B) & 0xFFFFFFFF
            z = ((z ^ (z >> 13)) * 0xC2B2AE35) & 0xFFFFFFFF
            s.append(z ^ (z >> 16))
        self.s = s

    def next(self) -> int:
        s = self.s
        result = (_rotl((s[1] * 5) & 0xFFFFFFFF, 7) * 9) & 0xFFFFFFFF
        t = (s[1] << 9) & 0xFFFFFFFF
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 11)
        return result

    def uniform(self) -> float:
        """A double in [0, 1) from 53 random bits."""
        a, b = self.next() >> 5, self.next() >> 6
        return (a * 67108864 + b) / 9007199254740992


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & 0xFFFFFFFF


def fnv1a(text: str) -> int:
    """FNV-1a 32-bit hash of the UTF-8 bytes of ``text``."""
    h = 2166136261
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


def draw(logits: Sequence[float], temperature: float, top_k: int, top_p: float, u: float) -> int:
    """One id from ``logits`` with the uniform ``u``, as the specification says."""
    z = [float(x) / temperature for x in logits]
    top = max(z)
    w = [math.exp(x - top) for x in z]
    V = len(w)
    if 0 < top_k < V or top_p < 1.0:
        order = sorted(range(V), key=lambda i: (-w[i], i))
        if 0 < top_k < V:
            for i in order[top_k:]:
                w[i] = 0.0
        if top_p < 1.0:
            total = 0.0
            for x in w:
                total += x
            run, keep = 0.0, V
            for r, i in enumerate(order):
                run += w[i]
                if run >= top_p * total:
                    keep = r + 1
                    break
            for i in order[keep:]:
                w[i] = 0.0
    return inverse_cdf(w, u)


def inverse_cdf(w: Sequence[float], u: float) -> int:
    """The first index whose running sum of ``w`` (ascending) exceeds u * the total of ``w``;
    if rounding leaves none, the last index with w > 0."""
    total = 0.0
    for x in w:
        total += x
    target, run, last = u * total, 0.0, 0
    for i, x in enumerate(w):
        if x <= 0.0:
            continue
        run += x
        last = i
        if run > target:
            return i
    return last


class StepModel:
    """The ONNX step graph in an onnxruntime session, with the vocabulary and categories
    from its metadata."""

    def __init__(self, path: str) -> None:
        try:
            import onnxruntime  # noqa: PLC0415  (imported when used, so --help works without it)
        except ImportError:
            raise ImportError("this sampler needs onnxruntime: pip install onnxruntime") from None
        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        meta = json.loads(self.session.get_modelmeta().custom_metadata_map["charsmith"])
        self.vocab: str = meta["vocab"]
        self.index = {ch: i for i, ch in enumerate(self.vocab)}
        self.text = meta["mode"] == "text"
        self.lowercase: bool = meta["lowercase"]
        self.categories: list[str] = meta["categories"]
        self.counts: list[float] = [float(c) for c in meta["counts"]]
        self.known = np.frombuffer(base64.b64decode(meta["known_fnv1a"]), dtype="<u4")
        self.state_names = [i.name for i in self.session.get_inputs() if i.name not in ("ids", "cond")]
        self.hidden = int(meta["hidden"])

    def zero_state(self, batch: int) -> dict[str, np.ndarray]:
        return {name: np.zeros((batch, self.hidden)) for name in self.state_names}

    def step(self, ids: np.ndarray, cond: np.ndarray | None, state: dict[str, np.ndarray]
             ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """ids (B,) -> logits (B, V) and the new state."""
        feed = {"ids": np.asarray(ids, dtype=np.int64), **state}
        if self.categories:
            if cond is None:
                raise ValueError("this model has categories: pass cond, (B, K) weights")
            feed["cond"] = cond
        out = self.session.run(None, feed)
        return out[0], dict(zip(self.state_names, out[1:]))

    def encode(self, text: str) -> list[int]:
        if self.lowercase:
            text = text.lower()
        bad = [ch for ch in text if ch not in self.index or (not self.text and ch == "\n")]
        if bad:
            raise ValueError(f"characters this model does not know: {''.join(dict.fromkeys(bad))!r}")
        return [self.index[ch] for ch in text]

    def weights(self, category: str | None) -> np.ndarray | None:
        """A name or blend "A=0.7,B=0.3" as (K,) weights: divided by the largest, then by the sum."""
        if category is None:
            return None
        if not self.categories:
            raise ValueError("this model has no categories; pass no category")
        w = np.zeros(len(self.categories))
        for part in category.split(","):
            name, _, value = (s.strip() for s in part.partition("="))
            if name not in self.categories:
                raise ValueError(f"unknown category {name!r}; this model knows: {', '.join(self.categories)}")
            w[self.categories.index(name)] = float(value) if value else 1.0
        if not (np.isfinite(w).all() and (w >= 0).all() and w.max() > 0):
            raise ValueError("category weights must be finite, >= 0, and not all 0")
        w = w / w.max()
        return w / w.sum()

    def is_known(self, item: str) -> bool:
        h = fnv1a(item.lower() if self.lowercase else item)
        pos = int(np.searchsorted(self.known, h))
        return pos < self.known.size and int(self.known[pos]) == h


def _check_controls(temperature: float, top_k: int, top_p: float) -> None:
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 1 (or 0 for no limit), got {top_k}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def _rng(seed: int | None) -> Xoshiro128:
    return Xoshiro128(int(time.time_ns()) & 0xFFFFFFFF if seed is None else seed)


def sample(m: StepModel, n: int = 10, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
           prefix: str = "", min_len: int = 1, max_len: int = 50, category: str | None = None,
           seed: int | None = None, skip_known: bool = True, unique: bool = False) -> list[str]:
    """``n`` new items (list models), none twice with ``unique``; fewer only if 256 n + 20000
    tries do not find them."""
    if m.text:
        raise ValueError("this model learned running text; use complete()")
    _check_controls(temperature, top_k, top_p)
    pre = m.encode(prefix)
    if not 1 <= min_len <= max_len or len(pre) > max_len:
        raise ValueError(f"need 1 <= min_len <= max_len and the prefix within max_len, got {min_len}, {max_len}")
    fixed = m.weights(category)
    rng = _rng(seed)
    K = len(m.categories)
    primed: dict[int, tuple[np.ndarray, dict[str, np.ndarray], np.ndarray | None]] = {}
    items: list[str] = []
    seen: set[str] = set()
    tries = 256 * n + 20000
    while len(items) < n and tries > 0:
        tries -= 1
        slot = 0 if fixed is not None or K == 0 else inverse_cdf(m.counts, rng.uniform())  # a category from the training counts
        if slot not in primed:
            cond = None if K == 0 else (fixed if fixed is not None else np.eye(K)[slot])[None]
            state = m.zero_state(1)
            for i in [END, *pre]:
                logits, state = m.step(np.array([i]), cond, state)
            primed[slot] = (logits, state, cond)
        logits, state, cond = primed[slot]
        ids = list(pre)
        ended = False
        while True:
            i = draw(logits[0], temperature, top_k, top_p, rng.uniform())
            if i == END:
                ended = True
                break
            if len(ids) == max_len:
                break  # too long: abandoned
            ids.append(i)
            logits, state = m.step(np.array([i]), cond, state)
        if not ended or len(ids) < min_len:
            continue
        item = "".join(m.vocab[i] for i in ids)
        if skip_known and m.is_known(item):
            continue
        if unique and item in seen:
            continue
        seen.add(item)
        items.append(item)
    return items


def score(m: StepModel, items: Sequence[str], category: str | None = None) -> list[tuple[float, int]]:
    """(log-probability, characters scored) of each item, end token included, as ``charsmith
    score`` gives them; without a category (a model with categories), under the mixture of all
    categories weighted by their training counts. The items run as one batch."""
    seqs = [m.encode(s) for s in items]
    w = m.weights(category)
    K = len(m.categories)
    if K == 0 or w is not None:
        lp = _logprobs(m, seqs, None if w is None else np.repeat(w[None], len(seqs), axis=0))
        return [(float(x), len(s) + 1) for x, s in zip(lp, seqs)]
    counts = np.asarray(m.counts)
    rows = [s for s in seqs for _ in range(K)]  # each item under each category
    joint = _logprobs(m, rows, np.tile(np.eye(K), (len(seqs), 1))).reshape(len(seqs), K) + np.log(counts / counts.sum())
    top = joint.max(axis=1)
    mixture = np.log(np.exp(joint - top[:, None]).sum(axis=1)) + top
    return [(float(x), len(s) + 1) for x, s in zip(mixture, seqs)]


def _logprobs(m: StepModel, seqs: list[list[int]], cond: np.ndarray | None) -> np.ndarray:
    """Sum of log-probabilities of each id sequence and its end token, all rows in one batch."""
    B, T = len(seqs), max(len(s) for s in seqs) + 1
    targets = np.zeros((B, T), dtype=np.int64)
    for b, s in enumerate(seqs):
        targets[b, : len(s)] = s
    total = np.zeros(B)
    state = m.zero_state(B)
    x = np.full(B, END, dtype=np.int64)
    for t in range(T):
        logits, state = m.step(x, cond, state)
        top = logits.max(axis=1, keepdims=True)
        lse = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
        lp = logits[np.arange(B), targets[:, t]] - lse
        total += np.where(np.array([t <= len(s) for s in seqs]), lp, 0.0)
        x = targets[:, t]
    return total


def complete(m: StepModel, prompt: str = "", length: int = 200, *, temperature: float = 1.0, top_k: int = 0,
             top_p: float = 1.0, seed: int | None = None) -> str:
    """Text models: ``prompt`` followed by ``length`` new characters."""
    if not m.text:
        raise ValueError("this model writes list items; use sample()")
    _check_controls(temperature, top_k, top_p)
    ids = m.encode(prompt)
    rng = _rng(seed)
    state = m.zero_state(1)
    for i in [END, *ids]:
        logits, state = m.step(np.array([i]), None, state)
    for t in range(length):
        i = draw(logits[0], temperature, top_k, top_p, rng.uniform())
        ids.append(i)
        if t + 1 < length:
            logits, state = m.step(np.array([i]), None, state)
    return "".join(m.vocab[i] for i in ids)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Sample or score with a charsmith ONNX export.")
    ap.add_argument("model", help="the .onnx file")
    ap.add_argument("-n", type=int, default=10, help="items to write (default 10)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-k", type=int, default=0)
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--prefix", default="", help="items start with this (text models: the prompt)")
    ap.add_argument("--min-len", type=int, default=1)
    ap.add_argument("--max-len", type=int, default=50)
    ap.add_argument("--length", type=int, default=200, help="text models: characters to write (default 200)")
    ap.add_argument("--category", default=None, help='a category or blend "A=0.7,B=0.3"')
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--allow-known", action="store_true", help="keep items of the training data")
    ap.add_argument("--unique", action="store_true", help="no item twice")
    ap.add_argument("--score", nargs="+", metavar="ITEM", help="score these items instead")
    args = ap.parse_args(argv)
    try:
        m = StepModel(args.model)
    except ImportError as e:
        return _fail(str(e))
    except Exception as e:  # onnxruntime's errors (a missing or broken file) share no class; no metadata: KeyError
        first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        return _fail(f"cannot load {args.model} as a charsmith ONNX export: {first}")
    try:
        if args.score:
            for item, (lp, n) in zip(args.score, score(m, args.score, args.category)):
                print(f"{item}\t{lp:.4f}\t{-lp / n:.4f} nats/char")
        elif m.text:
            print(complete(m, args.prefix, args.length, temperature=args.temperature, top_k=args.top_k,
                           top_p=args.top_p, seed=args.seed))
        else:
            print("\n".join(sample(m, args.n, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                                   prefix=args.prefix, min_len=args.min_len, max_len=args.max_len,
                                   category=args.category, seed=args.seed, skip_known=not args.allow_known,
                                   unique=args.unique)))
    except ValueError as e:
        return _fail(str(e))
    return 0


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
