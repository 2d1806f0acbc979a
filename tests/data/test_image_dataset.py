"""image_dataset_from_directory: shapes, labels, messages, shuffling and argument checks."""

from __future__ import annotations

import os
from collections import Counter

import numpy as np
import pytest
import torch

from convolve import preprocessing, utils
from convolve.data import Dataset, image_dataset_from_directory


def _load(root, **kwargs):
    kwargs.setdefault("num_workers", 0)
    kwargs.setdefault("verbose", False)
    return image_dataset_from_directory(root, **kwargs)


def test_public_names_are_the_same_function():
    assert utils.image_dataset_from_directory is image_dataset_from_directory
    assert preprocessing.image_dataset_from_directory is image_dataset_from_directory


def test_int_labels_shapes_dtypes_and_attributes(image_folder):
    root = image_folder({"cat": 5, "dog": 4})
    ds = _load(root, image_size=(10, 14), batch_size=4, seed=3)
    assert isinstance(ds, Dataset)
    assert len(ds) == 3
    assert ds.class_names == ["cat", "dog"]
    assert len(ds.file_paths) == 9 and all(p.startswith(str(root)) for p in ds.file_paths)
    batches = list(ds)
    assert [len(x) for x, _ in batches] == [4, 4, 1]
    x, y = batches[0]
    assert x.shape == (4, 10, 14, 3) and x.dtype == torch.float32
    assert y.shape == (4,) and y.dtype == torch.int32
    assert 0 <= float(x.min()) and float(x.max()) <= 255
    labels = torch.cat([y for _, y in batches])
    assert Counter(labels.tolist()) == {0: 5, 1: 4}


def test_label_modes(image_folder):
    root = image_folder({"a": 3, "b": 2})
    x, y = next(iter(_load(root, label_mode="categorical", image_size=8, batch_size=5)))
    assert y.shape == (5, 2) and y.dtype == torch.float32
    assert torch.equal(y.sum(1), torch.ones(5))
    x, y = next(iter(_load(root, label_mode="binary", image_size=8, batch_size=5)))
    assert y.shape == (5, 1) and y.dtype == torch.float32
    assert sorted(y[:, 0].tolist()) == [0.0, 0.0, 0.0, 1.0, 1.0]
    ds = _load(root, label_mode=None, image_size=8, batch_size=5)
    batch = next(iter(ds))
    assert isinstance(batch, torch.Tensor) and batch.shape == (5, 8, 8, 3)
    assert ds.class_names is None


def test_binary_needs_two_classes(image_folder):
    root = image_folder({"a": 1, "b": 1, "c": 1})
    with pytest.raises(ValueError, match="exactly 2 classes"):
        _load(root, label_mode="binary")


def test_messages_match_keras(image_folder, capsys):
    root = image_folder({"a": 6, "b": 4})
    image_dataset_from_directory(root, validation_split=0.2, subset="training", seed=1)
    assert capsys.readouterr().out == (
        "Found 10 files belonging to 2 classes.\nUsing 8 files for training.\n"
    )
    both = image_dataset_from_directory(
        root, validation_split=0.3, subset="both", seed=1, verbose=False
    )
    assert isinstance(both, list)  # as Keras returns
    train, val = both
    assert capsys.readouterr().out == (
        "Using 7 files for training.\nUsing 3 files for validation.\n"
    )
    assert sorted(train.file_paths + val.file_paths) == sorted(
        os.path.join(root, c, f) for c in ("a", "b") for f in os.listdir(root / c)
    )
    image_dataset_from_directory(root, labels=None)
    assert capsys.readouterr().out == "Found 10 files.\n"


def test_explicit_labels_and_class_names(image_folder):
    root = image_folder({"a": 2, "b": 2})
    ds = _load(root, labels=[3, 1, 3, 3], shuffle=False, image_size=8)
    assert ds.class_names == ["1", "3"]
    _, y = next(iter(ds))
    assert y.tolist() == [3, 1, 3, 3]
    ds = _load(root, class_names=["b", "a"], shuffle=False, image_size=8)
    assert ds.class_names == ["b", "a"]
    # Keras lists the files class by class, in class_names order.
    assert next(iter(ds))[1].tolist() == [0, 0, 1, 1]
    assert os.path.basename(os.path.dirname(ds.file_paths[0])) == "b"
    with pytest.raises(ValueError, match="class_names"):
        _load(root, class_names=["a", "zebra"])
    with pytest.raises(ValueError, match="len\\(labels\\) is 3"):
        _load(root, labels=[0, 1, 0])


