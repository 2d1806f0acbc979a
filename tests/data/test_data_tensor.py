"""Dataset tensors: NumPy's reductions take them (as they take tf.data's), torch's work as
before, and models compute on plain tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convolve import layers, models
from convolve.data import Dataset, image_dataset_from_directory
from convolve.data.data_tensor import DataTensor, from_array, plain

REDUCTIONS = ["sum", "prod", "min", "max", "amin", "amax", "mean", "std", "var", "all", "any"]


def batch() -> torch.Tensor:
    values = np.random.default_rng(0).uniform(0.5, 1.5, (4, 3, 5)).astype(np.float32)
    x, _ = next(iter(Dataset.from_tensor_slices((values, np.arange(4))).batch(4)))
    return x


@pytest.mark.parametrize("name", REDUCTIONS)
def test_numpy_reductions_give_numpy_results(name):
    x = batch()
    assert type(x) is DataTensor
    function = getattr(np, name)
    expected = function(x.numpy())
    got = function(x)
    assert isinstance(got, np.generic) and got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    for kwargs in ({"axis": 1}, {"axis": (0, 2), "keepdims": True}):
        np.testing.assert_allclose(function(x, **kwargs), function(x.numpy(), **kwargs), 1e-6)


def test_torch_calls_are_unchanged():
    x = batch()
    reference = plain(x)
    assert type(reference) is torch.Tensor
    torch.testing.assert_close(x.sum(1), reference.sum(1), rtol=0, atol=0)
    torch.testing.assert_close(x.max(), reference.max(), rtol=0, atol=0)
    values, indices = x.min(dim=0)
    torch.testing.assert_close(indices, reference.min(dim=0).indices, rtol=0, atol=0)
    assert type(x.mean()) is DataTensor and type(x[0] * 2) is DataTensor
    assert x.std(dim=1, keepdim=True).shape == (4, 1, 5)
    assert repr(x[0, 0]) == repr(reference[0, 0])  # prints as "tensor(...)"
    # The shape prints as tf.data's does; it still compares and slices like torch's.
    assert str(x.shape) == "(4, 3, 5)" and x.shape == reference.shape
    assert x.shape[1:] == (3, 5) and x.size() == torch.Size([4, 3, 5])


def test_the_rescaling_tutorial_on_an_image_folder(image_folder):
    # The TensorFlow image tutorial: rescale through `map`, then inspect with NumPy.
    root = image_folder({"a": 3, "b": 2}, size=(20, 24))
    ds = image_dataset_from_directory(root, image_size=(10, 12), batch_size=4, num_workers=0)
    normalization_layer = layers.Rescaling(1.0 / 255)
    normalized_ds = ds.map(lambda x, y: (normalization_layer(x), y))
    image_batch, labels_batch = next(iter(normalized_ds))
    first_image = image_batch[0]
    raw = first_image.numpy()
    assert (np.min(first_image), np.max(first_image)) == (raw.min(), raw.max())
    assert 0.0 <= np.min(first_image) < np.max(first_image) <= 1.0
    assert np.sum(labels_batch) == labels_batch.numpy().sum()


def test_models_and_fit_compute_on_plain_tensors():
    seen = []

    class Spy(layers.Layer):
        def call(self, inputs):
            seen.append(type(inputs))
            return inputs

    model = models.Sequential([layers.Input((3, 5)), Spy(), layers.Flatten(), layers.Dense(2)])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = batch()
    assert type(model(x)) is torch.Tensor
    data = Dataset.from_tensor_slices((x.numpy(), np.array([0, 1, 0, 1]))).batch(2)
    model.fit(data, epochs=1, verbose=0)
    model.predict(data, verbose=0)
    assert seen and all(t is torch.Tensor for t in seen)


def test_numpy_iterator_and_nested_elements():
    ds = Dataset.from_tensor_slices({"image": np.ones((2, 3)), "label": np.arange(2)}).batch(2)
    element = next(iter(ds))
    assert type(element["image"]) is DataTensor and np.max(element["label"]) == 1
    arrays = next(ds.as_numpy_iterator())
    assert type(arrays["image"]) is np.ndarray


def test_read_only_arrays_are_copied_and_writable_ones_shared():
    # NumPy views of TensorFlow tensors (a tf.data pipeline fed to fit) are read-only;
    # torch warns on such memory, so those arrays are copied and others used in place.
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    shared = from_array(array)
    assert np.shares_memory(shared.numpy(), array)
    array.flags.writeable = False
    copied = from_array(array)
    assert not np.shares_memory(copied.numpy(), array)
    np.testing.assert_array_equal(copied.numpy(), array)
    x, _ = next(iter(Dataset.from_tensor_slices((array, array))))
    np.testing.assert_array_equal(x.numpy(), array[0])
