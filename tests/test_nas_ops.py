"""The candidate operations keep a tensor's shape, so any of them fits any edge of a cell."""

import pytest
import torch

from course.nas.ops import OPS, make_op


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_operation_keeps_the_shape(name):
    x = torch.randn(3, 5, 8, 8)
    assert make_op(name, 5)(x).shape == x.shape


def test_none_outputs_zeros_and_skip_is_the_identity():
    x = torch.randn(2, 3, 4, 4)
    assert torch.count_nonzero(make_op("none", 3)(x)) == 0
    assert torch.equal(make_op("skip_connect", 3)(x), x)


def test_operations_with_weights_are_the_convolutions():
    with_weights = {name for name in OPS if any(True for _ in make_op(name, 4).parameters())}
    assert with_weights == {"conv_1x1", "conv_3x3"}


@pytest.mark.parametrize("name, channels, message", [
    ("conv_5x5", 4, "unknown operation 'conv_5x5'"),
    ("conv_3x3", 0, "channels must be a positive int"),
    ("conv_3x3", 2.0, "channels must be a positive int"),
])
def test_bad_input_is_named(name, channels, message):
    with pytest.raises(ValueError, match=message):
        make_op(name, channels)
