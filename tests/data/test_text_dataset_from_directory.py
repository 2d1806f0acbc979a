"""`text_dataset_from_directory` against Keras's (a `tf.data` pipeline read with
`as_numpy_iterator`): signature, files, order, labels, truncation, splits, messages, errors,
and the text-classification input path."""

from __future__ import annotations

import inspect
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

import convolve
from convolve import layers
from convolve.data.directory import text_dataset_from_directory

TEXTS = {
    # class folder -> {relative file path: contents (str is written as UTF-8)}
    "neg": {
        "a.txt": "terrible film",
        "b.txt": "",  # an empty file
        "c.TXT": "upper-case extension",
        "sub/d.txt": "nested in a sub-folder",
        "notes.md": "not a text file for the loader",
    },
    "pos": {
        "10.txt": "Schön — 日本語 ✓",  # multi-byte UTF-8
        "2.txt": "great\nsecond line\r\n",
        "z.txt": b"\xff\xfe raw bytes, not UTF-8",
    },
    "zz_mixed": {
        "m.txt": "mixed " * 40,
        "n.txt": "é" * 7,
    },
}


def _write(root: Path, spec: dict[str, dict[str, str | bytes]]) -> Path:
    for cls, files in spec.items():
        for name, text in files.items():
            path = root / cls / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return root


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return _write(tmp_path / "texts", TEXTS)


@pytest.fixture
def two_classes(tmp_path: Path) -> Path:
    return _write(tmp_path / "two", {k: TEXTS[k] for k in ("neg", "pos")})


@pytest.fixture
def many(tmp_path: Path) -> Path:
    """25 files in 3 classes, for shuffles and splits."""
    spec = {f"c{c}": {} for c in range(3)}
    for i in range(25):
        spec[f"c{i % 3}"][f"f{i:02d}.txt"] = f"class {i % 3} file {i} " + "x" * i
    return _write(tmp_path / "many", spec)


@pytest.fixture(scope="module")
def keras():
    import keras

    return keras


def _both(keras, directory, **kwargs):
    """(ours, Keras's) datasets, each as the list of its `as_numpy_iterator` elements."""
    kwargs.setdefault("verbose", False)
    ours = text_dataset_from_directory(directory, **kwargs)
    theirs = keras.utils.text_dataset_from_directory(directory, **kwargs)
    if isinstance(ours, list):
        assert isinstance(theirs, list) and len(ours) == len(theirs) == 2
        return [list(d.as_numpy_iterator()) for d in ours], [
            list(d.as_numpy_iterator()) for d in theirs
        ]
    return list(ours.as_numpy_iterator()), list(theirs.as_numpy_iterator())


def _same(ours, theirs) -> None:
    """Exact equality: bytes scalars, object arrays of bytes, numeric dtypes and shapes."""
    if isinstance(theirs, tuple | list):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            _same(a, b)
    elif isinstance(theirs, bytes):
        assert type(ours) is bytes and ours == theirs
    elif isinstance(theirs, np.ndarray) and theirs.dtype == object:
        assert isinstance(ours, np.ndarray) and ours.dtype == object
        assert ours.shape == theirs.shape
        assert all(type(v) is bytes for v in ours.reshape(-1))
        assert ours.tolist() == theirs.tolist()
    else:
        ours, theirs = np.asarray(ours), np.asarray(theirs)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)


def _samples(batches, labelled=True):
    """The `(text, label-as-tuple)` samples of a list of batches, as a Counter."""
    out = Counter()
    for element in batches:
        texts, labels = element if labelled else (element, None)
        texts = np.atleast_1d(np.asarray(texts, dtype=object))
        for i, text in enumerate(texts.tolist()):
            label = None if labels is None else tuple(np.atleast_1d(labels[i]).tolist())
            out[(text, label)] += 1
    return out


# ----------------------------------------------------------------------------- surface
def test_signature_and_defaults_match_keras(keras):
    ours = inspect.signature(text_dataset_from_directory).parameters
    theirs = inspect.signature(keras.utils.text_dataset_from_directory).parameters
    assert list(ours) == list(theirs)
    for name, parameter in theirs.items():
        assert ours[name].default == parameter.default, name


def test_exported_where_keras_exports_it(keras):
    pairs = [(keras.utils, convolve.utils), (keras.preprocessing, convolve.preprocessing)]
    for module, ours in pairs:
        assert "text_dataset_from_directory" in dir(module)
        assert ours.text_dataset_from_directory is text_dataset_from_directory
    assert "text_dataset_from_directory" in convolve.preprocessing.__all__


