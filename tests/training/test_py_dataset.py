"""`keras.utils.PyDataset` (and `Sequence`) in fit/evaluate/predict, against Keras.

Tolerance: losses and weights agree within rtol=1e-5, atol=1e-6 (float32, the same batches
in the same order).
"""

import math
import random

import keras
import numpy as np
import pytest

import convolve

RTOL, ATOL = 1e-5, 1e-6
RNG = np.random.default_rng(11)
X = RNG.normal(size=(44, 6)).astype("float32")
Y = RNG.integers(0, 3, size=(44,))


def _dataset_class(lib):
    class Batches(lib.utils.PyDataset):
        def __init__(self, batch_size=8, **kwargs):
            super().__init__(**kwargs)
            self.batch_size = batch_size
            self.epochs_begun = self.epochs_ended = 0

        def __len__(self):
            return math.ceil(len(X) / self.batch_size)

        def __getitem__(self, index):
            part = slice(index * self.batch_size, (index + 1) * self.batch_size)
            return X[part], Y[part]

        def on_epoch_begin(self):
            self.epochs_begun += 1

        def on_epoch_end(self):
            self.epochs_ended += 1

    return Batches


def _pair():
    def build(lib):
        model = lib.Sequential(
            [lib.Input((6,)), lib.layers.Dense(5, activation="relu"), lib.layers.Dense(3)]
        )
        model.compile(
            optimizer=lib.optimizers.SGD(0.1),
            loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        return model

    theirs, ours = build(keras), build(convolve)
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def _assert_same_weights(ours, theirs):
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def _assert_same_history(ours, theirs):
    assert sorted(ours) == sorted(theirs)
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=RTOL, atol=ATOL, err_msg=key)


def test_fit_on_a_py_dataset_matches_keras():
    ours, theirs = _pair()
    histories, hooks = [], []
    for model, lib in ((ours, convolve), (theirs, keras)):
        data = _dataset_class(lib)()
        histories.append(
            model.fit(data, epochs=3, shuffle=False, verbose=0, validation_data=data).history
        )
        hooks.append((data.epochs_begun, data.epochs_ended))
    # Around each epoch, training and validation alike, plus Keras's build read and the
    # `on_epoch_end` of each reset (fit's start, each validation): 7 and 10.
    assert hooks[0] == hooks[1] == (7, 10)
    _assert_same_history(*histories)
    _assert_same_weights(ours, theirs)


def test_shuffle_reads_every_batch_once_per_epoch_in_a_seeded_order():
    class Recording(_dataset_class(convolve)):
        def __init__(self):
            super().__init__()
            self.seen = []

        def __getitem__(self, index):
            self.seen.append(index)
            return super().__getitem__(index)

    orders = []
    for _ in range(2):
        ours, _ = _pair()
        data = Recording()
        random.seed(3)  # the order comes from Python's random, as in Keras
        ours.fit(data, epochs=3, shuffle=True, verbose=0)
        assert len(data.seen) == 19  # Keras first reads one batch (to build) from a pass
        seen = data.seen[1:]
        epochs = [seen[i * 6 : (i + 1) * 6] for i in range(3)]
        assert all(sorted(e) == list(range(6)) for e in epochs)
        assert epochs[0] != epochs[1] or epochs[1] != epochs[2]
        orders.append(seen)
    assert orders[0] == orders[1]


def test_evaluate_and_predict_on_a_py_dataset():
    ours, theirs = _pair()
    ours_data, theirs_data = _dataset_class(convolve)(), _dataset_class(keras)()
    np.testing.assert_allclose(
        ours.evaluate(ours_data, verbose=0), theirs.evaluate(theirs_data, verbose=0), rtol=RTOL
    )
    np.testing.assert_allclose(
        ours.predict(ours_data, verbose=0), theirs.predict(theirs_data, verbose=0), rtol=RTOL
    )


def test_workers_fetch_ahead_and_keep_the_order():
    results = []
    ours, _ = _pair()
    initial = ours.get_weights()
    for workers in (1, 3):
        ours.set_weights(initial)
        ours.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        data = _dataset_class(convolve)(workers=workers, max_queue_size=2)
        random.seed(2)
        results.append(ours.fit(data, epochs=2, shuffle=True, verbose=0).history["loss"])
    assert results[0] == results[1]


def test_sequence_is_the_same_class_and_a_missing_super_init_warns():
    assert convolve.utils.Sequence is convolve.utils.PyDataset

    class NoInit(convolve.utils.PyDataset):
        def __init__(self):
            pass

        def __len__(self):
            return 1

        def __getitem__(self, index):
            return X[:4], Y[:4]

    ours, _ = _pair()
    with pytest.warns(UserWarning, match="should call `super\\(\\).__init__"):
        ours.fit(NoInit(), epochs=1, verbose=0)
