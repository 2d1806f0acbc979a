"""`image_dataset_from_directory` and `text_dataset_from_directory`: Keras's folder loaders.

Both list, label, shuffle and split the files with the same code (`_check_common`,
`_index_and_split`), which follows Keras's order exactly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from convolve.data.decode import INTERPOLATIONS, DecodeSpec
from convolve.data.image_folder import ImageFolderDataset, _label_table, default_num_workers
from convolve.data.image_utils import default_data_format
from convolve.data.indexing import IMAGE_FORMATS, index_directory, split_subset
from convolve.data.pipeline import AUTOTUNE, Dataset

_COLOR_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}


class MissingDirectoryError(ValueError, FileNotFoundError):
    """The folder given does not exist (a `FileNotFoundError`, as Keras raises)."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _check_common(
    directory: Any,
    labels: Any,
    label_mode: Any,
    class_names: Any,
    batch_size: Any,
    shuffle: bool,
    seed: Any,
    validation_split: Any,
    subset: Any,
) -> None:
    """The checks every folder loader shares (folder, labels, batching, split)."""
    if not isinstance(directory, str | os.PathLike):
        raise ValueError(f"`directory` must be a path; received directory={directory!r}")
    if not os.path.isdir(directory):
        message = f"`directory` {{}}: received directory={os.fspath(directory)!r}"
        if os.path.exists(directory):
            raise ValueError(message.format("is not a directory"))
        raise MissingDirectoryError(message.format("does not exist"))
    if labels not in ("inferred", None):
        if not isinstance(labels, list | tuple | np.ndarray) or not all(_is_int(v) for v in labels):
            raise ValueError(
                "`labels` must be 'inferred', None, or a list/tuple of integer labels, one per "
                f"file in the directory; received labels={labels!r}"
            )
        if class_names:
            raise ValueError(
                "`class_names` can only be passed with labels='inferred'; received "
                f"labels={labels!r} and class_names={class_names!r}"
            )
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(
            "`label_mode` must be one of 'int', 'categorical', 'binary' or None; received "
            f"label_mode={label_mode!r}"
        )
    if class_names is not None and (labels is None or label_mode is None):
        raise ValueError(
            "`class_names` cannot be passed when there are no labels (labels=None or "
            f"label_mode=None); received class_names={class_names!r}"
        )
    if class_names is not None and (
        not isinstance(class_names, list | tuple)
        or not all(isinstance(c, str) for c in class_names)
    ):
        raise ValueError(
            f"`class_names` must be a list of folder names; received class_names={class_names!r}"
        )
    if batch_size is not None and (not _is_int(batch_size) or batch_size <= 0):
        raise ValueError(
            f"`batch_size` must be a positive integer or None; received batch_size={batch_size!r}"
        )
    if seed is not None and not _is_int(seed):
        raise ValueError(f"`seed` must be an integer or None; received seed={seed!r}")
    if validation_split and not (
        isinstance(validation_split, int | float) and 0 < validation_split < 1
    ):
        raise ValueError(
            "`validation_split` must be a float between 0 and 1; received "
            f"validation_split={validation_split!r}"
        )
    if subset not in ("training", "validation", "both", None):
        raise ValueError(
            f"`subset` must be 'training', 'validation', 'both' or None; received subset={subset!r}"
        )
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError(
            "`subset` and `validation_split` must be passed together; received "
            f"validation_split={validation_split!r} and subset={subset!r}"
        )
    if validation_split and shuffle and seed is None:
        raise ValueError(
            "`seed` is required with `validation_split` when shuffling, so that the training "
            "and validation subsets do not overlap; received seed=None"
        )