# ----------------------------------------------------------------------------- contents
@pytest.mark.parametrize("label_mode", ["int", "categorical", None])
@pytest.mark.parametrize("batch_size", [3, None, 32])
def test_unshuffled_batches_match_keras_exactly(keras, folder, label_mode, batch_size):
    ours, theirs = _both(keras, folder, shuffle=False, label_mode=label_mode, batch_size=batch_size)
    assert len(theirs) > 0
    _same(ours, theirs)


def test_binary_labels_match_keras(keras, two_classes):
    ours, theirs = _both(keras, two_classes, shuffle=False, label_mode="binary", batch_size=4)
    _same(ours, theirs)
    assert ours[0][1].dtype == np.float32 and ours[0][1].shape == (4, 1)
    ours, theirs = _both(keras, two_classes, shuffle=False, label_mode="binary", batch_size=None)
    _same(ours, theirs)


def test_texts_are_raw_file_bytes(folder):
    ds = text_dataset_from_directory(folder, shuffle=False, batch_size=None, verbose=False)
    got = {p: text for p, (text, _) in zip(ds.file_paths, ds.as_numpy_iterator(), strict=True)}
    for path, text in got.items():
        assert text == Path(path).read_bytes()
    assert b"" in got.values() and any(b"\xff\xfe" in t for t in got.values())
    # Iterating directly gives the same bytes and torch labels.
    text, label = next(iter(ds))
    assert type(text) is bytes and isinstance(label, torch.Tensor) and label.dtype == torch.int32


@pytest.mark.parametrize("max_length", [0, 1, 3, 8, 1000, -1, -5])
def test_max_length_cuts_bytes_like_keras(keras, folder, max_length):
    # 3 and 8 cut the multi-byte characters of "Schön — 日本語" and "ééé..." mid-character.
    ours, theirs = _both(keras, folder, shuffle=False, max_length=max_length, batch_size=4)
    _same(ours, theirs)


def test_lengths_and_class_names_match_keras(keras, folder):
    for kwargs in ({}, {"batch_size": None}, {"batch_size": 2}, {"labels": None}):
        ours = text_dataset_from_directory(folder, verbose=False, seed=1, **kwargs)
        theirs = keras.utils.text_dataset_from_directory(folder, verbose=False, seed=1, **kwargs)
        assert len(ours) == len(theirs)
        assert ours.class_names == theirs.class_names


def test_explicit_labels_and_no_labels_match_keras(keras, folder):
    n = 9  # the .txt files, whatever their extension's case
    labels = [(i * 7) % 4 for i in range(n)]
    ours, theirs = _both(keras, folder, shuffle=False, labels=labels, batch_size=4)
    _same(ours, theirs)
    ds = text_dataset_from_directory(folder, labels=labels, verbose=False)
    ref = keras.utils.text_dataset_from_directory(folder, labels=labels, verbose=False)
    assert ds.class_names == ref.class_names == ["0", "1", "2", "3"]
    for kwargs in ({"labels": None}, {"label_mode": None}):
        ours, theirs = _both(keras, folder, shuffle=False, batch_size=4, **kwargs)
        _same(ours, theirs)
        assert all(isinstance(b, np.ndarray) and b.dtype == object for b in ours)


def test_class_names_choose_and_order_classes_like_keras(keras, folder):
    for names in (["zz_mixed", "neg"], ["pos"]):
        ours, theirs = _both(
            keras, folder, shuffle=False, class_names=names, label_mode="categorical"
        )
        _same(ours, theirs)


def test_follow_links_like_keras(keras, tmp_path, folder):
    outside = _write(tmp_path / "outside", {"extra": {"e1.txt": "linked one", "e2.txt": "two"}})
    (folder / "neg" / "link").symlink_to(outside / "extra", target_is_directory=True)
    for follow in (False, True):
        ours, theirs = _both(keras, folder, shuffle=False, follow_links=follow, batch_size=None)
        _same(ours, theirs)
    assert len(ours) == 11


