"""Programs in the style of Keras's guides on subclassing layers and models, on customizing
`fit()` with PyTorch and on writing a training loop from scratch, run in both libraries:
weights and their paths, counters, `add_loss`, seeded histories of custom steps (also with
no compiled loss, where Keras reads no batch to build anything), a GAN fitted on arrays,
the state a model's layers keep across `fit` and `evaluate`, configs, `.keras` files and
errors.

Tolerance: values agree within rtol=1e-5, atol=1e-6 (float32), unless a test says otherwise.
"""

import io
import os
from contextlib import redirect_stdout

import keras
import numpy as np
import pytest
import torch
from keras_compare import assert_same, to_numpy

import convolve

pytestmark = pytest.mark.parity

RNG = np.random.default_rng(7)
X = RNG.random((20, 5)).astype("float32")
Y = RNG.random((20, 1)).astype("float32")


def _rounded(history):
    return {name: [float(v) for v in values] for name, values in history.items()}


# ---------------------------------------------------------------- layers
def _guide_layers(lib):
    """The guide's Linear (weights made in `__init__`, then in `build`), ComputeSum and
    MLPBlock: outputs, weight paths and the counter's values."""
    ops = lib.ops

    class Linear(lib.layers.Layer):
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(
                shape=(input_shape[-1], self.units), initializer="random_normal"
            )
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal")

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    class EagerLinear(lib.layers.Layer):
        def __init__(self, units, input_dim):
            super().__init__()
            self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal")
            self.b = self.add_weight(shape=(units,), initializer="zeros")

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    class ComputeSum(lib.layers.Layer):
        def __init__(self, input_dim):
            super().__init__()
            self.total = self.add_weight(shape=(input_dim,), initializer="zeros", trainable=False)

        def call(self, inputs):
            self.total.assign_add(ops.sum(inputs, axis=0))
            return self.total

    class MLPBlock(lib.layers.Layer):
        def __init__(self):
            super().__init__()
            self.linears = [Linear(8), Linear(8)]
            self.head = Linear(1)

        def call(self, inputs):
            for linear in self.linears:
                inputs = lib.activations.relu(linear(inputs))
            return self.head(inputs)

    lib.backend.clear_session()
    lib.utils.set_random_seed(1)
    eager = EagerLinear(4, 2)
    summed = ComputeSum(2)
    block = MLPBlock()
    outputs = [eager(np.ones((2, 2), "float32")), block(np.ones((3, 6), "float32"))]
    summed(np.ones((2, 2), "float32"))
    outputs.append(summed(np.ones((2, 2), "float32")))
    layers = (eager, summed, block)
    described = [
        (
            [w.path for w in layer.weights],
            [w.path for w in layer.trainable_weights],
            [w.path for w in layer.non_trainable_weights],
            [tuple(a.shape) for a in layer.get_weights()],
        )
        for layer in layers
    ]
    return [to_numpy(o) for o in outputs], described


def test_guide_layers_build_weights_and_counters_as_keras():
    ours, theirs = _guide_layers(convolve), _guide_layers(keras)
    assert_same(ours[0], theirs[0])
    assert ours[1] == theirs[1]


def _losses_program(lib):
    """`add_loss` in a nested layer, a kernel regularizer, and a fit that adds them up."""
    ops = lib.ops

    class ActivityRegularization(lib.layers.Layer):
        def __init__(self, rate):
            super().__init__()
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * ops.mean(inputs))
            return inputs

    class Outer(lib.layers.Layer):
        def __init__(self):
            super().__init__()
            self.reg = ActivityRegularization(1e-2)
            self.dense = lib.layers.Dense(3, kernel_regularizer=lib.regularizers.l2(1e-3))

        def call(self, inputs):
            return self.dense(self.reg(inputs))

    class Regularized(lib.Model):
        def __init__(self):
            super().__init__()
            self.hidden = lib.layers.Dense(4, activation="relu")
            self.reg = ActivityRegularization(0.1)
            self.out = lib.layers.Dense(1)

        def call(self, x):
            return self.out(self.reg(self.hidden(x)))

    lib.utils.set_random_seed(4)
    outer = Outer()
    counts = [len(outer.losses)]
    for batch in (np.zeros((1, 2), "float32"), np.ones((2, 2), "float32")):
        outer(batch)
        counts.append(len(outer.losses))
    values = [float(v) for v in outer.losses]
    model = Regularized()
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(X, Y, epochs=2, batch_size=8, verbose=0).history
    return counts, values, _rounded(history), [float(v) for v in model.losses]


