"""Programs from Keras's developer guides on training, run in both libraries: recompiling
one model as the "training & evaluation" guide does, the GAN of the "customizing fit()"
guide (a model with no `call`), and a custom `test_step` whose logs nest the compiled
metrics.

Tolerance: values agree within rtol=1e-5, atol=1e-6 (float32).
"""

import keras
import numpy as np
import pytest
import torch
from keras_compare import assert_same

import convolve

RNG = np.random.default_rng(3)
IMG = RNG.random((12, 6, 6, 1)).astype("float32")
X = RNG.random((12, 5)).astype("float32")
Y_SCORE = RNG.random((12, 1)).astype("float32")
Y_CLASS = RNG.random((12, 3)).astype("float32")
FIT = dict(batch_size=4, epochs=1, shuffle=False, verbose=0)


def _fixed(model, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [w.shape for w in model.get_weights()]
    model.set_weights([rng.normal(scale=0.3, size=s).astype("float32") for s in shapes])
    return model


def _two_outputs(lib):
    inputs = lib.Input((5,), name="x")
    hidden = lib.layers.Dense(4, activation="relu", name="hidden")(inputs)
    score = lib.layers.Dense(1, name="score_output")(hidden)
    cls = lib.layers.Dense(3, activation="softmax", name="class_output")(hidden)
    return _fixed(lib.Model(inputs, [score, cls]))


# ---------------------------------------------------------------- compiling again
def _recompiled_history(lib, second):
    """The guide compiles one model several times; the later compiles leave out metrics."""
    model = _two_outputs(lib)
    model.compile(
        optimizer=lib.optimizers.RMSprop(1e-3),
        loss=[lib.losses.MeanSquaredError(), lib.losses.CategoricalCrossentropy()],
        metrics=[[lib.metrics.MeanAbsoluteError()], [lib.metrics.CategoricalAccuracy()]],
    )
    model.fit(X, [Y_SCORE, Y_CLASS], **FIT)
    _fixed(model)
    model.compile(optimizer=lib.optimizers.RMSprop(1e-3), **second)
    history = model.fit(X, [Y_SCORE, Y_CLASS], **FIT).history
    return history, model.metrics_names, model.evaluate(X, [Y_SCORE, Y_CLASS], verbose=0)


@pytest.mark.parity
@pytest.mark.parametrize(
    "second",
    [
        {"loss": ["mse", None]},  # new loss, no metrics: the previous metrics stay
        {},  # neither: the previous loss (per-output trackers too) and metrics stay
        {"metrics": [["mse"], None]},  # new metrics, no loss: the previous loss stays
    ],
    ids=["loss-only", "nothing", "metrics-only"],
)
def test_compile_again_keeps_what_is_left_out_as_keras(second):
    ours = _recompiled_history(convolve, second)
    theirs = _recompiled_history(keras, second)
    assert_same(ours[0], theirs[0])
    assert ours[1] == theirs[1]
    assert_same(ours[2], theirs[2])


def test_compile_again_resets_stop_training():
    model = _two_outputs(convolve)
    model.compile(loss=["mse", "categorical_crossentropy"])
    model.stop_training = True
    model.compile(loss=["mse", "categorical_crossentropy"])
    assert model.stop_training is False


# ---------------------------------------------------------------- the GAN
def _gan(lib):
    discriminator = _fixed(
        lib.Sequential(
            [
                lib.Input((6, 6, 1)),
                lib.layers.Conv2D(2, 3, strides=2, padding="same"),
                lib.layers.LeakyReLU(negative_slope=0.2),
                lib.layers.GlobalMaxPooling2D(),
                lib.layers.Dense(1),
            ]
        ),
        seed=1,
    )
    generator = _fixed(
        lib.Sequential(
            [
                lib.Input((4,)),
                lib.layers.Dense(3 * 3 * 2),
                lib.layers.Reshape((3, 3, 2)),
                lib.layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="sigmoid"),
            ]
        ),
        seed=2,
    )

    class GAN(lib.Model):
        def __init__(self, discriminator, generator):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.d_loss_tracker = lib.metrics.Mean(name="d_loss")
            self.g_loss_tracker = lib.metrics.Mean(name="g_loss")
            self.built = True

        @property
        def metrics(self):
            return [self.d_loss_tracker, self.g_loss_tracker]

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

        def train_step(self, data):
            real = data[0] if isinstance(data, tuple | list) else data
            n = real.shape[0]
            latent = torch.linspace(-1, 1, n * 4).reshape(n, 4)
            images = torch.concat([self.generator(latent), real], axis=0)
            labels = torch.concat([torch.ones((n, 1)), torch.zeros((n, 1))], axis=0)
            self.zero_grad()
            d_loss = self.loss_fn(labels, self.discriminator(images))
            d_loss.backward()
            weights = self.discriminator.trainable_weights
            with torch.no_grad():
                self.d_optimizer.apply([v.value.grad for v in weights], weights)
            self.zero_grad()
            g_loss = self.loss_fn(torch.zeros((n, 1)), self.discriminator(self.generator(latent)))
            g_loss.backward()
            weights = self.generator.trainable_weights
            with torch.no_grad():
                self.g_optimizer.apply([v.value.grad for v in weights], weights)
            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}

    gan = GAN(discriminator, generator)
    gan.compile(
        d_optimizer=lib.optimizers.Adam(3e-4),
        g_optimizer=lib.optimizers.Adam(3e-4),
        loss_fn=lib.losses.BinaryCrossentropy(from_logits=True),
    )
    return gan


@pytest.mark.parity
def test_gan_without_call_fits_on_a_dataloader_as_keras():
    """A model with no `call` and no compiled loss trains through its own `train_step`;
    its batches (x, y) are not run through the model before the first step."""
    data = torch.utils.data.TensorDataset(torch.from_numpy(IMG), torch.from_numpy(IMG))
    results = []
    for lib in (convolve, keras):
        gan = _gan(lib)
        loader = torch.utils.data.DataLoader(data, batch_size=4, shuffle=False)
        history = gan.fit(loader, epochs=2, verbose=0).history
        results.append((history, gan.metrics_names, gan.generator.get_weights()))
    assert results[0][1] == results[1][1] == ["d_loss", "g_loss"]
    assert_same(results[0][0], results[1][0])
    assert_same(results[0][2], results[1][2])


# ---------------------------------------------------------------- nested step logs
def _custom_test_step(lib):
    class CustomModel(lib.Model):
        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    inputs = lib.Input((5,))
    model = _fixed(CustomModel(inputs, lib.layers.Dense(1)(inputs)))
    model.compile(loss="mse", metrics=["mae", "mse"])
    return model


@pytest.mark.parity
def test_evaluate_return_dict_orders_nested_step_logs_as_keras():
    """The step returns {"loss": ..., "compile_metrics": {...}}: Keras flattens it with the
    top-level keys sorted, so the compiled metrics come first."""
    args = dict(batch_size=4, verbose=0, return_dict=True)
    ours = _custom_test_step(convolve).evaluate(X, Y_SCORE, **args)
    theirs = _custom_test_step(keras).evaluate(X, Y_SCORE, **args)
    assert list(theirs) == ["mae", "mse", "loss"]
    assert_same(ours, theirs)
