"""Keras programs that drive the training loop, run in both libraries: custom steps and
`compute_loss` overrides as Keras's guides write them, multi-output compile arguments, and
what compile/fit leave on the model.

Tolerance: values agree within rtol=1e-5, atol=1e-6 (float32).
"""

import keras
import numpy as np
import pytest
import torch
from keras_compare import assert_same

import convolve

RNG = np.random.default_rng(7)
X = RNG.normal(size=(12, 4)).astype("float32")
Y_REG = RNG.normal(size=(12, 1)).astype("float32")
Y_CLS = np.eye(3, dtype="float32")[RNG.integers(0, 3, size=12)]
Y_INT = RNG.integers(0, 3, size=12)


def _weights_for(model, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=w.shape).astype("float32") * 0.5 for w in model.get_weights()]


def _two_outputs(lib, cls=None):
    inputs = lib.Input((4,), name="x")
    hidden = lib.layers.Dense(4, activation="relu", name="hidden")(inputs)
    reg = lib.layers.Dense(1, name="reg")(hidden)
    out = lib.layers.Dense(3, activation="softmax", name="cls")(hidden)
    model = (cls or lib.Model)(inputs, [reg, out])
    model.set_weights(_weights_for(model))
    return model


def _one_output(lib, cls=None, units=3):
    inputs = lib.Input((4,))
    model = (cls or lib.Model)(inputs, lib.layers.Dense(units)(inputs))
    model.set_weights(_weights_for(model, seed=1))
    return model


FIT = dict(epochs=2, batch_size=4, shuffle=False, verbose=0)


# ---------------------------------------------------------------- custom steps
def _distiller(lib):
    """Keras's knowledge-distillation example: `compute_loss` overridden without the
    `training` argument (written before Keras 3.3)."""

    class Distiller(lib.Model):
        def __init__(self, student, teacher):
            super().__init__()
            self.student, self.teacher = student, teacher

        def compile(self, optimizer, metrics, student_loss_fn, distillation_loss_fn):
            super().compile(optimizer=optimizer, metrics=metrics)
            self.student_loss_fn = student_loss_fn
            self.distillation_loss_fn = distillation_loss_fn

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False):
            teacher_pred = self.teacher(x, training=False)
            student_loss = self.student_loss_fn(y, y_pred)
            distillation_loss = self.distillation_loss_fn(
                lib.ops.softmax(teacher_pred / 3.0, axis=1),
                lib.ops.softmax(y_pred / 3.0, axis=1),
            )
            return 0.1 * student_loss + 0.9 * 9.0 * distillation_loss

        def call(self, x):
            return self.student(x)

    teacher = _one_output(lib)
    student = _one_output(lib)
    student.set_weights(_weights_for(student, seed=2))
    model = Distiller(student, teacher)
    model.compile(
        optimizer=lib.optimizers.Adam(),
        metrics=[lib.metrics.SparseCategoricalAccuracy()],
        student_loss_fn=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn=lib.losses.KLDivergence(),
    )
    return model


def test_a_compute_loss_override_without_training_runs_fit_and_evaluate_as_in_keras():
    ours, theirs = _distiller(convolve), _distiller(keras)
    assert_same(ours.fit(X, Y_INT, **FIT).history, theirs.fit(X, Y_INT, **FIT).history)
    assert_same(ours.student.get_weights(), theirs.student.get_weights())
    assert_same(ours.evaluate(X, Y_INT, verbose=0), theirs.evaluate(X, Y_INT, verbose=0))


def _torch_style(lib):
    """The train_step of Keras's "Customizing what happens in fit() with PyTorch"."""

    class CustomModel(lib.Model):
        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            loss.backward()
            trainable = list(self.trainable_weights)
            gradients = [v.value.grad for v in trainable]
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    model = _one_output(lib, CustomModel, units=1)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


def test_a_custom_step_returning_compile_metrics_logs_keras_names_in_keras_order():
    ours, theirs = _torch_style(convolve), _torch_style(keras)
    history = ours.fit(X, Y_REG, epochs=3, batch_size=4, shuffle=False, verbose=0).history
    expected = theirs.fit(X, Y_REG, epochs=3, batch_size=4, shuffle=False, verbose=0).history
    assert list(history) == list(expected) == ["mae", "loss"]
    assert_same(history, expected)
    assert_same(ours.get_weights(), theirs.get_weights())


# ---------------------------------------------------------------- several outputs
@pytest.mark.parametrize(
    "compile_kwargs",
    [
        # a loss dict in another order than the outputs: Keras follows the outputs
        dict(
            loss={"cls": "categorical_crossentropy", "reg": "mse"},
            metrics={"cls": "accuracy", "reg": ["mae", "mse"]},
        ),
        # one metric per output, given as a flat list
        dict(loss=["mse", "categorical_crossentropy"], metrics=["mae", "accuracy"]),
        # one output without a loss: no per-output loss trackers at all
        dict(loss=["mse", None], metrics=[None, ["accuracy"]]),
        dict(
            loss=["mse", "categorical_crossentropy"],
            loss_weights=[0.5, 2.0],
            metrics=[["mae"], ["accuracy"]],
            weighted_metrics=["mae", "accuracy"],
        ),
    ],
    ids=["loss-dict-order", "flat-metric-list", "output-without-loss", "weighted"],
)
def test_multi_output_names_values_and_order_match_keras(compile_kwargs):
    ours, theirs = _two_outputs(convolve), _two_outputs(keras)
    for model in (ours, theirs):
        model.compile(optimizer="sgd", **compile_kwargs)
    assert ours.metrics_names == theirs.metrics_names == ["loss", "compile_metrics"]
    y = [Y_REG, Y_CLS]
    kwargs = dict(FIT, validation_data=(X, y), sample_weight=np.linspace(0.5, 2, 12))
    assert_same(ours.fit(X, y, **kwargs).history, theirs.fit(X, y, **kwargs).history)
    assert ours.metrics_names == theirs.metrics_names
    assert_same(ours.evaluate(X, y, verbose=0), theirs.evaluate(X, y, verbose=0))
    assert_same(
        ours.evaluate(X, y, verbose=0, return_dict=True),
        theirs.evaluate(X, y, verbose=0, return_dict=True),
    )


