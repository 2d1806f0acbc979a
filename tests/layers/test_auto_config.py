"""User layers and models without `get_config`: Keras's automatic config from the
constructor's arguments, so that models holding them save and reload as built."""

from __future__ import annotations

import numpy as np
import pytest

import convolve
from convolve import layers


def scale_class(base):
    class Scale(base.layers.Layer):
        def __init__(self, factor=2.0, offsets=(0.0, 1.0), mode="mul", **kwargs):
            super().__init__(**kwargs)
            self.factor, self.offsets, self.mode = factor, offsets, mode

        def call(self, x):
            return x * self.factor + self.offsets[1]

    return Scale


class Net(convolve.Model):
    def __init__(self, hidden=8, classes=3, **kwargs):
        super().__init__(**kwargs)
        self.hidden_layer = layers.Dense(hidden, activation="relu")
        self.head = layers.Dense(classes)

    def call(self, x):
        return self.head(self.hidden_layer(x))


X = np.random.default_rng(0).uniform(size=(5, 4)).astype("float32")


def test_config_holds_the_arguments_as_keras_s_does():
    import keras

    ours = scale_class(convolve)(3.0, mode="add", name="sc").get_config()
    theirs = scale_class(keras)(3.0, mode="add", name="sc").get_config()
    assert list(ours) == list(theirs)
    assert {k: v for k, v in ours.items() if k != "dtype"} == {
        k: v for k, v in theirs.items() if k != "dtype"
    }
    assert ours["factor"] == 3.0 and ours["offsets"] == (0.0, 1.0) and ours["mode"] == "add"


def test_saved_models_reload_with_the_constructor_values(tmp_path):
    scale = scale_class(convolve)
    model = convolve.Sequential([layers.Input((4,)), scale(3.0, name="sc"), layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    loaded = convolve.models.load_model(tmp_path / "m.keras", custom_objects={"Scale": scale})
    assert loaded.get_layer("sc").factor == 3.0
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    net = Net(hidden=6)
    net.compile("adam", "mse")
    net.fit(X, np.zeros((5, 3)), verbose=0)
    net.save(tmp_path / "net.keras")
    again = convolve.models.load_model(tmp_path / "net.keras", custom_objects={"Net": Net})
    assert again.hidden_layer.units == 6
    np.testing.assert_array_equal(again.predict(X, verbose=0), net.predict(X, verbose=0))


def test_files_move_both_ways_with_keras(tmp_path):
    import keras

    theirs = scale_class(keras)
    ours = scale_class(convolve)
    keras_model = keras.Sequential(
        [keras.Input((4,)), theirs(3.0, name="sc"), keras.layers.Dense(2)]
    )
    keras_model.save(tmp_path / "k.keras")
    loaded = convolve.models.load_model(tmp_path / "k.keras", custom_objects={"Scale": ours})
    assert loaded.get_layer("sc").factor == 3.0
    np.testing.assert_allclose(
        loaded.predict(X, verbose=0), keras_model.predict(X, verbose=0), rtol=1e-6, atol=1e-6
    )
    loaded.save(tmp_path / "c.keras")
    back = keras.models.load_model(tmp_path / "c.keras", custom_objects={"Scale": theirs})
    assert back.get_layer("sc").factor == 3.0


def test_unrecordable_arguments_refuse_to_save(tmp_path):
    class Holder(layers.Layer):
        def __init__(self, table, **kwargs):
            super().__init__(**kwargs)
            self.table = table

        def call(self, x):
            return x

    class Variadic(layers.Layer):
        def __init__(self, *sizes, **kwargs):
            super().__init__(**kwargs)

        def call(self, x):
            return x

    with pytest.raises(NotImplementedError, match="Object Holder .*override `get_config\\(\\)`"):
        Holder(np.ones(3)).get_config()
    with pytest.raises(NotImplementedError, match="Object Variadic .*positional"):
        Variadic(1, 2).get_config()
    model = convolve.Sequential([layers.Input((4,)), Holder(np.ones(3))])
    with pytest.raises(NotImplementedError, match="Holder"):
        model.save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()


def test_own_get_config_and_names_follow_keras():
    class Own(layers.Layer):
        def __init__(self, size=3, **kwargs):
            super().__init__(**kwargs)
            self.size = size

        def get_config(self):
            return super().get_config()  # the base config only, as in Keras

    class Nameless(layers.Layer):
        def __init__(self, size=3):
            super().__init__()

    assert "size" not in Own(5).get_config()
    config = Nameless(4).get_config()
    assert config["size"] == 4 and "name" not in config  # it could not be passed back
    assert "units" in layers.Dense(2).get_config()  # built-in layers keep their own
