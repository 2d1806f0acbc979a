"""What Keras's built-in training step does that user code relies on, against Keras (torch
backend): an optimizer subclass's own `apply()` sees every update, and a model whose
`call()` takes no `training` is called without it (its BatchNormalization then runs in
inference mode, as in Keras). Losses rtol 1e-5; weights atol 1e-6."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import convolve

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
X = np.random.default_rng(0).random((16, 3)).astype("float32")
Y = np.ones((16, 1), "float32")


def _fit(lib, model, optimizer):
    model.compile(optimizer, "mse")
    history = model.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    return history.history["loss"], model.get_weights()


def _halving_sgd(lib):
    class HalvedGradients(lib.optimizers.SGD):
        def apply(self, grads, trainable_variables=None):
            return super().apply([g * 0.5 for g in grads], trainable_variables)

    return HalvedGradients(learning_rate=0.1)


def test_an_optimizers_own_apply_sees_every_update_in_fit():
    results = []
    for lib in (convolve, keras):
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1, kernel_initializer="ones")])
        results.append(_fit(lib, model, _halving_sgd(lib)))
    (ours_loss, ours_weights), (theirs_loss, theirs_weights) = results
    np.testing.assert_allclose(ours_loss, theirs_loss, rtol=1e-5)
    for a, b in zip(ours_weights, theirs_weights, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    plain = convolve.Sequential(
        [convolve.Input((3,)), convolve.layers.Dense(1, kernel_initializer="ones")]
    )
    plain_loss, _ = _fit(convolve, plain, convolve.optimizers.SGD(learning_rate=0.1))
    assert not np.allclose(plain_loss[1], ours_loss[1])  # the halving mattered


def _net(lib):
    class Net(lib.Model):
        def __init__(self):
            super().__init__()
            self.hidden = lib.layers.Dense(4, kernel_initializer="ones")
            self.norm = lib.layers.BatchNormalization()
            self.out = lib.layers.Dense(1, kernel_initializer="ones")

        def call(self, x):  # no `training`
            return self.out(self.norm(self.hidden(x)))

    return Net()


def test_a_model_whose_call_takes_no_training_is_called_without_it():
    results = [_fit(lib, _net(lib), "sgd") for lib in (convolve, keras)]
    (ours_loss, ours_weights), (theirs_loss, theirs_weights) = results
    np.testing.assert_allclose(ours_loss, theirs_loss, rtol=1e-5)
    for a, b in zip(ours_weights, theirs_weights, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    moving_mean = ours_weights[4]
    assert np.all(moving_mean == 0)  # inference mode: the moving statistics never moved
