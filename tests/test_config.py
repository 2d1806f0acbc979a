"""convolve.config's Keras settings (and the utils exports beside them), against Keras."""

import logging
import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
import torch

import convolve

LIBS = (convolve, keras)

KERAS_SETTINGS = [
    "disable_interactive_logging", "disable_traceback_filtering", "enable_interactive_logging",
    "enable_traceback_filtering", "enable_unsafe_deserialization", "epsilon", "floatx",
    "image_data_format", "is_interactive_logging_enabled", "is_traceback_filtering_enabled",
    "max_epochs", "max_steps_per_epoch", "set_backend", "set_epsilon", "set_floatx",
    "set_image_data_format", "set_max_epochs", "set_max_steps_per_epoch",
]  # fmt: skip


@pytest.fixture(autouse=True)
def restore_settings():
    """Puts back every global setting a test may change, in both libraries."""
    saved = {
        lib: (lib.config.epsilon(), lib.config.max_epochs(), lib.config.max_steps_per_epoch())
        for lib in LIBS
    }
    yield
    for lib, (eps, epochs, steps) in saved.items():
        lib.backend.clear_session(free_memory=False)  # logging, tracebacks, safe mode, names
        lib.config.set_epsilon(eps)
        lib.config.set_max_epochs(epochs)
        lib.config.set_max_steps_per_epoch(steps)


# ----------------------------------------------------------------- names and defaults
def test_config_has_keras_settings():
    assert set(KERAS_SETTINGS) <= set(dir(keras.config))
    missing = sorted(set(KERAS_SETTINGS) - set(dir(convolve.config)))
    assert missing == []


@pytest.mark.parametrize(
    "name",
    ["backend", "epsilon", "floatx", "image_data_format", "set_epsilon", "set_floatx",
     "set_image_data_format"],
)  # fmt: skip
def test_backend_names_are_the_config_functions(name):
    assert getattr(convolve.backend, name) is getattr(convolve.config, name)


@pytest.mark.parity
@pytest.mark.parametrize(
    "name",
    ["backend", "epsilon", "floatx", "image_data_format", "is_interactive_logging_enabled",
     "is_traceback_filtering_enabled", "max_epochs", "max_steps_per_epoch"],
)  # fmt: skip
def test_defaults_equal_keras(name):
    assert getattr(convolve.config, name)() == getattr(keras.config, name)()


# ----------------------------------------------------------------- round trips
def _after(lib, setter, args, getter):
    getattr(lib.config, setter)(*args)
    return getattr(lib.config, getter)()


ROUND_TRIPS = [
    ("set_epsilon", (1e-4,), "epsilon", 1e-4),
    ("set_floatx", ("float32",), "floatx", "float32"),
    ("set_image_data_format", ("channels_last",), "image_data_format", "channels_last"),
    ("set_image_data_format", ("Channels_Last",), "image_data_format", "channels_last"),
    ("set_max_epochs", (3,), "max_epochs", 3),
    ("set_max_epochs", (None,), "max_epochs", None),
    ("set_max_steps_per_epoch", (4,), "max_steps_per_epoch", 4),
    ("disable_interactive_logging", (), "is_interactive_logging_enabled", False),
    ("enable_interactive_logging", (), "is_interactive_logging_enabled", True),
    ("disable_traceback_filtering", (), "is_traceback_filtering_enabled", False),
    ("enable_traceback_filtering", (), "is_traceback_filtering_enabled", True),
]


@pytest.mark.parity
@pytest.mark.parametrize("setter, args, getter, expected", ROUND_TRIPS)
def test_setting_round_trips_as_in_keras(setter, args, getter, expected):
    assert _after(convolve, setter, args, getter) == _after(keras, setter, args, getter)
    assert _after(convolve, setter, args, getter) == expected


def test_max_epochs_none_clears_the_cap():
    convolve.config.set_max_epochs(3)
    convolve.config.set_max_epochs(None)
    assert convolve.config.max_epochs() is None


def test_disable_and_enable_toggle():
    convolve.config.disable_interactive_logging()
    convolve.config.disable_traceback_filtering()
    assert not convolve.config.is_interactive_logging_enabled()
    assert not convolve.config.is_traceback_filtering_enabled()
    convolve.config.enable_interactive_logging()
    convolve.config.enable_traceback_filtering()
    assert convolve.config.is_interactive_logging_enabled()
    assert convolve.config.is_traceback_filtering_enabled()


@pytest.mark.parity
def test_clear_session_resets_what_keras_resets():
    def state(lib):
        lib.config.disable_interactive_logging()
        lib.config.disable_traceback_filtering()
        lib.config.set_epsilon(1e-3)
        lib.config.set_max_epochs(3)
        lib.backend.clear_session()
        c = lib.config
        return (c.is_interactive_logging_enabled(), c.is_traceback_filtering_enabled(),
                c.epsilon(), c.max_epochs())  # fmt: skip

    assert state(convolve) == state(keras) == (True, True, 1e-3, 3)


