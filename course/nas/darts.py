"""DARTS: differentiable architecture search (Liu et al. 2019), first order, on the course's cell space.

DARTS makes the choice of an operation per edge continuous. Every edge of the cell
carries *all* candidate operations at once, mixed by a softmax over architecture
parameters ``alpha`` (:class:`MixedOp`, eq. 2), so the loss is differentiable in
``alpha``. The search is the bilevel problem (eqs. 3-4)::

    min_alpha  L_valid(w*(alpha), alpha)   s.t.   w*(alpha) = argmin_w L_train(w, alpha)

solved approximately by alternating one gradient step on ``alpha`` (validation batch)
and one on the weights ``w`` (training batch), Algorithm 1. With ``xi = 0`` in eq. 6 the
``alpha`` step uses the current ``w`` as if it were ``w*(alpha)``: *first-order* DARTS,
which :func:`darts_search` runs. A discrete cell is then read off ``alpha``
(:func:`derive_genotype`, section 2.4) and trained from scratch in the benchmark's
:class:`~course.nas.network.CellNetwork` (:func:`retrain_genotype`), so it can be compared
with every cell of the tabular benchmark (:func:`compare_with_benchmark`).

The space, network and data are those of the benchmark: the operations
:data:`~course.nas.cell_space.OPERATIONS` on the edges :data:`~course.nas.cell_space.EDGES`
of a cell with :data:`~course.nas.cell_space.N_NODES` nodes, the stem and head of
:class:`~course.nas.network.CellNetwork`, and the splits of
:func:`~course.nas.network.digits_splits` (``w`` learns on *train*, ``alpha`` on *valid*;
the search never sees *test*).

DARTS can *collapse*: as the search goes on, the parameter-free operations, skip
connections first, gain weight until they fill the cell, and the derived network is poor
(Zela et al. 2020; Liang et al. 2019). Skip connections help a deep supernet *train*
(they are residual paths), which is not what makes a good stand-alone cell (Chen et al.
2019; Chu et al. 2021). With the defaults (a 1-cell supernet, like the retrained network,
30 epochs) it does not happen on the digits; :data:`COLLAPSE_SETTINGS` (a deeper supernet
searched longer with a faster ``alpha``) makes it happen, and ``skip_dropout`` is the
mitigation of P-DARTS (Chen et al. 2019): dropout on the output of every skip connection
during the search.

References
----------
H. Liu, K. Simonyan and Y. Yang, "DARTS: Differentiable architecture search", ICLR 2019:
eq. 1 (a node sums its incoming edges), eq. 2 (the mixed operation), eqs. 3-4 (the
bilevel problem), eq. 6 with ``xi = 0`` (the first-order approximation), Algorithm 1
(alternating updates), section 2.4 (deriving the discrete cell), appendix A.1.1 (the
optimisers' settings; batch norms without learnable affine parameters during the search).

X. Dong and Y. Yang, "NAS-Bench-201: Extending the scope of reproducible neural
architecture search", ICLR 2020 (the cell: every node joined to every earlier node; the
derivation keeps the strongest operation of every edge).

A. Zela, T. Elsken, T. Saikia, Y. Marrakchi, T. Brox and F. Hutter, "Understanding and
robustifying differentiable architecture search", ICLR 2020 (degenerate cells of
parameter-free operations).

H. Liang, S. Zhang, J. Sun, X. He, W. Huang, K. Zhuang and Z. Li, "DARTS+: Improved
differentiable architecture search with early stopping", arXiv:1909.06035 (2019)
(the collapse onto skip connections as the search gets longer).

X. Chen, L. Xie, J. Wu and Q. Tian, "Progressive differentiable architecture search:
bridging the depth gap between search and evaluation", ICCV 2019, section 3.3
(skip connections dominate deeper supernets; operation-level dropout on them).

X. Chu, X. Wang, B. Zhang, S. Lu, X. Wei and J. Yan, "DARTS-: Robustly stepping out of
performance collapse without indicators", ICLR 2021 (the unfair advantage of skip
connections in the supernet).
"""

from __future__ import annotations

import inspect
import math
import multiprocessing
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .cell_space import EDGES, N_NODES, OPERATIONS, Architecture, check_architecture
from .network import (CHANNELS, EPOCHS, N_CELLS, DigitsSplits, deterministic_single_thread, digits_splits,
                      train_network)
from .ops import make_op

__all__ = ["MixedOp", "SearchCell", "SearchNetwork", "DartsResult", "darts_search", "darts_searches",
           "derive_genotype", "operation_weights", "skip_fraction", "plot_alpha_evolution", "plot_skip_weight", "retrain_genotype",
           "compare_with_benchmark", "COLLAPSE_SETTINGS"]

COLLAPSE_SETTINGS: dict[str, Any] = {"n_cells": 5, "channels": 8, "epochs": 60, "batch_size": 128,
                                     "arch_lr": 0.02, "arch_weight_decay": 0.0}
