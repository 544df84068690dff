"""The cell search space of the course's tabular NAS benchmark, in the spirit of NAS-Bench-201.

A *cell* is a small directed acyclic graph with ``N_NODES`` nodes. Node 0 is the cell's
input and node ``N_NODES - 1`` its output; every pair ``i < j`` is joined by an edge
``j <- i`` that carries one operation of :data:`OPERATIONS`, and every node sums what its
incoming edges carry (Dong & Yang 2020, section 3.1)::

    node_j = sum over i < j of op_(j, i)(node_i)

An :data:`Architecture` is the tuple of the ``len(EDGES)`` operations, in :data:`EDGES`
order. With 4 nodes (6 edges) and 4 operations the space has ``4**6 = 4096``
architectures.

Many of them compute the same function: an edge whose source receives nothing from
the input, or whose target never reaches the output, changes nothing, so
:func:`canonical` replaces it by ``none`` (NAS-Bench-201 likewise records which of its
15,625 cells are equivalent; its rule also merges isomorphic cells, this one does not). The benchmark trains one representative per canonical form, and
:class:`~course.nas.network.CellNetwork` builds the canonical cell, so the function
an architecture computes is exactly its representative's.

The space is also a :class:`course.hpo.SearchSpace` (:func:`cell_space`, one
categorical parameter per edge), so every sampler of :mod:`course.hpo` runs on it.

References
----------
X. Dong and Y. Yang, "NAS-Bench-201: Extending the scope of reproducible neural
architecture search", ICLR 2020 (the cell, the string format, the deduplication).
E. Real, A. Aggarwal, Y. Huang and Q. V. Le, "Regularized evolution for image classifier
architecture search", AAAI 2019 (the mutation: one edge gets a different operation).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from course.hpo.space import Categorical, SearchSpace

from .ops import OPS

__all__ = ["OPERATIONS", "N_NODES", "EDGES", "Architecture", "edge_name", "cell_space",
           "to_architecture", "to_config", "to_string", "from_string", "check_architecture",
           "mutate", "canonical", "is_canonical", "all_architectures", "unique_architectures"]

OPERATIONS: tuple[str, ...] = ("none", "skip_connect", "conv_3x3", "avg_pool_3x3")
"""The operations an edge can carry (keys of :data:`course.nas.ops.OPS`)."""

N_NODES: int = 4
"""Nodes of a cell: node 0 is its input, node ``N_NODES - 1`` its output."""

EDGES: tuple[tuple[int, int], ...] = tuple((j, i) for j in range(1, N_NODES) for i in range(j))
"""Every edge ``(to_node, from_node)``, ordered by target then source, like NAS-Bench-201:
``(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)``."""

Architecture = tuple[str, ...]
"""One operation per edge, in :data:`EDGES` order."""

assert set(OPERATIONS) <= set(OPS) and {"none", "skip_connect"} <= set(OPERATIONS)


def edge_name(edge: tuple[int, int]) -> str:
    """The parameter name of an edge in :func:`cell_space`: ``(2, 1) -> "edge_2_1"``."""
    return f"edge_{edge[0]}_{edge[1]}"


def cell_space() -> SearchSpace:
    """The cell space as a :class:`course.hpo.SearchSpace`: one ``Categorical`` per edge.

    Examples
    --------
    >>> space = cell_space()
    >>> space.names[:3]
    ['edge_1_0', 'edge_2_0', 'edge_2_1']
    >>> to_architecture(space.sample(np.random.default_rng(0))) in set(all_architectures())
    True
    """
    return SearchSpace([Categorical(edge_name(edge), list(OPERATIONS)) for edge in EDGES])


def check_architecture(arch: Any) -> Architecture:
    """``arch`` as a tuple of operation names, or a clear error.

    Raises
    ------
    TypeError
        If ``arch`` is not a sequence of strings (a string itself is refused: use
        :func:`from_string` for the NAS-Bench-201 notation).
    ValueError
        If it does not have one operation per edge or names an unknown operation.
    """
    if isinstance(arch, (str, bytes)) or not isinstance(arch, Sequence):
        raise TypeError(f"an architecture is a tuple of {len(EDGES)} operation names, got "
                        f"{type(arch).__name__} {arch!r} (use from_string for '|op~0|+...' strings)")
    if len(arch) != len(EDGES):
        raise ValueError(f"an architecture has one operation per edge ({len(EDGES)}), got {len(arch)}: {arch!r}")
    for edge, op in zip(EDGES, arch):
        if op not in OPERATIONS:
            raise ValueError(f"edge {edge_name(edge)}: unknown operation {op!r}; choose one of {list(OPERATIONS)}")
    return tuple(str(op) for op in arch)


def to_architecture(config: Mapping[str, Any]) -> Architecture:
    """The architecture of a configuration of :func:`cell_space` (``{"edge_1_0": op, ...}``).

    Raises
    ------
    ValueError
        If ``config`` is not a valid configuration of the space.
    """
    cell_space().validate(config)
    return tuple(config[edge_name(edge)] for edge in EDGES)


def to_config(arch: Sequence[str]) -> dict[str, str]:
    """The configuration of :func:`cell_space` that encodes ``arch`` (inverse of :func:`to_architecture`)."""
    arch = check_architecture(arch)
    return {edge_name(edge): op for edge, op in zip(EDGES, arch)}


def to_string(arch: Sequence[str]) -> str:
    """NAS-Bench-201's notation: one ``|op~source|`` group per target node, joined by ``+``.

    Examples
    --------
    >>> to_string(("conv_3x3", "none", "skip_connect", "avg_pool_3x3", "none", "conv_3x3"))
    '|conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|conv_3x3~2|'
    """
    arch = check_architecture(arch)
    groups = []
    for j in range(1, N_NODES):
        ops = [f"{op}~{i}" for (target, i), op in zip(EDGES, arch) if target == j]
        groups.append("|" + "|".join(ops) + "|")
    return "+".join(groups)


def from_string(text: str) -> Architecture:
    """Parse :func:`to_string`'s notation back into an architecture.

    Raises
    ------
    TypeError
        If ``text`` is not a string.
    ValueError
        If it is malformed, lists the wrong sources or names an unknown operation.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a string such as {to_string(('none',) * len(EDGES))!r}, got {type(text).__name__}")
    groups = text.strip().split("+")
    if len(groups) != N_NODES - 1:
        raise ValueError(f"{text!r}: expected {N_NODES - 1} groups joined by '+', got {len(groups)}")
    arch = []
    for j, group in enumerate(groups, start=1):
        if not (group.startswith("|") and group.endswith("|")):
            raise ValueError(f"{text!r}: group {group!r} must start and end with '|'")
        items = group[1:-1].split("|")
        if len(items) != j:
            raise ValueError(f"{text!r}: node {j} needs {j} incoming edges, got {group!r}")
        for i, item in enumerate(items):
            op, sep, source = item.rpartition("~")
            if not sep or source != str(i):
                raise ValueError(f"{text!r}: expected 'op~{i}' in group {j}, got {item!r}")
            arch.append(op)
    return check_architecture(arch)


