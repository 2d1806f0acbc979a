"""Parity with Keras for vision programs that go beyond classifiers, at small sizes: a U-Net-like
segmentation model with IoU metrics and `ignore_class`, a denoising autoencoder, a VAE and a
DCGAN with custom `train_step`s written for the torch backend, a super-resolution model, and
the `keras.ops` such programs use. Each program runs once per library after
`set_random_seed`, so the seeded random streams (initializers, shuffling, Dropout,
`keras.random` with a `SeedGenerator`) must agree too. Outputs within atol 1e-5 and histories
within rtol 1e-4 unless stated."""

import os
import subprocess
import sys
import textwrap
import types

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as torch_functional
from keras_compare import fresh_names  # noqa: F401  (the fixture the tests use)
from keras_compare import to_numpy as _np

import convolve
from convolve.datasets import mnist_digits

pytestmark = [pytest.mark.parity, pytest.mark.usefixtures("fresh_names")]


@pytest.fixture
def keras_nll_on_contiguous(monkeypatch):
    """Keras 3.15.1's torch `sparse_categorical_crossentropy` on probabilities of rank > 2
    fails in backward ('grad_input must be contiguous'); the oracle gets the same values from
    a contiguous copy."""
    from keras.src.backend.torch import nn as keras_torch_nn

    names = {k: getattr(torch_functional, k) for k in dir(torch_functional) if k[:2] != "__"}
    shim = types.SimpleNamespace(**names)
    shim.nll_loss = lambda x, target, **kw: torch_functional.nll_loss(x.contiguous(), target, **kw)
    monkeypatch.setattr(keras_torch_nn, "tnn", shim)


def _run_both(program, seed):
    """`program(lib)` (a dict of results) run with Keras, then with convolve, each after
    `set_random_seed(seed)`."""
    results = []
    for lib in (keras, convolve):
        lib.utils.set_random_seed(seed)
        results.append({k: _np(v) if hasattr(v, "shape") else v for k, v in program(lib).items()})
    return results


def _assert_results(ours, theirs, atol=1e-5, rtol=1e-4):
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        if isinstance(value, dict):  # a history
            _assert_results(ours[key], value, atol=1e-6, rtol=rtol)
        else:
            np.testing.assert_allclose(ours[key], value, atol=atol, rtol=rtol, err_msg=key)


def _digits(count):
    (x, _), _ = mnist_digits()
    return np.expand_dims(x[:count], -1).astype("float32") / 255.0


# ------------------------------------------------------------------ U-Net-like segmentation
def _unet(lib, img_size=(32, 32), num_classes=3):
    layers = lib.layers
    inputs = lib.Input(shape=img_size + (3,))
    x = layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    previous_block_activation = x
    for filters in (8, 16):
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(filters, 1, strides=2, padding="same")(previous_block_activation)
        x = layers.add([x, residual])
        previous_block_activation = x
    for filters in (16, 8, 4):
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.UpSampling2D(2)(x)
        residual = layers.UpSampling2D(2)(previous_block_activation)
        residual = layers.Conv2D(filters, 1, padding="same")(residual)
        x = layers.add([x, residual])
        previous_block_activation = x
    outputs = layers.Conv2D(num_classes, 3, activation="softmax", padding="same")(x)
    return lib.Model(inputs, outputs)


def _segmentation_data(count=24, size=32):
    x = np.random.default_rng(0).uniform(0, 1, (count, size, size, 3)).astype("float32")
    brightness = x.mean(-1, keepdims=True)
    masks = np.where(brightness > 0.55, 2, np.where(brightness < 0.45, 0, 1)).astype("uint8")
    return x, masks  # masks (B, H, W, 1), as the Oxford pets targets