"""Settings of :func:`darts_search` under which DARTS collapses onto parameter-free operations here.

A supernet of 5 cells of 8 channels (deeper than the 1-cell network the cell is retrained
in), searched for 60 epochs in batches of 128 with a faster ``alpha`` (``arch_lr = 0.02``, no
weight decay on ``alpha``): once the supernet fits the training split, skip connections and
pooling take over, and the derived cell (seed 0) is left with no convolution and two or more
skip connections. Adding ``skip_dropout=0.5`` (P-DARTS) to the same settings prevents it: no
skip connection, two or more convolutions. A search costs one to two CPU minutes.

The search is chaotic: another CPU rounds differently, and the trajectory of ``alpha`` with
it. These settings were chosen because both outcomes held with the AVX2 kernels and with
torch's baseline kernels (``ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41
MKL_ENABLE_INSTRUCTIONS=SSE4_2``); the previous ones (batches of 64, ``arch_lr = 0.01``)
collapsed on one CPU and kept two convolutions on another.
"""


# ======================================================================================
# The continuous relaxation: mixed operation, search cell, search network
# ======================================================================================
def operation_weights(alpha: Tensor) -> Tensor:
    """The mixing weights of every edge: ``softmax(alpha)`` over the last axis, the operations (eq. 2)."""
    return F.softmax(alpha, dim=-1)


class MixedOp(nn.Module):
    """Every candidate operation on one edge, mixed by weights (eq. 2).

    ``MixedOp(x, weights) = sum_o weights[o] * o(x)``; DARTS passes
    ``weights = softmax(alpha_edge)`` (:func:`operation_weights`), so the weights are
    positive and sum to one.

    Parameters
    ----------
    channels : int
        Channels of the edge's input and output.
    operations : sequence of str
        Names of the candidate operations (of :data:`~course.nas.cell_space.OPERATIONS`),
        in the order of the weights.
    skip_dropout : float
        Probability, in ``[0, 1)``, of zeroing an element of the ``skip_connect`` output in
        training mode (P-DARTS, section 3.3); 0 switches it off.
    affine : bool
        Keep the learnable scale and shift of the operations' batch norms. DARTS removes
        them during the search (appendix A.1.1) so that an operation cannot rescale its
        output and thereby undo its ``alpha``.

    Raises
    ------
    ValueError
        For an unknown or repeated operation, a bad ``channels`` or ``skip_dropout``.
    """

    def __init__(self, channels: int, operations: Sequence[str] = OPERATIONS, skip_dropout: float = 0.0,
                 affine: bool = False) -> None:
        super().__init__()
        self.operations = _check_operations(operations)
        self.skip_dropout = _check_probability("skip_dropout", skip_dropout)
        self.ops = nn.ModuleList(make_op(name, channels) for name in self.operations)
        if not affine:
            for module in self.ops.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.affine, module.weight, module.bias = False, None, None

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        if weights.shape != (len(self.ops),):
            raise ValueError(f"weights must have shape ({len(self.ops)},), one per operation "
                             f"{list(self.operations)}, got {tuple(weights.shape)}")
        total = None
        for weight, name, op in zip(weights, self.operations, self.ops):
            out = op(x)
            if name == "skip_connect" and self.skip_dropout > 0:
                out = F.dropout(out, self.skip_dropout, self.training)
            total = weight * out if total is None else total + weight * out
        return total


class SearchCell(nn.Module):
    """The cell of the search: a :class:`MixedOp` on every edge of :data:`~course.nas.cell_space.EDGES`.

    ``node_0 = x`` and ``node_j = sum_{i<j} MixedOp_(j,i)(node_i)`` (eq. 1); the output is
    the last node, exactly as in :class:`~course.nas.network.Cell` with every edge relaxed.

    Parameters
    ----------
    channels, operations, skip_dropout, affine
        As in :class:`MixedOp`.
    """

    def __init__(self, channels: int, operations: Sequence[str] = OPERATIONS, skip_dropout: float = 0.0,
                 affine: bool = False) -> None:
        super().__init__()
        self.edges = nn.ModuleList(MixedOp(channels, operations, skip_dropout, affine) for _ in EDGES)

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        """``weights``: shape ``(len(EDGES), len(operations))``; row ``e`` mixes edge ``EDGES[e]``."""
        nodes = [x]
        for j in range(1, N_NODES):
            nodes.append(sum(self.edges[e](nodes[i], weights[e]) for e, (target, i) in enumerate(EDGES)
                             if target == j))
        return nodes[-1]


