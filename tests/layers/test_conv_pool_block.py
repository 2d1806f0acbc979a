"""Conv2D + ReLU + 2x2 max pooling in one CPU kernel (`convolve.layers.conv_pool_block`).

Oracles: torch's own layers (`conv2d`, `max_pool2d`, `relu`) for outputs, and the same in
float64 for gradients. Where outputs are compared exactly, images are small integers and
weights multiples of 1/8, so every sum is exact in any order and any precision: the
windows' largest values (ties included, which such data has many of) are then the same
elements for the kernel and the oracle. Tolerances: random-valued outputs 1e-6 absolute
(the taps are summed in another order than oneDNN's); weight and bias gradients 1e-5 of
their largest value (float32 sums over a batch). A model trained through the kernel must
end within 1e-5 of the same model run layer by layer.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convolve as keras
from convolve import layers
from convolve.layers import conv_pool_block
from convolve.models import pool_first


def test_the_kernel_was_built_at_install():
    # The test environment installs with a C compiler; a failed build would leave models
    # on the slower layer-by-layer path without any other sign.
    assert conv_pool_block._conv_pool is not None


SETS = conv_pool_block._conv_pool.instruction_sets() if conv_pool_block._conv_pool else []


@pytest.fixture(params=SETS)
def instruction_set(request):
    """Runs the test with each kernel set this CPU has (AVX-512, AVX2, baseline)."""
    before = conv_pool_block._conv_pool.use(request.param)
    yield request.param
    conv_pool_block._conv_pool.use(before)


def _block(cin, cout, kernel_size=3, use_bias=True, seed=0):
    """A built Conv2D (ReLU) and MaxPooling2D; weights are multiples of 1/8 in [-1, 1]."""
    conv = layers.Conv2D(cout, kernel_size, activation="relu", use_bias=use_bias)
    conv.build((None, 16, 16, cin))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for weight in [conv.kernel] + ([conv.bias] if use_bias else []):
            weight.copy_(torch.randint(-8, 9, weight.shape, generator=g) / 8.0)
    return conv, layers.MaxPooling2D()


def _images(n, h, w, cin, seed=1, integers=True):
    """Engine-layout images (channels-first shape, channels_last memory) of integers in
    [-3, 3], or of normal samples."""
    g = torch.Generator().manual_seed(seed)
    shape = (n, h, w, cin)
    x = (
        torch.randint(-3, 4, shape, generator=g).float()
        if integers
        else torch.randn(*shape, generator=g)
    )
    return x.movedim(-1, 1).contiguous(memory_format=torch.channels_last)


def _reference(x, kernel, bias):
    return F.relu(F.max_pool2d(F.conv2d(x, kernel, bias), 2))


CASES = [
    # (cin, cout, kernel, n, h, w, bias)
    (1, 64, 3, 8, 28, 28, True),  # the tutorials' MNIST block
    (3, 32, 3, 4, 30, 30, True),  # colour images
    (2, 20, (2, 3), 3, 11, 12, True),  # a partial channel block, odd map sizes
    (4, 100, 3, 2, 13, 9, False),  # two channel groups (64 + 36), no bias
    (1, 1, 1, 5, 7, 7, True),  # one filter, 1x1 kernel: conv map 7x7 pools to 3x3
]


@pytest.mark.parametrize("cin,cout,ks,n,h,w,bias", CASES)
def test_outputs_and_gradients_match_torch(cin, cout, ks, n, h, w, bias, instruction_set):
    conv, pool = _block(cin, cout, ks, bias)
    x = _images(n, h, w, cin)
    assert conv_pool_block.applies(conv, pool, x)
    out = conv_pool_block.run(conv, pool, x)
    expected = _reference(x, conv.kernel, conv.bias)
    assert out.shape == expected.shape
    assert out.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_array_equal(out.detach().numpy(), expected.detach().numpy())

    grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(2))
    params = [conv.kernel] + ([conv.bias] if bias else [])
    ours = torch.autograd.grad(out, params, grad)
    wide = [p.detach().double().requires_grad_() for p in params]
    oracle = torch.autograd.grad(
        _reference(x.double(), wide[0], wide[1] if bias else None), wide, grad.double()
    )
    for a, b in zip(ours, oracle, strict=True):
        assert a.shape == b.shape and a.dtype == torch.float32
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-5 * b.abs().max().item())


def test_nan_and_the_relu_gate_follow_torch(instruction_set):
    conv, pool = _block(1, 16)
    x = _images(2, 10, 10, 1)
    x[1, 0, 7, 7] = float("nan")
    with torch.no_grad():
        conv.kernel[:8] = 0.0
        conv.bias[:8] = -1.0  # these channels are -1 everywhere: ReLU blocks their gradient
    out = conv_pool_block.run(conv, pool, x)
    expected = _reference(x, conv.kernel, conv.bias)
    assert out.isnan().any()
    np.testing.assert_array_equal(out.detach().numpy(), expected.detach().numpy())  # NaN = NaN

    x[1, 0, 7, 7] = 0.0
    grad = torch.ones(out.shape)
    params = [conv.kernel, conv.bias]
    ours = torch.autograd.grad(conv_pool_block.run(conv, pool, x), params, grad)
    oracle = torch.autograd.grad(_reference(x, *params), params, grad)
    for a, b in zip(ours, oracle, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # integer sums: exact
    assert (ours[0][:8] == 0).all() and (ours[1][:8] == 0).all()
    assert (ours[1][8:] != 0).any()


def test_gradients_do_not_depend_on_the_number_of_threads():
    conv, pool = _block(1, 64)
    x = _images(37, 28, 28, 1, integers=False)
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            out = conv_pool_block.run(conv, pool, x)
            results.append([out, *torch.autograd.grad(out.sum(), [conv.kernel, conv.bias])])
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            assert torch.equal(a, b)


def test_without_gradients_no_codes_are_kept():
    conv, pool = _block(1, 16)
    x = _images(2, 12, 12, 1)
    with torch.no_grad():
        out = conv_pool_block.run(conv, pool, x)
    assert not out.requires_grad
    np.testing.assert_array_equal(out, _reference(x, conv.kernel, conv.bias).detach())


def _make(cin=1, **conv_args):
    conv_args = {"activation": "relu", **conv_args}
    conv = layers.Conv2D(conv_args.pop("filters", 8), conv_args.pop("kernel_size", 3), **conv_args)
    conv.build((None, 12, 12, cin))
    return conv


@pytest.mark.parametrize(
    "conv_args,pool_args,cin,why",
    [
        ({"padding": "same"}, {}, 1, "same padding"),
        ({"strides": 2}, {}, 1, "strided convolution"),
        ({"dilation_rate": 2}, {}, 1, "dilated convolution"),
        ({"activation": "relu6"}, {}, 1, "ReLU6"),
        ({}, {"pool_size": 3}, 1, "3x3 pooling"),
        ({}, {"strides": 1}, 1, "overlapping windows"),
        ({}, {"padding": "same"}, 1, "same pooling"),
        ({}, {}, 5, "more input channels than the kernel is for"),
        ({"kernel_size": 5}, {}, 3, "more taps than the kernel holds (75)"),
    ],
)
def test_other_blocks_run_layer_by_layer(conv_args, pool_args, cin, why):
    conv = _make(cin, **conv_args)
    pool = layers.MaxPooling2D(**pool_args)
    assert not conv_pool_block.applies(conv, pool, _images(1, 12, 12, cin)), why


def test_inputs_that_need_their_own_gradient_or_another_dtype_run_layer_by_layer():
    conv, pool = _make(), layers.MaxPooling2D()
    x = _images(1, 12, 12, 1)
    assert conv_pool_block.applies(conv, pool, x)
    assert not conv_pool_block.applies(conv, pool, x.clone().requires_grad_())  # saliency
    assert not conv_pool_block.applies(conv, pool, x.double())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not conv_pool_block.applies(conv, pool, x)


def test_traced_and_exported_models_see_the_layers():
    model = keras.Sequential(
        [keras.Input((12, 12, 1)), layers.Conv2D(8, 3, activation="relu"), layers.MaxPooling2D()]
    )
    x = torch.rand(2, 12, 12, 1)
    traced = torch.jit.trace(model, x)
    graph = str(traced.graph)
    assert "_ConvReluPool" not in graph and "conv" in graph.lower()
    np.testing.assert_allclose(traced(x).detach(), model(x).detach(), atol=1e-6)


def _seed_model():
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _fit(model):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(96, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=96)
    history = model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    return model.predict(x, verbose=0), history.history, model.get_weights()


def test_a_model_trains_through_the_kernel_as_layer_by_layer(monkeypatch):
    calls = []
    run = conv_pool_block.run

    def counting(conv, pool, x):
        out = run(conv, pool, x)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(conv_pool_block, "run", counting)
    fused = _fit(_seed_model())
    # Every step's and predict's first block runs in the kernel (9 steps, one predict
    # batch, and fit's passes that build the model); the second has 32 input channels.
    assert calls[0::2] == [True] * (len(calls) // 2) and not any(calls[1::2])
    assert len(calls) >= 20
    monkeypatch.setattr(pool_first, "pools_first", lambda layer, consumer: False)
    plain = _fit(_seed_model())
    np.testing.assert_allclose(fused[0], plain[0], rtol=1e-5, atol=1e-6)
    for key in plain[1]:
        np.testing.assert_allclose(fused[1][key], plain[1][key], rtol=1e-5)
    for a, b in zip(fused[2], plain[2], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