# ----------------------------------------------------------------- refusals
def test_channels_first_is_refused_naming_the_value():
    with pytest.raises(ValueError, match="channels_first"):
        convolve.config.set_image_data_format("channels_first")
    assert convolve.config.image_data_format() == "channels_last"


@pytest.mark.parametrize("value", ["float64", "float16", "bfloat16"])
def test_other_floatx_is_refused_naming_the_value(value):
    with pytest.raises(ValueError, match=value):
        convolve.config.set_floatx(value)
    assert convolve.config.floatx() == "float32"


@pytest.mark.parity
@pytest.mark.parametrize(
    "setter, value", [("set_floatx", "float8"), ("set_image_data_format", "nhwc")]
)
def test_unknown_values_are_refused_as_in_keras(setter, value):
    for lib in LIBS:
        with pytest.raises(ValueError, match="Expected one of|must be one of"):
            getattr(lib.config, setter)(value)


def test_set_backend_accepts_torch_only():
    convolve.config.set_backend("torch")
    with pytest.raises(ValueError, match="'jax'"):
        convolve.config.set_backend("jax")


@pytest.mark.parametrize("value", [0, -2, 2.5, True, "3"])
@pytest.mark.parametrize("setter", ["set_max_epochs", "set_max_steps_per_epoch"])
def test_caps_refuse_non_positive_ints(setter, value):
    with pytest.raises(ValueError, match=setter):
        getattr(convolve.config, setter)(value)


def test_cap_environment_variables_are_read_at_import():
    env = {**os.environ, "KERAS_MAX_EPOCHS": "3", "KERAS_MAX_STEPS_PER_EPOCH": "5"}
    code = "import convolve as c; print(c.config.max_epochs(), c.config.max_steps_per_epoch())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["3", "5"]


# ----------------------------------------------------------------- effects on a model
def _data(n=320):
    rng = np.random.default_rng(0)
    return rng.random((n, 4), dtype=np.float32), rng.random((n, 1), dtype=np.float32)


def _model(lib):
    model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(1, name="out")], name="tiny")
    model.compile("sgd", "mse")
    return model


def _run_printing_program(lib):
    model = _model(lib)
    x, y = _data(64)
    model.fit(x, y, epochs=2, batch_size=16, verbose=1, validation_split=0.25)
    model.evaluate(x, y, verbose=1)
    model.predict(x, verbose=1)
    model.summary()


def _printed(lib, capsys, interactive):
    (
        lib.config.enable_interactive_logging
        if interactive
        else lib.config.disable_interactive_logging
    )()
    _run_printing_program(lib)
    return capsys.readouterr().out


def test_disabled_interactive_logging_prints_nothing(capsys):
    assert "Epoch 1/2" in _printed(convolve, capsys, interactive=True)  # the control
    assert _printed(convolve, capsys, interactive=False) == ""


def test_disabled_interactive_logging_silences_the_data_messages(capsys, tmp_path):
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (4, 4)).save(tmp_path / name / "0.png")
    settings = (
        (convolve.config.enable_interactive_logging, "Found 2 files belonging to 2 classes."),
        (convolve.config.disable_interactive_logging, ""),
    )
    for setting, expected in settings:
        setting()
        convolve.utils.image_dataset_from_directory(tmp_path, image_size=(4, 4))
        assert capsys.readouterr().out.strip() == expected


@pytest.mark.parity
def test_keras_silences_the_same_messages(capsys):
    # Keras keeps the setting per thread and updates progress bars from a worker thread,
    # so the first bar of each call still reaches stdout there; its epoch lines, final
    # bars and summary do not, as none of convolve's output does.
    assert "Epoch 1/2" in _printed(keras, capsys, interactive=True)
    printed = _printed(keras, capsys, interactive=False)
    assert "Epoch" not in printed and "Model:" not in printed and "\n" not in printed


def test_disabled_interactive_logging_sends_messages_to_the_logger(caplog):
    convolve.config.disable_interactive_logging()
    with caplog.at_level(logging.INFO, logger="convolve"):
        _run_printing_program(convolve)
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "convolve")
    assert "Epoch 2/2" in text and 'Model: "tiny"' in text and "Trainable params: 5" in text


