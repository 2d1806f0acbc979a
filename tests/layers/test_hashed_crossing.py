"""HashedCrossing against Keras (torch backend, crossing with TensorFlow's `sparse_cross_hashed`).

Bins and one-hot encodings are integers or exact 0/1 values: compared exactly (atol 0).
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch

from convolve import layers
from convolve.layers.hashed_crossing import cross_buckets


def _same(ours, theirs):
    assert isinstance(ours, torch.Tensor)
    theirs = np.asarray(keras.ops.convert_to_numpy(theirs))
    assert ours.dtype == torch.from_numpy(theirs).dtype
    assert tuple(ours.shape) == theirs.shape
    np.testing.assert_array_equal(ours.cpu().numpy(), theirs)


def _both(*args, **kwargs):
    return layers.HashedCrossing(*args, **kwargs), keras.layers.HashedCrossing(*args, **kwargs)


def test_cross_matches_tensorflow_bit_for_bit():
    rng = np.random.default_rng(0)
    words = np.array(["", "a", "é€", "x" * 17, "y" * 40, "z" * 130, "[UNK]"])
    strings = words[rng.integers(0, len(words), 64)]
    ints = rng.integers(-(2**62), 2**62, 64)
    small = rng.integers(-5, 5, 64).astype("int32")
    buckets = 2**62 + 7  # large, so the whole 64-bit hash shows through
    for columns in ([strings, ints], [ints, strings, small], [small, small], [strings] * 3):
        expected = tf.sparse.to_dense(
            tf.sparse.cross_hashed([tf.constant(c.reshape(-1, 1)) for c in columns], buckets)
        ).numpy()[:, 0]
        np.testing.assert_array_equal(cross_buckets(list(columns), buckets), expected)


FEATURES = [
    (np.array(["A", "B", "A", "B", "A"]), np.array([101, 101, 101, 102, 102])),
    (np.array([[1], [-2], [3]]), np.array([[b"cat"], [b"dog"], [b""]])),
    (np.array([1, 200], dtype="uint8"), np.array([-3, 4], dtype="int8"), np.array([5, 6])),
    (np.array([1, 2**63 + 5], dtype="uint64"), np.array(["x", "yy"], dtype=object)),
    (["a", "b", "a"], [7, 8, 9]),
    ("A", 3),
    (np.array("abc"), np.int64(-1)),
    (torch.tensor([1, 2, 3]), torch.tensor([[4], [5], [6]]).reshape(-1)),
    (np.array(["é", "ß"]), np.array(["long string " * 6, "s"])),
]


@pytest.mark.parametrize("index", range(len(FEATURES)))
@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_bins": 5},
        {"num_bins": 1_000_003},
        {"num_bins": 4, "output_mode": "one_hot"},
        {"num_bins": 6, "dtype": "int32"},
        {"num_bins": 6, "dtype": "float32"},
        {"num_bins": 3, "output_mode": "one_hot", "dtype": "int32"},
    ],
)
def test_hashed_crossing_matches_keras(index, kwargs):
    ours, theirs = _both(**kwargs)
    inputs = FEATURES[index]
    _same(ours(inputs), theirs(inputs))


def test_hashed_crossing_list_of_features_and_torch_device():
    ours, theirs = _both(num_bins=11, output_mode="one_hot")
    inputs = [torch.tensor([[3], [4]]), torch.tensor([[5], [-6]])]
    out = ours(inputs)
    assert out.device == inputs[0].device
    _same(out, theirs(inputs))


def test_hashed_crossing_config_signature_and_shapes():
    def parameters(cls):
        params = inspect.signature(cls.__init__).parameters.values()
        return [(p.name, p.kind, p.default) for p in params]

    assert parameters(layers.HashedCrossing) == parameters(keras.layers.HashedCrossing)
    for kwargs in ({"num_bins": 4}, {"num_bins": 9, "output_mode": "one_hot", "name": "hc"}):
        ours, theirs = _both(**kwargs)
        config, expected = ours.get_config(), theirs.get_config()
        assert config.pop("name") == ours.name
        if "name" in kwargs:
            assert ours.name == expected["name"] == kwargs["name"]
        expected.pop("name")
        assert config == expected
        rebuilt = layers.HashedCrossing.from_config(ours.get_config())
        assert rebuilt.get_config() == ours.get_config()
    for mode in ("int", "one_hot"):
        ours, theirs = _both(num_bins=7, output_mode=mode)
        for shape in ((None,), (5,), (None, 1), (4, 1)):
            expected = theirs.compute_output_shape((shape, shape))
            assert ours.compute_output_shape((shape, shape)) == expected
        # The shapes agree with what calling gives.
        for x in (np.array([1, 2]), np.array([[1], [2]]), np.array(5)):
            assert ours.compute_output_shape((x.shape, x.shape)) == tuple(ours((x, x)).shape)
    assert layers.HashedCrossing(3).compute_output_shape([(2,)] * 3) == (2,)


def test_hashed_crossing_errors():
    for bad in (
        {"num_bins": 0},
        {"num_bins": "3"},
        {"num_bins": 3, "output_mode": "multi_hot"},
        {"num_bins": 3, "sparse": True},
    ):
        with pytest.raises(ValueError, match="HashedCrossing"):
            layers.HashedCrossing(**bad)
    layer = layers.HashedCrossing(5)
    ints = np.array([1, 2])
    calls = {
        "list or tuple": ints,
        "at least two": (ints,),
        "equal shape": (ints, np.array([1, 2, 3])),
        "shape `\\(\\)`": (np.array([[1, 2]]), np.array([[3, 4]])),
        "integer or string": (ints, np.array([1.5, 2.5])),
    }
    for message, inputs in calls.items():
        with pytest.raises(ValueError, match=message):
            layer(inputs)
        with pytest.raises(ValueError):
            keras.layers.HashedCrossing(5)(inputs)
    with pytest.raises(ValueError, match="integer or string"):
        layer((np.array([True, False]), ints))
    with pytest.raises(ValueError, match="identical"):
        layer.compute_output_shape(((5, 2), (5, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        layer.compute_output_shape(((5,),))
    with pytest.raises(ValueError, match="symbolic"):
        layer((layers.Input((1,), dtype="int64"), layers.Input((1,), dtype="int64")))
