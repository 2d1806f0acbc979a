"""Which batches each epoch sees, against Keras: generators, `steps_per_epoch` shorter or
longer than the data, DataLoaders and validation steps.

Tolerance: losses and weights agree within rtol=1e-5, atol=1e-6 (float32, same batches in
the same order; a different batch changes the loss at the first digits).
"""

import warnings

import keras
import numpy as np
import pytest
import torch

import convolve

RTOL, ATOL = 1e-5, 1e-6
RNG = np.random.default_rng(7)
X = RNG.normal(size=(40, 6)).astype("float32")
Y = RNG.integers(0, 3, size=(40,))


def _pair():
    def build(lib):
        return lib.Sequential(
            [lib.Input((6,)), lib.layers.Dense(5, activation="relu"), lib.layers.Dense(3)]
        )

    theirs, ours = build(keras), build(convolve)
    ours.set_weights(theirs.get_weights())
    for model, lib in ((theirs, keras), (ours, convolve)):
        model.compile(
            optimizer=lib.optimizers.SGD(0.1),
            loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    return ours, theirs


def _batches(n_batches, size=8):
    for i in range(n_batches):
        yield X[i * size : (i + 1) * size], Y[i * size : (i + 1) * size]


def _losses_per_batch(model, data, **kwargs):
    """Epoch and batch losses of `model.fit(*data(), ...)`, and how often data ran out."""
    seen = []
    record = (convolve if model.__module__.startswith("convolve") else keras).callbacks
    cb = record.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(float(logs["loss"])))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(*data(), callbacks=[cb], verbose=0, **kwargs)
    ran_out = [w for w in caught if "ran out of data" in str(w.message)]
    return history.history["loss"], seen, len(ran_out)


def _assert_same_weights(ours, theirs):
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def test_a_generator_trains_on_every_batch_including_the_first():
    ours, theirs = _pair()
    ours_epoch, ours_batches, _ = _losses_per_batch(ours, lambda: (_batches(3),), epochs=1)
    theirs_epoch, theirs_batches, _ = _losses_per_batch(theirs, lambda: (_batches(3),), epochs=1)
    assert len(ours_batches) == 3
    np.testing.assert_allclose(ours_batches, theirs_batches, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours_epoch, theirs_epoch, rtol=RTOL, atol=ATOL)
    _assert_same_weights(ours, theirs)


def test_evaluate_on_a_generator_sees_every_batch():
    ours, _ = _pair()
    on_generator = ours.evaluate(_batches(5), verbose=0)
    on_arrays = ours.evaluate(X, Y, batch_size=8, verbose=0)
    np.testing.assert_allclose(on_generator, on_arrays, rtol=1e-6)


def test_predict_on_a_generator_sees_every_batch():
    ours, _ = _pair()
    inputs = (X[i : i + 8] for i in range(0, 40, 8))
    np.testing.assert_allclose(
        ours.predict(inputs, verbose=0), ours.predict(X, verbose=0), rtol=1e-6
    )


@pytest.mark.parametrize(
    "steps, epochs",
    [(2, 4), (2, 3), (3, 2), (8, 2)],
    ids=["goes-on-then-new-pass", "runs-out-mid-epoch", "uneven", "longer-than-data"],
)
def test_arrays_with_steps_per_epoch_go_on_where_the_last_epoch_stopped(steps, epochs):
    ours, theirs = _pair()
    kwargs = dict(epochs=epochs, batch_size=8, steps_per_epoch=steps, shuffle=False)
    ours_epoch, ours_batches, ours_warned = _losses_per_batch(ours, lambda: (X, Y), **kwargs)
    theirs_epoch, theirs_batches, theirs_warned = _losses_per_batch(
        theirs, lambda: (X, Y), **kwargs
    )
    np.testing.assert_allclose(ours_batches, theirs_batches, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours_epoch, theirs_epoch, rtol=RTOL, atol=ATOL)
    assert ours_warned == theirs_warned
    _assert_same_weights(ours, theirs)


def test_a_dataloader_with_steps_per_epoch_goes_on_where_the_last_epoch_stopped():
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(Y))
    loader = torch.utils.data.DataLoader(dataset, batch_size=8)  # 5 batches, in order
    ours, theirs = _pair()
    ours_epoch, ours_batches, ours_warned = _losses_per_batch(
        ours, lambda: (loader,), epochs=4, steps_per_epoch=2
    )
    theirs_epoch, theirs_batches, theirs_warned = _losses_per_batch(
        theirs, lambda: (loader,), epochs=4, steps_per_epoch=2
    )
    assert len(ours_batches) == len(theirs_batches) == 7  # 2 + 2 + 1 (ran out) + 2
    np.testing.assert_allclose(ours_batches, theirs_batches, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours_epoch, theirs_epoch, rtol=RTOL, atol=ATOL)
    assert ours_warned == 1
    _assert_same_weights(ours, theirs)


def test_an_endless_generator_with_steps_per_epoch_is_read_on_from_epoch_to_epoch():
    def endless():
        while True:
            yield from _batches(5)

    ours, theirs = _pair()
    ours_epoch, ours_batches, _ = _losses_per_batch(
        ours, lambda: (endless(),), epochs=3, steps_per_epoch=3
    )
    theirs_epoch, theirs_batches, _ = _losses_per_batch(
        theirs, lambda: (endless(),), epochs=3, steps_per_epoch=3
    )
    np.testing.assert_allclose(ours_batches, theirs_batches, rtol=RTOL, atol=ATOL)
    _assert_same_weights(ours, theirs)


def test_validation_steps_start_from_the_first_validation_batch_every_epoch():
    ours, theirs = _pair()
    kwargs = dict(
        epochs=3, batch_size=8, shuffle=False, verbose=0,
        validation_data=(X[:24], Y[:24]), validation_steps=2,
    )  # fmt: skip
    ours_val = ours.fit(X, Y, **kwargs).history["val_loss"]
    theirs_val = theirs.fit(X, Y, **kwargs).history["val_loss"]
    np.testing.assert_allclose(ours_val, theirs_val, rtol=RTOL, atol=ATOL)