class SearchNetwork(nn.Module):
    """:class:`~course.nas.network.CellNetwork` with search cells and architecture parameters.

    Stem (stride-2 ``Conv2d`` and ``BatchNorm2d``), ``n_cells`` :class:`SearchCell` modules,
    head (``BatchNorm2d``, ReLU, global average pooling, ``Linear``): the layers of the
    network the derived cell is retrained in. All cells share one ``alpha`` (DARTS,
    section 2.1: one architecture for every cell); each has its own weights.

    Parameters
    ----------
    channels : int
        Channels of the stem's output and of every cell.
    n_cells : int
        Search cells stacked.
    n_classes : int
        Outputs of the classifier.
    operations : sequence of str
        The candidate operations of every edge.
    skip_dropout : float
        Dropout on the ``skip_connect`` outputs in training mode (P-DARTS), see :class:`MixedOp`.
    affine : bool
        Learnable affine parameters in the candidate operations' batch norms (off in DARTS's search).

    Attributes
    ----------
    alpha : torch.nn.Parameter
        The architecture parameters, shape ``(len(EDGES), len(operations))``, initialised
        as ``1e-3 * N(0, 1)`` like the paper's code: every operation starts with weight
        about ``1 / len(operations)``.

    Raises
    ------
    ValueError
        For a non-positive size, an unknown operation or a bad ``skip_dropout``.
    """

    def __init__(self, channels: int = CHANNELS, n_cells: int = N_CELLS, n_classes: int = 10, *,
                 operations: Sequence[str] = OPERATIONS, skip_dropout: float = 0.0, affine: bool = False) -> None:
        super().__init__()
        for name, value in (("channels", channels), ("n_cells", n_cells), ("n_classes", n_classes)):
            _check_positive_int(name, value)
        self.operations = _check_operations(operations)
        self.stem = nn.Sequential(nn.Conv2d(1, channels, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(channels))
        self.cells = nn.ModuleList(SearchCell(channels, self.operations, skip_dropout, affine)
                                   for _ in range(n_cells))
        self.head = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(channels, n_classes))
        self.alpha = nn.Parameter(1e-3 * torch.randn(len(EDGES), len(self.operations)))

    def arch_parameters(self) -> list[nn.Parameter]:
        """The upper-level variables of eq. 3: ``[alpha]``."""
        return [self.alpha]

    def weight_parameters(self) -> list[nn.Parameter]:
        """The lower-level variables of eq. 4: every parameter but ``alpha``."""
        return [p for name, p in self.named_parameters() if name != "alpha"]

    def forward(self, x: Tensor) -> Tensor:
        weights = operation_weights(self.alpha)
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x, weights)
        return self.head(x)


# ======================================================================================
# From alpha to a discrete cell
# ======================================================================================
def derive_genotype(alpha: Any, k: int | None = None, *, operations: Sequence[str] = OPERATIONS) -> Architecture:
    """The discrete cell read off the architecture parameters (DARTS, section 2.4).

    The *strength* of operation ``o`` on an edge is its mixing weight
    ``softmax(alpha_edge)[o]`` (eq. 2). For every node ``j``:

    1. rank its incoming edges by their strongest operation other than ``none``;
    2. keep the top ``k`` of them (all of them when node ``j`` has ``k`` or fewer);
    3. a kept edge carries its strongest operation other than ``none``; every other
       incoming edge becomes ``none``.

    ``none`` is never chosen, however large its weight. DARTS gives two reasons: every
    node should keep exactly ``k`` incoming edges, and the weight of the zero operation
    is underdetermined (raising it only shrinks the node, which batch normalisation
    undoes). With ``k = None`` (every edge kept: ``k`` = the node's in-degree) this is
    NAS-Bench-201's derivation, the strongest non-``none`` operation of every edge;
    DARTS's own cells use ``k = 2``.

    Ties are broken by order: between edges, the one listed first in :data:`EDGES`
    (lower source node) wins; between operations, the one listed first in
    ``operations``.

    Parameters
    ----------
    alpha : array-like or torch.Tensor
        Architecture parameters (the logits, not the softmax), shape
        ``(len(EDGES), len(operations))``; row ``e`` belongs to edge ``EDGES[e]``.
    k : int or None
        Incoming edges kept per node, a positive int; ``None`` keeps all.
    operations : sequence of str
        The operations the columns of ``alpha`` stand for; it must hold some operation
        other than ``none``.

    Returns
    -------
    tuple of str
        The architecture, one operation per edge in :data:`EDGES` order, which
        :class:`~course.nas.network.CellNetwork`, :func:`~course.nas.network.train_network`
        and the benchmark's ``query`` accept.

    Raises
    ------
    TypeError
        If ``alpha`` is not numeric.
    ValueError
        If ``alpha`` has the wrong shape or non-finite entries, ``k`` is not a positive
        int or None, or ``operations`` is invalid.

    Examples
    --------
    >>> alpha = np.zeros((6, 4))             # columns: none, skip_connect, conv_3x3, avg_pool_3x3
    >>> alpha[:, 2] = [1, 1, 2, 3, 0.5, 1]   # conv_3x3 strongest on every edge ...
    >>> alpha[4, 1] = 2.0                    # ... but edge (3, 1), where skip_connect wins
    >>> derive_genotype(alpha)
    ('conv_3x3', 'conv_3x3', 'conv_3x3', 'conv_3x3', 'skip_connect', 'conv_3x3')
    >>> derive_genotype(alpha, k=1)          # node 2 keeps edge (2, 1), node 3 edge (3, 0)
    ('conv_3x3', 'none', 'conv_3x3', 'conv_3x3', 'none', 'none')
    """
    operations = _check_operations(operations)
    weights = _softmax(_check_alpha(alpha, len(operations)))
    if k is not None:
        _check_positive_int("k", k)
    candidates = [o for o, name in enumerate(operations) if name != "none"]
    if not candidates:
        raise ValueError(f"operations must hold an operation other than 'none', got {list(operations)}")
    best_op = [max(candidates, key=lambda o: (weights[e, o], -o)) for e in range(len(EDGES))]
    genotype = ["none"] * len(EDGES)
    for j in range(1, N_NODES):
        incoming = [e for e, (target, _) in enumerate(EDGES) if target == j]
        ranked = sorted(incoming, key=lambda e: -weights[e, best_op[e]])  # stable: earlier edge first on ties
        for e in ranked[:len(ranked) if k is None else k]:
            genotype[e] = operations[best_op[e]]
    return tuple(genotype)


