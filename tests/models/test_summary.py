"""model.summary() against Keras's own text for the same architecture."""

import keras
import pytest

from convolve import layers, models


def _text(model, **kwargs):
    lines = []
    model.summary(print_fn=lines.append, **kwargs)
    return "\n".join(lines)


def _normalize_names(text: str, names: list[tuple[str, str]]) -> str:
    for ours, theirs in names:
        text = text.replace(ours, theirs)
    return text


def _pair(build_ours, build_theirs, **kwargs):
    ours, theirs = build_ours(), build_theirs()
    # Auto-numbered names differ between the two libraries' counters: compare with
    # our names substituted by theirs, padded to the same width.
    names = [(o.name, t.name) for o, t in zip(ours.layers, theirs.layers, strict=True)]
    names.append((ours.name, theirs.name))
    widths = {len(o) == len(t) for o, t in names}
    assert widths == {True}, "test models must use explicit names of equal length"
    return _normalize_names(_text(ours, **kwargs), names), _text(theirs, **kwargs)


MLP_OURS = lambda: models.Sequential(  # noqa: E731
    [layers.Input((784,)), layers.Dense(128, activation="relu", name="d1"),
     layers.Dropout(0.2, name="dr"), layers.Dense(10, activation="softmax", name="d2")],
    name="mlp",
)  # fmt: skip
MLP_KERAS = lambda: keras.Sequential(  # noqa: E731
    [keras.Input((784,)), keras.layers.Dense(128, activation="relu", name="d1"),
     keras.layers.Dropout(0.2, name="dr"), keras.layers.Dense(10, activation="softmax", name="d2")],
    name="mlp",
)  # fmt: skip


@pytest.mark.parity
@pytest.mark.parametrize(
    "kwargs", [{}, {"line_length": 100}, {"show_trainable": True}, {"line_length": 70}]
)
def test_summary_text_matches_keras(kwargs):
    ours, theirs = _pair(MLP_OURS, MLP_KERAS, **kwargs)
    assert ours == theirs


@pytest.mark.parity
def test_summary_of_unbuilt_model_matches_keras():
    ours = _text(models.Sequential([layers.Dense(3, name="aa")], name="unb"))
    theirs = _text(keras.Sequential([keras.layers.Dense(3, name="aa")], name="unb"))
    assert ours == theirs


def test_summary_footer_counts_and_sizes():
    text = _text(MLP_OURS())
    assert "Total params: 101,770 (397.54 KB)" in text
    assert "Trainable params: 101,770 (397.54 KB)" in text
    assert "Non-trainable params: 0 (0.00 B)" in text


def test_summary_cost_footer():
    text = _text(MLP_OURS(), show_cost=True)
    # Dense FLOPs: 2 * in * out per sample (multiply and add), bias adds not counted.
    assert f"Forward FLOPs per sample: {2 * 784 * 128 + 2 * 128 * 10:,}" in text
    # Activation memory: outputs of every layer, float32.
    assert f"Activation memory per sample: {(128 + 128 + 10) * 4 / 1024:.2f} KB" in text


def _seed_convnet(lib):
    L = lib.layers
    return lib.Sequential(
        [
            lib.Input((28, 28, 1)),
            L.Conv2D(64, (3, 3), activation="relu", name="c1"),
            L.MaxPooling2D(2, 2, name="p1"),
            L.Conv2D(64, (3, 3), activation="relu", name="c2"),
            L.MaxPooling2D(2, 2, name="p2"),
            L.Flatten(name="fl"),
            L.Dense(128, activation="relu", name="d1"),
            L.BatchNormalization(name="bn"),
            L.Dense(10, activation="softmax", name="d2"),
        ],
        name="seed",
    )


@pytest.mark.parity
@pytest.mark.parametrize("kwargs", [{}, {"show_trainable": True}, {"line_length": 120}])
def test_seed_convnet_summary_matches_keras(kwargs):
    import convolve

    ours, theirs = _pair(lambda: _seed_convnet(convolve), lambda: _seed_convnet(keras), **kwargs)
    assert ours == theirs


def test_seed_convnet_rows_and_total():
    import convolve

    model = _seed_convnet(convolve)
    model.pop()
    model.pop()
    model.add(layers.Dense(10, activation="softmax"))
    text = _text(model)
    for shape, params in [
        ("(None, 26, 26, 64)", "640"), ("(None, 13, 13, 64)", "0"),
        ("(None, 11, 11, 64)", "36,928"), ("(None, 5, 5, 64)", "0"),
        ("(None, 1600)", "0"), ("(None, 128)", "204,928"), ("(None, 10)", "1,290"),
    ]:  # fmt: skip
        assert any(
            shape in line and line.rstrip(" │").endswith(params) for line in text.splitlines()
        )
    assert "Total params: 243,786" in text


@pytest.mark.parity
def test_functional_summary_with_branches_matches_keras():
    import convolve

    def build(lib):
        L = lib.layers
        x = lib.Input((8, 8, 3), name="img")
        a = L.Conv2D(4, 3, padding="same", name="ca")(x)
        b = L.Conv2D(4, 1, name="cb")(x)
        y = L.GlobalAveragePooling2D(name="gp")(L.ReLU(name="re")(a))
        z = L.GlobalMaxPooling2D(name="gm")(b)
        return lib.Model(x, [y, z], name="branchy")

    ours, theirs = _pair(lambda: build(convolve), lambda: build(keras))
    assert ours == theirs
