"""Max pooling before ReLU (`convolve.models.pool_first`): the same floats, less work.

The oracle is the model run layer by layer (the reordering switched off), which the parity
tests check against Keras: outputs, training histories and trained weights must be equal
bit for bit, not merely close. The one-kernel conv/ReLU/pool block, which sums in another
order, is switched off here; `tests/layers/test_conv_pool_block.py` tests it.
"""

import numpy as np
import pytest

import convolve as keras
from convolve import layers
from convolve.layers import conv_pool_block
from convolve.models import pool_first


@pytest.fixture(autouse=True)
def _reorder_only(monkeypatch):
    monkeypatch.setattr(conv_pool_block, "run", lambda conv, pool, x: None)


@pytest.fixture
def layer_by_layer(monkeypatch):
    """Switches the reordering off for the rest of the test."""

    def switch_off():
        monkeypatch.setattr(pool_first, "pools_first", lambda layer, consumer: False)

    return switch_off


@pytest.fixture
def reordered(monkeypatch):
    """Counts the pairs run pooling first."""
    calls = []
    run = pool_first.run_pool_first

    def counting(layer, consumer, x, training):
        calls.append((layer.name, consumer.name))
        return run(layer, consumer, x, training)

    monkeypatch.setattr(pool_first, "run_pool_first", counting)
    return calls


BLOCKS = {
    "2d-relu": (
        (12, 12, 2),
        lambda: [layers.Conv2D(5, 3, activation="relu"), layers.MaxPooling2D()],
    ),
    "2d-relu6-same-strided": (
        (11, 9, 3),
        lambda: [
            layers.Conv2D(4, 3, padding="same", activation="relu6"),
            layers.MaxPooling2D(3, strides=2, padding="same"),
        ],
    ),
    "1d": ((20, 3), lambda: [layers.Conv1D(6, 3, activation="relu"), layers.MaxPooling1D()]),
    "3d": (
        (6, 6, 6, 2),
        lambda: [layers.Conv3D(3, 2, activation="relu"), layers.MaxPooling3D(padding="same")],
    ),
    "global": (
        (9, 9, 3),
        lambda: [layers.Conv2D(6, 3, activation="relu"), layers.GlobalMaxPooling2D()],
    ),
    "depthwise": (
        (10, 10, 4),
        lambda: [layers.DepthwiseConv2D(3, activation="relu"), layers.MaxPooling2D()],
    ),
    "batchnorm-activation-layer": (
        (10, 10, 2),
        lambda: [
            layers.Conv2D(4, 3),
            layers.BatchNormalization(),
            layers.Activation("relu"),
            layers.MaxPooling2D(),
        ],
    ),
    "relu-layer": (
        (9, 9, 2),
        lambda: [layers.Conv2D(4, 3), layers.ReLU(), layers.MaxPooling2D(padding="same")],
    ),
}


def _sequential(name):
    shape, block = BLOCKS[name]
    keras.utils.set_random_seed(1)
    tail = [layers.Flatten()] if name != "global" else []
    model = keras.Sequential([keras.Input(shape), *block(), *tail, layers.Dense(3)])
    model.compile(optimizer="adam", loss=keras.losses.MeanSquaredError())
    return model


def _train(model, shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, *shape)).astype("float32")
    y = rng.normal(size=(24, 3)).astype("float32")
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    return model.predict(x, verbose=0), history.history, model.get_weights()