def _check_arguments(
    directory: Any,
    labels: Any,
    label_mode: Any,
    class_names: Any,
    color_mode: Any,
    batch_size: Any,
    image_size: Any,
    seed: Any,
    validation_split: Any,
    subset: Any,
    interpolation: Any,
    crop_to_aspect_ratio: bool,
    pad_to_aspect_ratio: bool,
    data_format: Any,
    shuffle: bool,
    num_workers: Any,
    on_error: Any,
    formats: Any,
) -> tuple[tuple[int, int], str, tuple[str, ...]]:
    """Validates everything before any file is touched; returns normalised values."""
    _check_common(
        directory, labels, label_mode, class_names, batch_size, shuffle, seed,
        validation_split, subset,
    )  # fmt: skip
    if color_mode not in _COLOR_CHANNELS:
        raise ValueError(
            "`color_mode` must be one of 'rgb', 'rgba', 'grayscale'; received "
            f"color_mode={color_mode!r}"
        )
    if _is_int(image_size):
        image_size = (image_size, image_size)
    if (
        not isinstance(image_size, list | tuple)
        or len(image_size) != 2
        or not all(_is_int(v) and v > 0 for v in image_size)
    ):
        raise ValueError(
            "`image_size` must be a tuple of 2 positive integers (height, width); received "
            f"image_size={image_size!r}"
        )
    if not isinstance(interpolation, str) or interpolation.lower() not in INTERPOLATIONS:
        raise ValueError(
            f"`interpolation` must be one of {INTERPOLATIONS}; received "
            f"interpolation={interpolation!r}"
        )
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(
            "Only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be True; received "
            "crop_to_aspect_ratio=True and pad_to_aspect_ratio=True"
        )
    if data_format is None:
        data_format = default_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "`data_format` must be 'channels_last', 'channels_first' or None; received "
            f"data_format={data_format!r}"
        )
    if num_workers is not None and (not _is_int(num_workers) or num_workers < 0):
        raise ValueError(
            "`num_workers` must be a non-negative integer or None; received "
            f"num_workers={num_workers!r}"
        )
    if on_error not in ("skip", "raise"):
        raise ValueError(f"`on_error` must be 'skip' or 'raise'; received on_error={on_error!r}")
    if formats is None:
        formats = IMAGE_FORMATS
    else:
        if isinstance(formats, str) or not all(
            isinstance(f, str) and f.startswith(".") for f in formats
        ):
            raise ValueError(
                "`formats` must be a list of extensions such as ['.jpg', '.png']; received "
                f"formats={formats!r}"
            )
        formats = tuple(f.lower() for f in formats)
    return (int(image_size[0]), int(image_size[1])), data_format, formats


class _Indexed(NamedTuple):
    """The files of a folder loader, labelled and split: one `(paths, labels)` per subset."""

    parts: list[tuple[list[str], np.ndarray | None]]
    label_mode: str | None
    class_names: list[str] | None
    seed: int


def _index_and_split(
    directory: str | os.PathLike,
    labels: Any,
    label_mode: str | None,
    class_names: Sequence[str] | None,
    shuffle: bool,
    seed: int | None,
    validation_split: float | None,
    subset: str | None,
    follow_links: bool,
    verbose: bool,
    formats: tuple[str, ...],
    noun: str,
    allowed: str,
) -> _Indexed:
    """Indexes, labels, shuffles and splits the files as Keras does, for any file kind.

    `noun` ("images", "text files") and `allowed` name the files in the error raised when a
    subset comes out empty. Returns one `(paths, labels)` part, or two (training, validation)
    with `subset="both"`; labels are None without labels.
    """
    directory = os.fspath(directory)
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    elif isinstance(labels, np.ndarray):
        labels = labels.tolist()
    if seed is None:
        seed = np.random.randint(1e6)  # Keras draws the seed the same way
    seed = int(seed)

    paths, label_array, names = index_directory(
        directory,
        labels,
        formats=formats,
        class_names=class_names,
        shuffle=shuffle,
        seed=seed,
        follow_links=follow_links,
        verbose=verbose,
    )
    if label_mode == "binary" and len(names or []) != 2:
        raise ValueError(
            f"label_mode='binary' needs exactly 2 classes; received class_names={names!r}"
        )

    if subset == "both":
        train = split_subset(paths, label_array, validation_split, "training")
        val = split_subset(paths, label_array, validation_split, "validation")
        if not train[0]:
            raise ValueError(f"No training {noun} found in directory {directory}. {allowed}")
        if not val[0]:
            raise ValueError(f"No validation {noun} found in directory {directory}. {allowed}")
        return _Indexed([train, val], label_mode, names, seed)
    part = split_subset(paths, label_array, validation_split, subset)
    if not part[0]:
        raise ValueError(f"No {noun} found in directory {directory}. {allowed}")
    return _Indexed([part], label_mode, names, seed)


