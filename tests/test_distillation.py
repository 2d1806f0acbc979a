"""`convolve.distillation` against `keras.distillation` (torch backend).

Teacher and student start from the same weights in both libraries; histories, evaluation,
and the student's weights after training use rtol=1e-5, atol=1e-5 (float32); predicted
logits (sums of 144 products) use 1e-4.
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest

import convolve

RTOL, ATOL = 1e-5, 1e-5


def _net(lib, width, name):
    layers = lib.layers
    return lib.Sequential(
        [
            lib.Input((8, 8, 3)),
            layers.Conv2D(width, 3, activation="relu", name="c1"),
            layers.Flatten(),
            layers.Dense(5, name="out"),
        ],
        name=name,
    )


def _data():
    rng = np.random.default_rng(0)
    return rng.random((20, 8, 8, 3)).astype("float32"), rng.integers(0, 5, 20)


def _run(lib, weights, losses, **kwargs):
    teacher = _net(lib, 4, "teacher")
    student = _net(lib, weights[1][0].shape[-1], "student")
    teacher.set_weights(weights[0])
    student.set_weights(weights[1])
    distiller = lib.distillation.Distiller(
        teacher=teacher, student=student, distillation_losses=losses(lib), **kwargs
    )
    distiller.compile(
        optimizer=lib.optimizers.SGD(0.1),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    x, y = _data()
    history = distiller.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    result = distiller.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    prediction = distiller.predict(x[:4], verbose=0)
    return history.history, result, prediction, student.get_weights(), teacher.get_weights()


CASES = {
    "logits_default": (
        lambda lib: lib.distillation.LogitsDistillation(),
        {"student_loss_weight": 0.3},
    ),
    "logits_kl_object": (
        lambda lib: lib.distillation.LogitsDistillation(
            temperature=2.0, loss=lib.losses.KLDivergence()
        ),
        {},
    ),
    "logits_and_features": (
        lambda lib: [
            lib.distillation.LogitsDistillation(),
            lib.distillation.FeatureDistillation(
                loss="cosine_similarity", teacher_layer_name="c1", student_layer_name="c1"
            ),
        ],
        {"distillation_loss_weights": [1.0, 0.5]},
    ),
    "features_only": (
        lambda lib: lib.distillation.FeatureDistillation(),
        {"student_loss_weight": 0.0},
    ),
    "student_only": (
        lambda lib: lib.distillation.LogitsDistillation(),
        {"student_loss_weight": 1.0},
    ),
}


CASES["layer_features"] = (
    lambda lib: lib.distillation.FeatureDistillation(
        teacher_layer_name="c1", student_layer_name="c1"
    ),
    {"student_loss_weight": 0.2},
)


@pytest.mark.parity
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.slow) if c == "logits_and_features" else c
        for c in sorted(CASES)
    ],
)
def test_training_matches_keras(case) -> None:
    losses, kwargs = CASES[case]
    width = 4 if case in ("logits_and_features", "layer_features") else 2
    keras.utils.set_random_seed(0)  # the same starting weights whatever ran before
    weights = (_net(keras, 4, "t").get_weights(), _net(keras, width, "s").get_weights())
    k_hist, k_eval, k_pred, k_student, k_teacher = _run(keras, weights, losses, **kwargs)
    c_hist, c_eval, c_pred, c_student, c_teacher = _run(convolve, weights, losses, **kwargs)
    assert sorted(c_hist) == sorted(k_hist)
    for key in k_hist:
        np.testing.assert_allclose(c_hist[key], k_hist[key], rtol=RTOL, atol=ATOL, err_msg=key)
    assert sorted(c_eval) == sorted(k_eval)
    for key in k_eval:
        np.testing.assert_allclose(c_eval[key], k_eval[key], rtol=RTOL, atol=ATOL, err_msg=key)
    # Logits sum 144 products of weights that agree to ~1e-6: compared at 1e-4.
    np.testing.assert_allclose(c_pred, k_pred, rtol=1e-4, atol=1e-4)
    for a, b in zip(c_student, k_student, strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    for a, b in zip(c_teacher, weights[0], strict=True):  # the teacher stays frozen
        np.testing.assert_array_equal(a, b)


@pytest.mark.parity
def test_structure_matches_keras() -> None:
    made = {}
    for lib in (keras, convolve):
        distiller = lib.distillation.Distiller(
            teacher=_net(lib, 4, "teacher"),
            student=_net(lib, 2, "student"),
            distillation_losses=lib.distillation.LogitsDistillation(),
        )
        distiller.compile(
            optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        made[lib] = distiller
    k, c = made[keras], made[convolve]
    assert c.name == k.name == "distiller"
    assert len(c.trainable_weights) == len(k.trainable_weights)
    assert len(c.weights) == len(k.weights)
    assert not c.teacher.trainable and c.student.trainable
    assert sorted(c.get_config()) == sorted(k.get_config())
    assert c.get_config()["student_loss_weight"] == k.get_config()["student_loss_weight"]


@pytest.mark.parity
@pytest.mark.parametrize(
    "name", ["Distiller", "LogitsDistillation", "FeatureDistillation", "DistillationLoss"]
)
def test_signatures_match_keras(name) -> None:
    ours = inspect.signature(getattr(convolve.distillation, name)).parameters
    theirs = inspect.signature(getattr(keras.distillation, name)).parameters
    assert list(ours) == list(theirs)
    for key, param in theirs.items():
        assert ours[key].default == param.default, key
    if name == "Distiller":
        ours = inspect.signature(convolve.distillation.Distiller.compile).parameters
        theirs = inspect.signature(keras.distillation.Distiller.compile).parameters
        assert {k: p.default for k, p in ours.items()} == {k: p.default for k, p in theirs.items()}


@pytest.mark.parity
def test_loss_configs_match_keras() -> None:
    for make in (
        lambda lib: lib.distillation.LogitsDistillation(),
        lambda lib: lib.distillation.LogitsDistillation(4.0, loss="categorical_crossentropy"),
        lambda lib: lib.distillation.FeatureDistillation(),
        lambda lib: lib.distillation.FeatureDistillation("mae", "a", "b"),
    ):
        ours, theirs = make(convolve).get_config(), make(keras).get_config()
        assert ours == theirs
        again = type(make(convolve)).from_config(ours)
        assert again.get_config() == ours


def test_save_and_load_round_trip(tmp_path) -> None:
    distiller = convolve.distillation.Distiller(
        teacher=_net(convolve, 4, "teacher"),
        student=_net(convolve, 2, "student"),
        distillation_losses=convolve.distillation.LogitsDistillation(),
    )
    distiller.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = _data()
    distiller.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    # The student alone is an ordinary model file.
    distiller.student.save(tmp_path / "student.keras")
    student = convolve.saving.load_model(tmp_path / "student.keras")
    np.testing.assert_array_equal(student.predict(x, verbose=0), distiller.predict(x, verbose=0))
    # The whole distiller needs its classes, as any subclassed model does.
    distiller.save(tmp_path / "distiller.keras")
    custom = {
        "Distiller": convolve.distillation.Distiller,
        "LogitsDistillation": convolve.distillation.LogitsDistillation,
    }
    loaded = convolve.saving.load_model(tmp_path / "distiller.keras", custom_objects=custom)
    assert isinstance(loaded, convolve.distillation.Distiller)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), distiller.predict(x, verbose=0))
    distiller.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    loaded.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(loaded.student.get_weights(), distiller.student.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda d, t, s: d.Distiller(t, s, d.LogitsDistillation(), student_loss_weight=1.5),
            "between 0.0 and 1.0",
        ),
        (lambda d, t, s: d.Distiller(t, s, None), "distillation_losses"),
        (lambda d, t, s: d.Distiller(t, s, [d.LogitsDistillation()], [1.0, 2.0]), "must match"),
        (lambda d, t, s: d.Distiller("t", s, d.LogitsDistillation()), "Teacher must be"),
        (
            lambda d, t, s: d.Distiller(t, s, d.FeatureDistillation(teacher_layer_name="nope")),
            "In teacher model",
        ),
        (lambda d, t, s: d.LogitsDistillation(temperature=0), "temperature"),
        (lambda d, t, s: d.LogitsDistillation(loss=None), "non-`None`"),
        (lambda d, t, s: d.FeatureDistillation(loss="no_such_loss"), "no_such_loss"),
    ],
)
def test_bad_arguments(make, match) -> None:
    teacher, student = _net(convolve, 4, "teacher"), _net(convolve, 2, "student")
    with pytest.raises(ValueError, match=match):
        make(convolve.distillation, teacher, student)


def test_incompatible_models_and_missing_loss() -> None:
    other = convolve.Sequential(
        [convolve.Input((8, 8, 3)), convolve.layers.Flatten(), convolve.layers.Dense(7)]
    )
    with pytest.raises(ValueError, match="output shapes are incompatible"):
        convolve.distillation.Distiller(
            _net(convolve, 4, "teacher"), other, convolve.distillation.LogitsDistillation()
        )
    distiller = convolve.distillation.Distiller(
        _net(convolve, 4, "teacher"),
        _net(convolve, 2, "student"),
        convolve.distillation.LogitsDistillation(),
    )
    with pytest.raises(ValueError, match="'loss' cannot be `None`"):
        distiller.compile(optimizer="adam")
