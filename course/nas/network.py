"""The network built around a cell, its data (scikit-learn's digits) and its training.

:class:`CellNetwork` is NAS-Bench-201's macro skeleton shrunk to 8x8 images: a stem
convolution with stride 2 (the cells work on 4x4 maps), ``n_cells`` copies of the cell,
then batch norm, ReLU, global average pooling and a linear classifier. Every cell of the
network has the same architecture (its own weights). :func:`train_network` trains it with one fixed recipe and records the
validation and test accuracy at several epoch budgets *along one run*: the learning rate
follows a cosine schedule over the longest budget, so the accuracy after 3 of 9 epochs is
that of a run still at a high learning rate, exactly as NAS-Bench-201 records its
12-epoch and 200-epoch schedules.

Training is deterministic: the same seed gives the same numbers on the same machine
(one torch thread during training, deterministic algorithms, a seeded initialisation
and a seeded data order).

References
----------
X. Dong and Y. Yang, "NAS-Bench-201: Extending the scope of reproducible neural
architecture search", ICLR 2020, section 3 (skeleton, cosine schedule, SGD with Nesterov
momentum).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from numbers import Integral

import numpy as np
import torch
from torch import Tensor, nn

from .cell_space import EDGES, N_NODES, Architecture, canonical, check_architecture
from .ops import make_op

__all__ = ["DigitsSplits", "digits_splits", "Cell", "CellNetwork", "TrainingResult", "train_network",
           "count_parameters", "CHANNELS", "N_CELLS", "EPOCHS", "BUDGETS", "BATCH_SIZE",
           "LEARNING_RATE", "MOMENTUM", "WEIGHT_DECAY"]

CHANNELS = 12
"""Channels of every cell (the stem maps the 1 input channel to this)."""
N_CELLS = 1
"""Cells stacked in the network (one keeps exhaustive generation within ~40 minutes on 2 cores)."""
EPOCHS = 9
"""Length of the learning-rate schedule: the longest budget."""
BUDGETS = (1, 3, 9)
"""Epochs after which the benchmark records the accuracies."""
BATCH_SIZE = 64
LEARNING_RATE = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4

_TEST_SIZE = 360
_VALID_SIZE = 360


@dataclass(frozen=True)
class DigitsSplits:
    """Fixed train / validation / test tensors of scikit-learn's digits.

    ``x_*`` are float32 of shape ``(n, 1, 8, 8)``, standardised with the training
    pixels' mean and standard deviation; ``y_*`` are int64 labels 0..9.
    """

    x_train: Tensor
    y_train: Tensor
    x_valid: Tensor
    y_valid: Tensor
    x_test: Tensor
    y_test: Tensor


def digits_splits(seed: int = 0) -> DigitsSplits:
    """Scikit-learn's 1,797 digits split, stratified, into 1,077 train, 360 validation, 360 test.

    Parameters
    ----------
    seed : int
        Seed of the split. The benchmark uses ``seed=0``; its *training* seeds only
        change the initialisation and the data order, never the split.

    Returns
    -------
    DigitsSplits
        Fresh tensors (a caller may modify them): 1,077 / 360 / 360 images of shape
        ``(1, 8, 8)``, standardised with the training set's pixel mean and std.

    Raises
    ------
    ValueError
        If ``seed`` is not a non-negative int.
    """
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    arrays = _digits_arrays(int(seed))
    return DigitsSplits(*(torch.from_numpy(a.copy()) for a in arrays))


@lru_cache(maxsize=4)
def _digits_arrays(seed: int) -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=_TEST_SIZE, stratify=y, random_state=seed)
    x_train, x_valid, y_train, y_valid = train_test_split(
        x_rest, y_rest, test_size=_VALID_SIZE, stratify=y_rest, random_state=seed)
    mean, std = x_train.mean(), x_train.std()

    def images(a: np.ndarray) -> np.ndarray:
        return ((a - mean) / std).astype(np.float32).reshape(-1, 1, 8, 8)

    return (images(x_train), y_train.astype(np.int64), images(x_valid), y_valid.astype(np.int64),
            images(x_test), y_test.astype(np.int64))


class Cell(nn.Module):
    """One cell: ``node_j = sum_{i<j} op_(j,i)(node_i)``, output the last node.

    The cell is built from :func:`~course.nas.cell_space.canonical` ``(arch)``: edges
    that cannot influence the output are left out, so equivalent architectures are the
    same module. A node with no incoming operation is zero (a cell whose output receives
    nothing outputs zeros).
    """

    def __init__(self, arch: Sequence[str], channels: int) -> None:
        super().__init__()
        self.arch = canonical(arch)
        self.edges = nn.ModuleDict({f"{j}_{i}": make_op(op, channels)
                                    for (j, i), op in zip(EDGES, self.arch) if op != "none"})

    def forward(self, x: Tensor) -> Tensor:
        nodes: list[Tensor | None] = [x]
        for j in range(1, N_NODES):
            total = None
            for i in range(j):
                key = f"{j}_{i}"
                if key in self.edges and nodes[i] is not None:
                    out = self.edges[key](nodes[i])
                    total = out if total is None else total + out
            nodes.append(total)
        return nodes[-1] if nodes[-1] is not None else torch.zeros_like(x)


class CellNetwork(nn.Module):
    """Stem, ``n_cells`` cells of one architecture, and a classification head.

    Parameters
    ----------
    arch : sequence of str
        The cell's architecture (:data:`~course.nas.cell_space.Architecture`).
    channels : int
        Channels of the stem's output and of every cell.
    n_cells : int
        Cells stacked one after another (each with its own weights).
    n_classes : int
        Outputs of the linear classifier.

    Raises
    ------
    ValueError
        For an invalid architecture or a non-positive size.

    Notes
    -----
    Layers: ``Conv2d(1, channels, 3, stride=2, padding=1) -> BatchNorm2d`` (stem: 8x8 digits
    become 4x4 maps, which quarters the cost of every cell), the cells at that resolution,
    then ``BatchNorm2d -> ReLU -> global average pool -> Linear(channels, n_classes)``.
    """

    def __init__(self, arch: Sequence[str], channels: int = CHANNELS, n_cells: int = N_CELLS,
                 n_classes: int = 10) -> None:
        super().__init__()
        for name, value in (("channels", channels), ("n_cells", n_cells), ("n_classes", n_classes)):
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.arch: Architecture = check_architecture(arch)
        self.stem = nn.Sequential(nn.Conv2d(1, channels, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(channels))
        self.cells = nn.Sequential(*(Cell(self.arch, channels) for _ in range(n_cells)))
        self.head = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(channels, n_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.cells(self.stem(x)))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass(frozen=True)
class TrainingResult:
    """What :func:`train_network` records: one entry per budget, in increasing order.

    Attributes
    ----------
    budgets : tuple of int
        Epochs trained when each entry was recorded.
    valid_accuracy, test_accuracy : tuple of float
        Accuracy (fraction correct) on the validation and test split at each budget.
    train_seconds : tuple of float
        CPU seconds of the training thread (evaluation excluded) from the start up to each
        budget. CPU time, not wall time: on a shared machine the wall clock also counts
        the neighbours' work.
    params : int
        Trainable parameters of the network.
    """

    budgets: tuple[int, ...]
    valid_accuracy: tuple[float, ...]
    test_accuracy: tuple[float, ...]
    train_seconds: tuple[float, ...]
    params: int

    def at(self, epochs: int) -> dict[str, float]:
        """The entry recorded after ``epochs`` epochs (``ValueError`` if none was)."""
        if epochs not in self.budgets:
            raise ValueError(f"no record at {epochs!r} epochs; recorded budgets are {list(self.budgets)}")
        k = self.budgets.index(epochs)
        return {"epochs": epochs, "valid_accuracy": self.valid_accuracy[k], "test_accuracy": self.test_accuracy[k],
                "train_seconds": self.train_seconds[k], "params": self.params}


@contextlib.contextmanager
def deterministic_single_thread() -> Iterator[None]:
    """One torch thread and deterministic algorithms for the block, then restore both."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)


