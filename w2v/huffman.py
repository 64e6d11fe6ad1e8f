"""The Huffman tree of hierarchical softmax (``model.loss: hs``): a word is predicted by the binary
decisions on the path from the root to its leaf, one output row (inner node) a decision, as in
word2vec.c (Mikolov et al. 2013) and gensim's ``hs=1``. Frequent words get short paths.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np


def tree(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The paths and codes of every word, [V, L] int32 each, L the longest path: ``paths[w]`` are the
    inner nodes (rows 0..V-2 of the output table) from the root down to ``w``, padded with -1, and
    ``codes[w]`` the branch taken at each (0 or 1; -1 where padded). Ties in counts go to the lower
    id, so a vocabulary always gets the same tree."""
    n = len(counts)
    if n < 2:
        return np.full((n, 1), -1, np.int32), np.full((n, 1), -1, np.int32)
    # Leaves are 0..n-1, inner nodes n..2n-2 in the order they are made (the root last).
    parent = np.zeros(2 * n - 1, np.int64)
    branch = np.zeros(2 * n - 1, np.int32)
    order = itertools.count()
    heap = [(int(c), next(order), i) for i, c in enumerate(counts)]
    heapq.heapify(heap)
    for node in range(n, 2 * n - 1):
        (c0, _, a), (c1, _, b) = heapq.heappop(heap), heapq.heappop(heap)
        parent[a], parent[b], branch[b] = node, node, 1
        heapq.heappush(heap, (c0 + c1, next(order), node))
    root = 2 * n - 2
    # Walk all leaves up at once, a level a pass; then reverse each path to read root first.
    nodes = np.arange(n)
    steps_up, bits = [], []
    while (alive := nodes != root).any():
        steps_up.append(np.where(alive, parent[nodes], -1))
        bits.append(np.where(alive, branch[nodes], -1))
        nodes = np.where(alive, parent[nodes], root)
    up = np.stack(steps_up, axis=1)
    code = np.stack(bits, axis=1)
    length = (up >= 0).sum(axis=1)
    # Row j of the upward walk holds the node above step j; read root-first by indexing backwards.
    index = length[:, None] - 1 - np.arange(up.shape[1])[None, :]
    valid = index >= 0
    take = np.clip(index, 0, None)
    paths = np.where(valid, np.take_along_axis(up, take, axis=1) - n, -1).astype(np.int32)
    codes = np.where(valid, np.take_along_axis(code, take, axis=1), -1).astype(np.int32)
    return paths, codes
