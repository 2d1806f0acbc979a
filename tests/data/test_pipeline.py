"""Dataset transformations: the tf.data methods Keras code calls."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from convolve.data import AUTOTUNE, Dataset


def numbers(n=10):
    return Dataset.from_tensor_slices((np.arange(n, dtype=np.float32), np.arange(n) % 3))


def values(ds):
    return [int(x) for x, _ in ds]


def test_from_tensor_slices_and_len():
    ds = numbers()
    assert len(ds) == 10
    x, y = next(iter(ds))
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and y.dtype == torch.int64
    with pytest.raises(ValueError, match="same length"):
        Dataset.from_tensor_slices((np.zeros(3), np.zeros(4)))


def test_map_unpacks_tuples_like_tf_data():
    ds = numbers().map(lambda x, y: (x * 2, y))
    assert values(ds) == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    single = Dataset.from_tensor_slices(np.arange(3)).map(lambda x: x + 1)
    assert [int(v) for v in single] == [1, 2, 3]
    with pytest.raises(ValueError, match="map_func"):
        numbers().map(42)


def test_batch_unbatch_round_trip():
    batched = numbers().batch(4)
    assert len(batched) == 3
    shapes = [tuple(x.shape) for x, _ in batched]
    assert shapes == [(4,), (4,), (2,)]
    assert len(numbers().batch(4, drop_remainder=True)) == 2
    assert values(batched.unbatch()) == list(range(10))


def test_shuffle_is_seeded_and_reshuffles_each_pass():
    ds = numbers().shuffle(10, seed=3)
    first, second = values(ds), values(ds)
    assert sorted(first) == list(range(10)) and first != second
    assert values(numbers().shuffle(10, seed=3)) == first
    fixed = numbers().shuffle(10, seed=3, reshuffle_each_iteration=False)
    assert values(fixed) == values(fixed)
    # A buffer of 1 cannot reorder anything.
    assert values(numbers().shuffle(1)) == list(range(10))


def test_take_skip_repeat_cardinality():
    ds = numbers()
    assert values(ds.take(3)) == [0, 1, 2] and len(ds.take(3)) == 3
    assert values(ds.skip(8)) == [8, 9] and len(ds.skip(8)) == 2
    assert len(ds.take(-1)) == 10 and len(ds.skip(-1)) == 0
    assert values(ds.repeat(2)) == list(range(10)) * 2 and len(ds.repeat(2)) == 20
    forever = ds.repeat()
    assert forever.cardinality() == -1
    with pytest.raises(TypeError, match="infinite"):
        len(forever)
    assert values(forever.take(12)) == list(range(10)) + [0, 1]
    assert len(forever.take(12)) == 12


def test_filter_has_unknown_length():
    ds = numbers().filter(lambda x, y: y == 0)
    assert values(ds) == [0, 3, 6, 9]
    with pytest.raises(TypeError, match="unknown"):
        len(ds)


def test_cache_replays_the_first_complete_pass():
    calls = []

    def record(x, y):
        calls.append(int(x))
        return x, y

    ds = numbers(4).map(record).cache()
    assert values(ds.take(2)) == [0, 1]  # a partial pass is not kept
    assert values(ds) == [0, 1, 2, 3]
    assert values(ds) == [0, 1, 2, 3]
    assert calls == [0, 1, 0, 1, 2, 3]
    with pytest.raises(ValueError, match="filename"):
        numbers().cache("/tmp/cache")


def test_prefetch_keeps_order_and_overlaps_work():
    ds = numbers(20).map(lambda x, y: (x + 1, y)).prefetch(AUTOTUNE)
    assert values(ds) == list(range(1, 21))
    assert len(ds) == 20
    produced = []

    def slow(x, y):
        produced.append(int(x))
        return x, y

    ds = numbers(6).map(slow).prefetch(3)
    it = iter(ds)
    next(it)
    time.sleep(0.2)
    assert len(produced) >= 3  # the background thread ran ahead
    del it


def test_prefetch_reraises_errors_and_stops_its_thread_on_break():
    def boom(x, y):
        if int(x) == 3:
            raise RuntimeError("bad element")
        return x, y

    with pytest.raises(RuntimeError, match="bad element"):
        list(numbers().map(boom).prefetch(2))
    ds = numbers(1000).prefetch(2)
    before = threading.active_count()
    for i, _ in enumerate(ds):
        if i == 5:
            break
    time.sleep(0.1)
    assert threading.active_count() <= before
    assert values(ds.take(3)) == [0, 1, 2]


def test_as_numpy_iterator_and_dict_elements():
    ds = Dataset.from_tensor_slices({"a": np.arange(3), "b": np.ones((3, 2))}).batch(2)
    out = list(ds.as_numpy_iterator())
    assert isinstance(out[0]["a"], np.ndarray) and out[0]["b"].shape == (2, 2)


@pytest.mark.parametrize(
    "call, needle",
    [
        (lambda d: d.batch(0), "batch_size"),
        (lambda d: d.shuffle(0), "buffer_size"),
        (lambda d: d.take("3"), "count"),
        (lambda d: d.prefetch(-5), "buffer_size"),
        (lambda d: d.shuffle(4, seed=-1), "seed"),
    ],
)
def test_bad_arguments(call, needle):
    with pytest.raises(ValueError, match=needle):
        call(numbers())


def _values(dataset) -> list:
    """A tf.data or convolve dataset's elements as nested Python lists."""

    def as_lists(element):
        if isinstance(element, tuple | list):
            return [as_lists(e) for e in element]
        return np.asarray(element).tolist()

    return [as_lists(e) for e in dataset.as_numpy_iterator()]