def test_add_loss_and_regularizers_reach_losses_and_fit_as_keras():
    ours, theirs = _losses_program(convolve), _losses_program(keras)
    assert ours[0] == theirs[0]
    assert_same(ours[1:], theirs[1:])


def test_layer_add_metric_is_refused():
    # Keras 3 removed `add_metric`: it raises NotImplementedError with its advice.
    for lib in (keras, convolve):
        with pytest.raises(NotImplementedError, match=r"add_metric\(\)` method is deprecated"):
            lib.layers.Dense(1).add_metric(1.0)


# ---------------------------------------------------------------- custom steps
def _torch_train_step(model, loss, y_pred):
    loss.backward()
    weights = list(model.trainable_weights)
    with torch.no_grad():
        model.optimizer.apply([v.value.grad for v in weights], weights)


def _custom_fit_histories(lib):
    """The guide's three custom `train_step`s: compiled loss and metrics, attribute
    trackers with no compiled loss (`metrics` property), and sample weights."""

    class CompiledStep(lib.Model):
        def train_step(self, data):
            x, y, sample_weight = data if len(data) == 3 else (*data, None)
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
            _torch_train_step(self, loss, y_pred)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred, sample_weight=sample_weight)
            return {m.name: m.result() for m in self.metrics}

    class TrackerStep(lib.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_tracker = lib.metrics.Mean(name="loss")
            self.mae_metric = lib.metrics.MeanAbsoluteError(name="mae")
            self.loss_fn = lib.losses.MeanSquaredError()

        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.loss_fn(y, y_pred)
            _torch_train_step(self, loss, y_pred)
            self.loss_tracker.update_state(loss)
            self.mae_metric.update_state(y, y_pred)
            return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae_metric]

    def functional(cls, seed):
        lib.utils.set_random_seed(seed)
        inputs = lib.Input(shape=(5,))
        return cls(inputs, lib.layers.Dense(1)(inputs))

    results = []
    model = functional(CompiledStep, 0)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    results.append(model.fit(X, Y, epochs=2, batch_size=8, verbose=0).history)
    results.append(model.evaluate(X, Y, verbose=0, return_dict=True))
    model = functional(TrackerStep, 1)
    model.compile(optimizer="adam")  # no loss, no metrics: Keras reads no batch to build
    results.append(model.fit(X, Y, epochs=3, batch_size=8, verbose=0).history)
    model = functional(CompiledStep, 2)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    weights = np.random.default_rng(2).random((20, 1))
    results.append(
        model.fit(X, Y, sample_weight=weights, epochs=2, batch_size=8, verbose=0).history
    )
    return results


def test_custom_train_steps_of_the_guide_fit_as_keras():
    assert_same(_custom_fit_histories(convolve), _custom_fit_histories(keras))


