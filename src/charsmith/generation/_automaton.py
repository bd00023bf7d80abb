"""Deterministic automata over a model's vocabulary.

A :class:`DFA` reads vocabulary ids: ``trans[s, v]`` is the state after id ``v`` from state
``s``, or -1 where ``v`` can never lead to a match (a dead end, removed by :func:`trim`).
State 0 is the start. The automata here are built from syntax trees
(``charsmith.generation._regex``) by Thompson's construction and the subset construction,
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

from charsmith._deadline import NEVER, Deadline
from charsmith.errors import ConstraintError
from charsmith.generation._regex import Alt, CharSet, Node, Repeat, Seq
from charsmith.limits import MAX_NFA_STATES, MAX_STATES

__all__ = ["DFA", "MAX_STATES", "compile_node", "intersect", "literal_dfa", "nfa_size"]


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
        """(S,) the fewest ids from each state to an accepting one (a large number if none):
        breadth-first search backwards from the accepting states over the distinct edges."""
        far = np.iinfo(np.int64).max // 4
        S = self.size
        src, dst = np.nonzero(self.trans >= 0)
        edges = np.unique(self.trans[src, dst].astype(np.int64) * S + src)  # (target, source) pairs, by target
        targets, sources = edges // S, edges % S
        starts = np.searchsorted(targets, np.arange(S + 1))  # sources of target t: sources[starts[t]:starts[t + 1]]
        dist = np.full(S, far, dtype=np.int64)
        frontier = np.flatnonzero(self.accept)
        dist[frontier] = 0
        d = 0
        while frontier.size:
            d += 1
            pred = np.concatenate([sources[starts[t]:starts[t + 1]] for t in frontier.tolist()])
            pred = np.unique(pred[dist[pred] == far]) if pred.size else pred
            dist[pred] = d
            frontier = pred
        return dist


# ----- syntax tree -> NFA -> DFA ------------------------------------------------------
class _NFA:
    """Thompson NFA: per state, epsilon targets and (id mask (V,), target) moves."""

    def __init__(self, masks: dict[CharSet, np.ndarray]) -> None:
        self.eps: list[list[int]] = []
        self.moves: list[list[tuple[np.ndarray, int]]] = []
        self.masks = masks
        self._closed: dict[int, frozenset[int]] = {}  # each state's own closure, once built

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
        """The states reachable from ``states`` by epsilon moves (the union of each one's)."""
        return frozenset().union(*(self._closure_of(s) for s in states))

    def _closure_of(self, state: int) -> frozenset[int]:
        if state not in self._closed:
            todo, seen = [state], {state}
            while todo:
                for t in self.eps[todo.pop()]:
                    if t not in seen:
                        seen.add(t)
                        todo.append(t)
            self._closed[state] = frozenset(seen)
        return self._closed[state]


def nfa_size(node: Node, cap: int = MAX_NFA_STATES) -> int:
    """The states :class:`_NFA` builds for ``node`` (repeats multiply), counted without
    building them; any count above ``cap`` is given as ``cap + 1``."""
    if isinstance(node, CharSet):
        return 2
    if isinstance(node, (Seq, Alt)):
        total = 1 if isinstance(node, Seq) else 2
        for child in node.parts if isinstance(node, Seq) else node.options:
            total += nfa_size(child, cap)
            if total > cap:
                return cap + 1
        return total
    one = nfa_size(node.node, cap)
    copies = node.low + (1 if node.high is None else node.high - node.low)
    return min(2 + copies * one, cap + 1)


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


def compile_node(node: Node, chars: str, alphabet: np.ndarray, deadline: Deadline = NEVER) -> DFA:
    """The minimal trimmed DFA over ids of ``chars`` matching the strings of ``node``, using
    only the ids in ``alphabet`` as moves (the subset construction). ConstraintError, before
    anything is built, when its NFA would pass MAX_NFA_STATES; TimeLimitError past ``deadline``."""
    size = nfa_size(node)
    if size > MAX_NFA_STATES:
        raise ConstraintError(f"the constraints are too complex: their repeats multiply to over {MAX_NFA_STATES:,} "
                              "automaton states (MAX_NFA_STATES); use smaller repetition counts or fewer nested repeats")
    masks: dict[CharSet, np.ndarray] = {}
    _charset_masks(node, chars, alphabet, masks)
    # ids that every character set treats alike form one class: moves are found per class
    table = np.stack(list(masks.values())) if masks else np.zeros((1, len(chars)), dtype=bool)  # (M, V)
    classes, id_class = np.unique(table, axis=1, return_inverse=True)  # (M, C), (V,)
    id_class = id_class.ravel()
    class_masks = {cs: classes[i] for i, cs in enumerate(masks)}  # (C,) each
    nfa = _NFA(class_masks)
    start, final = nfa.build(node)

    def expand(current: frozenset[int], number: Callable[[frozenset[int]], int]) -> tuple[np.ndarray, bool]:
        moves = [m for s in current for m in nfa.moves[s]]
        row = np.full(classes.shape[1], -1, dtype=np.int64)  # (C,)
        if moves:
            hits = np.stack([mask for mask, _ in moves])  # (M, C) which classes each move reads
            targets = np.array([t for _, t in moves])
            for col in range(hits.shape[1]):
                reach = set(targets[hits[:, col]].tolist())
                if reach:
                    row[col] = number(nfa.closure(reach))
        return row[id_class], final in current

    dfa = _explore(nfa.closure({start}), expand, "simplify the pattern (fewer alternatives under repetition)",
                   deadline)
    return minimise(trim(dfa), deadline)


def literal_dfa(ids: np.ndarray, size: int, alphabet: np.ndarray, *, anywhere: bool) -> DFA:
    """The minimal DFA over ``size`` ids of items that contain (``anywhere``) or end with
    the id string ``ids`` (n >= 1), built directly by Knuth-Morris-Pratt in O(n V) rather than
    by the subset construction (quadratic for ``.*S.*``): state j has matched the first j ids
    (the longest such prefix that is a suffix of what was read); state n accepts, and with
    ``anywhere`` it keeps accepting whatever follows."""
    n = len(ids)
    trans = np.full((n + 1, size), -1, dtype=np.int32)
    row = np.zeros(size, dtype=np.int32)  # the moves of state `back`: the longest border of what matched
    back = 0
    for j in range(n + 1):
        trans[j, alphabet] = row[alphabet]
        if j < n:
            trans[j, ids[j]] = j + 1
            back = int(row[ids[j]]) if j else 0
            row = trans[back].copy()
    if anywhere:
        trans[n, alphabet] = n
    accept = np.zeros(n + 1, dtype=bool)
    accept[n] = True
    return DFA(trans, accept)


def _explore(first: Any, expand: Callable[[Any, Callable[[Any], int]], tuple[np.ndarray, bool]], hint: str,
             deadline: Deadline = NEVER) -> DFA:
    """Breadth-first construction from state ``first``: states are numbered as they are
    found (the start is 0, at most MAX_STATES); ``expand(state, number)`` gives a state's
    row of moves (V,) and whether it accepts. TimeLimitError past ``deadline``."""
    index = {first: 0}
    todo = deque([first])

    def number(key: Any) -> int:
        if key not in index:
            if len(index) >= MAX_STATES:
                raise ConstraintError(f"the constraints are too complex: their automaton passes {MAX_STATES:,} "
                                      f"states (MAX_STATES); {hint}")
            index[key] = len(index)
            todo.append(key)
        return index[key]

    rows: list[np.ndarray] = []
    accept: list[bool] = []
    while todo:
        if len(rows) % 64 == 0:
            deadline.check()
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


def minimise(dfa: DFA, deadline: Deadline = NEVER) -> DFA:
    """Merge equivalent states (Moore's partition refinement, over the distinct columns of
    moves: ids that move alike everywhere are refined once). TimeLimitError past ``deadline``."""
    block = dfa.accept.astype(np.int64)
    moves = np.unique(dfa.trans, axis=1)  # (S, C)
    while True:
        deadline.check()
        succ = np.where(moves >= 0, block[np.maximum(moves, 0)], -1)  # (S, C)
        new_block = block
        for col in succ.T:  # the signature (block, succ...) numbered one column at a time
            _, new_block = np.unique(new_block * (dfa.size + 1) + col + 1, return_inverse=True)
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


def intersect(dfas: Sequence[DFA], deadline: Deadline = NEVER) -> DFA:
    """The product DFA accepting what every one of ``dfas`` accepts (minimised)."""
    result = dfas[0]
    for other in dfas[1:]:
        result = minimise(trim(_product(result, other, deadline)), deadline)
    return result


def _product(a: DFA, b: DFA, deadline: Deadline) -> DFA:
    """The product of ``a`` and ``b`` over the pairs reachable from (0, 0), explored a
    breadth-first layer at a time (pair (i, j) is the code i * b.size + j; states are
    numbered as they are found, the start 0)."""
    Sb = b.size
    index = {0: 0}  # pair code -> state
    frontier = np.array([0], dtype=np.int64)  # the codes of the states numbered last, in order
    rows: list[np.ndarray] = []
    accept: list[np.ndarray] = []
    while frontier.size:
        deadline.check()
        i, j = frontier // Sb, frontier % Sb
        ta, tb = a.trans[i], b.trans[j]  # (F, V)
        ok = (ta >= 0) & (tb >= 0)
        codes = np.where(ok, ta.astype(np.int64) * Sb + tb, -1)
        found, inverse = np.unique(codes[ok], return_inverse=True)
        fresh = [c for c in found.tolist() if c not in index]
        if len(index) + len(fresh) > MAX_STATES:
            raise ConstraintError(f"the constraints are too complex: their automaton passes {MAX_STATES:,} "
                                  "states (MAX_STATES); use fewer or shorter constraints")
        base = len(index)
        index.update((c, base + k) for k, c in enumerate(fresh))
        row = np.full(codes.shape, -1, dtype=np.int64)
        row[ok] = np.array([index[c] for c in found.tolist()], dtype=np.int64)[inverse.ravel()]
        rows.append(row)
        accept.append(a.accept[i] & b.accept[j])
        frontier = np.array(fresh, dtype=np.int64)
    return DFA(np.concatenate(rows).astype(np.int32), np.concatenate(accept))