# ----------------------------------------------------------------------------- shuffling
def test_shuffled_files_and_pairs_match_keras(keras, many):
    ours = text_dataset_from_directory(many, seed=7, batch_size=4, verbose=False)
    theirs = keras.utils.text_dataset_from_directory(many, seed=7, batch_size=4, verbose=False)
    reference = _samples(theirs.as_numpy_iterator())
    first = list(ours.as_numpy_iterator())
    second = list(ours.as_numpy_iterator())
    assert _samples(first) == _samples(second) == reference
    assert sum(reference.values()) == 25
    # Every pass is reshuffled; the same seed gives the same passes.
    order = [t for texts, _ in first for t in texts.tolist()]
    assert order != [t for texts, _ in second for t in texts.tolist()]
    again = text_dataset_from_directory(many, seed=7, batch_size=4, verbose=False)
    assert [t for texts, _ in again.as_numpy_iterator() for t in texts.tolist()] == order
    unshuffled = text_dataset_from_directory(many, shuffle=False, batch_size=4, verbose=False)
    assert order != [t for texts, _ in unshuffled.as_numpy_iterator() for t in texts.tolist()]


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("label_mode", ["int", None])
def test_validation_split_matches_keras(keras, many, shuffle, label_mode):
    common = dict(validation_split=0.3, seed=11, shuffle=shuffle, label_mode=label_mode)
    labelled = label_mode is not None
    for subset in ("training", "validation"):
        ours, theirs = _both(keras, many, subset=subset, batch_size=4, **common)
        if shuffle:  # each subset alone is shuffled; Keras's order comes from TensorFlow's RNG
            assert _samples(ours, labelled) == _samples(theirs, labelled)
        else:
            _same(ours, theirs)
    (train, val), (ref_train, ref_val) = _both(keras, many, subset="both", batch_size=4, **common)
    _same(val, ref_val)  # with subset="both" the validation part is never shuffled
    assert _samples(train, labelled) == _samples(ref_train, labelled)
    assert sum(_samples(train, labelled).values()) == 18


# ----------------------------------------------------------------------------- messages
def test_messages_match_keras(keras, many, capsys):
    def lines(fn, **kwargs):
        capsys.readouterr()
        fn(many, **kwargs)
        out = capsys.readouterr().out
        return [line for line in out.splitlines() if line.startswith(("Found", "Using"))]

    cases = [
        {},
        {"labels": None},
        {"validation_split": 0.2, "subset": "training", "seed": 1},
        {"validation_split": 0.2, "subset": "validation", "seed": 1},
        {"validation_split": 0.2, "subset": "both", "seed": 1},
        {"validation_split": 0.2, "subset": "both", "seed": 1, "verbose": False},
        {"verbose": False},
    ]
    for kwargs in cases:
        ours = lines(text_dataset_from_directory, **kwargs)
        theirs = lines(keras.utils.text_dataset_from_directory, **kwargs)
        assert ours == theirs, kwargs
    assert lines(text_dataset_from_directory) == ["Found 25 files belonging to 3 classes."]


# ----------------------------------------------------------------------------- errors
BAD_ARGUMENTS = [
    ({"labels": "folders"}, "labels", "'folders'"),
    ({"labels": [0, 1]}, "labels", "len\\(labels\\) is 2"),
    ({"label_mode": "sparse"}, "label_mode", "'sparse'"),
    ({"labels": [0] * 9, "class_names": ["neg"]}, "class_names", "\\['neg'\\]"),
    ({"class_names": ["cats"]}, "class_names", "\\['cats'\\]"),
    ({"batch_size": 0}, "batch_size", "batch_size=0"),
    ({"max_length": 1.5}, "max_length", "max_length=1.5"),
    ({"format": "torch"}, "format", "'torch'"),
    ({"validation_split": 1.5, "subset": "training", "seed": 1}, "validation_split", "1.5"),
    ({"validation_split": 0.2}, "subset", "subset=None"),
    ({"validation_split": 0.2, "subset": "test", "seed": 1}, "subset", "'test'"),
    ({"validation_split": 0.2, "subset": "training"}, "seed", "seed=None"),
    ({"label_mode": "binary"}, "binary", "'neg', 'pos', 'zz_mixed'"),
]


@pytest.mark.parametrize(("kwargs", "name", "value"), BAD_ARGUMENTS, ids=lambda v: str(v)[:40])
def test_bad_arguments_raise_one_clear_error(keras, folder, kwargs, name, value):
    with pytest.raises(ValueError, match=f"(?s)`?{name}.*{value}"):
        text_dataset_from_directory(folder, verbose=False, **kwargs)
    import tensorflow as tf

    # Keras refuses them too, some only as TensorFlow builds the pipeline.
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError)):
        ds = keras.utils.text_dataset_from_directory(folder, verbose=False, **kwargs)
        list(ds.as_numpy_iterator())


def test_grain_format_is_refused_clearly(folder):
    with pytest.raises(NotImplementedError, match="format='grain'"):
        text_dataset_from_directory(folder, format="grain")


