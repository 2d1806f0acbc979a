"""TensorBoard event files, read back with TensorBoard's own readers."""

import json
import os
import random

import pytest
import torch
from tensorboard.backend.event_processing import event_accumulator, plugin_event_accumulator
from tensorboard.compat.tensorflow_stub import pywrap_tensorflow
from tensorboard.util import tensor_util

from convolve.training import tensorboard as tensorboard_module
from convolve.training.callbacks import CallbackList, TensorBoard
from convolve.training.event_file import EventFileWriter, crc32c, masked_crc32c


class FakeOptimizer:
    def __init__(self, learning_rate):
        self.learning_rate = learning_rate


class FakeModel:
    stop_training = False

    def __init__(self, learning_rate=0.01, config=None):
        self.optimizer = FakeOptimizer(learning_rate)
        if config is not None:
            self.to_json = lambda: json.dumps(config)


def read(folder):
    """All tensor summaries in `folder` as {tag: [(step, value), ...]}."""
    # size_guidance 0 keeps every event (the default samples 10 per tag).
    acc = event_accumulator.EventAccumulator(str(folder), size_guidance={"tensors": 0})
    acc.Reload()
    return {
        tag: [(e.step, tensor_util.make_ndarray(e.tensor_proto).item()) for e in acc.Tensors(tag)]
        for tag in acc.Tags()["tensors"]
    }


def fit(callback, epochs=3, steps=4, val=True, model=None, lr_decay=1.0):
    model = model or FakeModel()
    callbacks = CallbackList(
        [callback], add_history=True, model=model, verbose=0, epochs=epochs, steps=steps
    )
    callbacks.on_train_begin()
    logs = {}
    for epoch in range(epochs):
        callbacks.on_epoch_begin(epoch)
        for step in range(steps):
            callbacks.on_train_batch_begin(step)
            callbacks.on_train_batch_end(
                step,
                {
                    "loss": torch.tensor(1.0 / (epoch * steps + step + 1)),
                    "accuracy": torch.tensor(0.5),
                },
            )
        logs = {"loss": 1.0 / (epoch + 1), "accuracy": 0.5 + 0.125 * epoch}
        if val:
            callbacks.on_test_begin()
            callbacks.on_test_batch_begin(0)
            callbacks.on_test_batch_end(0, {"loss": torch.tensor(2.0)})
            callbacks.on_test_end({"loss": 2.0 / (epoch + 1), "accuracy": 0.25 * epoch})
            logs.update(val_loss=2.0 / (epoch + 1), val_accuracy=0.25 * epoch)
        callbacks.on_epoch_end(epoch, logs)
        model.optimizer.learning_rate *= lr_decay
    callbacks.on_train_end(logs)
    return model


def test_epoch_scalars_under_train_and_validation(tmp_path):
    fit(TensorBoard(log_dir=tmp_path), lr_decay=0.5)
    assert sorted(os.listdir(tmp_path)) == ["train", "validation"]
    train = read(tmp_path / "train")
    assert sorted(train) == ["epoch_accuracy", "epoch_learning_rate", "epoch_loss"]
    assert train["epoch_loss"] == [(0, 1.0), (1, 0.5), (2, pytest.approx(1 / 3))]
    assert train["epoch_accuracy"] == [(0, 0.5), (1, 0.625), (2, 0.75)]
    # Stored as float32, as tf.summary.scalar does.
    assert train["epoch_learning_rate"] == [
        (0, pytest.approx(0.01, rel=1e-7)),
        (1, pytest.approx(0.005, rel=1e-7)),
        (2, pytest.approx(0.0025, rel=1e-7)),
    ]
    validation = read(tmp_path / "validation")
    assert validation["epoch_loss"] == [(0, 2.0), (1, 1.0), (2, pytest.approx(2 / 3))]
    assert validation["epoch_accuracy"] == [(0, 0.0), (1, 0.25), (2, 0.5)]
    # After each validation, Keras also logs the results against optimizer iterations;
    # without an `iterations` counter the training batches seen stand in for it.
    assert validation["evaluation_loss_vs_iterations"] == [
        (4, 2.0),
        (8, 1.0),
        (12, pytest.approx(2 / 3)),
    ]
    assert "epoch_learning_rate" not in validation


def test_the_tensorboard_app_sees_scalars(tmp_path):
    fit(TensorBoard(log_dir=tmp_path), val=False)
    acc = plugin_event_accumulator.EventAccumulator(str(tmp_path / "train"))
    acc.Reload()
    assert sorted(acc.PluginTagToContent("scalars")) == [
        "epoch_accuracy",
        "epoch_learning_rate",
        "epoch_loss",
    ]
    metadata = acc.SummaryMetadata("epoch_loss")
    assert metadata.data_class == 1  # DATA_CLASS_SCALAR: plotted by the scalars dashboard.
    assert [e.step for e in acc.Tensors("epoch_loss")] == [0, 1, 2]
    assert not (tmp_path / "validation").exists()  # Nothing to log, so no file.