def test_unshuffled_order_is_sorted_and_labels_follow_folders(image_folder):
    root = image_folder({"a": 3, "b": 3})
    ds = _load(root, shuffle=False, image_size=8, batch_size=2)
    assert ds.file_paths == sorted(ds.file_paths)
    labels = torch.cat([y for _, y in ds]).tolist()
    assert labels == [0, 0, 0, 1, 1, 1]


def test_reshuffles_every_pass_and_is_reproducible(image_folder):
    root = image_folder({"a": 8, "b": 8})

    def order(ds):
        return [tuple(x[:, 0, 0, 0].tolist()) for x, _ in ds]

    ds = _load(root, image_size=4, batch_size=16, seed=5)
    first, second = order(ds), order(ds)
    assert first != second and sorted(first[0]) == sorted(second[0])
    again = _load(root, image_size=4, batch_size=16, seed=5)
    assert order(again) == first


def test_single_samples_when_batch_size_is_none(image_folder):
    root = image_folder({"a": 2, "b": 3})
    ds = _load(root, batch_size=None, image_size=(6, 7), seed=0)
    assert len(ds) == 5
    samples = list(ds)
    assert len(samples) == 5
    x, y = samples[0]
    assert x.shape == (6, 7, 3) and y.shape == () and y.dtype == torch.int32


@pytest.mark.parametrize("color_mode, channels", [("grayscale", 1), ("rgb", 3), ("rgba", 4)])
def test_color_modes(image_folder, color_mode, channels):
    root = image_folder({"a": 2})
    x, _ = next(iter(_load(root, color_mode=color_mode, image_size=5)))
    assert x.shape == (2, 5, 5, channels)


def test_channels_first(image_folder):
    root = image_folder({"a": 2})
    last = next(iter(_load(root, image_size=(5, 6), shuffle=False)))[0]
    first = next(iter(_load(root, image_size=(5, 6), shuffle=False, data_format="channels_first")))
    assert first[0].shape == (2, 3, 5, 6)
    assert torch.equal(first[0], last.permute(0, 3, 1, 2))


@pytest.mark.parametrize("num_workers", [0, 1])
def test_batches_are_in_the_memory_format_a_model_keeps_images_in(image_folder, num_workers):
    # Contiguous (batch, height, width, channels): a model's boundary takes it without a copy.
    root = image_folder({"a": 3})
    x, _ = next(iter(_load(root, image_size=(5, 6), num_workers=num_workers)))
    assert x.is_contiguous()
    first = _load(root, image_size=(5, 6), num_workers=num_workers, data_format="channels_first")
    x, _ = next(iter(first))
    assert x.shape == (3, 3, 5, 6) and x.is_contiguous(memory_format=torch.channels_last)
    assert not x.is_contiguous()


