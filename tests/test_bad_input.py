"""Bad input raises ValueError naming the layer, the expected shape and the actual one."""

import re

import numpy as np
import pytest

from vae_from_scratch.nn import (AvgPool2D, Conv2D, ConvTranspose2D, Dense, Flatten, Identity,
                                 LeakyReLU, MaxPool2D, ReLU, Reshape, Sequential, Sigmoid,
                                 Softplus, Tanh, Unpool2D)

RNG = np.random.default_rng(0)

# (layer, bad input shape, text the message must contain besides the layer and the shape)
BAD_INPUTS = [
    # a wrong number of dimensions
    (Conv2D(3, 4, 3, rng=RNG), (2, 3, 5), "(N, 3, H, W)"),
    (ConvTranspose2D(3, 4, 3, rng=RNG), (3, 5, 5), "(N, 3, H, W)"),
    (MaxPool2D(2), (4, 4), "(N, C, H, W)"),
    (AvgPool2D(2), (1, 1, 1, 4, 4), "(N, C, H, W)"),
    (Unpool2D(2), (2, 4), "(N, C, H, W)"),
    (Dense(5, 3, rng=RNG), (2, 5, 1), "(N, 5)"),
    (Flatten(), (7,), "(N, …)"),
    # a channel or feature count that does not match
    (Conv2D(3, 4, 3, rng=RNG), (2, 2, 5, 5), "(N, 3, H, W)"),
    (ConvTranspose2D(3, 4, 3, rng=RNG), (2, 4, 5, 5), "(N, 3, H, W)"),
    (Dense(5, 3, rng=RNG), (2, 4), "(N, 5)"),
    (Reshape((3, 4)), (2, 11), "12 values"),
    # an input smaller than the kernel
    (Conv2D(1, 1, 5, rng=RNG), (1, 1, 4, 6), "at least 5×5"),
    (Conv2D(1, 1, 30, stride=30, rng=RNG), (1, 1, 60, 29), "at least 30×30"),
    (MaxPool2D(3), (1, 1, 2, 2), "at least 3×3"),
    (AvgPool2D(30), (1, 1, 29, 60), "at least 30×30"),
    # a stride that leaves pixels uncovered: at the end, or between windows (stride > kernel)
    (Conv2D(1, 1, 3, stride=2, rng=RNG), (1, 1, 6, 6), "row(s) [5] and column(s) [5]"),
    (Conv2D(1, 1, 3, stride=3, padding=1, rng=RNG), (1, 1, 9, 7), "row(s) [8] and column(s) []"),
    (MaxPool2D(2), (1, 1, 15, 15), "row(s) [14] and column(s) [14]"),
    (AvgPool2D(30), (1, 1, 60, 70), "column(s) [60, 61, 62, 63, 64, 65, …]"),
    (Conv2D(1, 1, 1, stride=2, rng=RNG), (1, 1, 5, 5), "row(s) [1, 3] and column(s) [1, 3]"),
    (MaxPool2D(2, stride=3), (1, 1, 5, 5), "row(s) [2] and column(s) [2]"),
    # transposed convolution: padding that crops everything
    (ConvTranspose2D(1, 1, 2, padding=1, rng=RNG), (1, 1, 1, 1), "crops away the whole output"),
]


@pytest.mark.parametrize("layer,shape,expected", BAD_INPUTS,
                         ids=[f"{type(c[0]).__name__}-{c[1]}" for c in BAD_INPUTS])
def test_bad_input_names_layer_expected_and_actual_shape(layer, shape, expected):
    with pytest.raises(ValueError) as info:
        layer.forward(np.zeros(shape, dtype=np.float32))
    message = str(info.value)
    assert message.startswith(type(layer).__name__ + "(")
    assert str(tuple(shape)) in message
    assert expected in message


def test_rows_left_over_in_the_padding_only_are_fine():
    """Conv2D(k=3, s=2, p=1) on 16×16, the usual downsampling conv: the last window stops
    one row short of the padded edge, but that row is padding, so no pixel is lost."""
    assert Conv2D(1, 1, 3, stride=2, padding=1, rng=RNG).forward(
        np.ones((1, 1, 16, 16), dtype=np.float32)).shape == (1, 1, 8, 8)