def test_range_concatenate_enumerate_zip_flat_map_match_tf_data():
    import tensorflow as tf

    cases = [
        (lambda D: D.range(5), "range(5)"),
        (lambda D: D.range(2, 11, 3), "range with step"),
        (lambda D: D.range(3).concatenate(D.range(10, 12)), "concatenate"),
        (lambda D: D.range(4).enumerate(start=5), "enumerate"),
        (lambda D: D.zip(D.range(3), D.range(10, 20)), "zip of arguments"),
        (lambda D: D.zip((D.range(2), (D.range(5, 9), D.range(7)))), "zip of a nested tuple"),
        (lambda D: D.range(4).flat_map(lambda x: D.range(x)), "flat_map"),
        (lambda D: D.from_tensors(np.arange(6).reshape(2, 3)), "from_tensors"),
    ]
    for build, what in cases:
        ours, theirs = build(Dataset), build(tf.data.Dataset)
        assert _values(ours) == _values(theirs), what
        assert ours.cardinality() == int(theirs.cardinality()), what
    zipped = Dataset.zip({"a": Dataset.range(2), "b": Dataset.range(3)})
    assert [{k: int(v) for k, v in e.items()} for e in zipped] == [
        {"a": 0, "b": 0},
        {"a": 1, "b": 1},
    ]


def test_reduce_folds_like_tf_data():
    import tensorflow as tf

    ours = Dataset.range(1, 6).reduce(0, lambda state, x: state + x * x)
    theirs = tf.data.Dataset.range(1, 6).reduce(np.int64(0), lambda state, x: state + x * x)
    assert int(ours) == int(theirs) == 55


@pytest.mark.parametrize(
    "call, needle",
    [
        (lambda: Dataset.range(1.5), "range takes 1 to 3 integers"),
        (lambda: Dataset.range(3).concatenate([1, 2]), "`dataset` must be a Dataset"),
        (lambda: Dataset.zip(Dataset.range(2), [1]), "`datasets` must hold datasets only"),
        (lambda: list(Dataset.range(2).flat_map(lambda x: [x])), "must return a Dataset"),
        (lambda: Dataset.range(2).enumerate(start=-3), "`start` must be >= 0"),
    ],
)
def test_new_methods_reject_bad_arguments(call, needle):
    with pytest.raises(ValueError, match=needle):
        call()