def skip_fraction(genotype: Sequence[str]) -> float:
    """The share of ``skip_connect`` among a cell's operations other than ``none`` (0 if there are none).

    The symptom of DARTS's collapse: a cell of skip connections (fraction near 1).
    """
    if isinstance(genotype, (str, bytes)) or not isinstance(genotype, Sequence):
        raise TypeError(f"genotype must be a sequence of operation names, got {type(genotype).__name__}")
    used = [op for op in genotype if op != "none"]
    return sum(op == "skip_connect" for op in used) / len(used) if used else 0.0


# ======================================================================================
# The bilevel search (Algorithm 1, first order)
# ======================================================================================
@dataclass(frozen=True, repr=False)
class DartsResult:
    """What :func:`darts_search` returns.

    Attributes
    ----------
    genotype : tuple of str
        The derived cell (:func:`derive_genotype` of the final ``alpha`` with the search's ``k``).
    alphas : numpy.ndarray
        ``alpha`` before the search and after every epoch, shape
        ``(epochs + 1, len(EDGES), len(operations))``: the data of the alpha-evolution plot.
    history : pandas.DataFrame
        One row per epoch (epoch 0: before the search): ``epoch``, ``train_loss`` and
        ``train_accuracy`` (mean over the epoch's weight steps), ``valid_loss`` and
        ``valid_accuracy`` of the supernet on the whole validation split (evaluation
        mode), ``skip_weight`` (mean softmax weight of ``skip_connect`` over the edges),
        ``genotype`` (derived from that epoch's ``alpha``), its ``skip_fraction``
        (:func:`skip_fraction`) and ``seconds`` (cumulative CPU seconds of the search).
    operations : tuple of str
        The operations of ``alpha``'s columns.
    k : int or None
        The ``k`` the genotype was derived with.
    search_seconds : float
        CPU seconds of the calling thread spent searching (evaluation included).
    wall_seconds : float
        Wall-clock seconds of the search (on a shared machine this also counts the
        neighbours' work).
    epochs : int
        Epochs searched.
    network : SearchNetwork
        The trained supernet.
    """

    genotype: Architecture
    alphas: np.ndarray
    history: pd.DataFrame
    operations: tuple[str, ...]
    k: int | None
    search_seconds: float
    wall_seconds: float
    epochs: int
    network: SearchNetwork

    def __repr__(self) -> str:
        return (f"DartsResult(genotype={self.genotype}, epochs={self.epochs}, "
                f"search_seconds={self.search_seconds:.1f}, final valid_loss="
                f"{self.history['valid_loss'].iloc[-1]:.4f})")

    @property
    def weights(self) -> np.ndarray:
        """``softmax(alpha)`` per edge for every recorded epoch, shape like :attr:`alphas`."""
        return _softmax(self.alphas)

    def genotype_at(self, epoch: int, k: int | None = None) -> Architecture:
        """The cell derived from ``alpha`` after ``epoch`` epochs (0: before the search)."""
        if isinstance(epoch, bool) or not isinstance(epoch, Integral) or not 0 <= epoch <= self.epochs:
            raise ValueError(f"epoch must be an int in [0, {self.epochs}], got {epoch!r}")
        return derive_genotype(self.alphas[epoch], k, operations=self.operations)