def _gan_history(lib):
    """keras.io's GAN for PyTorch, tiny, fitted on a shuffled array of images."""
    lib.utils.set_random_seed(42)
    discriminator = lib.Sequential(
        [
            lib.layers.InputLayer((8, 8, 1)),
            lib.layers.Conv2D(4, 3, strides=2, padding="same"),
            lib.layers.LeakyReLU(negative_slope=0.2),
            lib.layers.GlobalMaxPooling2D(),
            lib.layers.Dense(1),
        ]
    )
    generator = lib.Sequential(
        [
            lib.layers.InputLayer((4,)),
            lib.layers.Dense(4 * 4 * 4),
            lib.layers.LeakyReLU(negative_slope=0.2),
            lib.layers.Reshape((4, 4, 4)),
            lib.layers.Conv2DTranspose(4, 4, strides=2, padding="same"),
            lib.layers.Conv2D(1, 3, padding="same", activation="sigmoid"),
        ]
    )

    class GAN(lib.Model):
        def __init__(self):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.d_loss_tracker = lib.metrics.Mean(name="d_loss")
            self.g_loss_tracker = lib.metrics.Mean(name="g_loss")
            self.seed_generator = lib.random.SeedGenerator(1337)
            self.built = True

        @property
        def metrics(self):
            return [self.d_loss_tracker, self.g_loss_tracker]

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

        def train_step(self, real_images):
            if isinstance(real_images, tuple | list):
                real_images = real_images[0]
            n = real_images.shape[0]
            latent = lib.random.normal((n, 4), seed=self.seed_generator)
            combined = torch.concat([self.generator(latent), torch.as_tensor(real_images)])
            labels = torch.concat([torch.ones((n, 1)), torch.zeros((n, 1))])
            labels += 0.05 * lib.random.uniform(labels.shape, seed=self.seed_generator)
            self.zero_grad()
            d_loss = self.loss_fn(labels, self.discriminator(combined))
            d_loss.backward()
            d_weights = self.discriminator.trainable_weights
            with torch.no_grad():
                self.d_optimizer.apply([v.value.grad for v in d_weights], d_weights)
            latent = lib.random.normal((n, 4), seed=self.seed_generator)
            self.zero_grad()
            g_loss = self.loss_fn(torch.zeros((n, 1)), self.discriminator(self.generator(latent)))
            g_loss.backward()
            g_weights = self.generator.trainable_weights
            with torch.no_grad():
                self.g_optimizer.apply([v.value.grad for v in g_weights], g_weights)
            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}

    gan = GAN()
    gan.compile(
        d_optimizer=lib.optimizers.Adam(3e-4),
        g_optimizer=lib.optimizers.Adam(3e-4),
        loss_fn=lib.losses.BinaryCrossentropy(from_logits=True),
    )
    images = np.random.default_rng(0).random((16, 8, 8, 1)).astype("float32")
    history = gan.fit(images, epochs=2, batch_size=4, verbose=0).history
    return history, [int(gan.d_optimizer.iterations), int(gan.g_optimizer.iterations)]


def test_gan_of_the_guide_fits_shuffled_arrays_as_keras():
    ours, theirs = _gan_history(convolve), _gan_history(keras)
    assert_same(ours[0], theirs[0])
    assert ours[1] == theirs[1]


def _loop_from_scratch(lib):
    """The "training loop from scratch" guide: `model(x)`, a Keras loss, `optimizer.apply`,
    metrics updated, read and reset by hand, and `model.losses` added to the loss."""

    class ActivityRegularization(lib.layers.Layer):
        def call(self, inputs):
            self.add_loss(1e-2 * torch.sum(inputs))
            return inputs

    lib.utils.set_random_seed(0)
    inputs = lib.Input(shape=(5,))
    hidden = ActivityRegularization()(lib.layers.Dense(8, activation="relu")(inputs))
    model = lib.Model(inputs, lib.layers.Dense(3)(hidden))
    optimizer = lib.optimizers.Adam(1e-3)
    loss_fn = lib.losses.CategoricalCrossentropy(from_logits=True)
    accuracy = lib.metrics.CategoricalAccuracy()
    targets = np.eye(3, dtype="float32")[np.random.default_rng(1).integers(0, 3, 20)]
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(targets)),
        batch_size=8,
    )
    seen = []
    for _ in range(2):
        for x_batch, y_batch in loader:
            logits = model(x_batch)
            loss = loss_fn(y_batch, logits) + torch.sum(*model.losses)
            model.zero_grad()
            loss.backward()
            weights = model.trainable_weights
            with torch.no_grad():
                optimizer.apply([v.value.grad for v in weights], weights)
            accuracy.update_state(y_batch, logits)
            seen.append(float(loss))
        seen.append(float(accuracy.result()))
        accuracy.reset_state()
    seen.append(float(accuracy.result()))
    return seen, [v.name for v in optimizer.variables], int(optimizer.iterations)


