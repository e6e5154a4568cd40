"""Flatten and Reshape move values, never change them; their backward undoes the move."""

import numpy as np
import pytest

from vae_from_scratch.nn import Flatten, Reshape


@pytest.mark.parametrize("shape", [(1, 1), (2, 3, 4, 5), (3, 7, 1)])
def test_flatten(shape, rng, check_grads):
    x = rng.standard_normal(shape)
    y = Flatten().forward(x)
    assert y.shape == (shape[0], int(np.prod(shape[1:])))
    np.testing.assert_array_equal(y[-1], x[-1].ravel())   # row-major, example by example
    check_grads(Flatten(), x, rng=rng)


@pytest.mark.parametrize("in_shape,target", [((1, 12), (3, 4)), ((2, 3600), (16, 15, 15)),
                                             ((3, 2, 6), (12,))])
def test_reshape(in_shape, target, rng, check_grads):
    x = rng.standard_normal(in_shape)
    y = Reshape(target).forward(x)
    assert y.shape == (in_shape[0],) + target
    np.testing.assert_array_equal(y.reshape(x.shape), x)
    check_grads(Reshape(target), x, rng=rng)
