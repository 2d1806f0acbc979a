"""fit() against Keras: same initial weights and data, same weights and history after training.

Tolerance: weights agree within rtol=1e-5, atol=1e-6 (float32, several epochs); history values
within rtol=1e-5.
"""

import keras
import numpy as np
import pytest

import convolve

RTOL, ATOL = 1e-5, 1e-6
RNG = np.random.default_rng(42)
X = RNG.normal(size=(48, 8, 8, 2)).astype("float32")
Y_INT = RNG.integers(0, 3, size=(48,))
Y_ONEHOT = np.eye(3, dtype="float32")[Y_INT]
Y_BIN = RNG.integers(0, 2, size=(48, 1)).astype("float32")
Y_REG = RNG.normal(size=(48, 3)).astype("float32")


def _build(lib, head_units=3, head_activation="softmax"):
    L = lib.layers
    return lib.Sequential(
        [
            lib.Input((8, 8, 2)),
            L.Conv2D(4, 3, activation="relu"),
            L.MaxPooling2D(),
            L.Flatten(),
            L.Dense(8, activation="relu"),
            L.Dense(head_units, activation=head_activation),
        ]
    )


def _pair(head_units=3, head_activation="softmax"):
    theirs = _build(keras, head_units, head_activation)
    ours = _build(convolve, head_units, head_activation)
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def _fit_both(optimizer_factory, loss, y, metrics=None, head=(3, "softmax"), **fit_kwargs):
    ours, theirs = _pair(*head)
    theirs.compile(optimizer=optimizer_factory(keras), loss=loss, metrics=metrics)
    ours.compile(optimizer=optimizer_factory(convolve), loss=loss, metrics=metrics)
    kwargs = dict(epochs=3, batch_size=16, shuffle=False, verbose=0, **fit_kwargs)
    h_theirs = theirs.fit(X, y, **kwargs)
    h_ours = ours.fit(X, y, **kwargs)
    return ours, theirs, h_ours, h_theirs


def _assert_same_weights(ours, theirs):
    for i, (a, b) in enumerate(zip(ours.get_weights(), theirs.get_weights(), strict=True)):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=f"weight {i}")


OPTIMIZERS = {
    "sgd": lambda lib: lib.optimizers.SGD(0.05),
    "sgd-momentum-nesterov": lambda lib: lib.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda lib: lib.optimizers.Adam(0.01),
    "adam-amsgrad": lambda lib: lib.optimizers.Adam(0.01, amsgrad=True),
    "adamw": lambda lib: lib.optimizers.AdamW(0.01, weight_decay=0.05),
    "rmsprop": lambda lib: lib.optimizers.RMSprop(0.005),
    "rmsprop-centered-momentum": lambda lib: lib.optimizers.RMSprop(
        0.005, momentum=0.5, centered=True
    ),
    "adagrad": lambda lib: lib.optimizers.Adagrad(0.05),
    "nadam": lambda lib: lib.optimizers.Nadam(0.01),
    "adamax": lambda lib: lib.optimizers.Adamax(0.01),
    "adam-clipnorm": lambda lib: lib.optimizers.Adam(0.01, clipnorm=0.1),
    "sgd-clipvalue": lambda lib: lib.optimizers.SGD(0.05, clipvalue=0.01),
    "rmsprop-global-clipnorm": lambda lib: lib.optimizers.RMSprop(0.005, global_clipnorm=0.2),
    "sgd-weight-decay": lambda lib: lib.optimizers.SGD(0.05, momentum=0.9, weight_decay=0.01),
    "adam-weight-decay": lambda lib: lib.optimizers.Adam(0.01, weight_decay=0.01),
    "adagrad-clipnorm": lambda lib: lib.optimizers.Adagrad(0.05, clipnorm=0.5),
    "adam-exponential-decay": lambda lib: lib.optimizers.Adam(
        lib.optimizers.schedules.ExponentialDecay(0.01, decay_steps=2, decay_rate=0.5)
    ),
    "sgd-cosine-warmup": lambda lib: lib.optimizers.SGD(
        lib.optimizers.schedules.CosineDecay(0.0, decay_steps=6, warmup_target=0.05, warmup_steps=3)
    ),
    "sgd-piecewise": lambda lib: lib.optimizers.SGD(
        lib.optimizers.schedules.PiecewiseConstantDecay([3, 6], [0.1, 0.05, 0.01])
    ),
}


@pytest.mark.parity
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_trains_like_keras(name):
    ours, theirs, h_ours, h_theirs = _fit_both(
        OPTIMIZERS[name], "sparse_categorical_crossentropy", Y_INT, metrics=["accuracy"]
    )
    _assert_same_weights(ours, theirs)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=RTOL)


LOSSES = [
    ("sparse_categorical_crossentropy", Y_INT, (3, "softmax")),
    ("categorical_crossentropy", Y_ONEHOT, (3, "softmax")),
    ("binary_crossentropy", Y_BIN, (1, "sigmoid")),
    ("mse", Y_REG, (3, None)),
    ("mae", Y_REG, (3, None)),
    ("huber", Y_REG, (3, None)),
]