def _capped_fit(lib, max_epochs, max_steps, **fit_kwargs):
    """The batches each epoch ran (train and validation), the History and the warnings."""
    lib.config.set_max_epochs(max_epochs)
    lib.config.set_max_steps_per_epoch(max_steps)
    seen = []

    class Record(lib.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append([epoch])

        def on_train_batch_end(self, batch, logs=None):
            seen[-1].append(batch)

        def on_test_batch_end(self, batch, logs=None):
            seen[-1].append(("val", batch))

    model = _model(lib)
    x, y = _data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(
            x, y, epochs=5, batch_size=10, verbose=0, callbacks=[Record()], **fit_kwargs
        )
        predicted = model.predict(x, batch_size=10, verbose=0)
    messages = sorted({str(w.message) for w in caught if "Limiting" in str(w.message)})
    return seen, len(history.history["loss"]), history.params, predicted.shape, messages


@pytest.mark.parity
@pytest.mark.parametrize(
    "max_epochs, max_steps, fit_kwargs",
    [
        (2, None, {}),
        (None, 3, {"validation_split": 0.25}),
        (2, 3, {"validation_data": _data(40)}),
        (9, 4, {"steps_per_epoch": 2}),  # caps above what fit asks change nothing
    ],
)
def test_fit_caps_run_as_in_keras(max_epochs, max_steps, fit_kwargs):
    ours = _capped_fit(convolve, max_epochs, max_steps, **fit_kwargs)
    assert ours == _capped_fit(keras, max_epochs, max_steps, **fit_kwargs)


def test_max_epochs_two_runs_two_epochs_of_five():
    seen, epochs_run, params, _, messages = _capped_fit(convolve, 2, None)
    assert epochs_run == 2 and params["epochs"] == 2 and len(seen) == 2
    assert messages == ["Limiting epochs to 2"]


def test_max_steps_caps_evaluate():
    convolve.config.set_max_steps_per_epoch(3)
    steps = []

    class Count(convolve.callbacks.Callback):
        def on_test_batch_end(self, batch, logs=None):
            steps.append(batch)

    with pytest.warns(UserWarning, match="Limiting steps_per_epoch to 3"):
        _model(convolve).evaluate(*_data(), batch_size=10, verbose=0, callbacks=[Count()])
    assert steps == [0, 1, 2]


# ----------------------------------------------------------------- unsafe deserialization
def _lambda_model_file(lib, tmp_path):
    model = lib.Sequential([lib.Input((3,)), lib.layers.Lambda(lambda t: t * 2.0)])
    path = str(tmp_path / f"{lib.__name__}.keras")
    model.save(path)
    return path


def _loads(lib, path, **kwargs):
    try:
        loaded = lib.saving.load_model(path, **kwargs)
    except ValueError:
        return "refused"
    return np.asarray(loaded.predict(np.ones((1, 3), np.float32), verbose=0)).tolist()


@pytest.mark.parity
@pytest.mark.parametrize("lib", LIBS, ids=["convolve", "keras"])
def test_enable_unsafe_deserialization_as_in_keras(lib, tmp_path):
    path = _lambda_model_file(lib, tmp_path)
    outcomes = [_loads(lib, path)]
    lib.config.enable_unsafe_deserialization()
    outcomes += [_loads(lib, path), _loads(lib, path, safe_mode=True)]
    lib.backend.clear_session()
    outcomes.append(_loads(lib, path))
    assert outcomes == ["refused", [[2.0] * 3], [[2.0] * 3], "refused"]


# ----------------------------------------------------------------- utils exports
UTILS_NAMES = [
    "disable_interactive_logging", "enable_interactive_logging", "get_custom_objects",
    "get_source_inputs", "is_interactive_logging_enabled", "is_keras_tensor",
    "standardize_dtype",
]  # fmt: skip


def test_utils_has_keras_names():
    assert set(UTILS_NAMES) <= set(dir(keras.utils))
    assert sorted(set(UTILS_NAMES) - set(dir(convolve.utils))) == []
    assert convolve.utils.disable_interactive_logging is convolve.config.disable_interactive_logging


@pytest.mark.parity
@pytest.mark.parametrize(
    "dtype",
    [None, "float32", "float16", torch.bfloat16, torch.int64, np.float64, np.dtype("uint8"),
     int, float, bool, "int"],
)  # fmt: skip
def test_standardize_dtype_matches_keras(dtype):
    assert convolve.utils.standardize_dtype(dtype) == keras.utils.standardize_dtype(dtype)


@pytest.mark.parity
def test_is_keras_tensor_and_get_source_inputs_match_keras():
    def probe(lib):
        a, b = lib.Input((3,), name="a"), lib.Input((3,), name="b")
        hidden = lib.layers.Dense(2)(a * 2.0 + b)
        out = lib.layers.Concatenate()([hidden, a])
        u = lib.utils
        checks = [u.is_keras_tensor(out), u.is_keras_tensor(np.ones(3)), u.is_keras_tensor([a])]
        return checks, [t.name for t in u.get_source_inputs(out)]

    assert probe(convolve) == probe(keras) == ([True, False, False], ["a", "b"])


@pytest.mark.parity
@pytest.mark.parametrize("lib", LIBS, ids=["convolve", "keras"])
def test_get_custom_objects_is_the_editable_registry(lib, monkeypatch):
    def doubled(x):
        return x * 2

    monkeypatch.setitem(lib.utils.get_custom_objects(), "doubled", doubled)
    assert lib.saving.get_registered_object("doubled") is doubled