def test_unet_segmentation_trains_as_keras(keras_nll_on_contiguous):
    x, y = _segmentation_data()

    def program(lib):
        model = _unet(lib)
        weights = model.get_weights()
        # SGD: Adam's steps on the biases that a BatchNormalization follows (gradient ~0)
        # follow the sign of rounding noise, so they would part from Keras's by the step size.
        model.compile(
            optimizer=lib.optimizers.SGD(0.05, momentum=0.9),
            loss="sparse_categorical_crossentropy",
            metrics=[
                "sparse_categorical_accuracy",
                lib.metrics.MeanIoU(num_classes=3, sparse_y_pred=False),
                lib.metrics.IoU(num_classes=3, target_class_ids=[0, 2], sparse_y_pred=False),
            ],
        )
        history = model.fit(
            x[:16], y[:16], validation_data=(x[16:], y[16:]), epochs=2, batch_size=4, verbose=0
        )
        probabilities = model.predict(x[16:], verbose=0)
        mask = lib.ops.expand_dims(lib.ops.argmax(probabilities, axis=-1), axis=-1)
        return {
            "params": model.count_params(),
            "initial": np.concatenate([w.ravel() for w in weights]),
            "history": history.history,
            "probabilities": probabilities,
            "mask": mask,
        }

    theirs, ours = _run_both(program, seed=1337)
    assert ours["mask"].dtype == theirs["mask"].dtype == np.int32
    _assert_results(ours, theirs)