@pytest.mark.parity
@pytest.mark.parametrize("loss,y,head", LOSSES, ids=[item[0] for item in LOSSES])
def test_every_loss_trains_like_keras(loss, y, head):
    ours, theirs, h_ours, h_theirs = _fit_both(
        lambda lib: lib.optimizers.Adam(0.01), loss, y, metrics=["accuracy"], head=head
    )
    _assert_same_weights(ours, theirs)
    assert sorted(h_ours.history) == sorted(h_theirs.history)
    for key in h_theirs.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=RTOL)


@pytest.mark.parity
@pytest.mark.parametrize(
    "loss_factory,y,head",
    [
        (lambda lib: lib.losses.SparseCategoricalCrossentropy(from_logits=True), Y_INT, (3, None)),
        (
            lambda lib: lib.losses.CategoricalCrossentropy(label_smoothing=0.1),
            Y_ONEHOT,
            (3, "softmax"),
        ),
        (lambda lib: lib.losses.BinaryCrossentropy(from_logits=True), Y_BIN, (1, None)),
    ],  # fmt: skip
    ids=["scce-from-logits", "cce-label-smoothing", "bce-from-logits"],
)
def test_loss_objects_train_like_keras(loss_factory, y, head):
    ours, theirs = _pair(*head)
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss_factory(keras))
    ours.compile(optimizer=convolve.optimizers.SGD(0.1), loss=loss_factory(convolve))
    theirs.fit(X, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    ours.fit(X, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    _assert_same_weights(ours, theirs)


@pytest.mark.parity
def test_validation_split_sample_weight_and_class_weight_like_keras():
    weights = RNG.uniform(0.5, 2.0, size=(48,)).astype("float32")
    kwargs = dict(validation_split=0.25, sample_weight=weights)
    ours, theirs, h_ours, h_theirs = _fit_both(
        lambda lib: lib.optimizers.SGD(0.1), "sparse_categorical_crossentropy", Y_INT,
        metrics=["accuracy"], **kwargs,
    )  # fmt: skip
    _assert_same_weights(ours, theirs)
    assert sorted(h_ours.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key in h_theirs.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=RTOL)

    ours, theirs, h_ours, h_theirs = _fit_both(
        lambda lib: lib.optimizers.SGD(0.1), "sparse_categorical_crossentropy", Y_INT,
        class_weight={0: 0.5, 1: 2.0},
    )  # fmt: skip
    _assert_same_weights(ours, theirs)


@pytest.mark.parity
def test_regularizers_and_batchnorm_train_like_keras():
    def build(lib):
        L = lib.layers
        return lib.Sequential(
            [
                lib.Input((8, 8, 2)),
                L.Conv2D(4, 3, padding="same", kernel_regularizer="l2"),
                L.BatchNormalization(),
                L.Activation("relu"),
                L.GlobalAveragePooling2D(),
                L.Dense(3, activation="softmax", activity_regularizer="l1"),
            ]
        )

    theirs, ours = build(keras), build(convolve)
    ours.set_weights(theirs.get_weights())
    for model, lib in ((theirs, keras), (ours, convolve)):
        # SGD, not Adam: the conv bias before BatchNormalization gets gradients at rounding
        # level, which Adam would scale up to full steps and make chaotic.
        model.compile(
            optimizer=lib.optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy"
        )
    h_theirs = theirs.fit(X, Y_INT, epochs=2, batch_size=16, shuffle=False, verbose=0)
    h_ours = ours.fit(X, Y_INT, epochs=2, batch_size=16, shuffle=False, verbose=0)
    _assert_same_weights(ours, theirs)
    np.testing.assert_allclose(h_ours.history["loss"], h_theirs.history["loss"], rtol=RTOL)


@pytest.mark.parity
def test_evaluate_and_predict_match_keras():
    ours, theirs = _pair()
    for model, lib in ((theirs, keras), (ours, convolve)):
        metrics = ["accuracy", lib.metrics.SparseTopKCategoricalAccuracy(k=2)]
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=metrics)
    r_theirs = theirs.evaluate(X, Y_INT, batch_size=10, verbose=0, return_dict=True)
    r_ours = ours.evaluate(X, Y_INT, batch_size=10, verbose=0, return_dict=True)
    assert sorted(r_ours) == sorted(r_theirs)
    for key in r_theirs:
        assert r_ours[key] == pytest.approx(r_theirs[key], rel=RTOL)
    np.testing.assert_allclose(
        ours.predict(X, batch_size=7, verbose=0), theirs.predict(X, batch_size=7, verbose=0),
        rtol=RTOL, atol=ATOL,
    )  # fmt: skip
    assert ours.evaluate(X, Y_INT, verbose=0) == pytest.approx(
        theirs.evaluate(X, Y_INT, verbose=0), rel=RTOL
    )