def _assert_identical(ours, oracle):
    predictions, history, weights = ours
    np.testing.assert_array_equal(predictions, oracle[0])
    assert history == oracle[1]
    for a, b in zip(weights, oracle[2], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", list(BLOCKS))
def test_sequential_blocks_train_to_the_same_floats(name, reordered, layer_by_layer):
    shape = BLOCKS[name][0]
    ours = _train(_sequential(name), shape)
    assert len(reordered) == 3 * 3 + 1  # each step of 3 epochs (3 steps each), then predict
    layer_by_layer()
    oracle = _train(_sequential(name), shape)
    _assert_identical(ours, oracle)


def _functional():
    keras.utils.set_random_seed(2)
    inputs = keras.Input((12, 12, 2))
    a = layers.MaxPooling2D(name="pool_a")(layers.Conv2D(4, 3, activation="relu", name="a")(inputs))
    shared = layers.Conv2D(4, 3, activation="relu", name="shared")(inputs)
    b = layers.MaxPooling2D(name="pool_b")(shared)  # `shared` also feeds `c`: kept as is
    c = layers.MaxPooling2D(name="pool_c")(layers.Conv2D(4, 1, name="c")(shared))
    merged = layers.Concatenate()([a, b, c])
    out = layers.Dense(3)(layers.Flatten()(merged))
    model = keras.Model(inputs, out)
    model.compile(optimizer="sgd", loss=keras.losses.MeanSquaredError())
    return model


def test_functional_graph_reorders_only_pairs_nobody_else_sees(reordered, layer_by_layer):
    ours = _train(_functional(), (12, 12, 2))
    assert set(reordered) == {("a", "pool_a")}
    layer_by_layer()
    _assert_identical(ours, _train(_functional(), (12, 12, 2)))


def test_a_model_output_before_pooling_is_not_reordered(reordered):
    inputs = keras.Input((8, 8, 1))
    conv = layers.Conv2D(2, 3, activation="relu")(inputs)
    model = keras.Model(inputs, [conv, layers.MaxPooling2D()(conv)])
    features, pooled = model.predict(np.ones((1, 8, 8, 1), "float32"), verbose=0)
    assert reordered == []
    assert features.min() >= 0.0 and pooled.shape == (1, 3, 3, 2)


class _OwnCall(layers.Conv2D):
    def call(self, inputs, training=False):
        return super().call(inputs) + 1.0


@pytest.mark.parametrize(
    "make_layer,make_consumer,expected",
    [
        (lambda: layers.Conv2D(2, 3, activation="relu"), layers.MaxPooling2D, True),
        (lambda: layers.Conv2D(2, 3, activation="relu6"), layers.GlobalMaxPooling2D, True),
        (lambda: layers.Conv2DTranspose(2, 3, activation="relu"), layers.MaxPooling2D, True),
        # Activations that can make two inputs one float with different slopes, or that
        # are not monotone, keep their order.
        (lambda: layers.Conv2D(2, 3, activation="sigmoid"), layers.MaxPooling2D, False),
        (lambda: layers.Conv2D(2, 3, activation="elu"), layers.MaxPooling2D, False),
        (lambda: layers.Conv2D(2, 3, activation="gelu"), layers.MaxPooling2D, False),
        (lambda: layers.Conv2D(2, 3, activation=lambda x: x), layers.MaxPooling2D, False),
        (lambda: layers.Conv2D(2, 3), layers.MaxPooling2D, False),
        (lambda: layers.Conv2D(2, 3, activation="relu"), layers.AveragePooling2D, False),
        (
            lambda: layers.Conv2D(2, 3, activation="relu", activity_regularizer="l2"),
            layers.MaxPooling2D,
            False,
        ),
        (
            lambda: layers.Conv2D(2, 3, activation="relu"),
            lambda: layers.MaxPooling2D(activity_regularizer="l1"),
            False,
        ),
        (lambda: _OwnCall(2, 3, activation="relu"), layers.MaxPooling2D, False),
        (lambda: layers.Activation("relu"), layers.MaxPooling2D, True),
        (lambda: layers.Activation("relu6"), layers.GlobalMaxPooling1D, True),
        (lambda: layers.Activation("tanh"), layers.MaxPooling2D, False),
        (layers.ReLU, layers.MaxPooling3D, True),
        # A cap is a clamp, whose gradient at the cap is 1: a tie there is not safe.
        (lambda: layers.ReLU(max_value=6.0), layers.MaxPooling2D, False),
        (lambda: layers.ReLU(threshold=0.5), layers.MaxPooling2D, False),
        (lambda: layers.ReLU(negative_slope=0.1), layers.MaxPooling2D, False),
        (layers.LeakyReLU, layers.MaxPooling2D, False),
        (lambda: layers.Dense(3, activation="relu"), layers.MaxPooling1D, False),
    ],
)
def test_which_pairs_pool_first(make_layer, make_consumer, expected):
    assert pool_first.pools_first(make_layer(), make_consumer()) is expected


def test_a_call_replaced_on_the_instance_is_respected():
    conv, pool = layers.Conv2D(2, 3, activation="relu"), layers.MaxPooling2D()
    assert pool_first.pools_first(conv, pool)
    conv.call = lambda inputs, training=False: inputs
    assert not pool_first.pools_first(conv, pool)