def test_uncovered_input_is_accepted_when_allowed():
    y = MaxPool2D(2, allow_uncovered=True).forward(np.zeros((1, 1, 15, 15)))
    assert y.shape == (1, 1, 7, 7)


@pytest.mark.parametrize("H", list(range(1, 12)) + [45, 60, 61, 75])
@pytest.mark.parametrize("k,s,p", [(1, 1, 0), (1, 2, 0), (2, 2, 0), (3, 2, 0), (3, 2, 1),
                                   (2, 3, 0), (2, 3, 1), (4, 3, 2), (5, 2, 2), (6, 2, 2),
                                   (3, 5, 1), (30, 30, 0)])
def test_the_coverage_rule_matches_brute_force(H, k, s, p):
    """The strict layer must raise exactly when some real pixel is read by no window.
    Brute force: with all-ones weights and gradient, a pixel is read iff its input
    gradient is nonzero (the permissive layer computes that)."""
    if H + 2 * p < k:
        return
    loose = Conv2D(1, 1, k, stride=s, padding=p, rng=RNG, allow_uncovered=True, dtype=np.float64)
    loose.params["W"][...] = 1.0
    y = loose.forward(np.zeros((1, 1, H, H)))
    read = loose.backward(np.ones_like(y))[0, 0, :, 0] != 0
    strict = Conv2D(1, 1, k, stride=s, padding=p, rng=RNG, dtype=np.float64)
    if read.all():
        assert strict.forward(np.zeros((1, 1, H, H))).shape == y.shape
    else:
        unread = ", ".join(str(i) for i in np.flatnonzero(~read)[:6])
        with pytest.raises(ValueError, match=re.escape(f"row(s) [{unread}")):
            strict.forward(np.zeros((1, 1, H, H)))


# fresh layers for each test: (factory, input shape)
ALL_LAYERS = [
    (lambda: Dense(4, 3, rng=RNG), (2, 4)),
    (lambda: Conv2D(2, 3, 3, padding=1, rng=RNG), (1, 2, 5, 5)),
    (lambda: ConvTranspose2D(2, 3, 4, stride=2, padding=1, rng=RNG), (1, 2, 3, 3)),
    (lambda: MaxPool2D(2), (1, 2, 4, 4)),
    (lambda: AvgPool2D(2), (1, 2, 4, 4)),
    (lambda: Unpool2D(2), (1, 2, 3, 3)),
    (lambda: Flatten(), (2, 3, 4)),
    (lambda: Reshape((2, 3)), (2, 6)),
    (lambda: ReLU(), (2, 3)),
    (lambda: LeakyReLU(), (2, 3)),
    (lambda: Sigmoid(), (2, 3)),
    (lambda: Tanh(), (2, 3)),
    (lambda: Softplus(), (2, 3)),
    (lambda: Identity(), (2, 3)),
    (lambda: Sequential(Dense(4, 3, rng=RNG), ReLU()), (2, 4)),
]
IDS = [type(make()).__name__ for make, _ in ALL_LAYERS]


@pytest.mark.parametrize("make,shape", ALL_LAYERS, ids=IDS)
def test_backward_before_forward(make, shape):
    layer = make()
    with pytest.raises(ValueError, match=re.escape(type(layer).__name__) + ".*before forward"
                       + ".*" + re.escape(str(shape))):
        layer.backward(np.zeros(shape, dtype=np.float32))


@pytest.mark.parametrize("make,shape", ALL_LAYERS, ids=IDS)
def test_gradient_of_the_wrong_shape(make, shape):
    layer = make()
    y = layer.forward(np.ones(shape, dtype=np.float32))
    bad = y.shape[:-1] + (y.shape[-1] + 1,)
    with pytest.raises(ValueError) as info:
        layer.backward(np.zeros(bad, dtype=np.float32))
    message = str(info.value)
    assert type(layer).__name__ in message
    assert f"expected a gradient of shape {tuple(y.shape)}" in message and str(bad) in message


def test_sequential_says_which_layer_failed():
    net = Sequential(Conv2D(1, 2, 3, rng=RNG), ReLU(), Flatten(), Dense(10, 2, rng=RNG))
    with pytest.raises(ValueError, match=r"Sequential layer 3: Dense\(10→2\).*\(1, 18\)"):
        net.forward(np.zeros((1, 1, 5, 5), dtype=np.float32))


