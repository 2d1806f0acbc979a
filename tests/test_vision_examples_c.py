"""Parity with Keras for more vision examples' building blocks, at small sizes: Vision
Transformer, Compact Convolutional Transformer, Involution, PointNet, 3D CT classification,
Siamese network, supervised contrastive loss, captcha OCR (CTC), MixUp/CutMix and EfficientNet
fine-tuning. Same weights in both libraries; outputs within atol 1e-5, fit losses within
rtol 1e-4 unless stated."""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
from keras_compare import fit_both as _fit_both
from keras_compare import fresh_names  # noqa: F401  (the fixture the tests use)
from keras_compare import to_numpy as _np

import convolve

pytestmark = [pytest.mark.parity, pytest.mark.usefixtures("fresh_names")]


# --------------------------------------------------------------------- Vision Transformer
def _vit(lib, image_size=8, patch_size=4, dim=8):
    layers, ops = lib.layers, lib.ops
    num_patches = (image_size // patch_size) ** 2

    class Patches(layers.Layer):
        def __init__(self, patch_size, **kwargs):
            super().__init__(**kwargs)
            self.patch_size = patch_size

        def call(self, images):
            shape = ops.shape(images)
            n = (shape[1] // self.patch_size) * (shape[2] // self.patch_size)
            patches = lib.ops.image.extract_patches(images, size=self.patch_size)
            return ops.reshape(patches, (shape[0], n, self.patch_size**2 * shape[3]))

    class PatchEncoder(layers.Layer):
        def __init__(self, num_patches, projection_dim, **kwargs):
            super().__init__(**kwargs)
            self.num_patches = num_patches
            self.projection = layers.Dense(units=projection_dim)
            self.position_embedding = layers.Embedding(num_patches, projection_dim)

        def call(self, patch):
            positions = ops.expand_dims(ops.arange(start=0, stop=self.num_patches, step=1), 0)
            return self.projection(patch) + self.position_embedding(positions)

    inputs = lib.Input((image_size, image_size, 3))
    encoded = PatchEncoder(num_patches, dim)(Patches(patch_size)(inputs))
    x1 = layers.LayerNormalization(epsilon=1e-6)(encoded)
    attention = layers.MultiHeadAttention(num_heads=2, key_dim=dim, dropout=0.0)(x1, x1)
    x2 = layers.Add()([attention, encoded])
    x3 = layers.LayerNormalization(epsilon=1e-6)(x2)
    x3 = layers.Dense(dim, activation=lib.activations.gelu)(x3)
    encoded = layers.Add()([x3, x2])
    x = layers.Flatten()(layers.LayerNormalization(epsilon=1e-6)(encoded))
    return lib.Model(inputs, layers.Dense(5)(x))


def test_vit_patches_encoder_outputs_and_training_match_keras():
    km, cm = _vit(keras), _vit(convolve)
    assert cm.count_params() == km.count_params()
    assert cm.output_shape == km.output_shape == (None, 5)
    cm.set_weights(km.get_weights())
    x = np.random.default_rng(1).random((4, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(_np(cm(x)), _np(km(x)), atol=1e-5)
    for m, lib in ((km, keras), (cm, convolve)):
        m.compile(
            optimizer=lib.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-4),
            loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[lib.metrics.SparseTopKCategoricalAccuracy(5, name="top-5-accuracy")],
        )
    hk, hc = _fit_both(km, cm, x, np.arange(4) % 5, batch_size=2, epochs=2)
    np.testing.assert_allclose(hc["loss"], hk["loss"], rtol=1e-4)
    assert hc["top-5-accuracy"] == hk["top-5-accuracy"]


@pytest.mark.parametrize(
    "kwargs",
    [{"size": 4}, {"size": (2, 2), "strides": (3, 3), "padding": "same"}, {"size": 3}],
)
def test_extract_patches_matches_keras(kwargs):
    x = np.random.default_rng(2).random((2, 8, 8, 3)).astype("float32")
    expected = _np(keras.ops.image.extract_patches(x, **kwargs))
    got = _np(convolve.ops.image.extract_patches(x, **kwargs))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=0)


# ------------------------------------------------------- Compact Convolutional Transformer
def _cct(lib, image_size=16, dim=8):
    layers, ops = lib.layers, lib.ops

    class CCTTokenizer(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv_model = lib.Sequential()
            for filters in (8, dim):
                self.conv_model.add(
                    layers.Conv2D(filters, 3, 1, padding="valid", use_bias=False,
                                  activation="relu", kernel_initializer="he_normal")
                )  # fmt: skip
                self.conv_model.add(layers.ZeroPadding2D(1))
                self.conv_model.add(layers.MaxPooling2D(3, 2, "same"))

        def call(self, images):
            out = self.conv_model(images)
            shape = ops.shape(out)
            return ops.reshape(out, (-1, shape[1] * shape[2], shape[-1]))

    class StochasticDepth(layers.Layer):
        def __init__(self, drop_prop, **kwargs):
            super().__init__(**kwargs)
            self.drop_prob = drop_prop
            self.seed_generator = lib.random.SeedGenerator(1337)

        def call(self, x, training=None):
            if training:
                keep_prob = 1 - self.drop_prob
                shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
                random_tensor = keep_prob + lib.random.uniform(
                    shape, 0, 1, seed=self.seed_generator
                )
                return (x / keep_prob) * ops.floor(random_tensor)
            return x

    class SequencePooling(layers.Layer):
        def __init__(self):
            super().__init__()
            self.attention = layers.Dense(1)

        def call(self, x):
            weights = ops.transpose(ops.softmax(self.attention(x), axis=1), axes=(0, 2, 1))
            return ops.squeeze(ops.matmul(weights, x), -2)

    inputs = layers.Input((image_size, image_size, 3))
    encoded = CCTTokenizer()(layers.Rescaling(scale=1.0 / 255)(inputs))
    x1 = layers.LayerNormalization(epsilon=1e-5)(encoded)
    attention = layers.MultiHeadAttention(num_heads=2, key_dim=dim, dropout=0.0)(x1, x1)
    x2 = layers.Add()([StochasticDepth(0.1)(attention), encoded])
    x3 = layers.Dense(dim, activation=ops.gelu)(layers.LayerNormalization(epsilon=1e-5)(x2))
    encoded = layers.Add()([StochasticDepth(0.1)(x3), x2])
    pooled = SequencePooling()(layers.LayerNormalization(epsilon=1e-5)(encoded))
    return lib.Model(inputs, layers.Dense(6)(pooled))


def test_cct_tokenizer_sequence_pooling_outputs_and_training_match_keras():
    km, cm = _cct(keras), _cct(convolve)
    assert cm.count_params() == km.count_params()
    cm.set_weights(km.get_weights())
    x = np.random.default_rng(1).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(_np(cm(x, training=False)), _np(km(x, training=False)), atol=1e-5)
    # Stochastic depth draws from a seeded generator in training: not compared step by step.
    y = keras.utils.to_categorical(np.arange(4) % 6, 6)
    for m, lib in ((km, keras), (cm, convolve)):
        m.compile(
            optimizer="adam",
            loss=lib.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        )
    np.testing.assert_allclose(
        cm.evaluate(x, y, verbose=0), km.evaluate(x, y, verbose=0), rtol=1e-5
    )
    hc = cm.fit(x, y, batch_size=2, epochs=1, verbose=0).history
    assert np.isfinite(hc["loss"]).all()


# ------------------------------------------------------------------------------ Involution
def _involution_model(lib):
    layers, ops = lib.layers, lib.ops

    class Involution(layers.Layer):
        def __init__(self, channel, kernel_size, stride, reduction_ratio, **kwargs):
            super().__init__(**kwargs)
            self.channel, self.kernel_size = channel, kernel_size
            self.stride, self.reduction_ratio = stride, reduction_ratio

        def build(self, input_shape):
            _, height, width, channels = input_shape
            height, width, k = height // self.stride, width // self.stride, self.kernel_size
            self.stride_layer = (
                layers.AveragePooling2D(self.stride, self.stride, padding="same")
                if self.stride > 1
                else lambda x: x
            )
            self.kernel_gen = lib.Sequential(
                [
                    layers.Conv2D(self.channel // self.reduction_ratio, 1),
                    layers.BatchNormalization(),
                    layers.ReLU(),
                    layers.Conv2D(k * k, 1),
                ]
            )
            self.kernel_reshape = layers.Reshape((height, width, k * k, 1, 1))
            self.input_patches_reshape = layers.Reshape((height, width, k * k, channels, 1))
            self.output_reshape = layers.Reshape((height, width, channels))

        def call(self, x):
            kernel = self.kernel_reshape(self.kernel_gen(self.stride_layer(x)))
            patches = lib.ops.image.extract_patches(
                x, size=self.kernel_size, strides=self.stride, dilation_rate=1, padding="same"
            )
            patches = self.input_patches_reshape(patches)
            output = ops.sum(ops.multiply(kernel, patches), axis=3)
            return self.output_reshape(output), kernel

    inputs = lib.Input((8, 8, 3))
    x, _ = Involution(channel=3, kernel_size=3, stride=1, reduction_ratio=2, name="inv_1")(inputs)
    x = layers.MaxPooling2D((2, 2))(layers.ReLU()(x))
    x, _ = Involution(channel=3, kernel_size=3, stride=2, reduction_ratio=2, name="inv_2")(x)
    x = layers.Dense(8, activation="relu")(layers.Flatten()(layers.ReLU()(x)))
    return lib.Model(inputs=inputs, outputs=layers.Dense(4)(x), name="inv_model")


def test_involution_shapes_outputs_and_training_match_keras():
    km, cm = _involution_model(keras), _involution_model(convolve)
    for name in ("inv_1", "inv_2"):
        k_shapes = [tuple(t.shape) for t in km.get_layer(name).output]
        assert [tuple(t.shape) for t in cm.get_layer(name).output] == k_shapes
    assert cm.count_params() == km.count_params()
    cm.set_weights(km.get_weights())
    x = np.random.default_rng(1).random((4, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(_np(cm(x)), _np(km(x)), atol=1e-5)
    for m, lib in ((km, keras), (cm, convolve)):
        m.compile(
            optimizer="adam",
            loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    hk, hc = _fit_both(km, cm, x, np.arange(4) % 4, batch_size=2, epochs=2)
    np.testing.assert_allclose(hc["loss"], hk["loss"], rtol=1e-4)
    # (The kernel generator's conv bias feeds a BatchNormalization: its gradient is float
    # noise, which Adam scales to full steps, so weights are compared through the outputs.)
    np.testing.assert_allclose(cm.predict(x, verbose=0), km.predict(x, verbose=0), atol=1e-4)


# -------------------------------------------------------------------------------- PointNet
def _pointnet(lib, points=16, classes=3):
    layers, ops = lib.layers, lib.ops

    class OrthogonalRegularizer(lib.regularizers.Regularizer):
        def __init__(self, num_features, l2reg=0.001):
            self.num_features, self.l2reg = num_features, l2reg
            self.eye = ops.eye(num_features)

        def __call__(self, x):
            x = ops.reshape(x, (-1, self.num_features, self.num_features))
            xxt = ops.tensordot(x, x, axes=(2, 2))
            xxt = ops.reshape(xxt, (-1, self.num_features, self.num_features))
            return ops.sum(self.l2reg * ops.square(xxt - self.eye))

    def conv_bn(x, filters):
        x = layers.Conv1D(filters, kernel_size=1, padding="valid")(x)
        return layers.Activation("relu")(layers.BatchNormalization(momentum=0.0)(x))

    def tnet(inputs, n):
        x = layers.GlobalMaxPooling1D()(conv_bn(conv_bn(inputs, 4), 8))
        x = layers.Activation("relu")(layers.BatchNormalization(momentum=0.0)(layers.Dense(8)(x)))
        x = layers.Dense(
            n * n,
            kernel_initializer="zeros",
            bias_initializer=lib.initializers.Constant(np.eye(n).flatten()),
            activity_regularizer=OrthogonalRegularizer(n),
        )(x)
        return layers.Dot(axes=(2, 1))([inputs, layers.Reshape((n, n))(x)])

    inputs = lib.Input((points, 3))
    x = tnet(inputs, 3)
    x = tnet(conv_bn(x, 4), 4)
    x = layers.GlobalMaxPooling1D()(conv_bn(x, 8))
    outputs = layers.Dense(classes, activation="softmax")(layers.Dense(8)(x))
    return lib.Model(inputs=inputs, outputs=outputs, name="pointnet")


def test_pointnet_tnet_regularizer_losses_and_training_match_keras():
    km, cm = _pointnet(keras), _pointnet(convolve)
    assert cm.count_params() == km.count_params()
    # The T-net's bias starts at the flattened identity (a Constant array initializer).
    k_bias, c_bias = (
        next(layer for layer in m.layers if layer.activity_regularizer is not None).get_weights()[1]
        for m in (km, cm)
    )
    np.testing.assert_array_equal(c_bias, k_bias)
    cm.set_weights(km.get_weights())
    x = np.random.default_rng(1).random((4, 16, 3)).astype("float32")
    np.testing.assert_allclose(_np(cm(x)), _np(km(x)), atol=1e-5)
    np.testing.assert_allclose(
        [float(_np(v)) for v in cm.losses], [float(_np(v)) for v in km.losses], rtol=1e-5
    )
    y = np.arange(4) % 3
    for m, lib in ((km, keras), (cm, convolve)):
        m.compile(
            loss="sparse_categorical_crossentropy",
            optimizer=lib.optimizers.Adam(learning_rate=0.001),
            metrics=["sparse_categorical_accuracy"],
        )
    np.testing.assert_allclose(
        cm.evaluate(x, y, verbose=0), km.evaluate(x, y, verbose=0), rtol=1e-5
    )
    hk, hc = _fit_both(km, cm, x, y, batch_size=2, epochs=2)
    np.testing.assert_allclose(hc["loss"], hk["loss"], rtol=1e-4)


def test_a_user_regularizer_without_get_config_refuses_like_keras():
    errors = {}
    for lib in (keras, convolve):

        class Penalty(lib.regularizers.Regularizer):
            def __call__(self, x):
                return x.sum() * 0.0

        dense = lib.layers.Dense(2, activity_regularizer=Penalty())
        with pytest.raises(NotImplementedError, match="does not implement get_config") as info:
            dense.get_config()
        errors[lib.__name__] = type(info.value)
        with pytest.raises(NotImplementedError):
            Penalty().get_config()
    assert errors["convolve"] is errors["keras"]


@pytest.mark.parametrize(
    "value", [np.eye(2).flatten(), [1.0, 2.0], 3, 0.5, np.float32(2.0), np.arange(3)]
)
def test_constant_initializer_arrays_values_and_configs_match_keras(value):
    theirs, ours = keras.initializers.Constant(value), convolve.initializers.Constant(value)
    assert ours.get_config() == theirs.get_config()
    shape = (2, np.size(value)) if np.ndim(value) else (2, 3)
    np.testing.assert_array_equal(_np(ours(shape)), _np(theirs(shape, dtype="float32")))
    for lib in (keras, convolve):
        layer = lib.layers.Dense(np.size(value) if np.ndim(value) else 3, bias_initializer=(
            lib.initializers.Constant(value)))  # fmt: skip
        config = json.loads(json.dumps(layer.get_config()))["bias_initializer"]
        rebuilt = lib.layers.Dense.from_config(
            json.loads(json.dumps(layer.get_config()))
        ).bias_initializer
        np.testing.assert_array_equal(np.asarray(rebuilt.value), np.asarray(value))
        assert config["config"] == json.loads(json.dumps(theirs.get_config()))
    # A Keras layer config with an array constant builds the same convolve layer.
    k_dense = keras.layers.Dense(np.size(value) if np.ndim(value) else 3, bias_initializer=theirs)
    k_config = json.loads(json.dumps(k_dense.get_config()))
    k_config["dtype"] = "float32"  # (a Keras dtype-policy entry is read by model loading)
    c_dense = convolve.layers.Dense.from_config(k_config)
    c_dense.build((None, 2))
    k_dense.build((None, 2))
    np.testing.assert_array_equal(c_dense.get_weights()[1], k_dense.get_weights()[1])


def test_constant_initializer_bad_values_raise_one_clear_error():
    with pytest.raises(ValueError, match=r"Constant.*value='a'"):
        convolve.initializers.Constant("a")((2,))
    with pytest.raises(ValueError, match=r"Constant.*cannot be broadcast.*\(2, 2\)"):
        convolve.initializers.Constant([1.0, 2.0, 3.0])((2, 2))


# ----------------------------------------------------------------- 3D CT scan classification
def _ct_model(lib, size=8):
    layers = lib.layers
    inputs = lib.Input((size, size, size, 1))
    x = layers.Conv3D(filters=4, kernel_size=3, activation="relu")(inputs)
    x = layers.BatchNormalization()(layers.MaxPool3D(pool_size=2)(x))
    x = layers.Conv3D(filters=4, kernel_size=2, activation="relu", padding="same")(x)
    x = layers.BatchNormalization()(layers.MaxPool3D(pool_size=2)(x))
    x = layers.Dense(units=8, activation="relu")(layers.GlobalAveragePooling3D()(x))
    outputs = layers.Dense(units=1, activation="sigmoid")(layers.Dropout(0.0)(x))
    return lib.Model(inputs, outputs, name="3dcnn")


def test_ct_scan_3d_cnn_outputs_training_and_files_match_keras(tmp_path):
    km, cm = _ct_model(keras), _ct_model(convolve)
    assert cm.count_params() == km.count_params() == 325
    cm.set_weights(km.get_weights())
    x = np.random.default_rng(1).random((4, 8, 8, 8, 1)).astype("float32")
    y = np.array([0, 1, 0, 1], "float32")
    np.testing.assert_allclose(cm.predict(x, verbose=0), km.predict(x, verbose=0), atol=1e-5)
    for m, lib in ((km, keras), (cm, convolve)):
        schedule = lib.optimizers.schedules.ExponentialDecay(
            1e-4, decay_steps=2, decay_rate=0.96, staircase=True
        )
        m.compile(
            loss="binary_crossentropy", optimizer=lib.optimizers.Adam(schedule), metrics=["acc"]
        )
    hk, hc = _fit_both(km, cm, x, y, batch_size=2, epochs=2, validation_data=(x, y))
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(hc[key], hk[key], rtol=1e-4)
    assert hc["acc"] == hk["acc"]
    cm.save(tmp_path / "ct.keras")
    back = keras.models.load_model(tmp_path / "ct.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0), cm.predict(x, verbose=0), atol=1e-5)


# ------------------------------------------------------------------------ Siamese network
def _siamese(lib, size=12):
    layers, ops = lib.layers, lib.ops

    def euclidean_distance(vects):
        x, y = vects
        sum_square = ops.sum(ops.square(x - y), axis=1, keepdims=True)
        return ops.sqrt(ops.maximum(sum_square, lib.backend.epsilon()))

    inputs = layers.Input((size, size, 1))
    x = layers.BatchNormalization()(inputs)
    x = layers.AveragePooling2D((2, 2))(layers.Conv2D(4, (3, 3), activation="tanh")(x))
    x = layers.AveragePooling2D((2, 2))(layers.Conv2D(8, (3, 3), activation="tanh")(x))
    x = layers.BatchNormalization()(layers.Flatten()(x))
    embedding = lib.Model(inputs, layers.Dense(10, activation="tanh")(x))
    a, b = layers.Input((size, size, 1)), layers.Input((size, size, 1))
    merged = layers.Lambda(euclidean_distance, output_shape=(1,))([embedding(a), embedding(b)])
    outputs = layers.Dense(1, activation="sigmoid")(layers.BatchNormalization()(merged))
    return lib.Model(inputs=[a, b], outputs=outputs)


def _contrastive_loss(lib, margin=1):
    ops = lib.ops

    def contrastive_loss(y_true, y_pred):
        square_pred = ops.square(y_pred)
        margin_square = ops.square(ops.maximum(margin - y_pred, 0))
        return ops.mean((1 - y_true) * square_pred + y_true * margin_square)

    return contrastive_loss


def test_siamese_lambda_distance_and_contrastive_loss_closure_train_like_keras():
    km, cm = _siamese(keras), _siamese(convolve)
    assert cm.count_params() == km.count_params()
    cm.set_weights(km.get_weights())
    rng = np.random.default_rng(1)
    pair = [rng.random((8, 12, 12, 1)).astype("float32") for _ in range(2)]
    y = (np.arange(8) % 2).astype("float32")
    np.testing.assert_allclose(_np(cm(pair)), _np(km(pair)), atol=1e-5)
    for m, lib in ((km, keras), (cm, convolve)):
        m.compile(loss=_contrastive_loss(lib), optimizer="RMSprop", metrics=["accuracy"])
    hk, hc = _fit_both(km, cm, pair, y, batch_size=4, epochs=2, validation_data=(pair, y))
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(hc[key], hk[key], rtol=1e-4)
    assert hc["val_accuracy"] == hk["val_accuracy"]


# ------------------------------------------------------------ Supervised contrastive loss
def _supcon_loss(lib, temperature):
    ops = lib.ops

    class SupervisedContrastiveLoss(lib.losses.Loss):
        def __init__(self, temperature=1, name=None):
            super().__init__(name=name)
            self.temperature = temperature

        def __call__(self, labels, feature_vectors, sample_weight=None):
            normalized = lib.utils.normalize(feature_vectors, axis=1, order=2)
            logits = ops.divide(ops.matmul(normalized, ops.transpose(normalized)), self.temperature)
            labels = ops.reshape(labels, (-1, 1))
            targets = ops.cast(ops.equal(labels, ops.transpose(labels)), logits.dtype)
            targets = targets / ops.sum(targets, axis=1, keepdims=True)
            return ops.mean(lib.losses.categorical_crossentropy(targets, logits, from_logits=True))

    return SupervisedContrastiveLoss(temperature)


def _projection_model(lib):
    layers = lib.layers
    inputs = lib.Input((8, 8, 3))
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3, activation="relu")(inputs))
    encoder = lib.Model(inputs, x, name="encoder")
    outer = lib.Input((8, 8, 3))
    return encoder, lib.Model(outer, layers.Dense(6, activation="relu")(encoder(outer)))


def test_supervised_contrastive_loss_subclass_trains_like_keras_then_frozen_encoder():
    (k_enc, km), (c_enc, cm) = _projection_model(keras), _projection_model(convolve)
    cm.set_weights(km.get_weights())
    rng = np.random.default_rng(1)
    x, y = rng.random((6, 8, 8, 3)).astype("float32"), np.arange(6) % 3
    features = rng.random((6, 5)).astype("float32")
    expected = float(_np(_supcon_loss(keras, 0.05)(y, features)))
    assert float(_np(_supcon_loss(convolve, 0.05)(y, features))) == pytest.approx(
        expected, rel=1e-6
    )
    for m, lib in ((km, keras), (cm, convolve)):
        m.compile(optimizer=lib.optimizers.Adam(0.001), loss=_supcon_loss(lib, 0.05))
    hk, hc = _fit_both(km, cm, x, y, batch_size=6, epochs=2)
    np.testing.assert_allclose(hc["loss"], hk["loss"], rtol=1e-4)
    counts = {}
    for enc, lib in ((k_enc, keras), (c_enc, convolve)):
        for layer in enc.layers:
            layer.trainable = False
        inputs = lib.Input((8, 8, 3))
        out = lib.layers.Dense(3, activation="softmax")(lib.layers.Dropout(0.5)(enc(inputs)))
        clf = lib.Model(inputs, out)
        counts[lib.__name__] = (len(clf.trainable_weights), len(clf.non_trainable_weights))
    assert counts["convolve"] == counts["keras"] == (2, 2)


# ----------------------------------------------------------------------------- Captcha OCR
_CHARS = sorted(set("ab12c"))


def _ocr(lib, width=16, height=8):
    layers, ops = lib.layers, lib.ops
    char_to_num = layers.StringLookup(vocabulary=list(_CHARS), mask_token=None)
    num_to_char = layers.StringLookup(
        vocabulary=char_to_num.get_vocabulary(), mask_token=None, invert=True
    )
    classes = len(char_to_num.get_vocabulary()) + 1

    class CTCLayer(layers.Layer):
        # Called on a list: a layer called on two symbolic positional arguments is not
        # supported by the functional API here.
        def call(self, inputs):
            y_true, y_pred = inputs
            batch = ops.shape(y_true)[0]
            input_length = ops.shape(y_pred)[1] * ops.ones((batch,), dtype="int32")
            label_length = ops.shape(y_true)[1] * ops.ones((batch,), dtype="int32")
            loss = ops.ctc_loss(
                ops.cast(y_true, "int32"), y_pred, label_length, input_length,
                mask_index=classes - 1,
            )  # fmt: skip
            self.add_loss(ops.mean(loss))
            return y_pred

    image = layers.Input(shape=(width, height, 1), name="image", dtype="float32")
    labels = layers.Input(name="label", shape=(None,), dtype="float32")
    x = layers.Conv2D(4, 3, activation="relu", padding="same", name="Conv1")(image)
    x = layers.MaxPooling2D((2, 2), name="pool1")(x)
    x = layers.Conv2D(4, 3, activation="relu", padding="same", name="Conv2")(x)
    x = layers.MaxPooling2D((2, 2), name="pool2")(x)
    x = layers.Reshape(target_shape=(width // 4, (height // 4) * 4), name="reshape")(x)
    x = layers.Dense(8, activation="relu", name="dense1")(x)
    x = layers.Bidirectional(layers.LSTM(8, return_sequences=True))(x)
    x = layers.Dense(classes, activation="softmax", name="dense2")(x)
    model = lib.Model([image, labels], CTCLayer(name="ctc_loss")([labels, x]), name="ocr")
    model.compile(optimizer=lib.optimizers.Adam())
    return model, char_to_num, num_to_char


def test_captcha_ocr_ctc_training_and_decoding_match_keras():
    (km, k_lookup, k_invert), (cm, c_lookup, c_invert) = _ocr(keras), _ocr(convolve)
    assert c_lookup.get_vocabulary() == k_lookup.get_vocabulary()
    assert c_invert.get_vocabulary() == k_invert.get_vocabulary()
    words = np.array([list("ab1"), list("c21"), list("12a"), list("bbc")])
    labels = _np(c_lookup(words))
    np.testing.assert_array_equal(labels, _np(k_lookup(words)))
    assert cm.count_params() == km.count_params()
    cm.set_weights(km.get_weights())
    x = np.random.default_rng(0).random((4, 16, 8, 1)).astype("float32")
    data = {"image": x, "label": labels.astype("float32")}
    assert cm.evaluate(data, verbose=0) == pytest.approx(km.evaluate(data, verbose=0), rel=1e-5)
    hk = km.fit(data, batch_size=2, epochs=2, shuffle=False, verbose=0).history
    hc = cm.fit(data, batch_size=2, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(hc["loss"], hk["loss"], rtol=1e-4)
    decoded = {}
    for lib, model, invert in ((keras, km, k_invert), (convolve, cm, c_invert)):
        predictor = lib.Model(model.input[0], model.get_layer(name="dense2").output)
        pred = predictor.predict(x, verbose=0)
        lengths = np.ones(pred.shape[0]) * pred.shape[1]
        for strategy in ("greedy", "beam_search"):
            paths, scores = lib.ops.nn.ctc_decode(
                pred, sequence_lengths=lengths, strategy=strategy, mask_index=len(_CHARS) + 1
            )
            best = _np(paths)[0][:, :3]
            texts = ["".join(str(c) for c in invert(row)) for row in np.maximum(best, 0)]
            decoded[lib.__name__, strategy] = (best, _np(scores), texts)
    for strategy in ("greedy", "beam_search"):
        k_best, k_scores, k_texts = decoded["keras", strategy]
        c_best, c_scores, c_texts = decoded["convolve", strategy]
        np.testing.assert_array_equal(c_best, k_best)
        np.testing.assert_allclose(c_scores, k_scores, rtol=1e-4, atol=1e-5)
        assert c_texts == k_texts


def test_ctc_loss_class_and_function_match_keras():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 6, 5)).astype("float32")
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    y_true = np.array([[1, 2, 0], [3, 3, 1], [4, 0, 0]], "int32")
    for fn in (
        lambda lib: lib.losses.CTC()(y_true, probs),
        lambda lib: lib.losses.ctc(y_true, probs),
    ):
        np.testing.assert_allclose(_np(fn(convolve)), _np(fn(keras)), rtol=1e-5)
    assert convolve.losses.CTC().get_config() == keras.losses.CTC().get_config()


# ---------------------------------------------------------------------------- MixUp, CutMix
@pytest.mark.parametrize(
    ("name", "kwargs"), [("MixUp", {"alpha": 0.2}), ("CutMix", {"factor": 1.0})]
)
def test_mixup_cutmix_contract_matches_keras(name, kwargs):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (4, 8, 8, 3)).astype("float32")
    y = keras.utils.to_categorical(np.arange(4) % 3, 3).astype("float32")
    k_layer = getattr(keras.layers, name)(seed=1, **kwargs)
    c_layer = getattr(convolve.layers, name)(seed=1, **kwargs)
    k_config, c_config = k_layer.get_config(), c_layer.get_config()
    for key in k_config:
        if key != "dtype":
            assert c_config[key] == k_config[key], key
    for training in (True, False):
        k_out = k_layer({"images": x, "labels": y}, training=training)
        c_out = c_layer({"images": x, "labels": y}, training=training)
        assert set(c_out) == set(k_out) == {"images", "labels"}
        for key in k_out:
            assert _np(c_out[key]).shape == _np(k_out[key]).shape
            assert _np(c_out[key]).dtype == _np(k_out[key]).dtype
    # At inference both return their inputs; in training labels stay distributions.
    out = c_layer({"images": x, "labels": y}, training=False)
    np.testing.assert_array_equal(_np(out["images"]), x)
    np.testing.assert_array_equal(_np(out["labels"]), y)
    out = c_layer({"images": x, "labels": y}, training=True)
    np.testing.assert_allclose(_np(out["labels"]).sum(axis=1), 1.0, rtol=1e-5)
    assert _np(c_layer(x, training=True)).shape == x.shape


# -------------------------------------------------------------- EfficientNet fine-tuning
def _finetune_model(lib, base_fn, inputs_shape):
    layers = lib.layers
    inputs = layers.Input(shape=inputs_shape)
    base = base_fn(lib, inputs)
    base.trainable = False
    x = layers.GlobalAveragePooling2D(name="avg_pool")(base.output)
    x = layers.BatchNormalization()(x)
    x = layers.Dropout(0.2, name="top_dropout")(x)
    outputs = layers.Dense(3, activation="softmax", name="pred")(x)
    model = lib.Model(inputs, outputs, name="EfficientNet")
    model.compile(optimizer=lib.optimizers.Adam(1e-2), loss="categorical_crossentropy")
    return model


def _unfreeze(lib, model, last):
    for layer in model.layers[-last:]:
        if not isinstance(layer, lib.layers.BatchNormalization):
            layer.trainable = True
    model.compile(optimizer=lib.optimizers.Adam(1e-5), loss="categorical_crossentropy")


def _trainable_summary(model, lib):
    frozen_bn = [
        layer.name
        for layer in model.layers
        if isinstance(layer, lib.layers.BatchNormalization) and not layer.trainable
    ]
    count = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return len(model.layers), len(model.trainable_weights), count, frozen_bn


def _small_base(lib, inputs):
    layers = lib.layers
    x = layers.Conv2D(4, 3, name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.Conv2D(4, 1, name="top_conv")(layers.Activation("swish")(x))
    x = layers.BatchNormalization(name="top_bn")(x)
    return lib.Model(inputs, layers.Activation("swish", name="top_activation")(x))


def test_fine_tuning_freeze_then_unfreeze_all_but_batchnorm_matches_keras():
    km = _finetune_model(keras, _small_base, (8, 8, 3))
    cm = _finetune_model(convolve, _small_base, (8, 8, 3))
    assert _trainable_summary(cm, convolve) == _trainable_summary(km, keras)
    cm.set_weights(km.get_weights())
    for m, lib in ((km, keras), (cm, convolve)):
        _unfreeze(lib, m, 5)
    assert _trainable_summary(cm, convolve) == _trainable_summary(km, keras)
    assert _trainable_summary(cm, convolve)[3] == ["stem_bn", "top_bn"]
    x = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(cm.predict(x, verbose=0), km.predict(x, verbose=0), atol=1e-5)


@pytest.mark.slow
def test_efficientnet_b0_fine_tuning_counts_and_outputs_match_keras():
    def base(lib, inputs):
        return lib.applications.EfficientNetB0(include_top=False, input_tensor=inputs, weights=None)

    km = _finetune_model(keras, base, (32, 32, 3))
    cm = _finetune_model(convolve, base, (32, 32, 3))
    assert [layer.name for layer in cm.layers] == [layer.name for layer in km.layers]
    assert _trainable_summary(cm, convolve) == _trainable_summary(km, keras)
    assert cm.count_params() == km.count_params()
    cm.set_weights(km.get_weights())
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(cm.predict(x, verbose=0), km.predict(x, verbose=0), atol=1e-5)
    for m, lib in ((km, keras), (cm, convolve)):
        _unfreeze(lib, m, 20)
    assert _trainable_summary(cm, convolve) == _trainable_summary(km, keras)
    top = {
        lib.__name__: lib.applications.EfficientNetB0(
            include_top=True, weights=None, classes=3, input_shape=(32, 32, 3)
        ).count_params()
        for lib in (keras, convolve)
    }
    assert top["convolve"] == top["keras"]