def image_dataset_from_directory(
    directory: str | os.PathLike,
    labels: str | Sequence[int] | None = "inferred",
    label_mode: str | None = "int",
    class_names: Sequence[str] | None = None,
    color_mode: str = "rgb",
    batch_size: int | None = 32,
    image_size: tuple[int, int] | int = (256, 256),
    shuffle: bool = True,
    seed: int | None = None,
    validation_split: float | None = None,
    subset: str | None = None,
    interpolation: str = "bilinear",
    follow_links: bool = False,
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    data_format: str | None = None,
    verbose: bool = True,
    *,
    num_workers: int | None = None,
    on_error: str = "skip",
    formats: Sequence[str] | None = None,
    jpeg_draft: bool = False,
) -> ImageFolderDataset | list[ImageFolderDataset]:
    """Generates a dataset of images (and labels) from the image files in a directory.

    With `labels="inferred"`, each sub-folder of `directory` is a class (in alphanumeric
    order, or the order of `class_names`) and the images inside it, at any depth, are its
    samples. Files are listed, shuffled and split exactly as Keras does, so the same `seed`
    gives the same training and validation files as `keras.utils.image_dataset_from_directory`
    (for folders without hidden files or WebP/TIFF files, which Keras lists differently).
    Decoding and resizing reproduce Keras's pixels too (see `convolve.data.decode`).

    Supported files: `.jpeg`, `.jpg`, `.png`, `.bmp`, `.gif` (first frame), like Keras, plus
    `.webp` and `.tif`/`.tiff`. Any Pillow mode is converted to `color_mode`: palette,
    CMYK, grey with alpha, and 16-bit images (scaled to 0..255) included; EXIF orientation is
    applied. Hidden files and folders (names starting with ".") are ignored.

    Args:
        directory: Folder holding the images (one sub-folder per class if inferred).
        labels: "inferred", None (images only), or a list/tuple of integer labels, one per
            image file in the sorted order of the file paths.
        label_mode: "int" (int32 of shape `(batch,)`), "categorical" (float32 one-hot of
            shape `(batch, num_classes)`), "binary" (float32 of shape `(batch, 1)`; exactly
            two classes) or None (images only).
        class_names: With inferred labels, the sub-folders to use, in label order.
        color_mode: "grayscale" (1 channel), "rgb" (3) or "rgba" (4).
        batch_size: Images per batch, or None to yield single images.
        image_size: `(height, width)` to resize to (an int means a square).
        shuffle: Shuffle the files, and reshuffle them every pass. If False, files come in
            sorted order.
        seed: Seed for the file shuffle (required with `validation_split` and shuffling).
        validation_split: Fraction of the files to reserve for validation, in `(0, 1)`.
        subset: "training", "validation" or "both" (returns `[train, validation]`).
        interpolation: "bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5",
            "gaussian" or "mitchellcubic" (see `convolve.data.decode` for the kernel used).
        follow_links: Descend into symbolic links to folders.
        crop_to_aspect_ratio: Resize without distortion by cropping the largest centred
            window with the target aspect ratio.
        pad_to_aspect_ratio: Resize without distortion by padding with zeros.
        data_format: "channels_last" (`(batch, height, width, channels)`) or
            "channels_first"; None follows `convolve.config.image_data_format()`
            ("channels_last" unless changed).
        verbose: Print how many files and classes were found.
        num_workers: Processes decoding files in parallel (0: decode while iterating, in
            this process). None uses the available CPU cores, at most 8.
        on_error: "skip" (default): a file that cannot be loaded is left out of its batch,
            reported once with a `BadImageWarning` naming the file and the reason, and
            recorded in `dataset.skipped_files`; that batch is then smaller than
            `batch_size`. "raise": stop with a `BadImageError` naming the file.
        formats: Extensions to index, e.g. `[".jpg", ".png"]`; defaults to all supported.
        jpeg_draft: Let the JPEG decoder downscale by 2, 4 or 8 while decoding when the
            image is at least that much larger than `image_size`: 3 to 5 times faster for
            large photos. Off by default because the pixels then differ from Keras's (Keras
            resizes the full image without antialiasing, so on fine detail the two differ by
            a mean of up to ~13 of 255 at 20x reduction; on the smooth content of typical
            photos by ~1-3).

    Returns:
        An `ImageFolderDataset` (a `convolve.data.Dataset`) yielding `(images, labels)`
        batches of torch tensors, or images only without labels. Images are float32 in
        `[0, 255]` (also for "nearest", where Keras yields uint8), shaped
        `(batch, height, width, channels)` but stored channels-first, so models take them
        without a copy (call `.contiguous()` for channels-last memory). It has
        `class_names`, `file_paths` and `skipped_files`. With `subset="both"`, a list
        `[train_dataset, validation_dataset]`. Each pass reshuffles all files with a
        seeded permutation (Keras shuffles through a buffer of `8 * batch_size`).

    Raises:
        ValueError: An argument is invalid (the message names it and echoes the value),
            the directory is missing, or no images are found.

    Example:
        >>> import tempfile, numpy as np
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> for i, cls in enumerate(["cat", "dog", "cat", "dog"]):
        ...     os.makedirs(f"{root}/{cls}", exist_ok=True)
        ...     Image.new("RGB", (40, 30), (i * 50, 0, 0)).save(f"{root}/{cls}/{i}.png")
        >>> ds = image_dataset_from_directory(root, image_size=(20, 20), batch_size=2,
        ...                                   seed=1, num_workers=0)
        Found 4 files belonging to 2 classes.
        >>> ds.class_names
        ['cat', 'dog']
        >>> x, y = next(iter(ds))
        >>> tuple(x.shape), x.dtype, y.dtype
        ((2, 20, 20, 3), torch.float32, torch.int32)
    """
    image_size, data_format, formats = _check_arguments(
        directory, labels, label_mode, class_names, color_mode, batch_size, image_size, seed,
        validation_split, subset, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio,
        data_format, shuffle, num_workers, on_error, formats,
    )  # fmt: skip
    interpolation = interpolation.lower()
    indexed = _index_and_split(
        directory, labels, label_mode, class_names, shuffle, seed, validation_split, subset,
        follow_links, verbose, formats, "images", f"Allowed formats: {', '.join(formats)}",
    )  # fmt: skip
    names = indexed.class_names

    spec = DecodeSpec(
        num_channels=_COLOR_CHANNELS[color_mode],
        image_size=image_size,
        interpolation=interpolation,
        crop_to_aspect_ratio=bool(crop_to_aspect_ratio),
        pad_to_aspect_ratio=bool(pad_to_aspect_ratio),
        jpeg_draft=bool(jpeg_draft),
    )
    workers = default_num_workers() if num_workers is None else int(num_workers)

    def make(part_paths: list[str], part_labels: np.ndarray | None, part_shuffle: bool):
        return ImageFolderDataset(
            part_paths,
            part_labels,
            indexed.label_mode,
            len(names) if names else 0,
            spec,
            batch_size,
            part_shuffle,
            indexed.seed,
            data_format,
            workers,
            on_error,
            names,
        )

    if subset == "both":
        train, val = indexed.parts
        return [make(*train, shuffle), make(*val, False)]  # a list, as Keras returns
    return make(*indexed.parts[0], shuffle)


