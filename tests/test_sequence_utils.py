"""`pad_sequences` and `timeseries_dataset_from_array` against Keras (torch backend).

Both functions are exact (indexing and copying only), so outputs are compared exactly,
dtype included. Keras's timeseries dataset is a `tf.data.Dataset`; its batches are
converted with `.numpy()`. With `shuffle=True` the two libraries draw different random
orders, so only the multiset of (window, target) pairs is compared there.
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest

import convolve
from convolve import layers, models
from convolve.data import Dataset
from convolve.utils import pad_sequences, timeseries_dataset_from_array

# ----------------------------------------------------------------------------- pad_sequences
RAGGED = [[1], [2, 3], [4, 5, 6], [], [7, 8, 9, 10]]


@pytest.mark.parametrize(
    "sequences, kwargs",
    [
        (RAGGED, {}),
        (RAGGED, {"value": -1}),
        (RAGGED, {"padding": "post"}),
        (RAGGED, {"maxlen": 2}),
        (RAGGED, {"maxlen": 2, "truncating": "post"}),
        (RAGGED, {"maxlen": 3, "padding": "post", "truncating": "post"}),
        (RAGGED, {"maxlen": 7, "value": 9}),
        (RAGGED, {"dtype": "float32", "value": 0.5}),
        (RAGGED, {"dtype": "int64", "value": 0.9}),  # the fill is cast as NumPy casts it
        (RAGGED, {"dtype": np.float64, "maxlen": 1, "truncating": "pre"}),
        ([[0.5, 1.5], [2.7]], {}),  # floats cast to the default int32
        ([[0.5, 1.5], [2.7]], {"dtype": "float32", "padding": "post"}),
        ([(1, 2), (3,)], {}),  # tuples
        ([np.arange(3), np.arange(5), np.arange(1)], {"maxlen": 4}),  # a list of arrays
        (np.arange(12).reshape(3, 4), {"maxlen": 2}),  # a 2D array
        ([[], []], {}),  # all empty: shape (2, 0)
        ([], {"maxlen": 3}),  # no sequences: shape (0, 3)
        ([[1, 2]], {"maxlen": 0, "truncating": "post"}),
        ([["a"], ["b", "c"], []], {"dtype": object, "value": "<pad>"}),
        ([["a"], ["b", "c"]], {"dtype": object}),  # numeric fill in an object array
        ([["ab", "c"], ["d"]], {"dtype": str, "value": "zz", "maxlen": 3}),
        ([[b"x"], [b"yy", b"z"]], {"dtype": "S2", "value": b"-"}),
        ([[[1, 2], [3, 4]], [[5, 6]], []], {}),  # elements of shape (2,)
        ([np.ones((2, 3, 2)), np.zeros((4, 3, 2))], {"maxlen": 3, "dtype": "float32"}),
        ([[[1, 2], [3, 4], [5, 6]]], {"maxlen": 2, "padding": "post", "value": -7}),
    ],
)
def test_pad_sequences_matches_keras(sequences, kwargs):
    got = pad_sequences(sequences, **kwargs)
    want = keras.utils.pad_sequences(sequences, **kwargs)
    assert type(got) is np.ndarray
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_pad_sequences_signature_and_aliases_match_keras():
    ours = inspect.signature(pad_sequences).parameters
    theirs = inspect.signature(keras.utils.pad_sequences).parameters
    assert [(p.name, p.default) for p in ours.values()] == [
        (p.name, p.default) for p in theirs.values()
    ]
    assert convolve.preprocessing.sequence.pad_sequences is pad_sequences
    assert hasattr(keras.preprocessing.sequence, "pad_sequences")


@pytest.mark.parametrize(
    "sequences, kwargs, named",
    [
        (RAGGED, {"padding": "middle"}, "padding='middle'"),
        (RAGGED, {"truncating": "both"}, "truncating='both'"),
        (RAGGED, {"value": "x"}, "value='x'"),  # a string fill needs an object/str dtype
        ([[1, 2], 3], {}, "Found non-iterable: 3"),
        ([[[1, 2]], [[1, 2, 3]]], {}, "position 1"),  # element shapes differ
        (iter([[1], [2]]), {}, "sequences of type list_iterator"),
        (RAGGED, {"maxlen": -1}, "maxlen=-1"),
        ([], {}, "sequences=[]"),
    ],
)
def test_pad_sequences_bad_input_is_one_clear_value_error(sequences, kwargs, named):
    with pytest.raises(ValueError):  # Keras refuses these too
        keras.utils.pad_sequences(sequences, **kwargs)
    with pytest.raises(ValueError) as info:
        pad_sequences(sequences, **kwargs)
    assert named in str(info.value)


def test_pad_sequences_bad_argument_is_reported_before_any_work():
    # Keras checks `padding` only when it meets a non-empty sequence; it is checked up front
    # here, so an empty batch cannot hide a typo.
    with pytest.raises(ValueError, match="padding='left'"):
        pad_sequences([[], []], padding="left")
    with pytest.raises(ValueError, match="maxlen=2.5"):
        pad_sequences(RAGGED, maxlen=2.5)


# ----------------------------------------------------------------------------- timeseries
def _keras_batches(*args, **kwargs):
    return list(keras.utils.timeseries_dataset_from_array(*args, **kwargs).as_numpy_iterator())


def _ours(*args, **kwargs):
    return list(timeseries_dataset_from_array(*args, **kwargs).as_numpy_iterator())


def _assert_same(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        a = a if isinstance(a, tuple) else (a,)
        b = b if isinstance(b, tuple) else (b,)
        for x, y in zip(a, b, strict=True):
            assert x.dtype == y.dtype and x.shape == y.shape
            np.testing.assert_array_equal(x, y)


SERIES = np.random.default_rng(0).normal(size=(60, 3))
TARGETS = np.arange(60) * 10


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sequence_length": 5},
        {"sequence_length": 5, "batch_size": 7},
        {"sequence_length": 4, "sequence_stride": 3, "sampling_rate": 2, "batch_size": 4},
        {"sequence_length": 10, "sampling_rate": 2, "sequence_stride": 3, "batch_size": 5},
        {"sequence_length": 3, "batch_size": 8, "start_index": 5},
        {"sequence_length": 3, "batch_size": 8, "end_index": 30},
        {"sequence_length": 4, "batch_size": 3, "start_index": 10, "end_index": 40},
        {"sequence_length": 2, "batch_size": None, "sequence_stride": 5},
        {"sequence_length": 60},  # exactly one window
        {"sequence_length": 61},  # no window at all
    ],
)
@pytest.mark.parametrize("with_targets", [True, False])
def test_timeseries_batches_match_keras(kwargs, with_targets):
    targets = TARGETS if with_targets else None
    _assert_same(_ours(SERIES, targets, **kwargs), _keras_batches(SERIES, targets, **kwargs))


@pytest.mark.parametrize(
    "data, targets",
    [
        (np.arange(40, dtype=np.float32).reshape(20, 2), np.arange(20, dtype=np.int32)),
        (np.arange(20), np.arange(20) % 3 == 0),  # int64 data, boolean targets
        (list(range(20)), [float(i) for i in range(20)]),  # lists: int32 / float32
        (np.arange(120, dtype=np.uint8).reshape(20, 3, 2), np.ones((20, 2))),  # 2-D targets
        (np.arange(30.0), np.arange(8)),  # fewer targets than windows
    ],
)
def test_timeseries_dtypes_and_shapes_match_keras(data, targets):
    kwargs = {"sequence_length": 4, "sampling_rate": 2, "batch_size": 3}
    _assert_same(_ours(data, targets, **kwargs), _keras_batches(data, targets, **kwargs))


def test_timeseries_keras_docstring_examples():
    data = np.arange(100)
    ours = _ours(data[:-10], data[10:], sequence_length=10)
    inputs, targets = ours[0]
    np.testing.assert_array_equal(inputs[0], data[:10])
    assert targets[0] == data[10]
    steps = _ours(np.arange(99), None, sequence_length=10, sampling_rate=2, sequence_stride=3)
    windows = np.concatenate(steps)
    np.testing.assert_array_equal(windows[0], np.arange(0, 20, 2))
    np.testing.assert_array_equal(windows[-1], np.arange(78, 98, 2))


def _window_multiset(batches):
    pairs = []
    for x, y in batches:
        for w, t in zip(x, y, strict=True):
            pairs.append((w.tobytes(), t.tobytes()))
    return sorted(pairs)


@pytest.mark.parametrize("batch_size", [4, None])
def test_timeseries_shuffle_yields_the_same_windows_as_keras(batch_size):
    kwargs = {"sequence_length": 5, "sequence_stride": 2, "batch_size": batch_size}
    kwargs |= {"shuffle": True, "seed": 7}
    ours = _ours(SERIES, TARGETS, **kwargs)
    if batch_size is None:
        ours = [(x[None], y[None]) for x, y in ours]
        want = [(x[None], y[None]) for x, y in _keras_batches(SERIES, TARGETS, **kwargs)]
    else:
        want = _keras_batches(SERIES, TARGETS, **kwargs)
        assert [len(x) for x, _ in ours] == [len(x) for x, _ in want]
    assert _window_multiset(ours) == _window_multiset(want)
    plain = _ours(SERIES, TARGETS, **{**kwargs, "shuffle": False, "batch_size": 200})
    order = np.concatenate([y for _, y in ours])
    assert not np.array_equal(order, plain[0][1])  # actually shuffled
    # Targets stay paired with their windows: target = 10 * first timestep's index.
    for x, y in ours:
        for w, t in zip(x, y, strict=True):
            np.testing.assert_array_equal(w[0], SERIES[t // 10])


def test_timeseries_shuffle_is_seeded_and_reshuffles_each_pass():
    def make():
        return timeseries_dataset_from_array(
            np.arange(200), np.arange(200), sequence_length=3, batch_size=4, shuffle=True, seed=1
        )

    a, b = make(), make()

    def targets(ds):
        return np.concatenate([y.numpy() for _, y in ds])

    first = targets(a)
    np.testing.assert_array_equal(first, targets(b))  # same seed, same order
    second = targets(a)
    assert not np.array_equal(first, second)  # a new order each pass, as tf.data
    assert sorted(first) == sorted(second) == list(range(198))
    convolve.utils.set_random_seed(3)
    c = timeseries_dataset_from_array(np.arange(50), None, sequence_length=2, shuffle=True)
    convolve.utils.set_random_seed(3)
    d = timeseries_dataset_from_array(np.arange(50), None, sequence_length=2, shuffle=True)
    np.testing.assert_array_equal(next(iter(c)).numpy(), next(iter(d)).numpy())


def test_timeseries_returns_a_dataset_that_fit_and_pipeline_methods_take():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(40, 3)).astype("float32")
    targets = rng.normal(size=(40, 1)).astype("float32")
    ds = timeseries_dataset_from_array(data, targets, sequence_length=6, batch_size=8)
    assert isinstance(ds, Dataset)
    assert len(ds) == ds.cardinality() == 5  # 35 windows
    assert len(list(ds.take(2))) == 2
    doubled = next(iter(ds.map(lambda x, y: (x * 2, y))))
    np.testing.assert_array_equal(doubled[0].numpy()[0], 2 * data[:6])
    assert isinstance(ds.prefetch(2), Dataset) and len(list(ds.unbatch())) == 35
    model = models.Sequential([layers.Input((6, 3)), layers.Flatten(), layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    assert model.predict(ds, verbose=0).shape == (35, 1)
    assert convolve.preprocessing.timeseries_dataset_from_array is timeseries_dataset_from_array
    assert hasattr(keras.preprocessing, "timeseries_dataset_from_array")


def test_timeseries_signature_matches_keras():
    ours = inspect.signature(timeseries_dataset_from_array).parameters
    theirs = inspect.signature(keras.utils.timeseries_dataset_from_array).parameters
    assert [(p.name, p.default) for p in ours.values()] == [
        (p.name, p.default) for p in theirs.values()
    ]


@pytest.mark.parametrize(
    "kwargs, named",
    [
        ({"start_index": -1}, "start_index=-1"),
        ({"start_index": 60}, "start_index=60"),
        ({"start_index": 20, "end_index": 10}, "end_index=10"),
        ({"end_index": 60}, "end_index=60"),
        ({"sampling_rate": 0}, "sampling_rate=0"),
        ({"sampling_rate": 60}, "sampling_rate=60"),
        ({"sequence_stride": 0}, "sequence_stride=0"),
        ({"sequence_stride": 99}, "sequence_stride=99"),
        ({"format": "numpy"}, "format='numpy'"),
    ],
)
def test_timeseries_bad_arguments_match_keras(kwargs, named):
    with pytest.raises(ValueError):
        keras.utils.timeseries_dataset_from_array(SERIES, TARGETS, 3, **kwargs)
    with pytest.raises(ValueError) as info:
        timeseries_dataset_from_array(SERIES, TARGETS, 3, **kwargs)
    assert named in str(info.value)


@pytest.mark.parametrize(
    "args, kwargs, named",
    [
        ((SERIES, None, 0), {}, "sequence_length=0"),
        ((SERIES, None, 2.5), {}, "sequence_length=2.5"),
        ((SERIES, None, 3), {"batch_size": 0}, "batch_size=0"),
        ((np.array(["a", "b", "c"]), None, 2), {}, "dtype <U1"),
        ((5.0, None, 2), {}, "data=5.0"),
        ((SERIES, TARGETS[:8], 3), {"start_index": 5}, "`targets` is too short"),
    ],
)
def test_timeseries_other_bad_input_is_one_clear_value_error(args, kwargs, named):
    with pytest.raises(ValueError) as info:
        timeseries_dataset_from_array(*args, **kwargs)
    assert named in str(info.value)


def test_timeseries_grain_format_is_refused_clearly():
    with pytest.raises(NotImplementedError, match="format='grain'"):
        timeseries_dataset_from_array(SERIES, None, 3, format="grain")