def test_training_loop_from_scratch_runs_as_keras():
    ours, theirs = _loop_from_scratch(convolve), _loop_from_scratch(keras)
    assert_same(ours[0], theirs[0])
    assert ours[1:] == theirs[1:]


# ---------------------------------------------------------------- state across runs
def _counted_runs(lib, own_build=True):
    """A counter layer inside a subclassed model (one that builds itself, with
    `own_build`): what `fit`, `evaluate` and `predict` leave in it, and the `training` its
    call receives."""
    ops = lib.ops

    class Counter(lib.layers.Layer):
        def build(self, input_shape):
            self.count = self.add_weight(shape=(), initializer="zeros", trainable=False)
            self.seen = self.add_weight(
                shape=(input_shape[-1],), initializer="zeros", trainable=False
            )

        def call(self, x):
            self.count.assign_add(1.0)
            self.seen.assign_add(ops.sum(x, axis=0))
            return x

    class Counted(lib.Model):
        def __init__(self):
            super().__init__()
            self.counter = Counter()
            self.dense = lib.layers.Dense(1)

        def call(self, x):  # no `training`: the trainer calls it without one
            return self.dense(self.counter(x))

    class SelfBuilt(Counted):
        def build(self, input_shape):
            self.counter.build(input_shape)
            self.dense.build(input_shape)

    lib.utils.set_random_seed(3)
    model = SelfBuilt() if own_build else Counted()
    model.compile(optimizer="sgd", loss="mse")
    states = []
    for run in (
        lambda: model.fit(X, Y, batch_size=10, epochs=1, verbose=0),
        lambda: model.evaluate(X, Y, batch_size=10, verbose=0),
        lambda: model.fit(X, Y, batch_size=10, epochs=1, verbose=0),
        lambda: model.predict(X, batch_size=10, verbose=0),
    ):
        run()
        states.append([to_numpy(w) for w in model.non_trainable_weights])
    return states


def test_a_counter_in_a_self_built_model_counts_only_the_steps_as_keras():
    assert_same(_counted_runs(convolve), _counted_runs(keras))


def _training_seen(lib):
    class Recorder(lib.layers.Layer):
        def __init__(self):
            super().__init__()
            self.received = []

        def call(self, x, training=None):
            self.received.append(training)
            return x

    class NoTraining(lib.Model):
        def __init__(self):
            super().__init__()
            self.recorder = Recorder()
            self.dense = lib.layers.Dense(1)

        def build(self, input_shape):
            self.dense.build(input_shape)

        def call(self, x):
            return self.dense(self.recorder(x))

    model = NoTraining()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, Y, batch_size=20, epochs=1, verbose=0)
    model.recorder.received.clear()  # the check before the first step differs, harmlessly
    model.evaluate(X[:4], Y[:4], verbose=0)
    model.predict(X[:4], verbose=0)
    return model.recorder.received[-2:]


def test_evaluate_and_predict_call_a_model_without_training_as_keras():
    assert _training_seen(convolve) == _training_seen(keras) == [None, None]


