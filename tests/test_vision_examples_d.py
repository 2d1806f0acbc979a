"""Parity with Keras for a fourth set of vision examples' building blocks, at small sizes:
image classification from scratch (Xception-like), the simple MNIST convnet, a learnable
resizer, ViT on small datasets (shifted patch tokenization, locality self-attention),
ShiftViT, EANet, CaiT, focal modulation, ViViT, gradient centralization, masked image
modeling, Zero-DCE and monocular-depth losses. Same weights in both libraries; outputs
within atol 1e-5, fit losses within rtol 1e-4 unless stated."""

import json
import math
import os
import zipfile

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
import torch
from keras_compare import fit_both as _fit_both
from keras_compare import fresh_names  # noqa: F401  (the fixture the tests use)
from keras_compare import to_numpy as _np

import convolve

pytestmark = [pytest.mark.parity, pytest.mark.usefixtures("fresh_names")]


def _summary(model):
    lines = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    return "\n".join(lines)


def _assert_histories(hc, hk, rtol=1e-4):
    assert sorted(hc) == sorted(hk)
    for key in hk:
        np.testing.assert_allclose(hc[key], hk[key], rtol=rtol, atol=1e-6, err_msg=key)


# -------------------------------------------------- image classification from scratch
def _xception_like(lib, augment=True):
    layers = lib.layers
    inputs = lib.Input(shape=(16, 16, 3))
    x = inputs
    if augment:
        for layer in (layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)):
            x = layer(x)
    x = layers.Rescaling(1.0 / 255)(x)
    x = layers.Conv2D(8, 3, strides=2, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    previous_block_activation = x
    for size in (8, 16):
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(size, 1, strides=2, padding="same")(previous_block_activation)
        x = layers.add([x, residual])
        previous_block_activation = x
    x = layers.SeparableConv2D(16, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.25 if augment else 0.0)(x)
    return lib.Model(inputs, layers.Dense(1, activation=None)(x))


def _binary_compile(lib):
    return {
        "optimizer": lib.optimizers.Adam(3e-4),
        "loss": lib.losses.BinaryCrossentropy(from_logits=True),
        "metrics": [lib.metrics.BinaryAccuracy(name="acc")],
    }


def test_xception_like_summary_outputs_and_evaluate_match_keras():
    km, cm = _xception_like(keras), _xception_like(convolve)
    assert cm.count_params() == km.count_params() == 2081
    cm.set_weights(km.get_weights())
    x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    y = np.array([0, 1, 1, 0], "float32")
    np.testing.assert_allclose(_np(cm(x, training=False)), _np(km(x, training=False)), atol=1e-5)
    for m, lib in ((km, keras), (cm, convolve)):
        m.compile(**_binary_compile(lib))
    np.testing.assert_allclose(
        cm.evaluate(x, y, verbose=0), km.evaluate(x, y, verbose=0), rtol=1e-5
    )
    assert _summary(cm) == _summary(km)


def test_xception_like_training_without_augmentation_matches_keras():
    km, cm = _xception_like(keras, augment=False), _xception_like(convolve, augment=False)
    cm.set_weights(km.get_weights())
    x = np.random.default_rng(1).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    for m, lib in ((km, keras), (cm, convolve)):
        m.compile(**_binary_compile(lib))
    hk, hc = _fit_both(km, cm, x, np.array([0, 1, 1, 0], "float32"), batch_size=2, epochs=2)
    _assert_histories(hc, hk)


# ------------------------------------------------------------------- simple MNIST convnet
def _mnist_convnet(lib, rate=0.5):
    layers = lib.layers
    return lib.Sequential(
        [
            lib.Input(shape=(28, 28, 1)),
            layers.Conv2D(4, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(8, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(rate),
            layers.Dense(10, activation="softmax"),
        ]
    )


def test_simple_mnist_convnet_summary_training_and_evaluation_match_keras():
    assert _summary(_mnist_convnet(convolve)) == _summary(_mnist_convnet(keras))
    km, cm = _mnist_convnet(keras, 0.0), _mnist_convnet(convolve, 0.0)
    assert cm.count_params() == km.count_params() == 2346
    cm.set_weights(km.get_weights())
    x = np.random.default_rng(0).random((8, 28, 28, 1)).astype("float32")
    y = keras.utils.to_categorical(np.arange(8) % 10, 10)
    np.testing.assert_array_equal(convolve.utils.to_categorical(np.arange(8) % 10, 10), y)
    for m in (km, cm):
        m.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    hk, hc = _fit_both(km, cm, x, y, batch_size=4, epochs=2, validation_split=0.25)
    _assert_histories(hc, hk)
    np.testing.assert_allclose(
        cm.evaluate(x, y, verbose=0), km.evaluate(x, y, verbose=0), rtol=1e-5
    )


# ------------------------------------------------------------------ learning to resize
def _learnable_resizer(lib, target=(8, 8), filters=4):
    layers = lib.layers

    def conv_block(x, kernel_size, activation=True):
        x = layers.Conv2D(filters, kernel_size, 1, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.LeakyReLU(0.2)(x) if activation else x

    inputs = layers.Input(shape=[None, None, 3])
    naive_resize = layers.Resizing(*target, interpolation="bilinear")(inputs)
    x = layers.Conv2D(filters=filters, kernel_size=7, strides=1, padding="same")(inputs)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2D(filters=filters, kernel_size=1, strides=1, padding="same")(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.BatchNormalization()(x)
    bottleneck = layers.Resizing(*target, interpolation="bilinear")(x)
    residual = conv_block(conv_block(bottleneck, 3), 3, activation=False)
    x = layers.Add()([bottleneck, residual])
    x = conv_block(x, 3, activation=False)
    x = layers.Add()([bottleneck, x])
    x = layers.Conv2D(filters=3, kernel_size=7, strides=1, padding="same")(x)
    final_resize = layers.Add()([naive_resize, x])
    return lib.Model(inputs, final_resize, name="learnable_resizer")


def _resizer_classifier(lib):
    resizer = _learnable_resizer(lib)
    base = lib.Sequential(
        [
            lib.layers.Input((8, 8, 3)),
            lib.layers.Conv2D(4, 3),
            lib.layers.GlobalAveragePooling2D(),
            lib.layers.Dense(2),
        ]
    )
    inputs = lib.layers.Input(shape=[16, 16, 3])
    x = lib.layers.Rescaling(scale=1.0 / 255)(inputs)
    return lib.Model(inputs, base(resizer(x)))


def test_learnable_resizer_outputs_on_any_input_size_match_keras():
    km, cm = _learnable_resizer(keras), _learnable_resizer(convolve)
    assert cm.count_params() == km.count_params()
    assert cm.output_shape == km.output_shape == (None, 8, 8, 3)
    cm.set_weights(km.get_weights())
    for shape in ((2, 13, 11, 3), (1, 20, 24, 3)):
        x = np.random.default_rng(sum(shape)).random(shape).astype("float32")
        for training in (False, True):
            np.testing.assert_allclose(
                _np(cm(x, training=training)), _np(km(x, training=training)), atol=1e-5
            )


def test_learnable_resizer_classifier_training_matches_keras():
    km, cm = _resizer_classifier(keras), _resizer_classifier(convolve)
    cm.set_weights(km.get_weights())
    x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    y = keras.utils.to_categorical([0, 1, 1, 0], 2)
    for m, lib in ((km, keras), (cm, convolve)):
        m.compile(
            optimizer=lib.optimizers.SGD(learning_rate=0.01, momentum=0.9),
            loss=lib.losses.CategoricalCrossentropy(label_smoothing=0.1, from_logits=True),
            metrics=["accuracy"],
        )
    hk, hc = _fit_both(km, cm, x, y, batch_size=2, epochs=2)
    _assert_histories(hc, hk)


# --------------------------------------------------- ViT for small datasets (SPT + LSA)
_IMAGE, _PATCH, _DIM = 8, 4, 8
_NUM_PATCHES = (_IMAGE // _PATCH) ** 2


def _vit_small(lib, vanilla=False):
    layers, ops = lib.layers, lib.ops

    class ShiftedPatchTokenization(layers.Layer):
        def __init__(self, vanilla=False, **kwargs):
            super().__init__(**kwargs)
            self.vanilla = vanilla
            self.half_patch = _PATCH // 2
            self.flatten_patches = layers.Reshape((_NUM_PATCHES, -1))
            self.projection = layers.Dense(units=_DIM)
            self.layer_norm = layers.LayerNormalization(epsilon=1e-6)

        def crop_shift_pad(self, images, mode):
            half = self.half_patch
            crop_height, crop_width, shift_height, shift_width = {
                "left-up": (half, half, 0, 0),
                "left-down": (0, half, half, 0),
                "right-up": (half, 0, 0, half),
                "right-down": (0, 0, half, half),
            }[mode]
            crop = ops.image.crop_images(
                images,
                top_cropping=crop_height,
                left_cropping=crop_width,
                target_height=_IMAGE - half,
                target_width=_IMAGE - half,
            )
            return ops.image.pad_images(
                crop,
                top_padding=shift_height,
                left_padding=shift_width,
                target_height=_IMAGE,
                target_width=_IMAGE,
            )

        def call(self, images):
            if not self.vanilla:
                modes = ("left-up", "left-down", "right-up", "right-down")
                shifted = [self.crop_shift_pad(images, mode=m) for m in modes]
                images = ops.concatenate([images, *shifted], axis=-1)
            patches = ops.image.extract_patches(
                images=images, size=(_PATCH, _PATCH), strides=(_PATCH, _PATCH), padding="VALID"
            )
            flat_patches = self.flatten_patches(patches)
            if not self.vanilla:
                return self.projection(self.layer_norm(flat_patches)), patches
            return self.projection(flat_patches), patches

    class PatchEncoder(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.position_embedding = layers.Embedding(input_dim=_NUM_PATCHES, output_dim=_DIM)
            self.positions = ops.arange(start=0, stop=_NUM_PATCHES, step=1)

        def call(self, encoded_patches):
            return encoded_patches + self.position_embedding(self.positions)

    class MultiHeadAttentionLSA(layers.MultiHeadAttention):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.tau = lib.Variable(math.sqrt(float(self._key_dim)), trainable=True)

        def _compute_attention(
            self, query, key, value, attention_mask=None, training=None,
            return_attention_scores=False,
        ):  # fmt: skip
            query = ops.multiply(query, 1.0 / self.tau)
            attention_scores = ops.einsum(self._dot_product_equation, key, query)
            attention_scores = self._masked_softmax(attention_scores, attention_mask)
            attention_scores_dropout = self._dropout_layer(attention_scores, training=training)
            attention_output = ops.einsum(self._combine_equation, attention_scores_dropout, value)
            return attention_output, attention_scores

    diag_attn_mask = ops.cast([1 - ops.eye(_NUM_PATCHES)], dtype="int8")
    inputs = layers.Input(shape=(_IMAGE, _IMAGE, 3))
    tokens, _ = ShiftedPatchTokenization(vanilla=vanilla)(inputs)
    encoded_patches = PatchEncoder()(tokens)
    x1 = layers.LayerNormalization(epsilon=1e-6)(encoded_patches)
    if vanilla:
        attention_output = layers.MultiHeadAttention(num_heads=2, key_dim=_DIM)(x1, x1)
    else:
        attention_output = MultiHeadAttentionLSA(num_heads=2, key_dim=_DIM)(
            x1, x1, attention_mask=diag_attn_mask
        )
    x2 = layers.Add()([attention_output, encoded_patches])
    x3 = layers.Dense(_DIM, activation=ops.gelu)(layers.LayerNormalization(epsilon=1e-6)(x2))
    encoded_patches = layers.Add()([x3, x2])
    representation = layers.Flatten()(layers.LayerNormalization(epsilon=1e-6)(encoded_patches))
    return lib.Model(inputs=inputs, outputs=layers.Dense(5)(representation))


@pytest.mark.parametrize("vanilla", [False, True])
def test_vit_small_datasets_spt_and_lsa_outputs_and_training_match_keras(vanilla):
    km, cm = _vit_small(keras, vanilla), _vit_small(convolve, vanilla)
    assert cm.count_params() == km.count_params()
    assert [w.name for w in cm.weights] == [w.name for w in km.weights]
    if not vanilla:
        # A temperature away from sqrt(key_dim): the subclass's `_compute_attention` must
        # be the one that runs.
        next(w for w in km.weights if w.name == "variable").assign(0.7)
    cm.set_weights(km.get_weights())
    x = np.random.default_rng(0).random((4, _IMAGE, _IMAGE, 3)).astype("float32")
    np.testing.assert_allclose(_np(cm(x)), _np(km(x)), atol=1e-5)
    for m, lib in ((km, keras), (cm, convolve)):
        m.compile(
            optimizer=lib.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-4),
            loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[lib.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
    hk, hc = _fit_both(km, cm, x, np.arange(4) % 5, batch_size=2, epochs=2)
    _assert_histories(hc, hk)


def _masked_attention(lib, subclass):
    layers = lib.layers

    class Scaled(layers.MultiHeadAttention):
        def _compute_attention(self, query, key, value, attention_mask=None, training=None,
                               return_attention_scores=False):  # fmt: skip
            out, scores = super()._compute_attention(
                query * 0.5, key, value, attention_mask, training, True
            )
            return out, scores

    cls = Scaled if subclass else layers.MultiHeadAttention
    return cls(num_heads=2, key_dim=4)


@pytest.mark.parametrize("subclass", [False, True])
@pytest.mark.parametrize("mask_dtype", ["int8", "bool", "float32"])
def test_attention_with_a_constant_mask_and_overridden_compute_attention_match_keras(
    subclass, mask_dtype
):
    rng = np.random.default_rng(3)
    q = rng.random((2, 5, 6)).astype("float32")
    v = rng.random((2, 4, 6)).astype("float32")
    mask = (rng.random((1, 5, 4)) > 0.4).astype(mask_dtype)
    kl, cl = _masked_attention(keras, subclass), _masked_attention(convolve, subclass)
    ko, ks = kl(q, v, attention_mask=mask, return_attention_scores=True)
    cl.build(q.shape, v.shape)
    cl.set_weights(kl.get_weights())
    co, cs = cl(q, v, attention_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(_np(co), _np(ko), atol=1e-5)
    np.testing.assert_allclose(_np(cs), _np(ks), atol=1e-6)
    # In a functional model, with the constant mask kept in the graph.
    models = {}
    for lib, layer in ((keras, kl), (convolve, cl)):
        qi, vi = lib.Input((5, 6)), lib.Input((4, 6))
        models[lib] = lib.Model([qi, vi], layer(qi, vi, attention_mask=mask))
    np.testing.assert_allclose(_np(models[convolve]([q, v])), _np(models[keras]([q, v])), atol=1e-5)


# ------------------------------------------------------------------------------- ShiftViT
def _shiftvit(lib, drop_path_prob=0.1):
    layers, ops = lib.layers, lib.ops

    class MLP(layers.Layer):
        def __init__(self, mlp_expand_ratio, mlp_dropout_rate, **kwargs):
            super().__init__(**kwargs)
            self.mlp_expand_ratio, self.mlp_dropout_rate = mlp_expand_ratio, mlp_dropout_rate

        def build(self, input_shape):
            channels = input_shape[-1]
            self.mlp = lib.Sequential(
                [
                    layers.Dense(units=int(self.mlp_expand_ratio * channels), activation="gelu"),
                    layers.Dropout(rate=self.mlp_dropout_rate),
                    layers.Dense(units=channels),
                    layers.Dropout(rate=self.mlp_dropout_rate),
                ]
            )

        def call(self, x):
            return self.mlp(x)

    class DropPath(layers.Layer):
        def __init__(self, drop_path_prob, **kwargs):
            super().__init__(**kwargs)
            self.drop_path_prob = drop_path_prob
            self.seed_generator = lib.random.SeedGenerator(1337)

        def call(self, x, training=None):
            if training:
                keep_prob = 1 - self.drop_path_prob
                shape = (ops.shape(x)[0],) + (1,) * (len(ops.shape(x)) - 1)
                random_tensor = keep_prob + lib.random.uniform(
                    shape, 0, 1, seed=self.seed_generator
                )
                return (x / keep_prob) * ops.floor(random_tensor)
            return x

    class ShiftViTBlock(layers.Layer):
        def __init__(self, drop_path_prob, num_div=4, shift_pixel=1, **kwargs):
            super().__init__(**kwargs)
            self.drop_path_prob, self.num_div, self.shift_pixel = (
                drop_path_prob, num_div, shift_pixel,
            )  # fmt: skip

        def build(self, input_shape):
            self.H, self.W = input_shape[1], input_shape[2]
            self.layer_norm_1 = layers.LayerNormalization(epsilon=1e-5)
            self.drop_path = (
                DropPath(self.drop_path_prob)
                if self.drop_path_prob > 0.0
                else layers.Activation("linear")
            )
            self.mlp = MLP(mlp_expand_ratio=2, mlp_dropout_rate=0.0)

        def get_shift_pad(self, x, mode):
            s = self.shift_pixel
            offset_height, offset_width, target_height, target_width = {
                "left": (0, 0, 0, s), "right": (0, s, 0, s),
                "up": (0, 0, s, 0), "down": (s, 0, s, 0),
            }[mode]  # fmt: skip
            crop = ops.image.crop_images(
                x,
                top_cropping=offset_height,
                left_cropping=offset_width,
                target_height=self.H - target_height,
                target_width=self.W - target_width,
            )
            return ops.image.pad_images(
                crop,
                top_padding=offset_height,
                left_padding=offset_width,
                target_height=self.H,
                target_width=self.W,
            )

        def call(self, x, training=False):
            x_splits = ops.split(x, self.num_div, axis=-1)
            for i, mode in enumerate(("left", "right", "up", "down")):
                x_splits[i] = self.get_shift_pad(x_splits[i], mode=mode)
            x = ops.concatenate(x_splits, axis=-1)
            return x + self.drop_path(self.mlp(self.layer_norm_1(x)), training=training)

    class PatchMerging(layers.Layer):
        def build(self, input_shape):
            self.reduction = layers.Conv2D(
                filters=2 * input_shape[-1], kernel_size=2, strides=2, padding="same",
                use_bias=False,
            )  # fmt: skip
            self.layer_norm = layers.LayerNormalization(epsilon=1e-5)

        def call(self, x):
            return self.reduction(self.layer_norm(x))

    inputs = layers.Input((8, 8, 3))
    x = layers.Conv2D(8, 2, 2, padding="same")(inputs)
    x = ShiftViTBlock(drop_path_prob=drop_path_prob)(x)
    x = PatchMerging()(x)
    x = ShiftViTBlock(drop_path_prob=0.0)(x)
    x = layers.GlobalAveragePooling2D()(x)
    return lib.Model(inputs, layers.Dense(3)(x))


def test_shiftvit_blocks_outputs_and_training_match_keras():
    km, cm = _shiftvit(keras), _shiftvit(convolve)
    assert cm.count_params() == km.count_params()
    cm.set_weights(km.get_weights())
    x = np.random.default_rng(0).random((4, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(_np(cm(x)), _np(km(x)), atol=1e-5)
    # Stochastic depth draws differ between the libraries' generators: trained without it.
    km, cm = _shiftvit(keras, 0.0), _shiftvit(convolve, 0.0)
    cm.set_weights(km.get_weights())
    for m, lib in ((km, keras), (cm, convolve)):
        m.compile(
            optimizer=lib.optimizers.AdamW(1e-3, weight_decay=1e-4),
            loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    hk, hc = _fit_both(km, cm, x, np.arange(4) % 3, batch_size=2, epochs=2)
    _assert_histories(hc, hk)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pad_width": [[0, 0], [1, 0], [0, 1], [0, 0]]},
        {"pad_width": [[0, 0], [1, 1], [2, 1], [0, 0]], "mode": "reflect"},
        {"pad_width": [[0, 0], [1, 1], [1, 1], [0, 0]], "mode": "symmetric"},
        {"pad_width": ((0, 0), (1, 1), (1, 1), (0, 0)), "constant_values": 2.0},
    ],
)
def test_ops_pad_as_the_examples_use_it_matches_keras(kwargs):
    x = np.random.default_rng(5).random((2, 4, 5, 3)).astype("float32")
    np.testing.assert_array_equal(
        _np(convolve.ops.pad(x, **kwargs)), _np(keras.ops.pad(x, **kwargs))
    )


def test_ops_pad_symmetric_wider_than_one_follows_numpy():
    # Keras's torch backend repeats the edge value there; its other backends and NumPy
    # mirror, which convolve does on every device.
    x = np.random.default_rng(6).random((2, 4, 5, 3)).astype("float32")
    pad_width = [[0, 0], [2, 1], [1, 2], [0, 0]]
    np.testing.assert_array_equal(
        _np(convolve.ops.pad(x, pad_width, mode="symmetric")),
        np.pad(x, pad_width, mode="symmetric"),
    )


# ---------------------------------------------------------------------------------- EANet
def _eanet(lib):
    layers, ops = lib.layers, lib.ops

    class PatchExtract(layers.Layer):
        def __init__(self, patch_size, **kwargs):
            super().__init__(**kwargs)
            self.patch_size = patch_size

        def call(self, x):
            batch, channels = ops.shape(x)[0], ops.shape(x)[-1]
            x = ops.image.extract_patches(x, self.patch_size)
            return ops.reshape(x, (batch, -1, self.patch_size * self.patch_size * channels))

    class PatchEmbedding(layers.Layer):
        def __init__(self, num_patch, embed_dim, **kwargs):
            super().__init__(**kwargs)
            self.num_patch = num_patch
            self.proj = layers.Dense(embed_dim)
            self.pos_embed = layers.Embedding(input_dim=num_patch, output_dim=embed_dim)

        def call(self, patch):
            return self.proj(patch) + self.pos_embed(ops.arange(0, self.num_patch, 1))

    def external_attention(x, dim, num_heads, dim_coefficient=4):
        _, num_patch, _ = x.shape
        num_heads = num_heads * dim_coefficient
        x = layers.Dense(dim * dim_coefficient)(x)
        x = ops.reshape(x, (-1, num_patch, num_heads, dim * dim_coefficient // num_heads))
        x = ops.transpose(x, axes=[0, 2, 1, 3])
        attn = layers.Softmax(axis=2)(layers.Dense(dim // dim_coefficient)(x))
        attn = layers.Lambda(
            lambda attn: ops.divide(
                attn, ops.convert_to_tensor(1e-9) + ops.sum(attn, axis=-1, keepdims=True)
            )
        )(attn)
        x = layers.Dense(dim * dim_coefficient // num_heads)(layers.Dropout(0.0)(attn))
        x = ops.reshape(ops.transpose(x, axes=[0, 2, 1, 3]), [-1, num_patch, dim * dim_coefficient])
        return layers.Dropout(0.0)(layers.Dense(dim)(x))

    def encoder(x, attention_type):
        residual = x
        x = layers.LayerNormalization(epsilon=1e-5)(x)
        if attention_type == "external_attention":
            x = external_attention(x, 16, 2)
        else:
            x = layers.MultiHeadAttention(num_heads=2, key_dim=16)(x, x)
        x = layers.add([x, residual])
        mlp = layers.Dense(32, activation=ops.gelu)(layers.LayerNormalization(epsilon=1e-5)(x))
        return layers.add([layers.Dense(16)(mlp), x])

    inputs = layers.Input(shape=(8, 8, 3))
    x = PatchEmbedding(16, 16)(PatchExtract(2)(inputs))
    x = encoder(encoder(x, "external_attention"), "self_attention")
    x = layers.GlobalAveragePooling1D()(x)
    return lib.Model(inputs=inputs, outputs=layers.Dense(3, activation="softmax")(x))


def test_eanet_external_attention_outputs_and_training_match_keras():
    km, cm = _eanet(keras), _eanet(convolve)
    assert cm.count_params() == km.count_params()
    cm.set_weights(km.get_weights())
    x = np.random.default_rng(0).random((4, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(_np(cm(x)), _np(km(x)), atol=1e-5)
    y = keras.utils.to_categorical(np.arange(4) % 3, 3)
    for m, lib in ((km, keras), (cm, convolve)):
        m.compile(
            optimizer=lib.optimizers.AdamW(1e-3, weight_decay=1e-4),
            loss=lib.losses.CategoricalCrossentropy(label_smoothing=0.1),
            metrics=[
                lib.metrics.CategoricalAccuracy(name="accuracy"),
                lib.metrics.TopKCategoricalAccuracy(2, name="top-2-accuracy"),
            ],
        )
    hk, hc = _fit_both(km, cm, x, y, batch_size=2, epochs=2)
    _assert_histories(hc, hk)


def test_lambda_capturing_a_module_writes_keras_closure_config(tmp_path):
    def lambda_config(lib, path):
        layers, ops = lib.layers, lib.ops
        inputs = layers.Input((4,))
        scale = 2.0
        outputs = layers.Lambda(lambda t: ops.multiply(t, scale) + ops.sum(t))(inputs)
        lib.Model(inputs, outputs).save(path)
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
        entry = next(e for e in config["config"]["layers"] if e["class_name"] == "Lambda")
        return entry["config"]["function"]["config"]

    expected = lambda_config(keras, tmp_path / "k.keras")
    got = lambda_config(convolve, tmp_path / "c.keras")
    assert got["code"] == expected["code"]
    assert got["defaults"] == expected["defaults"]
    renamed = json.loads(json.dumps(got["closure"]).replace("convolve.ops", "keras.ops"))
    assert renamed == expected["closure"]


# ----------------------------------------------------------------------------------- CaiT
def _cait(lib, dim=8):
    layers, ops = lib.layers, lib.ops

    class LayerScale(layers.Layer):
        def __init__(self, init_values, projection_dim, **kwargs):
            super().__init__(**kwargs)
            self.gamma = self.add_weight(
                shape=(projection_dim,), initializer=lib.initializers.Constant(init_values)
            )

        def call(self, x, training=False):
            return x * self.gamma

    class ClassAttention(layers.Layer):
        def __init__(self, projection_dim, num_heads, **kwargs):
            super().__init__(**kwargs)
            self.num_heads = num_heads
            self.scale = (projection_dim // num_heads) ** -0.5
            self.q, self.k, self.v, self.proj = (layers.Dense(projection_dim) for _ in range(4))
            self.attn_drop = layers.Dropout(0.0)

        def call(self, x, training=False):
            batch, patches, channels = ops.shape(x)[0], ops.shape(x)[1], ops.shape(x)[2]
            heads = (self.num_heads, channels // self.num_heads)
            q = ops.reshape(ops.expand_dims(self.q(x[:, 0]), axis=1), (batch, 1, *heads))
            q = ops.transpose(q, axes=[0, 2, 1, 3]) * ops.cast(self.scale, dtype="float32")
            k = ops.transpose(ops.reshape(self.k(x), (batch, patches, *heads)), [0, 2, 1, 3])
            v = ops.transpose(ops.reshape(self.v(x), (batch, patches, *heads)), [0, 2, 1, 3])
            attn = ops.softmax(ops.matmul(q, ops.transpose(k, axes=[0, 1, 3, 2])), axis=-1)
            attn = self.attn_drop(attn, training=training)
            x_cls = ops.transpose(ops.matmul(attn, v), axes=[0, 2, 1, 3])
            return self.proj(ops.reshape(x_cls, (batch, 1, channels))), attn

    class ClassToken(layers.Layer):
        def build(self, input_shape):
            self.cls_token = self.add_weight(shape=(1, 1, dim), initializer="zeros", name="cls")

        def call(self, x):
            cls = ops.tile(self.cls_token, (ops.shape(x)[0], 1, 1))
            return ops.concatenate([cls, x], axis=1)

    inputs = layers.Input((8, 8, 3))
    x = layers.Reshape((4, dim))(layers.Conv2D(dim, 4, 4)(inputs))
    x = layers.Add()([x, LayerScale(0.01, dim)(layers.Dense(dim)(x))])
    xc = layers.LayerNormalization(epsilon=1e-6)(ClassToken()(x))
    c, cls_attn = ClassAttention(dim, 2)(xc)
    c = layers.Flatten()(LayerScale(0.1, dim)(c))
    return lib.Model(inputs, [layers.Dense(3)(c), cls_attn])


def test_cait_layer_scale_and_class_attention_match_keras():
    km, cm = _cait(keras), _cait(convolve)
    assert cm.count_params() == km.count_params()
    assert cm.output_shape == km.output_shape == [(None, 3), (None, 2, 1, 5)]
    assert [w.path for w in cm.weights] == [w.path for w in km.weights]
    km.weights[0].assign(np.random.default_rng(0).normal(size=km.weights[0].shape))
    cm.set_weights(km.get_weights())
    x = np.random.default_rng(1).random((4, 8, 8, 3)).astype("float32")
    for got, expected in zip(cm(x), km(x), strict=True):
        np.testing.assert_allclose(_np(got), _np(expected), atol=1e-5)


# ------------------------------------------------------------------ focal modulation
def _focalnet(lib, dim=8, focal_window=3, focal_level=2):
    layers, ops = lib.layers, lib.ops

    class FocalModulationLayer(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.initial_proj = layers.Dense(units=2 * dim + focal_level + 1)
            self.focal_layers = []
            for idx in range(focal_level):
                kernel_size = 2 * idx + focal_window
                self.focal_layers.append(
                    lib.Sequential(
                        [
                            layers.ZeroPadding2D(padding=(kernel_size // 2, kernel_size // 2)),
                            layers.Conv2D(
                                filters=dim, kernel_size=kernel_size, groups=dim,
                                activation=lib.activations.gelu, use_bias=False,
                            ),
                        ]
                    )
                )  # fmt: skip
            self.gap = layers.GlobalAveragePooling2D(keepdims=True)
            self.modulator_proj = layers.Conv2D(filters=dim, kernel_size=(1, 1))
            self.proj = layers.Dense(units=dim)

        def call(self, x, training=None):
            query, context, gates = ops.split(self.initial_proj(x), [dim, 2 * dim], axis=-1)
            context = self.focal_layers[0](context)
            context_all = context * gates[..., 0:1]
            for idx in range(1, focal_level):
                context = self.focal_layers[idx](context)
                context_all += context * gates[..., idx : idx + 1]
            context_all += lib.activations.gelu(self.gap(context)) * gates[..., focal_level:]
            return self.proj(query * self.modulator_proj(context_all))

    inputs = layers.Input((8, 8, 3))
    x = FocalModulationLayer()(layers.Conv2D(dim, 2, 2)(inputs))
    x = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="gelu")(x)
    x = layers.LayerNormalization(epsilon=1e-5)(x)
    x = layers.Conv2D(dim, 3, groups=4, padding="same", activation=ops.gelu)(x)
    x = layers.GlobalAveragePooling2D()(x)
    return lib.Model(inputs, layers.Dense(3)(x))


def test_focal_modulation_grouped_and_depthwise_convs_match_keras():
    km, cm = _focalnet(keras), _focalnet(convolve)
    assert cm.count_params() == km.count_params()
    cm.set_weights(km.get_weights())
    x = np.random.default_rng(0).random((4, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(_np(cm(x)), _np(km(x)), atol=1e-5)
    for m, lib in ((km, keras), (cm, convolve)):
        m.compile(
            optimizer=lib.optimizers.AdamW(1e-3, weight_decay=1e-4),
            loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    hk, hc = _fit_both(km, cm, x, np.arange(4) % 3, batch_size=2, epochs=2)
    _assert_histories(hc, hk)


# ------------------------------------------------------------- video vision transformer
def _vivit(lib, dim=8):
    layers, ops = lib.layers, lib.ops

    class TubeletEmbedding(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.projection = layers.Conv3D(dim, kernel_size=4, strides=4, padding="VALID")
            self.flatten = layers.Reshape(target_shape=(-1, dim))

        def call(self, videos):
            return self.flatten(self.projection(videos))

    class PositionalEncoder(layers.Layer):
        def build(self, input_shape):
            _, num_tokens, _ = input_shape
            self.position_embedding = layers.Embedding(input_dim=num_tokens, output_dim=dim)
            self.positions = ops.arange(0, num_tokens, 1)

        def call(self, encoded_tokens):
            return encoded_tokens + self.position_embedding(self.positions)

    inputs = layers.Input(shape=(8, 8, 8, 1))
    encoded = PositionalEncoder()(TubeletEmbedding()(inputs))
    x1 = layers.LayerNormalization(epsilon=1e-6)(encoded)
    x2 = layers.Add()([layers.MultiHeadAttention(num_heads=2, key_dim=dim // 2)(x1, x1), encoded])
    x3 = lib.Sequential(
        [layers.Dense(dim * 4, activation=ops.gelu), layers.Dense(dim, activation=ops.gelu)]
    )(layers.LayerNormalization(epsilon=1e-6)(x2))
    x = layers.GlobalAvgPool1D()(layers.LayerNormalization(epsilon=1e-6)(layers.Add()([x3, x2])))
    return lib.Model(inputs=inputs, outputs=layers.Dense(units=3, activation="softmax")(x))


def test_vivit_tubelet_embedding_outputs_and_training_match_keras():
    km, cm = _vivit(keras), _vivit(convolve)
    assert cm.count_params() == km.count_params()
    cm.set_weights(km.get_weights())
    x = np.random.default_rng(0).random((4, 8, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(_np(cm(x)), _np(km(x)), atol=1e-5)
    for m, lib in ((km, keras), (cm, convolve)):
        m.compile(
            optimizer=lib.optimizers.Adam(1e-3),
            loss="sparse_categorical_crossentropy",
            metrics=[
                lib.metrics.SparseCategoricalAccuracy(name="accuracy"),
                lib.metrics.SparseTopKCategoricalAccuracy(2, name="top-2-accuracy"),
            ],
        )
    hk, hc = _fit_both(km, cm, x, np.arange(4) % 3, batch_size=2, epochs=2)
    _assert_histories(hc, hk)


# ---------------------------------------------------------------- gradient centralization
def _gc_rmsprop(lib):
    ops = lib.ops

    class GCRMSprop(lib.optimizers.RMSprop):
        def apply(self, grads, trainable_variables=None):
            centred = []
            for g in grads:
                if len(g.shape) > 1:
                    g = g - ops.mean(g, axis=tuple(range(len(g.shape) - 1)), keepdims=True)
                centred.append(g)
            return super().apply(centred, trainable_variables)

    return GCRMSprop(learning_rate=1e-2)


def test_gradient_centralization_optimizer_subclass_in_a_custom_loop_matches_keras():
    def model(lib):
        layers = lib.layers
        return lib.Sequential(
            [layers.Input((6,)), layers.Dense(8, activation="relu"), layers.Dense(3)]
        )

    km, cm = model(keras), model(convolve)
    cm.set_weights(km.get_weights())
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 6)).astype("float32"), np.arange(8) % 3
    for m, lib in ((km, keras), (cm, convolve)):
        optimizer = _gc_rmsprop(lib)
        loss_fn = lib.losses.SparseCategoricalCrossentropy(from_logits=True)
        for _step in range(3):
            m.zero_grad()
            loss = loss_fn(y, m(x, training=True))
            loss.backward()
            grads = [v.value.grad for v in m.trainable_weights]
            with torch.no_grad():
                optimizer.apply(grads, m.trainable_weights)
    for got, expected in zip(cm.get_weights(), km.get_weights(), strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-6)
    plain = model(keras)
    plain.set_weights(model(keras).get_weights())
    assert not np.allclose(cm.get_weights()[0], plain.get_weights()[0])


# ------------------------------------------------------------------ masked image modeling
def _mae_parts(lib, patch=2, dim=8, mask_proportion=0.75):
    layers, ops = lib.layers, lib.ops

    class Patches(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.resize = layers.Reshape((-1, patch * patch * 3))

        def call(self, images):
            return self.resize(ops.image.extract_patches(images, patch))

        def reconstruct_from_patch(self, one):
            num_patches = one.shape[0]
            n = int(np.sqrt(num_patches))
            one = ops.reshape(one, (num_patches, patch, patch, 3))
            rows = [ops.concatenate(ops.unstack(r), axis=1) for r in ops.split(one, n, axis=0)]
            return ops.concatenate(rows, axis=0)

    class PatchEncoder(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.mask_token = lib.Variable(
                lib.random.normal([1, patch * patch * 3], seed=1), trainable=True
            )

        def build(self, input_shape):
            _, self.num_patches, _ = input_shape
            self.projection = layers.Dense(units=dim)
            self.position_embedding = layers.Embedding(self.num_patches, dim)
            self.num_mask = int(mask_proportion * self.num_patches)

        def call(self, patches, mask_indices, unmask_indices):
            batch_size = ops.shape(patches)[0]
            positions = ops.arange(start=0, stop=self.num_patches, step=1)
            pos = ops.tile(self.position_embedding(positions[None, ...]), [batch_size, 1, 1])
            embeddings = self.projection(patches) + pos
            unmasked = ops.take_along_axis(embeddings, unmask_indices[..., None], axis=1)
            unmasked_positions = ops.take_along_axis(pos, unmask_indices[..., None], axis=1)
            masked_positions = ops.take_along_axis(pos, mask_indices[..., None], axis=1)
            tokens = ops.repeat(self.mask_token, repeats=self.num_mask, axis=0)
            tokens = ops.repeat(tokens[None, ...], repeats=batch_size, axis=0)
            return unmasked, self.projection(tokens) + masked_positions, unmasked_positions

    return Patches(), PatchEncoder()


def test_masked_image_modeling_patches_masking_and_encoder_match_keras():
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
    results = {}
    for lib in (keras, convolve):
        patches_layer, encoder = _mae_parts(lib)
        patches = patches_layer(x)
        noise = lib.random.uniform((2, 16), seed=3)
        order = lib.ops.argsort(noise, axis=-1)
        results[lib] = patches_layer, encoder, patches, order
    kp, ke, kpatches, korder = results[keras]
    cp, ce, cpatches, corder = results[convolve]
    np.testing.assert_array_equal(_np(cpatches), _np(kpatches))
    np.testing.assert_array_equal(_np(cp.reconstruct_from_patch(cpatches[0])), x[0])
    np.testing.assert_array_equal(_np(corder), _np(korder))  # seeded draws agree
    mask, unmask = _np(korder)[:, :12], _np(korder)[:, 12:]
    kout = ke(kpatches, mask, unmask)
    cout = ce(cpatches, mask, unmask)
    assert [w.name for w in ce.weights] == [w.name for w in ke.weights]
    np.testing.assert_allclose(ce.get_weights()[0], ke.get_weights()[0], atol=1e-6)
    ce.set_weights(ke.get_weights())
    cout = ce(cpatches, mask, unmask)
    for got, expected in zip(cout, kout, strict=True):
        np.testing.assert_allclose(_np(got), _np(expected), atol=1e-5)


# --------------------------------------------------------------------------------- Zero-DCE
def _zero_dce(lib):
    layers, ops = lib.layers, lib.ops

    def build_dce_net():
        input_img = lib.Input(shape=[None, None, 3])
        conv1 = layers.Conv2D(4, 3, activation="relu", padding="same")(input_img)
        conv2 = layers.Conv2D(4, 3, activation="relu", padding="same")(conv1)
        merged = layers.Concatenate(axis=-1)([conv2, conv1])
        x_r = layers.Conv2D(9, 3, activation="tanh", padding="same")(merged)
        return lib.Model(inputs=input_img, outputs=x_r)

    def color_constancy_loss(x):
        mean_rgb = ops.mean(x, axis=(1, 2), keepdims=True)
        mr, mg, mb = mean_rgb[..., 0], mean_rgb[..., 1], mean_rgb[..., 2]
        d_rg, d_rb, d_gb = ops.square(mr - mg), ops.square(mr - mb), ops.square(mb - mg)
        return ops.sqrt(ops.square(d_rg) + ops.square(d_rb) + ops.square(d_gb))

    def exposure_loss(x, mean_val=0.6):
        x = ops.mean(x, axis=3, keepdims=True)
        mean = ops.average_pool(x, pool_size=4, strides=4, padding="valid")
        return ops.mean(ops.square(mean - mean_val))

    def illumination_smoothness_loss(x):
        h_x, w_x = ops.shape(x)[1], ops.shape(x)[2]
        count_h = ops.cast((ops.shape(x)[2] - 1) * ops.shape(x)[3], "float32")
        count_w = ops.cast(ops.shape(x)[2] * (ops.shape(x)[3] - 1), "float32")
        h_tv = ops.sum(ops.square(x[:, 1:, :, :] - x[:, : h_x - 1, :, :]))
        w_tv = ops.sum(ops.square(x[:, :, 1:, :] - x[:, :, : w_x - 1, :]))
        batch_size = ops.cast(ops.shape(x)[0], dtype="float32")
        return 2 * (h_tv / count_h + w_tv / count_w) / batch_size

    class SpatialConsistencyLoss(lib.losses.Loss):
        def __init__(self, **kwargs):
            super().__init__(reduction=None)
            taps = {
                "left": [[[[0, 0, 0]], [[-1, 1, 0]], [[0, 0, 0]]]],
                "right": [[[[0, 0, 0]], [[0, 1, -1]], [[0, 0, 0]]]],
                "up": [[[[0, -1, 0]], [[0, 1, 0]], [[0, 0, 0]]]],
                "down": [[[[0, 0, 0]], [[0, 1, 0]], [[0, -1, 0]]]],
            }
            self.kernels = [ops.convert_to_tensor(k, dtype="float32") for k in taps.values()]

        def call(self, y_true, y_pred):
            pools = [
                ops.average_pool(ops.mean(t, 3, keepdims=True), 4, 4, padding="valid")
                for t in (y_true, y_pred)
            ]
            total = 0.0
            for kernel in self.kernels:
                original, enhanced = (ops.conv(p, kernel, 1, padding="same") for p in pools)
                total = total + ops.square(original - enhanced)
            return total

    class ZeroDCE(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dce_model = build_dce_net()

        def compile(self, learning_rate, **kwargs):
            super().compile(**kwargs)
            self.optimizer = lib.optimizers.Adam(learning_rate=learning_rate)
            self.spatial_constancy_loss = SpatialConsistencyLoss(reduction="none")
            names = ("total_loss", "illumination_smoothness_loss", "spatial_constancy_loss",
                     "color_constancy_loss", "exposure_loss")  # fmt: skip
            self.trackers = [lib.metrics.Mean(name=n) for n in names]

        @property
        def metrics(self):
            return self.trackers

        def get_enhanced_image(self, data, output):
            x = data
            for i in range(3):
                r = output[:, :, :, 3 * i : 3 * i + 3]
                x = x + r * (ops.square(x) - x)
            return x

        def call(self, data):
            return self.get_enhanced_image(data, self.dce_model(data))

        def compute_losses(self, data, output):
            enhanced = self.get_enhanced_image(data, output)
            parts = [
                200 * illumination_smoothness_loss(output),
                ops.mean(self.spatial_constancy_loss(enhanced, data)),
                5 * ops.mean(color_constancy_loss(enhanced)),
                10 * ops.mean(exposure_loss(enhanced)),
            ]
            return [parts[0] + parts[1] + parts[2] + parts[3], *parts]

        def _track(self, losses):
            for tracker, value in zip(self.trackers, losses, strict=True):
                tracker.update_state(value)
            return {m.name: m.result() for m in self.metrics}

        def train_step(self, data):
            self.zero_grad()
            losses = self.compute_losses(data, self.dce_model(data, training=True))
            losses[0].backward()
            trainable_weights = list(self.dce_model.trainable_weights)
            gradients = [v.value.grad for v in trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_weights)
            return self._track(losses)

        def test_step(self, data):
            return self._track(self.compute_losses(data, self.dce_model(data)))

    return ZeroDCE()


def test_zero_dce_torch_style_train_step_matches_keras():
    km, cm = _zero_dce(keras), _zero_dce(convolve)
    x = np.random.default_rng(0).random((4, 8, 8, 3)).astype("float32")
    for m in (km, cm):
        m.compile(learning_rate=1e-3)
        m(x)
    assert cm.count_params() == km.count_params()
    cm.set_weights(km.get_weights())
    np.testing.assert_allclose(_np(cm(x)), _np(km(x)), atol=1e-5)
    kwargs = {"batch_size": 2, "epochs": 2, "verbose": 0, "shuffle": False}
    hk = km.fit(x, validation_data=(x,), **kwargs).history
    hc = cm.fit(x, validation_data=(x,), **kwargs).history
    _assert_histories(hc, hk)


# ----------------------------------------------------------- monocular depth estimation
def _depth_loss(lib, target, pred, ssim_w=0.85, l1_w=0.1, edge_w=0.9):
    ops = lib.ops

    def image_gradients(image):
        dy = ops.pad(image[:, 1:, :, :] - image[:, :-1, :, :], [[0, 0], [0, 1], [0, 0], [0, 0]])
        dx = ops.pad(image[:, :, 1:, :] - image[:, :, :-1, :], [[0, 0], [0, 0], [0, 1], [0, 0]])
        return dy, dx

    dy_true, dx_true = image_gradients(target)
    dy_pred, dx_pred = image_gradients(pred)
    weights_x = ops.cast(ops.exp(ops.mean(ops.abs(dx_true))), "float32")
    weights_y = ops.cast(ops.exp(ops.mean(ops.abs(dy_true))), "float32")
    smoothness = ops.mean(abs(dx_pred * weights_x)) + ops.mean(abs(dy_pred * weights_y))
    ssim = ops.image.ssim(target, pred, max_val=8, filter_size=7, k1=0.01**2, k2=0.03**2)
    ssim_loss = ops.mean(1 - ssim)
    l1_loss = ops.mean(ops.abs(target - pred))
    return ssim_w * ssim_loss + l1_w * l1_loss + edge_w * smoothness


def test_depth_estimation_loss_from_ops_matches_keras():
    rng = np.random.default_rng(0)
    target = rng.random((2, 16, 16, 1)).astype("float32") * 8
    pred = rng.random((2, 16, 16, 1)).astype("float32") * 8
    expected = _np(_depth_loss(keras, *map(keras.ops.convert_to_tensor, (target, pred))))
    got = _np(_depth_loss(convolve, *map(convolve.ops.convert_to_tensor, (target, pred))))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs", [{}, {"max_val": 255.0}, {"filter_size": 3, "filter_sigma": 0.5}]
)
def test_ssim_matches_keras(kwargs):
    rng = np.random.default_rng(1)
    a, b = rng.random((2, 12, 12, 3)).astype("float32"), rng.random((2, 12, 12, 3)).astype("f4")
    expected = _np(keras.ops.image.ssim(a, b, **kwargs))
    np.testing.assert_allclose(_np(convolve.ops.image.ssim(a, b, **kwargs)), expected, atol=1e-6)
    np.testing.assert_allclose(
        _np(convolve.ops.image.ssim(a[0], b[0], **kwargs)),
        _np(keras.ops.image.ssim(a[0], b[0], **kwargs)),
        atol=1e-6,
    )