def test_a_dict_of_outputs_is_keyed_by_its_keys_not_its_layer_names():
    results = []
    for lib in (convolve, keras):
        inputs = lib.Input((4,))
        outputs = {
            "price": lib.layers.Dense(1, name="dense_price")(inputs),
            "kind": lib.layers.Dense(3, activation="softmax", name="dense_kind")(inputs),
        }
        model = lib.Model(inputs, outputs)
        model.set_weights(_weights_for(model, seed=3))
        model.compile(
            optimizer="sgd",
            loss={"price": "mse", "kind": "categorical_crossentropy"},
            metrics={"kind": ["accuracy"]},
        )
        y = {"price": Y_REG, "kind": Y_CLS}
        history = model.fit(X, y, **FIT).history
        results.append((history, model.evaluate(X, y, verbose=0), model.metrics_names))
    assert_same(results[0][:2], results[1][:2])
    assert results[0][2] == results[1][2]


@pytest.mark.parametrize(
    "compile_kwargs",
    [
        dict(loss="mse", metrics="mae"),
        dict(loss=["mse", "mse"], metrics=["mae", "mse", "mae"]),
        dict(loss=["mse", "mse"], metrics=["mae"]),
        dict(loss={"reg": "mse"}),
        dict(loss={"reg": "mse", "other": "mse"}),
    ],
    ids=["metrics-string", "metrics-too-many", "metrics-too-few", "loss-dict-partial", "bad-key"],
)
def test_compile_arguments_that_keras_refuses_raise_one_value_error(compile_kwargs):
    theirs = _two_outputs(keras)
    with pytest.raises((ValueError, KeyError)):
        theirs.compile(optimizer="sgd", **compile_kwargs)
        theirs.fit(X, [Y_REG, Y_CLS], **FIT)
    ours = _two_outputs(convolve)
    argument = "metrics" if "metrics" in compile_kwargs else "loss"
    with pytest.raises(ValueError, match=argument):
        ours.compile(optimizer="sgd", **compile_kwargs)


# ---------------------------------------------------------------- model attributes
def test_compile_config_round_trips_in_keras_format():
    configs = []
    for lib in (convolve, keras):
        model = _one_output(lib)
        assert model.get_compile_config() == {}
        model.compile(
            optimizer=lib.optimizers.SGD(0.1),
            loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[lib.metrics.SparseCategoricalAccuracy(name="acc")],
        )
        config = model.get_compile_config()
        configs.append({k: config[k] for k in ("loss", "metrics", "loss_weights", "jit_compile")})
        rebuilt = _one_output(lib)
        rebuilt.compile_from_config(config)
        assert type(rebuilt.optimizer).__name__ == "SGD"
        assert float(rebuilt.optimizer.learning_rate) == pytest.approx(0.1)
        configs.append(rebuilt.fit(X, Y_INT, **FIT).history)
    assert configs[0] == configs[2]
    assert_same(configs[1], configs[3])


def test_nested_python_lists_as_x_are_refused_by_name():
    model = _one_output(convolve)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"`x` must be .*list holding float"):
        model.fit(X.tolist(), Y_CLS, verbose=0)


def _attribute_metrics_model(lib):
    """Metrics set as attributes, with no `metrics` property: Keras tracks and resets them."""

    class Tracked(lib.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.tracker = lib.metrics.Mean(name="my_loss")
            self.mae = lib.metrics.MeanAbsoluteError(name="my_mae")

        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred)
            loss.backward()
            trainable = self.trainable_weights
            with torch.no_grad():
                self.optimizer.apply([v.value.grad for v in trainable], trainable)
            self.tracker.update_state(loss)
            self.mae.update_state(y, y_pred)
            return {"my_loss": self.tracker.result(), "my_mae": self.mae.result()}

    model = _one_output(lib, Tracked, units=1)
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_metrics_held_as_attributes_are_listed_and_reset_each_epoch_as_in_keras():
    ours, theirs = _attribute_metrics_model(convolve), _attribute_metrics_model(keras)
    assert ours.metrics_names == theirs.metrics_names == ["loss", "my_loss", "my_mae"]
    kwargs = dict(FIT, epochs=3)
    assert_same(ours.fit(X, Y_REG, **kwargs).history, theirs.fit(X, Y_REG, **kwargs).history)
    assert_same(
        ours.evaluate(X, Y_REG, verbose=0, return_dict=True),
        theirs.evaluate(X, Y_REG, verbose=0, return_dict=True),
    )