def test_iterations_are_used_when_the_optimizer_counts_them(tmp_path):
    model = FakeModel()
    model.optimizer.iterations = torch.tensor(41)
    fit(TensorBoard(log_dir=tmp_path), epochs=1, model=model)
    assert read(tmp_path / "validation")["evaluation_loss_vs_iterations"] == [(41, 2.0)]


@pytest.mark.parametrize("update_freq, steps", [("batch", [1, 2, 3, 4, 5, 6, 7, 8]), (3, [3, 6])])
def test_batch_level_scalars(tmp_path, update_freq, steps):
    fit(TensorBoard(log_dir=tmp_path, update_freq=update_freq), epochs=2, val=False)
    train = read(tmp_path / "train")
    assert [step for step, _ in train["batch_loss"]] == steps
    assert train["batch_loss"][0][1] == pytest.approx(1.0 / steps[0])
    assert [step for step, _ in train["batch_accuracy"]] == steps


def test_epoch_frequency_never_reads_batch_tensors(tmp_path, monkeypatch):
    reads = []
    original = tensorboard_module.to_float

    def counting(value):
        reads.append(value)
        return original(value)

    monkeypatch.setattr(tensorboard_module, "to_float", counting)
    fit(TensorBoard(log_dir=tmp_path), epochs=2, steps=5, val=False)
    assert not any(isinstance(value, torch.Tensor) for value in reads)
    assert reads  # Epoch values were read through the helper.


def test_steps_per_second(tmp_path):
    fit(
        TensorBoard(log_dir=tmp_path, write_steps_per_second=True, update_freq=2),
        epochs=1,
        val=False,
    )
    train = read(tmp_path / "train")
    ((step, value),) = train["epoch_steps_per_second"]
    assert step == 0 and value > 0
    assert [s for s, _ in train["batch_steps_per_second"]] == [2, 4]


def test_model_config_written_for_the_graph_plugin(tmp_path):
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": []}}
    callback = TensorBoard(log_dir=tmp_path)
    fit(callback, epochs=1, val=False, model=FakeModel(config=config))
    callback.set_model(callback.model)  # As `evaluate` does: no second description.
    callback.set_model(FakeModel(config={"other": 1}))  # A new model is described.
    written = []
    for name in sorted(os.listdir(tmp_path / "train")):
        acc = event_accumulator.EventAccumulator(str(tmp_path / "train" / name))
        acc.Reload()
        assert "keras" in acc.PluginTagToContent("graph_keras_model")
        (event,) = acc.Tensors("keras")
        written.append(json.loads(tensor_util.make_ndarray(event.tensor_proto).item()))
    assert written == [config, {"other": 1}]


def test_no_graph_without_to_json_or_when_disabled(tmp_path):
    fit(TensorBoard(log_dir=tmp_path / "a"), epochs=1, val=False)
    fit(
        TensorBoard(log_dir=tmp_path / "b", write_graph=False),
        epochs=1,
        val=False,
        model=FakeModel(config={"x": 1}),
    )
    for name in ("a", "b"):
        assert "keras" not in read(tmp_path / name / "train")