def test_worker_processes_give_the_same_batches(image_folder):
    root = image_folder({"a": 7, "b": 6})
    inline = _load(root, image_size=9, batch_size=4, seed=2, num_workers=0)
    pooled = _load(root, image_size=9, batch_size=4, seed=2, num_workers=2)
    assert pooled.num_workers == 2
    for _ in range(2):  # the second pass reuses the persistent workers, reshuffled
        for (xa, ya), (xb, yb) in zip(inline, pooled, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_transformations_keep_attributes_and_feed_a_training_loop(image_folder):
    root = image_folder({"a": 4, "b": 4})
    ds = _load(root, image_size=6, batch_size=3, seed=0)
    pipeline = ds.map(lambda x, y: (x / 255.0, y)).cache().prefetch(2)
    assert pipeline.class_names == ["a", "b"] and pipeline.file_paths == ds.file_paths
    assert len(pipeline) == 3
    for _ in range(2):
        seen = 0
        for x, y in pipeline:
            assert float(x.max()) <= 1.0 and x.dtype == torch.float32
            seen += len(y)
        assert seen == 8
    assert len(list(ds.take(2))) == 2


def test_hidden_entries_are_ignored(image_folder):
    root = image_folder({"a": 2, "b": 2})
    image_folder({".ipynb_checkpoints": 2})  # hidden class folder
    (root / "a" / ".thumbs").mkdir()
    (root / "a" / ".thumbs" / "x.png").write_bytes((root / "a" / "a_000.png").read_bytes())
    (root / "b" / ".hidden.png").write_bytes((root / "a" / "a_000.png").read_bytes())
    ds = _load(root, image_size=4)
    assert ds.class_names == ["a", "b"]
    assert len(ds.file_paths) == 4
    assert not any(os.sep + "." in p for p in ds.file_paths)


def test_follow_links_survives_a_link_cycle(image_folder):
    root = image_folder({"a": 2})
    os.symlink(root / "a", root / "a" / "loop")
    ds = _load(root, image_size=4, follow_links=True)
    assert len(ds.file_paths) == 2


def test_formats_extension_argument(image_folder):
    root = image_folder({"a": 2})
    (root / "a" / "extra.jpg").write_bytes(b"not used")
    assert len(_load(root, formats=[".png"]).file_paths) == 2
    assert len(_load(root).file_paths) == 3


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"directory": "/no/such/dir"}, "directory"),
        ({"color_mode": "cmyk"}, "color_mode='cmyk'"),
        ({"label_mode": "sparse"}, "label_mode='sparse'"),
        ({"interpolation": "spline"}, "interpolation='spline'"),
        ({"image_size": (0, 5)}, "image_size=(0, 5)"),
        ({"image_size": "big"}, "image_size='big'"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"subset": "training"}, "subset='training'"),
        ({"validation_split": 0.2}, "validation_split=0.2"),
        ({"validation_split": 1.5, "subset": "training"}, "validation_split=1.5"),
        ({"validation_split": 0.2, "subset": "test", "seed": 1}, "subset='test'"),
        ({"validation_split": 0.2, "subset": "training"}, "seed=None"),
        ({"crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True}, "pad_to_aspect_ratio"),
        ({"data_format": "NHWC"}, "data_format='NHWC'"),
        ({"num_workers": -1}, "num_workers=-1"),
        ({"on_error": "ignore"}, "on_error='ignore'"),
        ({"labels": "folders"}, "labels='folders'"),
        ({"labels": [0, 1], "class_names": ["a"]}, "class_names"),
        ({"label_mode": None, "class_names": ["a"]}, "class_names"),
        ({"formats": "png"}, "formats='png'"),
        ({"seed": 1.5}, "seed=1.5"),
    ],
)
def test_arguments_are_checked_before_any_work(image_folder, kwargs, needle):
    root = image_folder({"a": 1, "b": 1})
    kwargs = {"directory": root, **kwargs}
    with pytest.raises(ValueError) as info:
        image_dataset_from_directory(**kwargs)
    assert needle in str(info.value)


def test_empty_directory_raises(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="No images found"):
        _load(tmp_path)


def test_all_supported_formats_load(tmp_path):
    from PIL import Image

    array = np.zeros((6, 8, 3), np.uint8)
    array[:, :, 0] = 200
    for ext, fmt in [
        (".png", "PNG"),
        (".jpg", "JPEG"),
        (".jpeg", "JPEG"),
        (".bmp", "BMP"),
        (".gif", "GIF"),
        (".webp", "WEBP"),
        (".tif", "TIFF"),
        (".tiff", "TIFF"),
    ]:
        (tmp_path / "c").mkdir(exist_ok=True)
        Image.fromarray(array).save(
            tmp_path / "c" / f"img{ext}",
            format=fmt,
            **({"lossless": True} if fmt == "WEBP" else {}),
        )
    ds = _load(tmp_path, image_size=(6, 8), shuffle=False, interpolation="nearest")
    x, _ = next(iter(ds))
    assert len(x) == 8 and not ds.skipped_files
    assert np.abs(x[..., 0].numpy() - 200).max() <= 3  # JPEG is lossy
    assert np.abs(x[..., 1:].numpy()).max() <= 3


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_kept_by_the_caller_are_never_overwritten(image_folder, workers):
    root = image_folder({"a": 9, "b": 9})
    ds = _load(root, image_size=5, batch_size=4, shuffle=False, num_workers=workers)
    kept = [x for x, _ in ds]  # every batch of a pass held at once
    snapshot = [x.clone() for x in kept]
    views = [x[0, :, :, 0] for x, _ in ds]  # only a view of each batch held
    view_snapshot = [v.clone() for v in views]
    for _ in range(3):  # further passes reuse only the buffers nobody holds
        for x, _ in ds:
            x.zero_()
    assert all(torch.equal(a, b) for a, b in zip(kept, snapshot, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(views, view_snapshot, strict=True))


def test_batch_buffers_are_reused_only_when_free():
    from convolve.data.image_folder import _BatchPool

    pool = _BatchPool()
    a = pool.take((2, 3))
    address = a.data_ptr()
    view = a[0]
    del a
    assert pool.take((2, 3)).data_ptr() != address  # a view still refers to it
    del view
    array = pool.take((2, 3)).numpy()
    assert array.ctypes.data == address  # free again, so reused
    assert pool.take((2, 3)).data_ptr() != address  # held through a NumPy view