def mutate(arch: Sequence[str], rng: np.random.Generator) -> Architecture:
    """Change the operation of one uniformly chosen edge to a different, uniformly chosen one.

    This is the mutation of regularised evolution on NAS-Bench-201 (Real et al. 2019;
    Dong & Yang 2020, appendix): the child always differs from its parent in exactly one
    edge (it may still compute the same function, see :func:`canonical`).

    Raises
    ------
    TypeError
        If ``rng`` is not a ``numpy.random.Generator``.
    """
    arch = check_architecture(arch)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    position = int(rng.integers(len(EDGES)))
    others = [op for op in OPERATIONS if op != arch[position]]
    child = list(arch)
    child[position] = others[int(rng.integers(len(others)))]
    return tuple(child)


def _live_edges(arch: Architecture) -> list[bool]:
    """Which edges lie on a path input -> output made of non-``none`` edges."""
    reached = [False] * N_NODES  # receives something from the input
    reached[0] = True
    for (j, i), op in zip(EDGES, arch):  # EDGES is ordered by target, so sources are done
        if op != "none" and reached[i]:
            reached[j] = True
    reaches = [False] * N_NODES  # sends something to the output
    reaches[-1] = True
    for (j, i), op in sorted(zip(EDGES, arch), key=lambda item: -item[0][0]):
        if op != "none" and reaches[j]:
            reaches[i] = True
    return [op != "none" and reached[i] and reaches[j] for (j, i), op in zip(EDGES, arch)]


def canonical(arch: Sequence[str]) -> Architecture:
    """The representative of ``arch``'s class of equivalent architectures.

    Every edge that is not on a path from the input to the output made of non-``none``
    edges becomes ``none``: its source carries nothing from the input, or nothing it
    computes reaches the output. Such an edge cannot change the cell's output (a
    convolution fed by a dead node only adds a learned constant through its batch norm,
    which is why :class:`~course.nas.network.CellNetwork` builds the canonical cell).

    Examples
    --------
    >>> canonical(("conv_3x3", "none", "conv_3x3", "none", "none", "none"))  # output unreachable
    ('none', 'none', 'none', 'none', 'none', 'none')
    >>> canonical(("none", "skip_connect", "conv_3x3", "conv_3x3", "none", "skip_connect"))
    ('none', 'skip_connect', 'none', 'conv_3x3', 'none', 'skip_connect')
    """
    arch = check_architecture(arch)
    return tuple(op if live else "none" for op, live in zip(arch, _live_edges(arch)))


def is_canonical(arch: Sequence[str]) -> bool:
    """Whether ``arch`` is its own representative (:func:`canonical`)."""
    arch = check_architecture(arch)
    return canonical(arch) == arch


def all_architectures() -> Iterator[Architecture]:
    """Every architecture of the space, ``len(OPERATIONS) ** len(EDGES)`` of them, in a fixed order."""
    return itertools.product(OPERATIONS, repeat=len(EDGES))


def unique_architectures() -> list[Architecture]:
    """The canonical architectures (one per class of equivalent cells), in a fixed order."""
    return [arch for arch in all_architectures() if is_canonical(arch)]