def darts_search(epochs: int = 30, seed: int = 0, *, data: DigitsSplits | None = None,
                 channels: int = CHANNELS, n_cells: int = N_CELLS, operations: Sequence[str] = OPERATIONS,
                 batch_size: int = 64, weight_lr: float = 0.025, weight_lr_min: float = 0.001,
                 weight_momentum: float = 0.9, weight_decay: float = 3e-4, grad_clip: float = 5.0,
                 arch_lr: float = 3e-3, arch_weight_decay: float = 1e-3, skip_dropout: float = 0.0,
                 affine: bool = False, k: int | None = None) -> DartsResult:
    """First-order DARTS on the digits: alternate an ``alpha`` step and a ``w`` step (Algorithm 1).

    Every epoch walks once through the training split in random mini-batches; for each
    training batch (and the next validation batch, cycling through the validation split)

    1. ``alpha`` takes one Adam step down ``grad_alpha L_valid(w, alpha)`` (eq. 6 with
       ``xi = 0``: the current ``w`` stands in for ``w*(alpha)``);
    2. ``w`` takes one SGD step (momentum, weight decay, gradient norm clipped at
       ``grad_clip``) down ``grad_w L_train(w, alpha)``, its learning rate following a
       cosine from ``weight_lr`` to ``weight_lr_min`` over all steps.

    ``alpha`` is recorded before the search and after every epoch, and the cell is
    finally derived by :func:`derive_genotype`.

    Parameters
    ----------
    epochs : int
        Passes over the training split.
    seed : int
        Seeds the supernet's initialisation (``w`` and ``alpha``), the data order and the
        skip-connection dropout. The same seed gives the same search on the same machine.
    data : DigitsSplits, optional
        The splits; ``digits_splits(0)`` (the benchmark's) by default. ``w`` learns on
        ``train``, ``alpha`` on ``valid``; ``test`` is not used.
    channels, n_cells : int
        Size of the supernet (:class:`SearchNetwork`); the benchmark network's by default.
    operations : sequence of str
        Candidate operations of every edge; the benchmark's by default.
    batch_size : int
        Size of the training and of the validation batches.
    weight_lr, weight_lr_min : float
        Start and end of the cosine learning rate of ``w`` (paper: 0.025 and 0.001).
    weight_momentum, weight_decay : float
        SGD momentum and L2 weight decay of ``w`` (paper: 0.9 and 3e-4).
    grad_clip : float
        Largest norm of the weight gradient (paper's code: 5).
    arch_lr, arch_weight_decay : float
        Adam learning rate and weight decay of ``alpha``, with ``betas = (0.5, 0.999)``
        (paper: ``3e-4`` and ``1e-3``). The paper's rate is for about 20,000 steps on
        CIFAR-10; 30 epochs of the digits are about 500 steps, so the default is ten times
        larger.
    skip_dropout : float
        P-DARTS's mitigation of the collapse: dropout on every ``skip_connect`` output
        during the search, in ``[0, 1)`` (0: plain DARTS).
    affine : bool
        Learnable affine parameters in the candidate operations' batch norms; off by
        default, as in DARTS's search (appendix A.1.1).
    k : int or None
        Incoming edges kept per node when deriving the cell (:func:`derive_genotype`).

    Returns
    -------
    DartsResult
        Genotype, ``alpha`` per epoch, per-epoch history, search cost and the supernet.

    Raises
    ------
    ValueError
        For a non-positive count or learning rate, a negative decay, a probability
        outside ``[0, 1)`` or an invalid ``k``/``operations``.
    TypeError
        If ``data`` is not a :class:`~course.nas.network.DigitsSplits`.

    Notes
    -----
    The search runs with one torch thread and deterministic algorithms (both restored
    afterwards) and leaves torch's global random state as it found it
    (:func:`torch.random.fork_rng`), so the same call gives the same ``alpha`` on the same
    machine. The weights' batch norms use batch statistics in the training steps, as in
    the paper; the ``valid_loss`` of the history is measured in evaluation mode.

    Examples
    --------
    >>> result = darts_search(epochs=1, seed=0)
    >>> result.alphas.shape               # before the search and after each epoch
    (2, 6, 4)
    >>> len(result.genotype), result.epochs
    (6, 1)

    References
    ----------
    Liu et al. (2019), Algorithm 1 and eq. 6 with ``xi = 0``; appendix A.1.1 for the
    optimisers. Chen et al. (2019), section 3.3, for ``skip_dropout``.
    """
    _check_positive_int("epochs", epochs)
    _check_positive_int("batch_size", batch_size)
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    for name, value in (("weight_lr", weight_lr), ("arch_lr", arch_lr), ("grad_clip", grad_clip)):
        _check_real(name, value, positive=True)
    for name, value in (("weight_lr_min", weight_lr_min), ("weight_decay", weight_decay),
                        ("arch_weight_decay", arch_weight_decay)):
        _check_real(name, value, positive=False)
    if weight_lr_min > weight_lr:
        raise ValueError(f"weight_lr_min must be <= weight_lr, got {weight_lr_min!r} > {weight_lr!r}")
    _check_probability("weight_momentum", weight_momentum)
    _check_probability("skip_dropout", skip_dropout)
    if k is not None:
        _check_positive_int("k", k)
    operations = _check_operations(operations)
    data = digits_splits(0) if data is None else data
    if not isinstance(data, DigitsSplits):
        raise TypeError(f"data must be a DigitsSplits (see digits_splits), got {type(data).__name__}")
    with deterministic_single_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = SearchNetwork(channels, n_cells, int(data.y_train.max()) + 1, operations=operations,
                                skip_dropout=skip_dropout, affine=affine)
        return _search(network, data, int(epochs), int(batch_size), int(seed), k,
                       dict(lr=weight_lr, momentum=weight_momentum, weight_decay=weight_decay),
                       float(weight_lr_min), float(grad_clip),
                       dict(lr=arch_lr, betas=(0.5, 0.999), weight_decay=arch_weight_decay))