TEXT_FORMATS = (".txt",)
"""The extensions `text_dataset_from_directory` indexes (Keras's only one)."""


def _read_text(path: str, max_length: int | None) -> bytes:
    """The raw bytes of a file, cut to `max_length` bytes as `tf.strings.substr` cuts them
    (a negative length keeps the whole file, as there)."""
    with open(path, "rb") as f:
        if max_length is not None and max_length >= 0:
            return f.read(max_length)
        return f.read()


class TextFolderDataset(Dataset):
    """Single `(text, label)` samples read from files; see `text_dataset_from_directory`.

    Texts are `bytes` (the raw file contents), labels torch tensors; without labels the
    elements are the texts alone. Batching (and prefetching) is layered on top.
    """

    def __init__(
        self,
        file_paths: list[str],
        labels: np.ndarray | None,
        label_mode: str | None,
        num_classes: int,
        max_length: int | None,
        shuffle: bool,
        seed: int,
        class_names: list[str] | None,
    ) -> None:
        super().__init__()
        self._paths = list(file_paths)
        self._labels = None
        if label_mode is not None and labels is not None:
            self._labels = _label_table(np.asarray(labels), label_mode, num_classes)
        self._max_length = max_length
        self._shuffle = shuffle
        self._seed = seed
        self._epoch = 0
        self._meta["class_names"] = class_names
        self._meta["file_paths"] = list(file_paths)

    def cardinality(self) -> int:
        return len(self._paths)

    def _iterate(self) -> Iterator[Any]:
        n = len(self._paths)
        if self._shuffle:
            # A fresh seeded permutation of all files every pass (Keras reshuffles every pass
            # too, through a buffer of 8 * batch_size files, with TensorFlow's generator).
            order = np.random.default_rng([self._seed, self._epoch]).permutation(n).tolist()
            self._epoch += 1
        else:
            order = range(n)
        for i in order:
            text = _read_text(self._paths[i], self._max_length)
            yield text if self._labels is None else (text, self._labels[i])


