"""Hypothesis strategies for the three fuzz targets, seeded from the corpus files.

Every strategy starts from a corpus file (Hypothesis's simplest example is the first seed,
unchanged) and layers mutations on top, so that shrinking leads back towards a real file.
"""

from __future__ import annotations

from typing import Any

import fuzz_targets as ft
from hypothesis import strategies as st

_UINT = st.integers(min_value=0, max_value=2**32 - 1)


def _ops(kinds: tuple[str, ...], max_size: int) -> st.SearchStrategy:
    return st.lists(st.tuples(st.sampled_from(kinds), _UINT, _UINT), max_size=max_size)


@st.composite
def image_examples(draw: Any) -> tuple[bytes, str, int]:
    """(file bytes, extension, how to load it) from a mutated corpus image or random bytes."""
    seeds = [p.read_bytes() for p in ft.corpus_files("images")]
    if draw(st.integers(0, 19)) == 0:
        data = draw(st.binary(max_size=256))
    else:
        data = seeds[draw(st.integers(0, len(seeds) - 1))]
        data = ft.mutate(data, draw(_ops(ft.MUTATION_KINDS, 6)))
        if draw(st.booleans()):
            data = ft.fix_png_crcs(data)
    ext = draw(st.sampled_from(ft.IMAGE_EXTENSIONS))
    return data, ext, draw(st.integers(0, 59))


@st.composite
def model_examples(draw: Any) -> tuple[bytes, str, int]:
    """(file bytes, suffix, how to load it) from a mutated convolve- or Keras-saved file."""
    seeds = ft.corpus_files("models")
    path = seeds[draw(st.integers(0, len(seeds) - 1))]
    data = ft.mutate_model_file(path.read_bytes(), draw(_ops(ft.MODEL_MUTATIONS, 3)))
    suffix = ".keras" if path.name.endswith(".keras") else ".weights.h5"
    if draw(st.integers(0, 9)) == 0:  # the wrong suffix for the contents
        suffix = ".weights.h5" if suffix == ".keras" else ".keras"
    return data, suffix, draw(st.integers(0, 11))


@st.composite
def _array_spec(draw: Any, sample_shape: tuple[int, ...], n: int, label: bool = False) -> dict:
    shape = list(sample_shape)
    choice = draw(st.integers(0, 9))
    if choice == 1:
        shape = shape[:-1] if shape else [2]  # rank one lower (or higher for a scalar)
    elif choice == 2:
        shape = [*shape, draw(st.integers(0, 3))]  # rank one higher
    elif choice == 3 and shape:
        shape[-1] = draw(st.integers(0, 7))  # wrong feature size
    rows = n
    if draw(st.integers(0, 7)) == 0:
        rows = draw(st.sampled_from([0, 1, n - 1, n + 1]))
    dtype = "float32" if draw(st.booleans()) else draw(st.sampled_from(ft.DTYPES))
    if label and draw(st.booleans()):
        dtype = draw(st.sampled_from(["int64", "int32", "uint8", "float32"]))
    fill = draw(st.sampled_from(ft.FILLS)) if draw(st.integers(0, 2)) == 0 else "random"
    if label and fill == "random":
        fill = "labels"
    form = "array" if draw(st.integers(0, 3)) else draw(st.sampled_from(ft.FORMS))
    return {"shape": [rows, *shape], "dtype": dtype, "fill": fill, "form": form}


_ARGUMENT_VALUES: dict[str, list[Any]] = {
    "batch_size": [None, 1, 2, 4, 10**6, 0, -1, 2.5, "4", True],
    "epochs": [0, 1, 2, -1, 1.5, "1", None, True],
    "validation_split": [0.0, 0.25, 0.5, 0.99, 1.0, -0.1, "0.2", float("nan")],
    "shuffle": [True, False, "batch", "yes", None],
    "steps_per_epoch": [None, 1, 0, -1, 1.5],
    "steps": [None, 1, 0, -1],
    "class_weight": [
        None,
        {"int:0": 1.0, "int:1": 2.0},
        {"a": 1.0},
        {"int:-1": 2.0},
        {},
        {"int:0": "x"},
        {"int:10": 1.0},
        {"float:0.5": 1.0},
        {"int:0": float("nan")},
    ],  # fmt: skip
    "initial_epoch": [0, 1, 5, -1],
}
_METHOD_ARGUMENTS = {
    "fit": (
        "batch_size",
        "epochs",
        "validation_split",
        "shuffle",
        "steps_per_epoch",
        "class_weight",
        "initial_epoch",
    ),  # fmt: skip
    "evaluate": ("batch_size", "steps"),
    "predict": ("batch_size", "steps"),
}


@st.composite
def fit_cases(draw: Any) -> dict[str, Any]:
    """A JSON-able description of a fit/evaluate/predict call, mostly valid, partly not."""
    model = draw(st.sampled_from(ft.FIT_MODELS))
    method = draw(st.sampled_from(ft.FIT_METHODS))
    shapes = ft.valid_shapes(model)
    n = draw(st.integers(1, 9))
    xs = [draw(_array_spec(s, n)) for s in shapes["x"]]
    case: dict[str, Any] = {"model": model, "method": method, "seed": draw(st.integers(0, 3))}
    case["x"] = xs[0] if len(xs) == 1 and draw(st.integers(0, 5)) else xs
    if method != "predict":
        if draw(st.integers(0, 9)):
            case["y"] = draw(_array_spec(shapes["y"], n, label=True))
        if draw(st.integers(0, 4)) == 0:
            case["sample_weight"] = draw(_array_spec((), n))
    kwargs = {}
    for name in _METHOD_ARGUMENTS[method]:
        if draw(st.integers(0, 3)) == 0:
            kwargs[name] = draw(st.sampled_from(_ARGUMENT_VALUES[name]))
    case["kwargs"] = kwargs
    return case
