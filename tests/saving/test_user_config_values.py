"""A user layer whose get_config() holds values JSON lacks (a NumPy array, a nested layer)
saves as Keras saves it: the file's entries are Keras's (`__numpy__`, a layer entry), compared
with the file Keras writes for the same program."""

from __future__ import annotations

import json
import zipfile

import keras
import numpy as np
import pytest

import convolve

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _program(lib, path):
    class Shift(lib.layers.Layer):
        def __init__(self, offsets, inner=None, **kwargs):
            super().__init__(**kwargs)
            self.offsets = np.asarray(offsets, "float32")
            self.inner = inner if inner is not None else lib.layers.Dense(2, name="inner")

        def call(self, x):
            return self.inner(x) + self.offsets

        def get_config(self):
            return {**super().get_config(), "offsets": self.offsets, "inner": self.inner}

    model = lib.Sequential([lib.Input((3,)), Shift([1.0, 2.0], name="shift")])
    model.save(path)
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    return config["config"]["layers"][1]["config"]


def test_arrays_and_layers_in_a_user_config_are_saved_as_keras_saves_them(tmp_path):
    ours = _program(convolve, tmp_path / "ours.keras")
    theirs = _program(keras, tmp_path / "theirs.keras")
    assert ours["offsets"] == theirs["offsets"]
    assert ours["offsets"]["class_name"] == "__numpy__"
    assert ours["inner"]["class_name"] == theirs["inner"]["class_name"] == "Dense"
    assert ours["inner"]["config"]["units"] == theirs["inner"]["config"]["units"] == 2


def test_a_value_nothing_can_save_names_the_layer():
    class Holder(convolve.layers.Layer):
        def call(self, x):
            return x

        def get_config(self):
            return {**super().get_config(), "handle": object()}

    model = convolve.Sequential([convolve.Input((3,)), Holder(name="holder")])
    with pytest.raises(TypeError, match="Layer 'holder' \\(Holder\\).*object"):
        model.get_config()