def test_new_event_file_per_fit(tmp_path):
    callback = TensorBoard(log_dir=tmp_path)
    fit(callback, epochs=1, val=False)
    fit(callback, epochs=1, val=False)
    files = os.listdir(tmp_path / "train")
    assert len(files) == 2 and all(".tfevents." in name for name in files)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(histogram_freq=1),
        dict(write_images=True),
        dict(profile_batch=2),
        dict(profile_batch=(2, 4)),
        dict(embeddings_freq=1),
        dict(embeddings_metadata="meta.tsv"),
    ],
)
def test_features_not_built_raise(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(NotImplementedError, match=f"TensorBoard\\({name}="):
        TensorBoard(**kwargs)


def test_disabled_features_are_accepted():
    TensorBoard(histogram_freq=0, write_images=False, profile_batch="0,0", embeddings_freq=0)


@pytest.mark.parametrize("update_freq", [0, -1, "step", 1.5])
def test_bad_update_freq(update_freq):
    with pytest.raises(ValueError, match="update_freq must be"):
        TensorBoard(update_freq=update_freq)


# Against Keras's own callback (which needs TensorFlow to write its files)


class KerasSideModel:
    stop_training = False
    train_function = None  # Keras's callback looks for a graph to draw here.

    def __init__(self):
        import keras

        self.optimizer = keras.optimizers.SGD(learning_rate=0.01)


@pytest.mark.parity
@pytest.mark.parametrize("update_freq", ["epoch", 2])
def test_same_summaries_as_keras(tmp_path, update_freq):
    import keras

    def drive(callback_list):
        callback_list.on_train_begin()
        for epoch in range(2):
            callback_list.on_epoch_begin(epoch)
            for step in range(3):
                callback_list.on_train_batch_begin(step)
                callback_list.on_train_batch_end(step, {"loss": torch.tensor(1.0 / (step + 1))})
            callback_list.on_test_begin()
            callback_list.on_test_batch_begin(0)
            callback_list.on_test_batch_end(0, {"loss": 2.0})
            callback_list.on_test_end({"loss": 2.0 - epoch, "accuracy": 0.5})
            callback_list.on_epoch_end(
                epoch,
                {
                    "loss": 0.5 / (epoch + 1),
                    "accuracy": 0.5,
                    "val_loss": 2.0 - epoch,
                    "val_accuracy": 0.5,
                },
            )
        callback_list.on_train_end()

    params = dict(verbose=0, epochs=2, steps=3)
    drive(
        keras.callbacks.CallbackList(
            [keras.callbacks.TensorBoard(tmp_path / "keras", update_freq=update_freq)],
            model=KerasSideModel(),
            **params,
        )
    )
    ours_model = FakeModel(learning_rate=0.01)
    ours_model.optimizer.iterations = 0  # Keras's optimizer has taken no step either.
    drive(
        CallbackList(
            [TensorBoard(tmp_path / "ours", update_freq=update_freq)], model=ours_model, **params
        )
    )
    for folder in ("train", "validation"):
        theirs = read(tmp_path / "keras" / folder)
        ours = read(tmp_path / "ours" / folder)
        if update_freq != "epoch":
            # Keras also filters its epoch-level summaries through the batch-frequency
            # condition (a bug that drops epochs); compare the batch-level ones only.
            theirs = {k: v for k, v in theirs.items() if k.startswith("batch_")}
            ours = {k: v for k, v in ours.items() if k.startswith("batch_")}
        assert ours == theirs
    written = read(tmp_path / "ours" / "train")
    assert written["batch_loss" if update_freq == 2 else "epoch_learning_rate"]  # Not empty.


# The file format itself


def test_crc32c_known_vector_and_tensorboard_agreement():
    assert crc32c(b"123456789") == 0xE3069283  # The standard CRC-32C check value.
    rng = random.Random(0)
    for size in (0, 1, 7, 100, 4096):
        data = bytes(rng.randrange(256) for _ in range(size))
        assert masked_crc32c(data) == pywrap_tensorflow.masked_crc32c(data)


def test_records_pass_tensorboard_integrity_checks(tmp_path):
    writer = EventFileWriter(tmp_path)
    writer.add_scalars({"a": 1.5, "b": -2.0}, step=7)
    writer.add_scalars({"a": 3.0}, step=2**40)  # Large steps use multi-byte varints.
    writer.close()
    reader = pywrap_tensorflow.PyRecordReader_New(writer.path)
    records = []
    while True:
        try:
            reader.GetNext()
        except Exception as error:  # OutOfRangeError at the end; DataLossError on bad CRC.
            assert type(error).__name__ == "OutOfRangeError"
            break
        records.append(reader.record())
    assert len(records) == 3  # file_version + two summaries
    values = read(tmp_path)
    assert values == {"a": [(7, 1.5), (2**40, 3.0)], "b": [(7, -2.0)]}
    acc = event_accumulator.EventAccumulator(str(tmp_path))
    acc.Reload()
    assert acc.file_version == 2.0


def test_corrupted_file_is_detected(tmp_path):
    writer = EventFileWriter(tmp_path)
    writer.add_scalars({"a": 1.5}, step=1)
    writer.close()
    data = bytearray(open(writer.path, "rb").read())
    data[-6] ^= 0xFF  # Flip a byte inside the last record's payload.
    open(writer.path, "wb").write(bytes(data))
    reader = pywrap_tensorflow.PyRecordReader_New(writer.path)
    reader.GetNext()
    with pytest.raises(Exception, match="crc32"):
        reader.GetNext()


def test_event_files_sort_in_creation_order(tmp_path):
    # TensorBoard reads the files of a folder in name order.
    paths = []
    for step in range(12):
        writer = EventFileWriter(tmp_path)
        writer.add_scalars({"x": float(step)}, step)
        writer.close()
        paths.append(os.path.basename(writer.path))
    if len({path.split(".")[3] for path in paths}) == 1:  # All within the same second.
        assert sorted(paths) == paths
    assert read(tmp_path)["x"] == [(step, float(step)) for step in range(12)]
