"""The candidate operations on an edge of a cell, shared by the benchmark and DARTS.

The set follows NAS-Bench-201 (Dong & Yang, 2020, section 3.1): every operation maps a
tensor of shape ``(batch, channels, height, width)`` to one of the same shape, so any
operation can sit on any edge and a node can sum its incoming edges.

References
----------
Dong, X. & Yang, Y. (2020). NAS-Bench-201: Extending the scope of reproducible neural
architecture search. ICLR. Liu, H., Simonyan, K. & Yang, Y. (2019). DARTS: Differentiable
architecture search. ICLR (the ReLU-Conv-BN order and the zero operation).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn


class Zero(nn.Module):
    """``none``: the edge carries nothing (its output is all zeros)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mul(0.0)


class ReLUConvBN(nn.Module):
    """ReLU, a same-padded convolution, then batch normalisation (DARTS's ordering)."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)


OPS: dict[str, Callable[[int], nn.Module]] = {
    "none": lambda channels: Zero(),
    "skip_connect": lambda channels: nn.Identity(),
    "conv_1x1": lambda channels: ReLUConvBN(channels, 1),
    "conv_3x3": lambda channels: ReLUConvBN(channels, 3),
    "avg_pool_3x3": lambda channels: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
}
"""Operation name → constructor taking the number of channels."""


def make_op(name: str, channels: int) -> nn.Module:
    """Build operation ``name`` (a key of :data:`OPS`) for tensors with ``channels`` channels.

    Raises
    ------
    ValueError
        If ``name`` is not a known operation or ``channels`` is not a positive int.
    """
    if name not in OPS:
        raise ValueError(f"unknown operation {name!r}; choose one of {sorted(OPS)}")
    if isinstance(channels, bool) or not isinstance(channels, int) or channels <= 0:
        raise ValueError(f"channels must be a positive int, got {channels!r}")
    return OPS[name](channels)