# ---------------------------------------------------------------- configs and files
def _serialized_program(lib, tmp_path):
    ops = lib.ops

    @lib.saving.register_keras_serializable(package="Probe")
    class Scaled(lib.layers.Layer):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    @lib.saving.register_keras_serializable(package="Probe")
    class Stacked(lib.Model):
        def __init__(self, hidden=6, **kwargs):
            super().__init__(**kwargs)
            self.hidden = hidden
            self.block = [lib.layers.Dense(hidden, activation="relu"), Scaled(2)]

        def call(self, x):
            for layer in self.block:
                x = layer(x)
            return x

        def get_config(self):
            return {**super().get_config(), "hidden": self.hidden}

    lib.backend.clear_session()
    layer_config = Scaled(8).get_config()
    rebuilt = Scaled.from_config(layer_config)
    lib.utils.set_random_seed(3)
    model = Stacked(name="stacked")
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    history = model.fit(X, np.repeat(Y, 2, axis=1), epochs=2, batch_size=8, verbose=0).history
    path = os.path.join(tmp_path, f"{lib.__name__}.keras")
    model.save(path)
    loaded = lib.models.load_model(path)
    later = loaded.fit(X, np.repeat(Y, 2, axis=1), epochs=1, batch_size=8, verbose=0, shuffle=False)
    names = (
        layer_config,
        rebuilt.units,
        lib.saving.get_registered_name(Scaled),
        model.get_config(),
        [w.path for w in model.weights],
        type(loaded).__name__,
        int(loaded.optimizer.iterations),
    )
    values = (history, to_numpy(model.predict(X, verbose=0)), later.history)
    return names, values


def test_registered_subclasses_round_trip_configs_and_keras_files_as_keras(tmp_path):
    ours, theirs = _serialized_program(convolve, tmp_path), _serialized_program(keras, tmp_path)
    assert ours[0] == theirs[0]
    assert_same(ours[1], theirs[1])


def _summary_of_built_subclass(lib):
    class Built(lib.Model):
        def __init__(self):
            super().__init__(name="built")
            self.first = lib.layers.Dense(4, activation="relu")
            self.second = lib.layers.Dense(1)

        def build(self, input_shape):
            self.first.build(input_shape)
            self.second.build((input_shape[0], 4))

        def call(self, x):
            return self.second(self.first(x))

    lib.backend.clear_session()
    model = Built()
    model.build((None, 5))
    text = io.StringIO()
    with redirect_stdout(text):
        model.summary()
    return text.getvalue(), [w.path for w in model.weights], model.count_params()


def test_summary_of_a_subclass_built_by_hand_prints_as_keras():
    assert _summary_of_built_subclass(convolve) == _summary_of_built_subclass(keras)


# ---------------------------------------------------------------- bad input
def _error_types(lib):
    class Linear(lib.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 2), initializer="ones")

        def call(self, inputs):
            return lib.ops.matmul(inputs, self.w)

    class Wrapped(lib.Model):
        def __init__(self):
            super().__init__()
            self.linear = Linear()

        def call(self, x):
            return self.linear(x)

    layer = Linear()
    layer(np.ones((2, 3), "float32"))
    model = Wrapped()
    attempts = (
        lambda: layer(np.ones((2, 5), "float32")),
        lambda: layer.w.assign(np.ones((2, 3))),
        lambda: layer.add_weight(shape=(2,), initializer="no_such_initializer"),
        lambda: model.fit(X, Y, verbose=0),  # not compiled
        lambda: model.compile(loss="mse") or model.evaluate(X, Y[:3], verbose=0),
    )
    found = []
    for attempt in attempts:
        with pytest.raises(Exception) as error:
            attempt()
        found.append(error.type)
    return found


def test_bad_input_raises_the_error_types_keras_raises():
    ours, theirs = _error_types(convolve), _error_types(keras)
    assert all(issubclass(a, b) for a, b in zip(ours, theirs, strict=True)), (ours, theirs)


def test_a_counter_in_a_model_built_by_fit_counts_only_the_steps_as_keras():
    # Without its own `build`, the model is built by a pass (on zeros here, on symbolic
    # tensors in Keras) that must not count.
    assert_same(_counted_runs(convolve, own_build=False), _counted_runs(keras, own_build=False))
