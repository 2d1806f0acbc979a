"""String components in `Dataset`: sliced, batched and looked up as `tf.data` does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convolve.data import Dataset
from convolve.layers import IntegerLookup, StringLookup
from convolve.utils import split_dataset


@pytest.fixture(scope="module")
def tf():
    import tensorflow

    return tensorflow


def _same(ours, theirs) -> None:
    """Element-for-element equality of two `as_numpy_iterator` results, types included for
    strings (`bytes` scalars, object arrays of `bytes`)."""
    if isinstance(theirs, tuple | list):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            _same(a, b)
    elif isinstance(theirs, dict):
        assert sorted(ours) == sorted(theirs)
        for key in theirs:
            _same(ours[key], theirs[key])
    elif isinstance(theirs, bytes):
        assert type(ours) is bytes and ours == theirs
    elif isinstance(theirs, np.ndarray) and theirs.dtype == object:
        assert isinstance(ours, np.ndarray) and ours.dtype == object
        assert ours.shape == theirs.shape
        assert [type(v) for v in ours.reshape(-1)] == [bytes] * ours.size
        assert ours.tolist() == theirs.tolist()
    else:  # numbers: values and shapes (dtypes of numeric parts are checked elsewhere)
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
        assert np.shape(ours) == np.shape(theirs)


def _both(tf, tensors, transform=lambda ds: ds):
    ours = list(transform(Dataset.from_tensor_slices(tensors)).as_numpy_iterator())
    theirs = list(transform(tf.data.Dataset.from_tensor_slices(tensors)).as_numpy_iterator())
    return ours, theirs


STRING_COLUMNS = [
    np.array(list("abcab")),  # <U1
    np.array([b"x", b"yy", b"", b"x\x01", b"zzz"]),  # bytes
    np.array(["é", "ok", "ß", "日本", "e"], dtype=object),  # str objects, non-ASCII
    np.array(["é", b"ok", "ß", b"q", "e"], dtype=object),  # mixed str and bytes
]


@pytest.mark.parametrize("column", STRING_COLUMNS, ids=["unicode", "bytes", "object", "mixed"])
def test_string_column_slices_like_tf_data(tf, column):
    ours, theirs = _both(tf, (np.arange(5.0), column))
    _same(ours, theirs)
    assert len(Dataset.from_tensor_slices((np.arange(5.0), column))) == 5


@pytest.mark.parametrize("column", STRING_COLUMNS, ids=["unicode", "bytes", "object", "mixed"])
def test_string_column_batches_like_tf_data(tf, column):
    _same(*_both(tf, (np.arange(5.0), column), lambda ds: ds.batch(2)))
    _same(*_both(tf, (np.arange(5.0), column), lambda ds: ds.batch(2, drop_remainder=True)))
    _same(*_both(tf, (np.arange(5.0), column), lambda ds: ds.batch(2).unbatch()))


def test_string_matrices_dicts_lists_and_from_tensors_like_tf_data(tf):
    matrix = np.array([["a", "b"], ["c", "d"], ["e", "f"]])
    _same(*_both(tf, matrix))
    _same(*_both(tf, matrix, lambda ds: ds.batch(2)))
    _same(*_both(tf, {"name": np.array(["p", "q"]), "n": np.array([1, 2])}))
    _same(*_both(tf, ["p", "q", "r"]))  # a Python list of strings is one component
    _same(*_both(tf, list(np.array(["p", "é"]))))  # NumPy str scalars too
    _same(*_both(tf, (np.arange(3), ["p", "q", "r"]), lambda ds: ds.batch(2)))
    ours = list(Dataset.from_tensors(matrix).as_numpy_iterator())
    theirs = list(tf.data.Dataset.from_tensors(matrix).as_numpy_iterator())
    _same(ours, theirs)


def test_python_number_lists_take_tf_dtypes(tf):
    for values in ([1, 2, 3], [0.5, 1.5], [True, False]):
        ours = list(Dataset.from_tensor_slices(values).as_numpy_iterator())
        theirs = list(tf.data.Dataset.from_tensor_slices(values).as_numpy_iterator())
        assert [np.asarray(v).dtype for v in ours] == [np.asarray(v).dtype for v in theirs]
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_shuffle_take_skip_cache_keep_strings_aligned():
    labels = np.array([f"s{i}" for i in range(8)])
    ds = Dataset.from_tensor_slices((np.arange(8), labels))
    ds = ds.shuffle(8, seed=3).skip(1).take(5).cache()
    for _ in range(2):
        for x, y in ds.as_numpy_iterator():
            assert y == f"s{int(x)}".encode()


def test_label_pipeline_with_string_lookup_matches_keras(tf):
    import keras

    features = np.arange(6, dtype=np.float32)
    labels = np.array(["cat", "dog", "cat", "bird", "dog", "cat"])
    ours = StringLookup()
    ours.adapt(labels)
    theirs = keras.layers.StringLookup()
    theirs.adapt(labels)
    assert ours.get_vocabulary() == [str(v) for v in theirs.get_vocabulary()]

    # Batch, then look up: each label batch is an object array of bytes.
    ds = Dataset.from_tensor_slices((features, labels)).batch(4).map(lambda x, y: (x, ours(y)))
    ref = tf.data.Dataset.from_tensor_slices((features, labels)).batch(4)
    for (x, y), (rx, ry) in zip(ds, ref.as_numpy_iterator(), strict=True):
        assert isinstance(y, torch.Tensor) and y.dtype == torch.int64
        np.testing.assert_array_equal(y.numpy(), np.asarray(theirs(ry)))
        np.testing.assert_array_equal(x.numpy(), rx)

    # Look up each label, then batch: scalar lookups stack into int64 batches.
    ds = Dataset.from_tensor_slices((features, labels)).map(lambda x, y: (x, ours(y))).batch(4)
    got = torch.cat([y for _, y in ds]).numpy()
    np.testing.assert_array_equal(got, np.asarray(theirs(labels)))


def test_integer_lookup_and_inverse_on_a_dataset():
    lookup = IntegerLookup()
    lookup.adapt(np.array([5, 5, 7, 3]))
    ds = Dataset.from_tensor_slices(np.array([5, 7, 3, 9])).batch(2).map(lookup)
    np.testing.assert_array_equal(torch.cat(list(ds)).numpy(), [1, 2, 3, 0])


def test_split_dataset_keeps_string_rows(tf):
    x = np.arange(6.0)
    y = np.array([["a", "b"], ["c", "d"], ["e", "f"], ["g", "h"], ["i", "j"], ["k", "l"]])
    left, right = split_dataset((x, y), left_size=0.5, shuffle=True, seed=1)
    for part in (left, right):
        for xi, yi in part.as_numpy_iterator():
            np.testing.assert_array_equal(yi, y[int(xi)].astype(object).astype(bytes))
    # Unshuffled, the left part is the first half, as tf.data's take() gives it (Keras's
    # own split_dataset on the torch backend takes numbers only).
    ol, orr = split_dataset((x, y), left_size=0.5, shuffle=False)
    source = tf.data.Dataset.from_tensor_slices((x, y))
    _same(list(ol.as_numpy_iterator()), list(source.take(3).as_numpy_iterator()))
    _same(list(orr.as_numpy_iterator()), list(source.skip(3).as_numpy_iterator()))


def test_numeric_columns_are_unchanged():
    ds = Dataset.from_tensor_slices((np.arange(4.0), np.arange(4) % 2)).batch(3)
    x, y = next(iter(ds))
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float64
    assert isinstance(y, torch.Tensor) and y.dtype == torch.int64


@pytest.mark.parametrize(
    ("tensors", "needle"),
    [
        ((np.arange(2), np.array([1, "a"], dtype=object)), "str or bytes"),
        ((np.arange(2), np.array([None, "a"], dtype=object)), "NoneType"),
        ((np.arange(3), ["a", 1, "b"]), "mixes strings with numbers"),
        ((np.arange(5.0), np.array(list("abc"))), "same length"),
        (np.array("abc"), "first axis"),
    ],
)
def test_bad_string_inputs_raise_one_clear_error(tensors, needle):
    with pytest.raises(ValueError, match=needle):
        Dataset.from_tensor_slices(tensors)


def test_batching_strings_of_different_shapes_is_refused():
    ds = Dataset.from_tensor_slices(np.array(["a", "b"])).map(
        lambda s: np.array([s] * (1 + len(s)), dtype=object) if s == b"a" else np.array([s])
    )
    with pytest.raises(ValueError, match="different shapes"):
        list(ds.batch(2))
