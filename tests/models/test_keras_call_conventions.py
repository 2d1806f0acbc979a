"""Call conventions of Keras models that user programs rely on, against Keras (torch
backend): a one-element output list, dict data for a list-input model in `fit`, Keras's
layer configs (with DTypePolicy dicts) in `from_config`, and several tensors passed
positionally to a layer in a functional model. Float32 outputs: atol 1e-6; histories:
rtol 1e-5."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch

import convolve

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",
    "ignore:The structure of `inputs` doesn't match:UserWarning",
)

X = np.random.default_rng(0).random((6, 3)).astype("float32")


def _one_output_list_model(lib):
    inputs = lib.Input((3,))
    outputs = lib.layers.Dense(2, kernel_initializer="ones", bias_initializer="ones")(inputs)
    return lib.Model(inputs=[inputs], outputs=[outputs])


def test_a_one_element_output_list_is_unpacked_as_keras_unpacks_it():
    theirs, ours = _one_output_list_model(keras), _one_output_list_model(convolve)
    for model in (theirs, ours):
        assert isinstance(model.outputs, list) and len(model.outputs) == 1
    ours_out, theirs_out = ours(X), theirs(X)
    assert isinstance(ours_out, torch.Tensor) and isinstance(theirs_out, torch.Tensor)
    np.testing.assert_allclose(ours_out.detach().numpy(), theirs_out.detach().numpy(), atol=1e-6)
    assert isinstance(ours.predict(X, verbose=0), np.ndarray)
    assert isinstance(ours.predict_on_batch(X), np.ndarray)
    assert isinstance(theirs.predict(X, verbose=0), np.ndarray)
    symbolic = ours(convolve.Input((3,)))  # a symbolic call keeps the list, as in Keras
    assert isinstance(symbolic, list) and isinstance(theirs(keras.Input((3,))), list)
    ours.compile("sgd", ["mse"])
    theirs.compile("sgd", ["mse"])
    y = np.ones((6, 2), "float32")
    history = [m.fit(X, [y], epochs=2, shuffle=False, verbose=0).history for m in (ours, theirs)]
    np.testing.assert_allclose(history[0]["loss"], history[1]["loss"], rtol=1e-5)


def _tagged_model(lib):
    title, body = lib.Input((5,), name="title"), lib.Input((4,), name="body")
    x = lib.layers.concatenate([title, body])
    dense = lib.layers.Dense(2, kernel_initializer="ones", name="out")
    return lib.Model(inputs=[title, body], outputs={"out": dense(x)})


def test_fit_takes_dict_data_by_input_name_for_a_list_input_model():
    rng = np.random.default_rng(1)
    data = {"body": rng.random((8, 4), "float32"), "title": rng.random((8, 5), "float32")}
    y = {"out": rng.random((8, 2), "float32")}
    histories = []
    for lib in (convolve, keras):
        model = _tagged_model(lib)
        model.compile("sgd", {"out": "mse"})
        histories.append(model.fit(data, y, epochs=2, batch_size=4, shuffle=False, verbose=0))
    np.testing.assert_allclose(
        histories[0].history["loss"], histories[1].history["loss"], rtol=1e-5
    )
    with pytest.raises(ValueError, match=r"missing: \['body'\]"):
        _tagged_model(convolve).predict({"title": data["title"]}, verbose=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.layers.Dense(3, activation="relu"),
        lambda lib: lib.layers.Conv2D(4, 3, padding="same"),
        lambda lib: lib.layers.BatchNormalization(momentum=0.9),
        lambda lib: lib.layers.Dropout(0.3),
    ],
)
def test_layers_rebuild_from_keras_configs_with_dtype_policy_dicts(make):
    config = make(keras).get_config()
    assert isinstance(config["dtype"], dict)  # {"class_name": "DTypePolicy", ...}
    layer = type(make(convolve)).from_config(config)
    assert layer.dtype == "float32"
    config["dtype"]["config"]["name"] = "float64"
    assert type(make(convolve)).from_config(config).dtype == "float64"


def test_several_positional_tensors_in_a_functional_call_work_as_in_keras():
    def build(lib):
        class Endpoint(lib.layers.Layer):
            def call(self, targets, logits):
                self.add_loss(lib.ops.mean(lib.ops.square(targets - logits)))
                return logits * 2.0

        a, b = lib.Input((3,), name="targets"), lib.Input((3,), name="x")
        logits = lib.layers.Dense(3, name="dense")(b)
        return lib.Model([a, b], Endpoint(name="endpoint")(a, logits))

    theirs, ours = build(keras), build(convolve)
    ours.set_weights(theirs.get_weights())
    targets = X[:, ::-1].copy()
    np.testing.assert_allclose(
        ours([targets, X]).detach().numpy(), theirs([targets, X]).detach().numpy(), atol=1e-6
    )
    assert len(ours.losses) == len(theirs.losses) == 1
    np.testing.assert_allclose(
        ours.losses[0].detach().numpy(), theirs.losses[0].detach().numpy(), atol=1e-6
    )
    assert [t.shape for t in ours.get_layer("endpoint").input] == [(None, 3), (None, 3)]


def _masked_attention_model(lib):
    """keras.io's locality self-attention: a constant diagonal mask in the graph."""
    inputs = lib.Input((4, 8))
    mask = 1 - np.eye(4, dtype="int8")
    attention = lib.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")
    return lib.Model(inputs, attention(inputs, inputs, attention_mask=mask))


def test_constant_call_arguments_are_saved_as_keras_saves_them(tmp_path):
    x = np.random.default_rng(3).random((2, 4, 8)).astype("float32")
    ours, theirs = _masked_attention_model(convolve), _masked_attention_model(keras)
    theirs.set_weights(ours.get_weights())
    expected = keras.ops.convert_to_numpy(theirs(x))
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    for model in (
        keras.saving.load_model(tmp_path / "ours.keras"),
        convolve.saving.load_model(tmp_path / "theirs.keras"),
        convolve.saving.load_model(tmp_path / "ours.keras"),
    ):
        out = model(x)
        out = out.detach().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
        np.testing.assert_allclose(out, expected, atol=1e-6)
