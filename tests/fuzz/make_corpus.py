"""Writes the seed corpus under `tests/fuzz/corpus/` (run once; the files are kept in git).

    python tests/fuzz/make_corpus.py

Images: one small valid file per format and mode the loader reads, plus a few malformed
ones. Models: the same small architecture saved by convolve and by Keras (`.keras` and
`.weights.h5`). Fit: JSON descriptions of calls (see `fuzz_targets.materialize`).
Inputs that once made a target fail are added next to these by hand, as regressions.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
os.environ.setdefault("KERAS_BACKEND", "torch")

import fuzz_targets  # noqa: E402
from sample_files import png_bytes  # noqa: E402

CORPUS = fuzz_targets.CORPUS


def _save(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def images() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (9, 7, 3), dtype=np.uint8), "RGB")
    rgba = Image.fromarray(rng.integers(0, 256, (6, 5, 4), dtype=np.uint8), "RGBA")
    gray = rgb.convert("L")
    exif = Image.Exif()
    exif[0x0112] = 6
    frames = [rgb.convert("P"), gray.convert("P")]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], loop=0)
    files = {
        "rgb.jpg": _save(rgb, "JPEG", quality=90),
        "progressive_exif6.jpg": _save(rgb, "JPEG", progressive=True, exif=exif),
        "cmyk.jpg": _save(rgb.convert("CMYK"), "JPEG"),
        "gray.jpg": _save(gray, "JPEG"),
        "rgb.png": _save(rgb, "PNG"),
        "rgba.png": _save(rgba, "PNG"),
        "palette_transparent.png": _save(rgb.convert("P"), "PNG", transparency=0),
        "gray16.png": png_bytes(4, 3, 16, 0, b"".join(b"\x00" + b"\x12\x34" * 4 for _ in range(3))),
        "one_bit.png": _save(gray.convert("1"), "PNG"),
        "interlaced.png": _save(rgb, "PNG", optimize=True),
        "animated.gif": gif.getvalue(),
        "rgb.bmp": _save(rgb, "BMP"),
        "gray.bmp": _save(gray, "BMP"),
        "rgb.webp": _save(rgb, "WEBP", quality=80),
        "rgba_lossless.webp": _save(rgba, "WEBP", lossless=True),
        "rgb.tif": _save(rgb, "TIFF"),
        "gray16.tif": _save(Image.fromarray(np.arange(12, dtype=np.uint16).reshape(3, 4)), "TIFF"),
        "float.tif": _save(
            Image.fromarray(np.linspace(0, 300, 12, dtype=np.float32).reshape(3, 4)), "TIFF"
        ),
        "lzw.tif": _save(rgb, "TIFF", compression="tiff_lzw"),
        # Malformed on purpose.
        "truncated.png": _save(rgb, "PNG")[:60],
        "bomb_header.png": png_bytes(60000, 60000, 8, 0, b"\x00"),
        "zero_size.png": png_bytes(0, 0, 8, 2, b""),
        "not_an_image.jpg": b"GIF89a but really text, not an image at all",
        "jpeg_soi_only.jpg": b"\xff\xd8\xff",
    }
    return files


def models(folder: Path) -> None:
    import keras

    from convolve import saving

    x = np.random.default_rng(0).random((4, 6, 6, 2)).astype("float32")
    y = np.random.default_rng(1).random((4, 4)).astype("float32")
    ours = fuzz_targets.reference_model()
    ours.fit(x, y, verbose=0)
    saving.save_model(ours, folder / "convolve.keras")
    saving.save_weights(ours, folder / "convolve.weights.h5")
    theirs = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(3, 3, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Flatten(),
            keras.layers.Dense(4),
        ]
    )
    theirs.compile(optimizer="adam", loss="mse")
    theirs.fit(x, y, verbose=0)
    theirs.save(folder / "keras.keras")
    theirs.save_weights(folder / "keras.weights.h5")


def _x(shape, dtype="float32", fill="random", form="array") -> dict:
    return {"shape": list(shape), "dtype": dtype, "fill": fill, "form": form}


def fit_cases() -> dict[str, dict]:
    n = 6
    dense_ok = {"model": "dense", "x": _x((n, 4)), "y": _x((n,), "int64", "labels")}
    cases = {
        "dense_ok": {**dense_ok, "method": "fit"},
        "conv_ok": {
            "model": "conv", "method": "fit", "x": _x((n, 5, 5, 2)),
            "y": _x((n, 3), "float32", "zeros"),
        },
        "binary_ok": {"model": "binary", "method": "evaluate", "x": _x((n, 4)),
                      "y": _x((n, 1), "float32", "zeros")},
        "two_inputs_ok": {"model": "two_inputs", "method": "fit",
                          "x": [_x((n, 4)), _x((n, 3))], "y": _x((n, 2))},
        "x_str": {**dense_ok, "method": "fit", "x": _x((n, 4), "str")},
        "x_object": {**dense_ok, "method": "predict", "x": _x((n, 4), "object")},
        "x_complex": {**dense_ok, "method": "evaluate", "x": _x((n, 4), "complex64")},
        "x_float16": {**dense_ok, "method": "fit", "x": _x((n, 4), "float16")},
        "x_nan": {**dense_ok, "method": "fit", "x": _x((n, 4), "float32", "nan")},
        "x_inf_predict": {"model": "conv", "method": "predict", "x": _x((n, 5, 5, 2), fill="inf")},
        "x_empty": {**dense_ok, "method": "fit", "x": _x((0, 4)), "y": _x((0,), "int64")},
        "x_empty_predict": {"model": "dense", "method": "predict", "x": _x((0, 4))},
        "x_rank3": {**dense_ok, "method": "fit", "x": _x((n, 4, 1))},
        "x_wrong_width": {**dense_ok, "method": "evaluate", "x": _x((n, 5))},
        "x_list": {**dense_ok, "method": "fit", "x": _x((n, 4), form="list")},
        "x_scalar": {**dense_ok, "method": "fit", "x": _x((n, 4), form="scalar")},
        "x_string": {**dense_ok, "method": "fit", "x": _x((n, 4), form="string")},
        "x_datetime": {**dense_ok, "method": "fit", "x": _x((n, 4), "datetime64[s]")},
        "y_mismatch": {**dense_ok, "method": "fit", "y": _x((n - 2,), "int64", "labels")},
        "y_out_of_range": {**dense_ok, "method": "fit", "y": _x((n,), "float32", "huge")},
        "y_negative": {**dense_ok, "method": "evaluate", "y": _x((n,), "int64", "negative")},
        "y_str": {**dense_ok, "method": "fit", "y": _x((n,), "str")},
        "y_categorical_for_sparse": {**dense_ok, "method": "fit", "y": _x((n, 3), fill="zeros")},
        "y_binary_two_columns": {"model": "binary", "method": "fit", "x": _x((n, 4)),
                                 "y": _x((n, 2), fill="zeros")},
        "sample_weight_short": {**dense_ok, "method": "fit", "sample_weight": _x((n - 1,))},
        "sample_weight_str": {**dense_ok, "method": "fit", "sample_weight": _x((n,), "str")},
        "sample_weight_nan": {**dense_ok, "method": "fit", "sample_weight": _x((n,), fill="nan")},
        "batch_size_zero": {**dense_ok, "method": "fit", "kwargs": {"batch_size": 0}},
        "batch_size_float": {**dense_ok, "method": "predict", "kwargs": {"batch_size": 2.5}},
        "batch_size_bool": {**dense_ok, "method": "evaluate", "kwargs": {"batch_size": True}},
        "epochs_negative": {**dense_ok, "method": "fit", "kwargs": {"epochs": -1}},
        "epochs_str": {**dense_ok, "method": "fit", "kwargs": {"epochs": "2"}},
        "validation_split_one": {**dense_ok, "method": "fit", "kwargs": {"validation_split": 1.0}},
        "validation_split_tiny": {**dense_ok, "method": "fit",
                                  "kwargs": {"validation_split": 0.01}},
        "steps_negative": {**dense_ok, "method": "fit", "kwargs": {"steps_per_epoch": -1}},
        "class_weight_str_key": {**dense_ok, "method": "fit",
                                 "kwargs": {"class_weight": {"a": 1.0}}},
        "class_weight_negative_key": {**dense_ok, "method": "fit",
                                      "kwargs": {"class_weight": {"int:-1": 2.0}}},
        "class_weight_empty": {**dense_ok, "method": "fit", "kwargs": {"class_weight": {}}},
        "class_weight_str_value": {**dense_ok, "method": "fit",
                                   "kwargs": {"class_weight": {"int:0": "heavy"}}},
        "validation_data_mismatch": {**dense_ok, "method": "fit", "validation_data": {
            "items": [_x((n, 4)), _x((n - 1,), "int64", "labels")]}},
        "dict_x_sequential": {**dense_ok, "method": "fit", "x": _x((n, 4), form="dict")},
        "two_inputs_one_given": {"model": "two_inputs", "method": "fit", "x": _x((n, 4)),
                                 "y": _x((n, 2))},
    }  # fmt: skip
    return cases


def main() -> None:
    for kind in ("images", "models", "fit"):
        (CORPUS / kind).mkdir(parents=True, exist_ok=True)
    for name, data in images().items():
        (CORPUS / "images" / name).write_bytes(data)
    models(CORPUS / "models")
    for name, case in fit_cases().items():
        (CORPUS / "fit" / f"{name}.json").write_text(json.dumps(case, indent=1, sort_keys=True))
    total = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    print(f"corpus: {total} bytes")


if __name__ == "__main__":
    main()