def text_dataset_from_directory(
    directory: str | os.PathLike,
    labels: str | Sequence[int] | None = "inferred",
    label_mode: str | None = "int",
    class_names: Sequence[str] | None = None,
    batch_size: int | None = 32,
    max_length: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    validation_split: float | None = None,
    subset: str | None = None,
    follow_links: bool = False,
    format: str = "tf",
    verbose: bool = True,
) -> Dataset | list[Dataset]:
    """Generates a dataset of texts (and labels) from the `.txt` files in a directory.

    With `labels="inferred"`, each sub-folder of `directory` is a class (in alphanumeric
    order, or the order of `class_names`) and the `.txt` files inside it, at any depth, are
    its samples. Files are listed, labelled, shuffled and split by the same code as
    `image_dataset_from_directory`, exactly as Keras does, so the same `seed` gives the same
    training and validation files as `keras.utils.text_dataset_from_directory` (hidden
    files and folders, names starting with ".", are never indexed).

    Each text is the raw contents of its file as `bytes` (not decoded), as TensorFlow's
    string tensors hold them; a batch of texts is a NumPy object array of `bytes`, exactly
    what `as_numpy_iterator()` yields from Keras's dataset. A `StringLookup` or a Python
    function mapped over the dataset takes them as they are.

    Args:
        directory: Folder holding the text files (one sub-folder per class if inferred).
        labels: "inferred", None (texts only), or a list/tuple of integer labels, one per
            `.txt` file in the sorted order of the file paths.
        label_mode: "int" (int32 of shape `(batch,)`), "categorical" (float32 one-hot of
            shape `(batch, num_classes)`), "binary" (float32 of shape `(batch, 1)`; exactly
            two classes) or None (texts only).
        class_names: With inferred labels, the sub-folders to use, in label order.
        batch_size: Texts per batch, or None to yield single texts.
        max_length: Keep at most this many bytes of each file (a multi-byte UTF-8
            character may be cut, as in Keras). None (or a negative number, as in Keras)
            keeps whole files.
        shuffle: Shuffle the files, and reshuffle them every pass. If False, files come in
            sorted order.
        seed: Seed for the file shuffle (required with `validation_split` and shuffling).
        validation_split: Fraction of the files to reserve for validation, in `(0, 1)`.
        subset: "training", "validation" or "both" (returns `[train, validation]`).
        follow_links: Descend into symbolic links to folders.
        format: "tf" (the default): a `convolve.data.Dataset`, which has `tf.data`'s
            methods. Keras's "grain" format is not available.
        verbose: Print how many files and classes were found.

    Returns:
        A `convolve.data.Dataset` yielding `(texts, labels)` batches (texts alone without
        labels), with `class_names` and `file_paths`; with `subset="both"`, a list
        `[train_dataset, validation_dataset]` (the validation one is never shuffled). Each
        pass over a shuffled dataset reshuffles all its files with a seeded permutation,
        so the order differs from Keras's while the files and their labels are the same.

    Raises:
        ValueError: An argument is invalid (the message names it and echoes the value),
            the directory is missing, or no `.txt` files are found.
        NotImplementedError: `format="grain"`.

    Example:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> for i, cls in enumerate(["neg", "pos", "neg", "pos"]):
        ...     os.makedirs(f"{root}/{cls}", exist_ok=True)
        ...     with open(f"{root}/{cls}/{i}.txt", "w", encoding="utf-8") as f:
        ...         _ = f.write(f"review {i}")
        >>> ds = text_dataset_from_directory(root, batch_size=2, shuffle=False)
        Found 4 files belonging to 2 classes.
        >>> ds.class_names
        ['neg', 'pos']
        >>> texts, labels = next(ds.as_numpy_iterator())
        >>> texts, labels
        (array([b'review 0', b'review 2'], dtype=object), array([0, 0], dtype=int32))
    """
    if format == "grain":
        raise NotImplementedError(
            "`format='grain'` is not available; use format='tf', which gives a "
            "convolve.data.Dataset with tf.data's methods. Received format='grain'"
        )
    if format != "tf":
        raise ValueError(f"`format` must be 'tf' or 'grain'; received format={format!r}")
    _check_common(
        directory, labels, label_mode, class_names, batch_size, shuffle, seed,
        validation_split, subset,
    )  # fmt: skip
    if max_length is not None and not _is_int(max_length):
        raise ValueError(
            f"`max_length` must be an integer or None; received max_length={max_length!r}"
        )
    indexed = _index_and_split(
        directory, labels, label_mode, class_names, shuffle, seed, validation_split, subset,
        follow_links, verbose, TEXT_FORMATS, "text files", "Allowed format: .txt",
    )  # fmt: skip
    names = indexed.class_names
    length = None if max_length is None else int(max_length)

    def make(part_paths: list[str], part_labels: np.ndarray | None, part_shuffle: bool):
        files = TextFolderDataset(
            part_paths,
            part_labels,
            indexed.label_mode,
            len(names) if names else 0,
            length,
            part_shuffle,
            indexed.seed,
            names,
        )
        dataset = files if batch_size is None else files.batch(batch_size)
        return dataset.prefetch(AUTOTUNE)

    if subset == "both":
        train, val = indexed.parts
        return [make(*train, shuffle), make(*val, False)]  # a list, as Keras returns
    return make(*indexed.parts[0], shuffle)