@pytest.mark.parametrize("make,match", [
    (lambda: Conv2D(1, 1, 0, rng=RNG), "kernel_size must be an integer ≥ 1, got 0"),
    (lambda: Conv2D(1, 1, 3, stride=0, rng=RNG), "stride must be an integer ≥ 1"),
    (lambda: Conv2D(1, 1, 3, padding=-1, rng=RNG), "padding must be an integer ≥ 0"),
    (lambda: Conv2D(1, 1, 2.5, rng=RNG), "kernel_size must be an integer"),
    (lambda: ConvTranspose2D(1, 1, 3, stride=2, output_padding=2, rng=RNG),
     "output_padding must be smaller than the stride"),
    (lambda: MaxPool2D(2, stride=0), "stride must be an integer ≥ 1"),
    (lambda: Unpool2D(0), "size must be an integer ≥ 1"),
    (lambda: Sequential(), "at least one layer"),
    (lambda: Dense(2.7, 3, rng=RNG), "in_features must be an integer ≥ 1, got 2.7"),
    (lambda: Conv2D(0, 3, 3, rng=RNG), "in_channels must be an integer ≥ 1, got 0"),
    (lambda: ConvTranspose2D(1, 1, 3, stride=2, output_padding=(1, 2), rng=RNG),
     "output_padding must be smaller than the stride"),
    (lambda: ConvTranspose2D(1, 1, 3, output_padding=(0, 0, 0), rng=RNG),
     "output_padding must be an integer or a pair"),
    (lambda: Reshape((-1,)), "every dimension of shape must be an integer ≥ 1, got -1"),
])
def test_bad_hyperparameters(make, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        make()


def test_not_an_array():
    with pytest.raises(TypeError, match="expected the input as an array, got list"):
        ReLU().forward([1.0, 2.0])
    relu = ReLU()
    relu.forward(np.ones((1, 2)))
    with pytest.raises(TypeError, match="expected the gradient as an array, got list"):
        relu.backward([[1.0, 1.0]])


@pytest.mark.parametrize("make", [lambda: Sigmoid(), lambda: LeakyReLU(0.5), lambda: Softplus(),
                                  lambda: ReLU(), lambda: Conv2D(1, 1, 1, rng=RNG)])
@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.uint8])
def test_integer_and_boolean_input_is_rejected(make, dtype):
    """Binarized images come as bool (x > 0.5); computing on them would truncate."""
    with pytest.raises(TypeError, match=f"floating-point input, got dtype {np.dtype(dtype)}"):
        make().forward(np.ones((1, 1, 2, 2), dtype=dtype))


def test_input_dtype_must_match_the_parameters():
    conv = Conv2D(1, 1, 1, rng=RNG)                            # float32 weights
    with pytest.raises(TypeError, match="expected a float32 input .* got float64"):
        conv.forward(np.ones((1, 1, 2, 2)))
    assert ReLU().forward(np.ones((1, 2))).dtype == np.float64  # no parameters: any float


def test_a_layer_used_twice_in_a_sequential_is_rejected():
    act = Tanh()
    with pytest.raises(ValueError, match=r"same layer instance appears more than once \(Tanh\(\)\)"):
        Sequential(Dense(2, 2, rng=RNG), act, Sequential(Dense(2, 2, rng=RNG), act))


def test_validation_is_remembered_per_shape_but_never_skipped_for_a_new_one():
    """forward validates once per input shape and dtype; a later bad input still fails."""
    net = Sequential(Conv2D(1, 2, 3, rng=RNG), ReLU(), MaxPool2D(2))
    good = np.zeros((2, 1, 6, 6), dtype=np.float32)
    assert net.forward(good).shape == (2, 2, 2, 2)
    assert net.forward(good).shape == (2, 2, 2, 2)           # the remembered shape
    with pytest.raises(ValueError, match=r"Sequential layer 2: MaxPool2D.*\(2, 2, 5, 5\)"):
        net.forward(np.zeros((2, 1, 7, 7), dtype=np.float32))
    with pytest.raises(TypeError, match="expected a float32 input"):
        net.forward(good.astype(np.float64))
    net.astype(np.float64)                                    # a new dtype forgets the old check
    with pytest.raises(TypeError, match="expected a float64 input"):
        net.forward(good)
    assert net.forward(good.astype(np.float64)).dtype == np.float64