def _small_segmenter(lib, num_classes=4):
    layers = lib.layers
    inputs = lib.Input(shape=(16, 16, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(x)
    return lib.Model(inputs, layers.Conv2D(num_classes, 1, activation="softmax")(x))


def test_segmentation_with_ignore_class_and_iou_metrics_matches_keras(keras_nll_on_contiguous):
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (24, 16, 16, 3)).astype("float32")
    masks = (x[..., 0] * 4).astype("int64")  # (B, H, W), classes 0..3
    masks_ignored = masks.copy()
    masks_ignored[:, :2, :] = 255
    pixel_weights = rng.integers(0, 3, (24, 16, 16)).astype("float32")

    def program(lib):
        model = _small_segmenter(lib)
        model.compile(
            optimizer=lib.optimizers.SGD(0.05, momentum=0.9),
            loss=lib.losses.SparseCategoricalCrossentropy(ignore_class=255),
            metrics=[
                lib.metrics.SparseCategoricalAccuracy(name="acc"),
                lib.metrics.MeanIoU(num_classes=4, sparse_y_pred=False, ignore_class=255),
                lib.metrics.IoU(
                    num_classes=4, target_class_ids=[1], sparse_y_pred=False, ignore_class=255
                ),
            ],
        )
        history = model.fit(
            x, masks_ignored, epochs=2, batch_size=6, validation_split=0.25, verbose=0
        )
        weighted = model.evaluate(
            x, masks_ignored, sample_weight=pixel_weights, batch_size=5, verbose=0
        )
        probabilities = model.predict(x, verbose=0)
        one_hot = lib.ops.one_hot(masks, 4)
        one_hot_iou = lib.metrics.OneHotMeanIoU(num_classes=4)
        one_hot_iou.update_state(one_hot, probabilities)
        mean_iou = lib.metrics.MeanIoU(num_classes=4)
        mean_iou.update_state(masks, lib.ops.argmax(probabilities, axis=-1))
        loss = lib.losses.SparseCategoricalCrossentropy(ignore_class=255, reduction="none")
        return {
            "history": history.history,
            "weighted": weighted,
            "one_hot_mean_iou": one_hot_iou.result(),
            "mean_iou": mean_iou.result(),
            "confusion": mean_iou.total_cm,
            "loss_none": loss(masks_ignored[..., None], probabilities),
            "accuracy": lib.metrics.sparse_categorical_accuracy(masks, probabilities),
        }

    theirs, ours = _run_both(program, seed=7)
    _assert_results(ours, theirs)


# --------------------------------------------------------------- denoising autoencoder
def test_denoising_autoencoder_matches_keras():
    clean = _digits(160)

    def program(lib):
        layers, ops = lib.layers, lib.ops
        noise = lib.random.normal(clean.shape, seed=lib.random.SeedGenerator(3))
        noisy = ops.convert_to_numpy(ops.clip(ops.add(clean, 0.4 * noise), 0.0, 1.0))
        inputs = layers.Input(shape=(28, 28, 1))
        x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(inputs)
        x = layers.MaxPooling2D((2, 2), padding="same")(x)
        x = layers.Conv2D(8, (3, 3), activation="relu", padding="same")(x)
        x = layers.MaxPooling2D((2, 2), padding="same")(x)
        x = layers.Conv2DTranspose(8, (3, 3), strides=2, activation="relu", padding="same")(x)
        x = layers.Conv2DTranspose(8, (3, 3), strides=2, activation="relu", padding="same")(x)
        x = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
        autoencoder = lib.Model(inputs, x)
        autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
        history = autoencoder.fit(
            noisy[:128], clean[:128], epochs=2, batch_size=32, shuffle=True, verbose=0,
            validation_data=(noisy[128:], clean[128:]),
        )  # fmt: skip
        return {
            "noisy": noisy,
            "history": history.history,
            "denoised": autoencoder.predict(noisy[128:], batch_size=16, verbose=0),
        }

    theirs, ours = _run_both(program, seed=42)
    _assert_results(ours, theirs)


# ----------------------------------------------------------------------------------- VAE
def _vae_program(lib):
    layers, ops = lib.layers, lib.ops

    class Sampling(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = lib.random.SeedGenerator(1337)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch, dim = ops.shape(z_mean)[0], ops.shape(z_mean)[1]
            epsilon = lib.random.normal(shape=(batch, dim), seed=self.seed_generator)
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    class VAE(lib.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder, self.decoder = encoder, decoder
            # The sampling layer lives here rather than in the encoder's graph: convolve
            # finds the output shape of a graph's custom layer by running it once, which
            # moves its generator, where Keras traces it symbolically.
            self.sampling = Sampling()
            self.total_loss_tracker = lib.metrics.Mean(name="total_loss")
            self.reconstruction_loss_tracker = lib.metrics.Mean(name="reconstruction_loss")
            self.kl_loss_tracker = lib.metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

        def call(self, inputs):
            return self.decoder(self.sampling(self.encoder(inputs)))

        def train_step(self, data):
            z_mean, z_log_var = self.encoder(data)
            reconstruction = self.decoder(self.sampling([z_mean, z_log_var]))
            reconstruction_loss = ops.mean(
                ops.sum(lib.losses.binary_crossentropy(data, reconstruction), axis=(1, 2))
            )
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
            self.zero_grad()
            total_loss.backward()
            trainable_weights = list(self.trainable_weights)
            gradients = [v.value.grad for v in trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_weights)
            self.total_loss_tracker.update_state(total_loss)
            self.reconstruction_loss_tracker.update_state(reconstruction_loss)
            self.kl_loss_tracker.update_state(kl_loss)
            return {m.name: m.result() for m in self.metrics}

    encoder_inputs = lib.Input(shape=(28, 28, 1))
    x = layers.Conv2D(8, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(16, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Dense(16, activation="relu")(layers.Flatten()(x))
    z_mean = layers.Dense(2, name="z_mean")(x)
    z_log_var = layers.Dense(2, name="z_log_var")(x)
    encoder = lib.Model(encoder_inputs, [z_mean, z_log_var])
    encoder.summary(print_fn=lambda *args, **kwargs: None)

    latent_inputs = lib.Input(shape=(2,))
    x = layers.Dense(7 * 7 * 16, activation="relu")(latent_inputs)
    x = layers.Reshape((7, 7, 16))(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(8, 3, activation="relu", strides=2, padding="same")(x)
    outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    decoder = lib.Model(latent_inputs, outputs)

    digits = _digits(128)
    vae = VAE(encoder, decoder)
    vae.compile(optimizer=lib.optimizers.Adam())
    history = vae.fit(digits, epochs=2, batch_size=32, verbose=0)
    grid = np.array([[a, b] for b in (-1.0, 0.0, 1.0) for a in (-1.0, 0.0, 1.0)], "float32")
    return {
        "history": history.history,
        "draws": vae.sampling.seed_generator.state,  # one per step: none in the build pass
        "z_mean": vae.encoder.predict(digits[:16], verbose=0)[0],
        "decoded": vae.decoder.predict(grid, verbose=0),
    }


def test_vae_with_custom_torch_train_step_matches_keras():
    theirs, ours = _run_both(_vae_program, seed=1337)
    np.testing.assert_array_equal(theirs["draws"], [1337, 8])
    _assert_results(ours, theirs)


def test_building_a_model_draws_no_seed_as_keras():
    """Keras builds a subclassed model on symbolic tensors, where a random function draws
    nothing: no generator moves, and Python's `random` (which seeds later initializers) is
    not used to make the global generator."""

    def program(lib):
        class Noisy(lib.Model):
            def __init__(self):
                super().__init__()
                self.dense = lib.layers.Dense(2)
                self.seed_generator = lib.random.SeedGenerator(5)

            def call(self, x):
                x = x + lib.random.normal(lib.ops.shape(x), seed=self.seed_generator)
                return self.dense(x + lib.random.uniform(lib.ops.shape(x)))

        model = Noisy()
        prediction = model.predict(np.ones((4, 3), "float32"), verbose=0)
        later = lib.layers.Dense(3)
        later.build((None, 2))
        return {
            "draws": model.seed_generator.state,
            "prediction": prediction,
            "later_kernel": later.kernel,
            "unseeded_after": lib.random.normal((3,)),
        }

    theirs, ours = _run_both(program, seed=11)
    np.testing.assert_array_equal(theirs["draws"], [5, 1])
    _assert_results(ours, theirs, atol=1e-7)


def test_graph_construction_and_target_checks_draw_no_seed_as_keras():
    """keras.io's VAE calls its `Sampling` layer on symbolic tensors, and `fit` checks the
    targets before training: neither moves the layer's generator in Keras."""

    def program(lib):
        class Sampling(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.seed_generator = lib.random.SeedGenerator(1337)

            def call(self, inputs):
                mean, log_var = inputs
                noise = lib.random.normal(lib.ops.shape(mean), seed=self.seed_generator)
                return mean + lib.ops.exp(0.5 * log_var) * noise

        inputs = lib.Input((4,))
        sampling = Sampling()
        z = sampling([lib.layers.Dense(2)(inputs), lib.layers.Dense(2)(inputs)])
        model = lib.Model(inputs, lib.layers.Dense(1)(z))
        built = np.asarray(_np(sampling.seed_generator.state)).tolist()
        model.compile(optimizer="sgd", loss="mse")
        x = np.linspace(-1, 1, 32, dtype="float32").reshape(8, 4)
        history = model.fit(x, x[:, :1], batch_size=8, epochs=2, verbose=0).history
        return {"built": built, "draws": sampling.seed_generator.state, "loss": history["loss"]}

    theirs, ours = _run_both(program, seed=4)
    _assert_results(ours, theirs, atol=1e-6)


# ---------------------------------------------------------------------------------- DCGAN
def _gan_program(lib):
    layers, ops = lib.layers, lib.ops
    latent_dim = 8
    discriminator = lib.Sequential(
        [
            lib.Input(shape=(16, 16, 1)),
            layers.Conv2D(8, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(16, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Flatten(),
            layers.Dropout(0.2),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    generator = lib.Sequential(
        [
            lib.Input(shape=(latent_dim,)),
            layers.Dense(4 * 4 * 16),
            layers.Reshape((4, 4, 16)),
            layers.Conv2DTranspose(16, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2DTranspose(8, kernel_size=4, strides=2, padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(1, kernel_size=5, padding="same", activation="sigmoid"),
        ]
    )

    class GAN(lib.Model):
        def __init__(self):
            super().__init__()
            self.discriminator, self.generator = discriminator, generator
            self.seed_generator = lib.random.SeedGenerator(1337)

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn
            self.d_loss_metric = lib.metrics.Mean(name="d_loss")
            self.g_loss_metric = lib.metrics.Mean(name="g_loss")

        def call(self, images):
            return self.discriminator(images)

        @property
        def metrics(self):
            return [self.d_loss_metric, self.g_loss_metric]

        def _step(self, network, optimizer, inputs, labels):
            self.zero_grad()
            loss = self.loss_fn(labels, self.discriminator(inputs, training=True))
            loss.backward()
            grads = [v.value.grad for v in network.trainable_weights]
            with torch.no_grad():
                optimizer.apply(grads, network.trainable_weights)
            return loss

        def train_step(self, real_images):
            batch_size = ops.shape(real_images)[0]
            z = lib.random.normal(shape=(batch_size, latent_dim), seed=self.seed_generator)
            combined = ops.concatenate([self.generator(z), real_images], axis=0)
            labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))])
            noise = lib.random.uniform(ops.shape(labels), seed=self.seed_generator)
            labels = 0.95 * labels + 0.05 * noise  # soft labels in [0, 1]
            d_loss = self._step(self.discriminator, self.d_optimizer, combined, labels)
            z = lib.random.normal(shape=(batch_size, latent_dim), seed=self.seed_generator)
            misleading = ops.zeros((batch_size, 1))
            g_loss = self._step(self.generator, self.g_optimizer, self.generator(z), misleading)
            self.d_loss_metric.update_state(d_loss)
            self.g_loss_metric.update_state(g_loss)
            return {"d_loss": self.d_loss_metric.result(), "g_loss": self.g_loss_metric.result()}

    samples = []

    class GANMonitor(lib.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            z = lib.random.normal(shape=(3, latent_dim), seed=lib.random.SeedGenerator(epoch))
            samples.append(ops.convert_to_numpy(self.model.generator(z)))

    data = lib.ops.image.resize(_digits(96), (16, 16))
    gan = GAN()
    gan.compile(
        d_optimizer=lib.optimizers.Adam(learning_rate=1e-4),
        g_optimizer=lib.optimizers.Adam(learning_rate=1e-4),
        loss_fn=lib.losses.BinaryCrossentropy(),
    )
    history = gan.fit(lib.ops.convert_to_numpy(data), epochs=2, batch_size=32, verbose=0,
                      callbacks=[GANMonitor()])  # fmt: skip
    return {"history": history.history, "samples": np.stack(samples), "paths": len(gan.weights)}


def test_dcgan_with_two_optimizers_and_dropout_matches_keras():
    theirs, ours = _run_both(_gan_program, seed=1234)
    _assert_results(ours, theirs)


# ----------------------------------------------------------------------- super-resolution
def test_super_resolution_with_dilations_and_bilinear_upsampling_matches_keras():
    (digits, _), _ = mnist_digits()
    high = keras.ops.convert_to_numpy(
        keras.ops.image.resize(digits[:48, :, :, None].astype("float32") / 255.0, (24, 24))
    )
    low = keras.ops.convert_to_numpy(
        keras.ops.image.resize(high, (12, 12), interpolation="bicubic")
    )

    def program(lib):
        layers, ops = lib.layers, lib.ops

        def psnr(y_true, y_pred):
            return 10.0 * ops.log(1.0 / ops.mean(ops.square(y_true - y_pred))) / ops.log(10.0)

        inputs = lib.Input((None, None, 1))
        x = layers.Conv2D(8, 5, padding="same", activation="relu", kernel_initializer="orthogonal")(
            inputs
        )
        x = layers.Conv2D(8, 3, padding="same", activation="relu", dilation_rate=2)(x)
        x = layers.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1)(x)
        x = layers.Concatenate()([x, layers.UpSampling2D(2, interpolation="bilinear")(inputs)])
        model = lib.Model(inputs, layers.Conv2D(1, 3, padding="same", activation="sigmoid")(x))
        model.compile(optimizer=lib.optimizers.Adam(1e-3), loss="mse", metrics=[psnr, "mae"])
        history = model.fit(low, high, epochs=2, batch_size=16, validation_split=0.25, verbose=0)
        other_size = ops.convert_to_numpy(ops.image.resize(low[:2], (10, 14)))
        return {
            "history": history.history,
            "upscaled": model.predict(low[:4], verbose=0),
            "other_size": model.predict(other_size, verbose=0),
        }

    theirs, ours = _run_both(program, seed=99)
    assert ours["other_size"].shape == theirs["other_size"].shape == (2, 20, 28, 1)
    _assert_results(ours, theirs)


# ------------------------------------------------------------------------------ keras.ops
def test_ops_of_vision_programs_match_keras():
    images = _digits(8)

    def program(lib):
        ops, random = lib.ops, lib.random
        out = {}
        for method in ("bilinear", "nearest", "bicubic"):
            out[method] = ops.image.resize(images, (16, 16), interpolation=method)
        out["antialias"] = ops.image.resize(images, (20, 12), antialias=True)
        out["crop"] = ops.image.resize(images, (16, 16), crop_to_aspect_ratio=True)
        out["pad"] = ops.image.resize(images[:, :20], (16, 16), pad_to_aspect_ratio=True)
        masks = ops.image.resize((images > 0.5).astype("int32"), (16, 16), "nearest")
        out["mask_dtype"] = str(ops.convert_to_numpy(masks).dtype)
        out["one_hot"] = ops.one_hot(ops.squeeze(masks, -1), 2, axis=1)
        out["argmax"] = ops.argmax(out["one_hot"], axis=1, keepdims=True)
        tensor = ops.convert_to_tensor(images)
        out["mean"] = ops.mean(tensor, axis=(1, 2))
        out["sum"] = ops.sum(ops.square(tensor), axis=[1, 2], keepdims=True)
        out["exp"] = ops.exp(-tensor)
        out["normal"] = random.normal((4, 8, 8, 3), seed=random.SeedGenerator(1))
        out["unseeded"] = random.normal((3,))
        out["dropout"] = random.dropout(ops.ones((4, 8)), 0.5, seed=random.SeedGenerator(2))
        out["shuffle"] = random.shuffle(ops.arange(10), seed=random.SeedGenerator(3))
        out["categorical"] = random.categorical(ops.zeros((2, 4)), 6, seed=random.SeedGenerator(5))
        return out

    theirs, ours = _run_both(program, seed=5)
    assert ours.pop("mask_dtype") == theirs.pop("mask_dtype") == "int32"
    _assert_results(ours, theirs)


# ------------------------------------------------------------------- seeds after summary()
_SUMMARY_PROGRAM = textwrap.dedent(
    """
    import sys
    import numpy as np
    lib = __import__(sys.argv[1])
    lib.utils.set_random_seed(3)
    first = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3)])
    first.summary(print_fn=lambda *args, **kwargs: None)
    second = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3)])
    np.save(sys.argv[2], second.get_weights()[0])
    """
)


def test_printing_a_summary_leaves_later_initializer_seeds_as_keras(tmp_path):
    """Initializer seeds come from Python's `random`; a summary printed in a fresh process
    (the first one loads its table library) must not take a number from it."""
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    kernels = []
    for lib in ("keras", "convolve"):
        path = tmp_path / f"{lib}.npy"
        subprocess.run(
            [sys.executable, "-c", _SUMMARY_PROGRAM, lib, str(path)], check=True, env=env
        )
        kernels.append(np.load(path))
    np.testing.assert_allclose(kernels[1], kernels[0], atol=1e-7)