def darts_searches(searches: Mapping[str, Mapping[str, Any]], workers: int = 2) -> dict[str, DartsResult]:
    """Several :func:`darts_search` calls side by side, one worker process each.

    Every search runs on one torch thread from its own seed, so each result is exactly that
    of the same call made alone, on the same machine; only the wall time shrinks (two searches
    on two cores take about as long as the longer one).

    Parameters
    ----------
    searches : mapping of str to mapping
        Name -> keyword arguments of :func:`darts_search`.
    workers : int
        Processes at once (``multiprocessing``'s spawn context); 1 runs the searches here,
        one after another.

    Returns
    -------
    dict of str to DartsResult
        The results, under the names and in the order of ``searches``.

    Raises
    ------
    TypeError
        If ``searches`` is not a mapping of names to keyword mappings.
    ValueError
        If ``workers`` is not a positive int, or a search's arguments are invalid (as
        :func:`darts_search` says, checked before any process starts).
    """
    if not isinstance(searches, Mapping) or not all(
            isinstance(name, str) and isinstance(kwargs, Mapping) for name, kwargs in searches.items()):
        raise TypeError("searches must map a name to the keyword arguments of darts_search")
    _check_positive_int("workers", workers)
    signature = inspect.signature(darts_search)
    for name, kwargs in searches.items():
        try:
            signature.bind(**kwargs)
        except TypeError as error:
            raise ValueError(f"search {name!r}: {error}") from None
    if workers == 1 or len(searches) == 1:
        return {name: darts_search(**kwargs) for name, kwargs in searches.items()}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(searches)), mp_context=context) as pool:
        futures = {name: pool.submit(darts_search, **kwargs) for name, kwargs in searches.items()}
        return {name: future.result() for name, future in futures.items()}


def _search(network: SearchNetwork, data: DigitsSplits, epochs: int, batch_size: int, seed: int,
            k: int | None, weight_options: dict, weight_lr_min: float, grad_clip: float,
            arch_options: dict) -> DartsResult:
    weight_optimizer = torch.optim.SGD(network.weight_parameters(), **weight_options)
    arch_optimizer = torch.optim.Adam(network.arch_parameters(), **arch_options)
    steps_per_epoch = -(-len(data.y_train) // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(weight_optimizer, T_max=epochs * steps_per_epoch,
                                                          eta_min=weight_lr_min)
    order = torch.Generator().manual_seed(seed)
    valid_batches = _batches(len(data.y_valid), batch_size, order)
    alphas = [network.alpha.detach().clone().numpy()]
    rows = [_epoch_row(network, data, 0, math.nan, math.nan, 0.0, k)]
    cpu_start, wall_start = time.thread_time(), time.perf_counter()
    for epoch in range(1, epochs + 1):
        network.train()
        losses, correct = [], 0
        for batch in _batches(len(data.y_train), batch_size, order, once=True):
            valid = next(valid_batches)
            # step 1: alpha <- alpha - lr * grad_alpha L_valid(w, alpha)  (eq. 6, xi = 0)
            arch_optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(network(data.x_valid[valid]), data.y_valid[valid]).backward()
            arch_optimizer.step()
            # step 2: w <- w - lr * grad_w L_train(w, alpha)
            weight_optimizer.zero_grad(set_to_none=True)
            logits = network(data.x_train[batch])
            loss = F.cross_entropy(logits, data.y_train[batch])
            loss.backward()
            nn.utils.clip_grad_norm_(network.weight_parameters(), grad_clip)
            weight_optimizer.step()
            schedule.step()
            losses.append(loss.item() * len(batch))
            correct += int((logits.argmax(dim=1) == data.y_train[batch]).sum())
        alphas.append(network.alpha.detach().clone().numpy())
        n = len(data.y_train)
        rows.append(_epoch_row(network, data, epoch, sum(losses) / n, correct / n,
                               time.thread_time() - cpu_start, k))
    cpu, wall = time.thread_time() - cpu_start, time.perf_counter() - wall_start
    alphas_array = np.stack(alphas)
    return DartsResult(genotype=derive_genotype(alphas_array[-1], k, operations=network.operations),
                       alphas=alphas_array, history=pd.DataFrame(rows), operations=network.operations, k=k,
                       search_seconds=cpu, wall_seconds=wall, epochs=epochs, network=network)


def _batches(n: int, batch_size: int, generator: torch.Generator, once: bool = False) -> Iterator[Tensor]:
    """Random mini-batches of ``range(n)``: one pass (``once``) or an endless stream of passes."""
    while True:
        permutation = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            yield permutation[start:start + batch_size]
        if once:
            return