def test_missing_empty_and_too_small_folders(tmp_path, keras):
    with pytest.raises(ValueError, match="`directory` does not exist"):
        text_dataset_from_directory(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError):
        text_dataset_from_directory(tmp_path / "nowhere")
    empty = _write(tmp_path / "empty", {"a": {"x.md": "no .txt here"}})
    message = f"No text files found in directory {empty}. Allowed format: .txt"
    with pytest.raises(ValueError, match=re.escape(message)) as ours:
        text_dataset_from_directory(empty, verbose=False)
    with pytest.raises(ValueError) as theirs:
        keras.utils.text_dataset_from_directory(empty, verbose=False)
    assert str(ours.value) == str(theirs.value)
    tiny = _write(tmp_path / "tiny", {"a": {"x.txt": "one"}, "b": {"y.txt": "two"}})
    kwargs = dict(validation_split=0.2, subset="both", seed=1, verbose=False)
    # int(0.2 * 2) == 0 validation files, so training gets `files[:-0]`, none, as in Keras.
    with pytest.raises(ValueError, match="No training text files found") as ours:
        text_dataset_from_directory(tiny, **kwargs)
    with pytest.raises(ValueError) as theirs:
        keras.utils.text_dataset_from_directory(tiny, **kwargs)
    assert str(ours.value) == str(theirs.value)


# ----------------------------------------------------------------------------- pipelines
def _words(texts) -> np.ndarray:
    """A plain Python function over a batch of texts: the first word of each, lower-cased."""
    return np.array([(t.split() or [b""])[0].lower() for t in texts.tolist()], dtype=object)


def test_python_function_and_string_lookup_pipeline_match_keras(keras, folder):
    ours = text_dataset_from_directory(folder, shuffle=False, batch_size=4, verbose=False)
    theirs = keras.utils.text_dataset_from_directory(
        folder, shuffle=False, batch_size=4, verbose=False
    )
    texts_only = ours.map(lambda x, y: x)  # the keras.io text-classification input path
    assert texts_only.class_names == ours.class_names
    ref_texts = [x for x, _ in theirs.as_numpy_iterator()]
    _same(list(texts_only.as_numpy_iterator()), ref_texts)

    words = {w for x in ref_texts for w in _words(x).tolist() if w}
    vocabulary = sorted(w.decode() for w in words if w.isascii() or w.startswith(b"sch"))
    assert "schön" in vocabulary and len(vocabulary) < len(words)  # some words are unknown
    lookup = layers.StringLookup(vocabulary=vocabulary)
    ref_lookup = keras.layers.StringLookup(vocabulary=vocabulary)
    mapped = ours.map(lambda x, y: (lookup(_words(x)), y))
    for (ids, y), (ref_x, ref_y) in zip(mapped, theirs.as_numpy_iterator(), strict=True):
        np.testing.assert_array_equal(ids.numpy(), np.asarray(ref_lookup(_words(ref_x))))
        np.testing.assert_array_equal(y.numpy(), ref_y)


def _features(texts) -> np.ndarray:
    """Numeric features of a batch of texts: byte count, word count, non-ASCII bytes."""
    rows = [[len(t) / 50, len(t.split()) / 10, sum(b > 127 for b in t) / 10] for t in texts]
    return np.array(rows, dtype=np.float32).reshape(-1, 3)


def test_fit_on_a_mapped_numeric_dataset_matches_keras(keras, folder):
    ds = text_dataset_from_directory(folder, shuffle=False, batch_size=4, verbose=False)
    numeric = ds.map(lambda x, y: (_features(x), y))
    ref = keras.utils.text_dataset_from_directory(
        folder, shuffle=False, batch_size=4, verbose=False
    )
    ref_batches = [(_features(x), y) for x, y in ref.as_numpy_iterator()]
    x_all = np.concatenate([x for x, _ in ref_batches])
    y_all = np.concatenate([y for _, y in ref_batches])

    model = convolve.Sequential([layers.Input((3,)), layers.Dense(3, activation="softmax")])
    ref_model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, activation="softmax")])
    ref_model.set_weights(model.get_weights())
    for m, opt in ((model, convolve.optimizers.SGD(0.5)), (ref_model, keras.optimizers.SGD(0.5))):
        m.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    history = model.fit(numeric, epochs=2, verbose=0)
    ref_history = ref_model.fit(x_all, y_all, batch_size=4, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(
        history.history["loss"], ref_history.history["loss"], rtol=1e-5, atol=1e-6
    )
    for w, ref_w in zip(model.get_weights(), ref_model.get_weights(), strict=True):
        np.testing.assert_allclose(w, ref_w, rtol=1e-5, atol=1e-6)
