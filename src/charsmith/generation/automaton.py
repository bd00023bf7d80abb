"""Deterministic automata over a model's vocabulary.

A :class:`DFA` reads vocabulary ids: ``trans[s, v]`` is the state after id ``v`` from state
``s``, or -1 where ``v`` can never lead to a match (a dead end, removed by :func:`trim`).
State 0 is the start. The automata here are built from syntax trees
(``charsmith.generation.regex``) by Thompson's construction and the subset construction,
combined by the product construction (an item must match all of them), and minimised.

Only the ids listed as the alphabet are ever moves; in lines mode the end token is not one
(an item ends where its automaton accepts, see ``charsmith.generation.constraints``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from charsmith.errors import ConstraintError
from charsmith.generation.regex import Alt, CharSet, Node, Repeat, Seq

__all__ = ["DFA", "MAX_STATES", "compile_node", "intersect"]

MAX_STATES = 20_000


@dataclass(frozen=True)
class DFA:
    """trans (S, V) int32, -1 for no move; accept (S,) bool; state 0 starts."""

    trans: np.ndarray
    accept: np.ndarray

    @property
    def size(self) -> int:
        return len(self.accept)

    def run(self, ids: Sequence[int] | np.ndarray, state: int = 0) -> int:
        """The state after reading ``ids`` from ``state``; -1 once it has no move."""
        for i in ids:
            if state < 0:
                break
            state = int(self.trans[state, i])
        return state

    def matches(self, ids: Sequence[int] | np.ndarray) -> bool:
        s = self.run(ids)
        return s >= 0 and bool(self.accept[s])

    def distances(self) -> np.ndarray:
        """(S,) the fewest ids from each state to an accepting one (a large number if none)."""
        far = np.iinfo(np.int64).max // 4
        dist = np.where(self.accept, 0, far)
        while True:  # Bellman-Ford on unit edges: at most S rounds, usually a few
            nxt = np.where(self.trans >= 0, dist[np.maximum(self.trans, 0)], far).min(axis=1) + 1
            new = np.minimum(dist, nxt)
            if np.array_equal(new, dist):
                return np.minimum(dist, far)
            dist = new


# ----- syntax tree -> NFA -> DFA ------------------------------------------------------
class _NFA:
    """Thompson NFA: per state, epsilon targets and (id mask (V,), target) moves."""

    def __init__(self, masks: dict[CharSet, np.ndarray]) -> None:
        self.eps: list[list[int]] = []
        self.moves: list[list[tuple[np.ndarray, int]]] = []
        self.masks = masks

    def new(self) -> int:
        self.eps.append([])
        self.moves.append([])
        return len(self.eps) - 1

    def build(self, node: Node) -> tuple[int, int]:
        """States (start, end) of a fragment matching ``node``."""
        if isinstance(node, CharSet):
            s, e = self.new(), self.new()
            self.moves[s].append((self.masks[node], e))
            return s, e
        if isinstance(node, Seq):
            s = e = self.new()
            for part in node.parts:
                a, b = self.build(part)
                self.eps[e].append(a)
                e = b
            return s, e
        if isinstance(node, Alt):
            s, e = self.new(), self.new()
            for option in node.options:
                a, b = self.build(option)
                self.eps[s].append(a)
                self.eps[b].append(e)
            return s, e
        assert isinstance(node, Repeat)
        s = e = self.new()
        for _ in range(node.low):
            a, b = self.build(node.node)
            self.eps[e].append(a)
            e = b
        if node.high is None:  # then any number more
            a, b = self.build(node.node)
            self.eps[e] += [a]
            self.eps[b] += [a]
            end = self.new()
            self.eps[e].append(end)
            self.eps[b].append(end)
            return s, end
        end = self.new()
        for _ in range(node.high - node.low):  # then up to high - low more, each optional
            self.eps[e].append(end)
            a, b = self.build(node.node)
            self.eps[e].append(a)
            e = b
        self.eps[e].append(end)
        return s, end

    def closure(self, states: set[int]) -> frozenset[int]:
        todo, seen = list(states), set(states)
        while todo:
            for t in self.eps[todo.pop()]:
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        return frozenset(seen)


def _charset_masks(node: Node, chars: str, alphabet: np.ndarray, out: dict[CharSet, np.ndarray]) -> None:
    """The id mask (V,) of every CharSet in the tree, over the ids in ``alphabet``."""
    if isinstance(node, CharSet):
        if node not in out:
            hit = np.fromiter((ch in node.chars for ch in chars), dtype=bool, count=len(chars))
            mask = np.zeros(len(chars), dtype=bool)
            mask[alphabet] = (~hit if node.negated else hit)[alphabet]
            out[node] = mask
    elif isinstance(node, (Seq, Alt)):
        for child in node.parts if isinstance(node, Seq) else node.options:
            _charset_masks(child, chars, alphabet, out)
    else:
        _charset_masks(node.node, chars, alphabet, out)


def compile_node(node: Node, chars: str, alphabet: np.ndarray) -> DFA:
    """The minimal trimmed DFA over ids of ``chars`` matching the strings of ``node``, using
    only the ids in ``alphabet`` as moves (the subset construction)."""
    masks: dict[CharSet, np.ndarray] = {}
    _charset_masks(node, chars, alphabet, masks)
    nfa = _NFA(masks)
    start, final = nfa.build(node)

    def expand(current: frozenset[int], number: Callable[[frozenset[int]], int]) -> tuple[np.ndarray, bool]:
        moves = [m for s in current for m in nfa.moves[s]]
        row = np.full(len(chars), -1, dtype=np.int64)
        if moves:
            hits = np.stack([mask for mask, _ in moves])  # (M, V) which ids each move reads
            targets = np.array([t for _, t in moves])
            columns, inverse = np.unique(hits, axis=1, return_inverse=True)  # ids alike share a column
            for col in range(columns.shape[1]):
                reach = set(targets[columns[:, col]].tolist())
                if reach:
                    row[inverse.ravel() == col] = number(nfa.closure(reach))
        return row, final in current

    dfa = _explore(nfa.closure({start}), expand, "simplify the pattern (fewer alternatives under repetition)")
    return minimise(trim(dfa))


def _explore(first: Any, expand: Callable[[Any, Callable[[Any], int]], tuple[np.ndarray, bool]], hint: str) -> DFA:
    """Breadth-first construction from state ``first``: states are numbered as they are
    found (the start is 0, at most MAX_STATES); ``expand(state, number)`` gives a state's
    row of moves (V,) and whether it accepts."""
    index = {first: 0}
    todo = deque([first])

    def number(key: Any) -> int:
        if key not in index:
            if len(index) >= MAX_STATES:
                raise ConstraintError(f"the constraints are too complex: their automaton passes {MAX_STATES} "
                                      f"states; {hint}")
            index[key] = len(index)
            todo.append(key)
        return index[key]

    rows: list[np.ndarray] = []
    accept: list[bool] = []
    while todo:
        row, accepts = expand(todo.popleft(), number)
        rows.append(row)
        accept.append(accepts)
    return DFA(np.stack(rows).astype(np.int32), np.array(accept))


# ----- operations ---------------------------------------------------------------------
def trim(dfa: DFA) -> DFA:
    """Remove states that cannot reach an accepting one (their moves become -1) and states
    the start cannot reach; renumber keeping 0 the start. An empty language gives a
    one-state DFA with no moves that does not accept."""
    alive = dfa.distances() < dfa.size + 1
    trans = np.where((dfa.trans >= 0) & alive[np.maximum(dfa.trans, 0)], dfa.trans, -1)
    if not alive[0]:
        return DFA(np.full((1, trans.shape[1]), -1, dtype=np.int32), np.zeros(1, dtype=bool))
    seen = np.zeros(dfa.size, dtype=bool)
    seen[0] = True
    frontier = np.array([0])
    while frontier.size:
        hit = np.zeros(dfa.size, dtype=bool)  # (a mask, not np.unique: that imports numpy.ma, 20 ms at start-up)
        moves = trans[frontier].ravel()
        hit[moves[moves >= 0]] = True
        frontier = np.flatnonzero(hit & ~seen)
        seen[frontier] = True
    new_id = np.cumsum(seen) - 1  # old -> new for kept states
    kept = np.flatnonzero(seen)
    trans = trans[kept]
    trans = np.where(trans >= 0, new_id[np.maximum(trans, 0)], -1).astype(np.int32)
    return DFA(trans, dfa.accept[kept])


def minimise(dfa: DFA) -> DFA:
    """Merge equivalent states (Moore's partition refinement)."""
    block = dfa.accept.astype(np.int64)
    while True:
        succ = np.where(dfa.trans >= 0, block[np.maximum(dfa.trans, 0)], -1)  # (S, V)
        signature = np.concatenate([block[:, None], succ], axis=1)
        _, new_block = np.unique(signature, axis=0, return_inverse=True)
        new_block = new_block.ravel()
        if _distinct(new_block) == _distinct(block):
            break
        block = new_block
    _, first, block = np.unique(block, return_index=True, return_inverse=True)
    block = block.ravel()
    order = np.argsort(first)  # number blocks by their first state, so the start's block is 0
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    reps = first[order]
    trans = dfa.trans[reps]
    trans = np.where(trans >= 0, rank[block[np.maximum(trans, 0)]], -1).astype(np.int32)
    return DFA(trans, dfa.accept[reps])


def _distinct(values: np.ndarray) -> int:
    """How many distinct values the non-negative integers ``values`` hold."""
    return int(np.count_nonzero(np.bincount(values)))


def intersect(dfas: Sequence[DFA]) -> DFA:
    """The product DFA accepting what every one of ``dfas`` accepts (minimised)."""
    result = dfas[0]
    for other in dfas[1:]:
        result = minimise(trim(_product(result, other)))
    return result


def _product(a: DFA, b: DFA) -> DFA:
    def expand(pair: tuple[int, int], number: Callable[[tuple[int, int]], int]) -> tuple[np.ndarray, bool]:
        i, j = pair
        ta, tb = a.trans[i], b.trans[j]
        row = np.full(len(ta), -1, dtype=np.int64)
        for v in np.flatnonzero((ta >= 0) & (tb >= 0)):
            row[v] = number((int(ta[v]), int(tb[v])))
        return row, bool(a.accept[i] and b.accept[j])

    return _explore((0, 0), expand, "use fewer or shorter constraints")