def _epoch_row(network: SearchNetwork, data: DigitsSplits, epoch: int, train_loss: float,
               train_accuracy: float, seconds: float, k: int | None) -> dict[str, Any]:
    network.eval()
    with torch.no_grad():
        logits = network(data.x_valid)
        valid_loss = F.cross_entropy(logits, data.y_valid).item()
        valid_accuracy = (logits.argmax(dim=1) == data.y_valid).float().mean().item()
        weights = operation_weights(network.alpha).numpy()
    network.train()
    skip = network.operations.index("skip_connect") if "skip_connect" in network.operations else None
    genotype = derive_genotype(network.alpha.detach().numpy(), k, operations=network.operations)
    return {"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_accuracy,
            "valid_loss": valid_loss, "valid_accuracy": valid_accuracy,
            "skip_weight": float(weights[:, skip].mean()) if skip is not None else 0.0,
            "genotype": genotype, "skip_fraction": skip_fraction(genotype), "seconds": seconds}


# ======================================================================================
# The alpha-evolution plot
# ======================================================================================
def plot_alpha_evolution(result: DartsResult, axes: Any = None, title: str | None = None) -> Any:
    """One panel per edge: the softmax weight of every operation against the epoch.

    Parameters
    ----------
    result : DartsResult
        A finished search.
    axes : sequence of matplotlib Axes, optional
        ``len(EDGES)`` axes to draw on; a new figure with two rows of panels otherwise.
    title : str, optional
        Title of the figure (when this function creates it).

    Returns
    -------
    numpy.ndarray of matplotlib Axes
        The panels, in :data:`EDGES` order.
    """
    import matplotlib.pyplot as plt

    if not isinstance(result, DartsResult):
        raise TypeError(f"result must be a DartsResult (from darts_search), got {type(result).__name__}")
    if axes is None:
        n_rows = 2 if len(EDGES) > 3 else 1
        n_cols = -(-len(EDGES) // n_rows)
        fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 2.6 * n_rows), sharex=True, sharey=True,
                                 constrained_layout=True)
        if title:
            fig.suptitle(title)
    axes = np.asarray(axes).ravel()
    if len(axes) != len(EDGES):
        raise ValueError(f"axes must hold {len(EDGES)} axes (one per edge), got {len(axes)}")
    weights = result.weights
    epochs = np.arange(len(weights))
    for e, (ax, (j, i)) in enumerate(zip(axes, EDGES)):
        for o, name in enumerate(result.operations):
            ax.plot(epochs, weights[:, e, o], label=name)
        ax.set_title(f"edge {i} -> {j}: {result.genotype[e]}", fontsize=9)
    for ax in axes[-min(len(axes), -(-len(axes) // 2)):]:
        ax.set_xlabel("epoch")
    axes[0].set_ylabel("softmax(alpha)")
    axes[0].legend(fontsize=7)
    return axes


def plot_skip_weight(results: Any, ax: Any = None) -> Any:
    """The collapse at a glance: mean softmax weight of ``skip_connect`` per epoch, one line per search.

    Parameters
    ----------
    results : dict of str to DartsResult
        Searches to compare, by label (for instance plain DARTS and DARTS with ``skip_dropout``).
    ax : matplotlib Axes, optional
        Where to draw; a new figure otherwise.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if not isinstance(results, dict) or not results or \
            not all(isinstance(r, DartsResult) for r in results.values()):
        raise TypeError("results must be a non-empty dict mapping a label to a DartsResult")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2), constrained_layout=True)
    for label, result in results.items():
        ax.plot(result.history["epoch"], result.history["skip_weight"],
                label=f"{label}: {skip_fraction(result.genotype):.0%} skip in the cell")
    ax.axhline(1 / len(next(iter(results.values())).operations), color="grey", lw=0.8, ls=":")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean softmax weight of skip_connect")
    ax.legend(fontsize=8)
    return ax


# ======================================================================================
# Retraining the derived cell and comparing it with the benchmark
# ======================================================================================
def retrain_genotype(genotype: Sequence[str], seeds: Sequence[int] = (0, 1, 2), epochs: int = EPOCHS, *,
                     data: DigitsSplits | None = None) -> pd.DataFrame:
    """Train the derived cell from scratch, once per seed, exactly as the benchmark trains every cell.

    Each run is :func:`~course.nas.network.train_network` on a fresh
    :class:`~course.nas.network.CellNetwork` (the benchmark's sizes and recipe), so the
    numbers are comparable with :func:`compare_with_benchmark`'s look-ups (and equal to
    them for the benchmark's own seeds and budget, on the machine that made the table).

    Parameters
    ----------
    genotype : sequence of str
        The cell, one operation per edge (:func:`derive_genotype`'s output).
    seeds : sequence of int
        Training seeds (initialisation and data order); one run each.
    epochs : int
        Length of the training schedule (the benchmark's longest budget by default).
    data : DigitsSplits, optional
        The splits; ``digits_splits(0)`` by default.

    Returns
    -------
    pandas.DataFrame
        One row per seed: ``seed``, ``valid_accuracy``, ``test_accuracy``,
        ``train_seconds`` (CPU seconds of training) and ``params``.

    Raises
    ------
    ValueError
        For an invalid genotype, an empty or invalid list of seeds, or bad ``epochs``.
    """
    genotype = check_architecture(genotype)
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not seeds:
        raise ValueError(f"seeds must be a non-empty sequence of non-negative ints, got {seeds!r}")
    rows = []
    for seed in seeds:
        result = train_network(genotype, epochs, seed, record_at=None, data=data)
        rows.append({"seed": seed, "valid_accuracy": result.valid_accuracy[-1],
                     "test_accuracy": result.test_accuracy[-1], "train_seconds": result.train_seconds[-1],
                     "params": result.params})
    return pd.DataFrame(rows)


def compare_with_benchmark(genotype: Sequence[str], retrained: pd.DataFrame | None = None, benchmark: Any = None,
                           epochs: int | None = None) -> pd.DataFrame:
    """The derived cell next to the benchmark's best and median cells (mean over the benchmark's seeds).

    Parameters
    ----------
    genotype : sequence of str
        The derived cell.
    retrained : pandas.DataFrame, optional
        :func:`retrain_genotype`'s runs of the cell; adds a row with their means.
    benchmark : NASBenchmark, optional
        The table to look up; the committed one (:func:`~course.nas.benchmark.load_benchmark`) by default.
    epochs : int, optional
        The budget to look up; the benchmark's largest by default.

    Returns
    -------
    pandas.DataFrame
        Rows ``DARTS (retrained)`` (when given), ``DARTS (benchmark)``, ``benchmark best`` and
        ``benchmark median`` (best and median by mean *validation* accuracy, as a search
        would choose), with columns ``arch``, ``valid_accuracy``, ``test_accuracy`` and
        ``params``, plus ``test_rank``: the share of the benchmark's cells with a higher
        mean test accuracy (0 for the best cell; ties count in the cell's favour).

    Raises
    ------
    ValueError
        For an invalid genotype or budget.
    """
    from .benchmark import load_benchmark
    from .cell_space import to_string

    genotype = check_architecture(genotype)
    benchmark = load_benchmark() if benchmark is None else benchmark
    test_means = benchmark.mean_accuracies("test_accuracy", epochs).dropna()

    def row(label: str, record: dict[str, Any]) -> dict[str, Any]:
        return {"": label, "arch": record["arch"], "valid_accuracy": record["valid_accuracy"],
                "test_accuracy": record["test_accuracy"], "params": record["params"],
                # accuracies are multiples of 1/(360 x seeds) stored to 6 decimals: compare with a tolerance
                "test_rank": float((test_means > record["test_accuracy"] + 1e-6).mean())}

    rows = []
    if retrained is not None:
        rows.append(row("DARTS (retrained)", {"arch": to_string(genotype),
                                              "valid_accuracy": float(retrained["valid_accuracy"].mean()),
                                              "test_accuracy": float(retrained["test_accuracy"].mean()),
                                              "params": int(retrained["params"].iloc[0])}))
    rows.append(row("DARTS (benchmark)", benchmark.query(genotype, epochs)))
    rows.append(row("benchmark best", benchmark.best_architecture("valid_accuracy", epochs)))
    rows.append(row("benchmark median", benchmark.median_architecture("valid_accuracy", epochs)))
    return pd.DataFrame(rows).set_index("")


# ======================================================================================
# Input checks
# ======================================================================================
def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _check_real(name: str, value: Any, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or \
            (value <= 0 if positive else value < 0):
        raise ValueError(f"{name} must be a {'positive' if positive else 'non-negative'} finite number, "
                         f"got {value!r}")
    return float(value)


def _check_probability(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def _check_operations(operations: Any) -> tuple[str, ...]:
    if isinstance(operations, (str, bytes)) or not isinstance(operations, Sequence) or not operations:
        raise ValueError(f"operations must be a non-empty sequence of operation names, got {operations!r}")
    for name in operations:
        if name not in OPERATIONS:
            raise ValueError(f"unknown operation {name!r}; choose among {list(OPERATIONS)}")
    if len(set(operations)) != len(operations):
        raise ValueError(f"operations must not repeat a name, got {list(operations)}")
    return tuple(operations)


def _check_alpha(alpha: Any, n_operations: int) -> np.ndarray:
    if isinstance(alpha, Tensor):
        alpha = alpha.detach().cpu().numpy()
    try:
        array = np.asarray(alpha, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"alpha must be a numeric array of shape ({len(EDGES)}, {n_operations}), "
                        f"got {type(alpha).__name__}") from None
    if array.shape != (len(EDGES), n_operations):
        raise ValueError(f"alpha must have shape ({len(EDGES)}, {n_operations}): one row per edge of EDGES, "
                         f"one column per operation; got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("alpha must be finite (no NaN or inf)")
    return array


def _softmax(alpha: np.ndarray) -> np.ndarray:
    shifted = np.exp(alpha - alpha.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