def _check_training_args(epochs, seed, record_at) -> tuple[int, int, tuple[int, ...]]:
    if isinstance(epochs, bool) or not isinstance(epochs, Integral) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if record_at is None:
        record_at = (epochs,)
    if isinstance(record_at, (str, bytes)) or not isinstance(record_at, Sequence) or not record_at:
        raise ValueError(f"record_at must be a non-empty sequence of epochs, got {record_at!r}")
    for budget in record_at:
        if isinstance(budget, bool) or not isinstance(budget, Integral) or not 1 <= budget <= epochs:
            raise ValueError(f"record_at must hold ints in [1, epochs={epochs}], got {list(record_at)!r}")
    if list(record_at) != sorted(set(record_at)):
        raise ValueError(f"record_at must be strictly increasing, got {list(record_at)!r}")
    return int(epochs), int(seed), tuple(int(b) for b in record_at)


def _accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    model.eval()
    with torch.no_grad():
        correct = (model(x).argmax(dim=1) == y).sum().item()
    model.train()
    return correct / len(y)


def train_network(model_or_arch: nn.Module | Sequence[str], epochs: int = EPOCHS, seed: int = 0,
                  record_at: Sequence[int] | None = BUDGETS, *, data: DigitsSplits | None = None,
                  batch_size: int = BATCH_SIZE, learning_rate: float = LEARNING_RATE) -> TrainingResult:
    """Train a network on the digits and record its accuracies at several budgets of one run.

    Recipe (fixed, NAS-Bench-201's in miniature): SGD with Nesterov momentum
    ``MOMENTUM``, weight decay ``WEIGHT_DECAY``, cross-entropy, mini-batches of
    ``batch_size`` in a seeded random order, and a learning rate that decays from
    ``learning_rate`` to 0 along a cosine over *all* ``epochs`` (updated every step).
    The accuracies after ``b < epochs`` epochs are therefore those of a run that is
    still mid-schedule, not of a separate ``b``-epoch training.

    Parameters
    ----------
    model_or_arch : torch.nn.Module or sequence of str
        A network to train in place (for instance DARTS's derived cell in a
        :class:`CellNetwork`), or an architecture: then ``CellNetwork(arch)`` is built
        with the default sizes after ``torch.manual_seed(seed)``.
    epochs : int
        Length of the schedule, the largest budget.
    seed : int
        Seeds the initialisation (when an architecture is given) and the data order.
    record_at : sequence of int or None
        Strictly increasing epochs in ``[1, epochs]`` at which to evaluate; ``None``
        records only at ``epochs``. The default is :data:`BUDGETS`, which needs
        ``epochs >= 9``.
    data : DigitsSplits, optional
        The data; ``digits_splits(0)`` by default.
    batch_size : int
        Mini-batch size.
    learning_rate : float
        Initial learning rate of the cosine schedule.

    Returns
    -------
    TrainingResult
        Validation and test accuracy, cumulative training seconds, parameter count.

    Raises
    ------
    ValueError
        For a bad architecture, non-positive ``epochs``/``batch_size``/``learning_rate``,
        a negative seed, or budgets outside ``[1, epochs]``.
    TypeError
        If ``model_or_arch`` is neither a module nor a sequence of operation names.

    Notes
    -----
    The block runs with one torch thread and ``torch.use_deterministic_algorithms(True)``
    (both restored afterwards), so the same call gives the same accuracies on the same
    machine. Training seconds are CPU time of the calling thread and vary a little.
    """
    epochs, seed, record_at = _check_training_args(epochs, seed, record_at)
    if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not isinstance(learning_rate, (int, float)) or isinstance(learning_rate, bool) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    data = digits_splits(0) if data is None else data
    if not isinstance(data, DigitsSplits):
        raise TypeError(f"data must be a DigitsSplits (see digits_splits), got {type(data).__name__}")
    with deterministic_single_thread():
        if isinstance(model_or_arch, nn.Module):
            model = model_or_arch
        elif isinstance(model_or_arch, Sequence) and not isinstance(model_or_arch, (str, bytes)):
            torch.manual_seed(seed)
            model = CellNetwork(model_or_arch)
        else:
            raise TypeError(f"model_or_arch must be a torch.nn.Module or an architecture (tuple of operation "
                            f"names), got {type(model_or_arch).__name__}")
        return _train(model, epochs, seed, record_at, data, int(batch_size), float(learning_rate))


def _train(model: nn.Module, epochs: int, seed: int, record_at: tuple[int, ...], data: DigitsSplits,
           batch_size: int, learning_rate: float) -> TrainingResult:
    n = len(data.y_train)
    steps_per_epoch = -(-n // batch_size)
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=MOMENTUM, nesterov=True,
                                weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    order = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    valid, test, seconds = [], [], []
    elapsed = 0.0
    model.train()
    for epoch in range(1, epochs + 1):
        began = time.thread_time()
        permutation = torch.randperm(n, generator=order)
        for start in range(0, n, batch_size):
            batch = permutation[start:start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(data.x_train[batch]), data.y_train[batch])
            if loss.requires_grad:  # a network whose cells output zeros still trains its head
                loss.backward()
            optimizer.step()
            schedule.step()
        elapsed += time.thread_time() - began
        if epoch in record_at:
            valid.append(_accuracy(model, data.x_valid, data.y_valid))
            test.append(_accuracy(model, data.x_test, data.y_test))
            seconds.append(elapsed)
    return TrainingResult(record_at, tuple(valid), tuple(test), tuple(seconds), count_parameters(model))
