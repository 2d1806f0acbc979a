"""After `set_random_seed`, a program draws what the same Keras program draws.

Keras takes an unseeded initializer's seed (and an unseeded layer's seed generator's) from
Python's `random` when the object is made, and unseeded dropout and data shuffling from
torch's global generator. convolve draws the same numbers in the same order, so a model
built after `set_random_seed(s)` starts from Keras's weights, and noise and dropout layers
give Keras's values. Compared with Keras 3 (torch backend): weights within 1e-6 (the
variance-scaling rescale rounds differently in the last bit), layer outputs within 1e-6.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras_compare import to_numpy

import convolve


def _stacks(lib):
    layers = lib.layers
    return {
        "dense": [
            layers.Input((5,)),
            layers.Dense(4),
            layers.Dense(3, kernel_initializer="he_normal"),
        ],
        "conv": [
            layers.Input((6, 6, 2)),
            layers.Conv2D(3, 3),
            layers.SeparableConv2D(2, 2),
            layers.DepthwiseConv2D(2),
            layers.Conv2DTranspose(2, 2),
        ],
        "conv1d_3d": [
            layers.Input((4, 4, 4, 2)),
            layers.Conv3D(2, 2),
            layers.Reshape((27, 2)),
            layers.Conv1D(2, 3),
        ],
        "embedding": [
            layers.Input((4,), dtype="int32"),
            layers.Embedding(10, 3),
            layers.Flatten(),
            layers.Dense(2),
        ],
        "recurrent": [
            layers.Input((4, 3)),
            layers.SimpleRNN(2, return_sequences=True),
            layers.LSTM(2, return_sequences=True),
            layers.GRU(2),
            layers.Dense(2),
        ],
        "conv_lstm": [
            layers.Input((2, 5, 5, 2)),
            layers.ConvLSTM2D(2, 3),
            layers.Flatten(),
            layers.Dense(2),
        ],
        "noise_between": [
            layers.Input((5,)),
            layers.Dropout(0.3),
            layers.Dense(4),
            layers.GaussianNoise(0.1),
            layers.GaussianDropout(0.2),
            layers.AlphaDropout(0.1),
            layers.Dense(2),
        ],
        "augmentation": [
            layers.Input((8, 8, 3)),
            layers.RandomFlip(),
            layers.RandomRotation(0.1),
            layers.RandomCrop(6, 6),
            layers.RandomContrast(0.2),
            layers.Conv2D(2, 3),
        ],
        "einsum_dense": [
            layers.Input((4, 6)),
            layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 3), bias_axes="de"),
            layers.Reshape((4, 6)),
            layers.Dense(2),
        ],
        "normalization": [
            layers.Input((6, 6, 2)),
            layers.BatchNormalization(),
            layers.Flatten(),
            layers.Dense(2),
        ],
    }


@pytest.mark.parametrize("stack", sorted(_stacks(keras)))
def test_models_built_after_set_random_seed_start_from_keras_weights(stack):
    weights = []
    for lib in (keras, convolve):
        lib.utils.set_random_seed(3)
        model = lib.Sequential(_stacks(lib)[stack])
        weights.append(model.get_weights())
    theirs, ours = weights
    assert [w.shape for w in ours] == [w.shape for w in theirs]
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


NOISE = {
    "Dropout": {"rate": 0.4},
    "Dropout_noise_shape": {"rate": 0.4, "noise_shape": (None, 1, 1, 3)},
    "SpatialDropout2D": {"rate": 0.5},
    "GaussianNoise": {"stddev": 0.3},
    "GaussianDropout": {"rate": 0.3},
    "AlphaDropout": {"rate": 0.3},
}


@pytest.mark.parametrize("seeded", [False, True], ids=["set_random_seed", "seed_argument"])
@pytest.mark.parametrize("name", sorted(NOISE))
def test_noise_layers_draw_keras_values(name, seeded):
    x = np.random.RandomState(0).rand(2, 4, 4, 3).astype("float32")
    outputs = []
    for lib in (keras, convolve):
        lib.utils.set_random_seed(5)
        kwargs = dict(NOISE[name], **({"seed": 11} if seeded else {}))
        layer = getattr(lib.layers, name.split("_")[0])(**kwargs)
        outputs.append([to_numpy(layer(x, training=True)) for _ in range(2)])  # two draws
    for a, b in zip(*outputs, strict=True):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)
    assert not np.allclose(outputs[1][0], outputs[1][1]), "the second draw repeated the first"


def test_unseeded_initializer_config_keeps_seed_none():
    initializer = convolve.initializers.GlorotUniform()
    assert initializer.get_config() == keras.initializers.GlorotUniform().get_config()
    first = initializer((3, 2))
    np.testing.assert_array_equal(to_numpy(initializer((3, 2))), to_numpy(first))  # as Keras


def test_attention_layers_start_from_keras_weights_and_draw_keras_dropout():
    x = np.random.RandomState(2).rand(2, 4, 6).astype("float32")
    weights, outputs = [], []
    for lib in (keras, convolve):
        lib.utils.set_random_seed(4)
        inputs = lib.Input((4, 6))
        attended = lib.layers.MultiHeadAttention(2, 3, dropout=0.2)(inputs, inputs)
        scored = lib.layers.Attention(dropout=0.3)([attended, inputs])
        model = lib.Model(inputs, lib.layers.Dense(2)(scored))
        weights.append(model.get_weights())
        lib.utils.set_random_seed(9)  # the same global stream for the unseeded dropout
        outputs.append(to_numpy(model(x, training=True)))
    for a, b in zip(*weights, strict=True):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-5, atol=1e-6)


def test_random_crop_keeps_a_drawn_seed_in_its_config_as_keras():
    seeds = []
    for lib in (keras, convolve):
        lib.utils.set_random_seed(6)
        seeds.append(lib.layers.RandomCrop(4, 4).get_config()["seed"])
    assert seeds[0] == seeds[1] and isinstance(seeds[1], int)


AUGMENTATION = [
    ("RandomFlip", (), {}),
    ("RandomFlip", ("horizontal",), {}),
    ("RandomRotation", (0.2,), {}),
    ("RandomZoom", (0.2, 0.3), {}),
    ("RandomTranslation", (0.2, 0.1), {}),
    ("RandomShear", (0.2,), {}),
    ("RandomPerspective", (), {}),
    ("RandomCrop", (8, 8), {}),
    ("RandomContrast", (0.3,), {}),
    ("RandomBrightness", (0.2,), {}),
    ("RandomHue", (0.2,), {"value_range": (0, 255)}),
    ("RandomSaturation", (0.3,), {"value_range": (0, 255)}),
    ("RandomGrayscale", (), {"factor": 0.5}),
    ("RandomSharpness", (0.3,), {"value_range": (0, 255)}),
    ("RandomInvert", (), {"value_range": (0, 255)}),
    ("RandomPosterization", ((1, 4),), {"value_range": (0, 255)}),
    ("Solarization", (), {"addition_factor": 0.2, "value_range": (0, 255)}),
    ("RandomColorDegeneration", (0.3,), {"value_range": (0, 255)}),
    ("RandomErasing", (), {"value_range": (0, 255)}),
    ("RandomGaussianBlur", (), {"value_range": (0, 255)}),
    (
        "RandomColorJitter",
        (),
        {"value_range": (0, 255), "brightness_factor": 0.2, "contrast_factor": 0.2},
    ),
]


@pytest.mark.parametrize("seeded", [False, True], ids=["set_random_seed", "seed_argument"])
@pytest.mark.parametrize(
    "name,args,kwargs", AUGMENTATION, ids=[f"{n}{i}" for i, (n, _, _) in enumerate(AUGMENTATION)]
)
def test_augmentation_layers_draw_keras_values(name, args, kwargs, seeded):
    """Images of 0..255: atol 1e-3 (the resampling layers' interpolation rounds differently
    in the last bits of float32); two calls, so the second draw is compared too."""
    x = (np.random.RandomState(0).rand(4, 12, 12, 3) * 255).astype("float32")
    outputs = []
    for lib in (keras, convolve):
        lib.utils.set_random_seed(8)
        layer = getattr(lib.layers, name)(*args, **kwargs, **({"seed": 3} if seeded else {}))
        outputs.append([to_numpy(layer(x, training=True)) for _ in range(2)])
    for ours, theirs in zip(outputs[1], outputs[0], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-3)


def test_unseeded_random_functions_draw_keras_values_from_the_global_generator():
    """keras.random without a seed draws from Keras's global SeedGenerator, made again after
    set_random_seed and clear_session (exact)."""
    outputs = []
    for lib in (keras, convolve):
        lib.utils.set_random_seed(4)
        drawn = [
            lib.random.normal((3,)),
            lib.random.uniform((2, 2)),
            lib.random.randint((3,), 0, 10),
            lib.random.normal((3,)),
        ]
        lib.backend.clear_session()
        drawn += [lib.random.truncated_normal((3,)), lib.random.shuffle(np.arange(6))]
        outputs.append([to_numpy(t) for t in drawn])
    for ours, theirs in zip(outputs[1], outputs[0], strict=True):
        np.testing.assert_array_equal(ours, theirs)
