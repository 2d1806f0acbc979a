"""`TextVectorization`: text to token indices or encoded vectors, as `keras.layers` has it.

Each string goes through the steps Keras (TensorFlow's string ops) applies: standardize
(ASCII lowercasing and/or removing ASCII punctuation), split (on ASCII whitespace, or into
Unicode characters), ngrams (joined with a space), then a `StringLookup` whose mask token
is `""`: index 0 pads `"int"` outputs, index 1 is the out-of-vocabulary token `"[UNK]"`.
The vocabulary is given, read from a file, or learned by `adapt()` (most frequent first,
ties in descending byte order of the tokens). Outputs are torch tensors: int64 indices
(padded or truncated along the last axis), int64 `"multi_hot"`/`"count"` vectors or
float32 `"tf_idf"` vectors, as Keras returns them on its torch backend.
"""

from __future__ import annotations

import codecs
import itertools
import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from convolve.layers import _args
from convolve.layers.lookup import EncodingOutputs, StringLookup
from convolve.layers.symbolic import is_symbolic

_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
_SPLIT = ("whitespace", "character")
_OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
# The characters Keras strips (its regular expression, matched by code point).
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
# TensorFlow lowercases bytes A-Z only (`tf.strings.lower` without an encoding) ...
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# ... and splits on ASCII whitespace only (`tf.strings.split` without a separator).
_WHITESPACE = re.compile("[ \t\n\r\x0b\x0c]+")


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _listify(value: Any) -> Any:
    """A vocabulary or IDF weights as Keras writes them in a config (arrays as lists)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return value


def _nested_lists(value: Any) -> Any:
    """A split callable's result (nested lists, NumPy arrays, or TensorFlow's ragged or
    dense tensors) as nested Python lists."""
    if hasattr(value, "to_list"):  # a ragged tensor
        return value.to_list()
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray | torch.Tensor):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list | tuple):
        return [_nested_lists(v) for v in value]
    return value


class TextVectorization(EncodingOutputs):
    """Maps text to sequences of token indices or to encoded vectors, as
    `keras.layers.TextVectorization`.

    Args:
        max_tokens: the most indices, counting the padding (in `"int"` mode) and OOV
            indices (None: no limit).
        standardize: None, `"lower_and_strip_punctuation"`, `"lower"`,
            `"strip_punctuation"`, or a callable that takes a NumPy array of `str` and
            returns an array (or list, or TensorFlow tensor) of strings of the same shape.
            Lowercasing changes A-Z only and the punctuation removed is ASCII, as in Keras.
        split: None, `"whitespace"` (ASCII whitespace; runs count as one, ends are
            trimmed), `"character"` (Unicode characters), or a callable that takes a 1-D
            NumPy array of `str` and returns one list of tokens per string (nested lists,
            arrays, or a TensorFlow ragged tensor).
        ngrams: None, an integer n (ngrams of 1 to n tokens) or a tuple of ngram widths;
            the tokens of an ngram are joined with a space, all ngrams of the first width
            come first.
        output_mode: `"int"`, `"multi_hot"`, `"count"` or `"tf_idf"` (`"one_hot"` only
            with `split=None`, as in Keras).
        output_sequence_length: in `"int"` mode, pad (with 0) or truncate the last axis to
            this length (None: the longest sequence of the batch).
        pad_to_max_tokens: encode over `max_tokens` indices rather than the vocabulary.
        vocabulary: a list or array of strings, or the path of a text file with one token
            per line.
        idf_weights: per-token inverse document frequencies, for `output_mode="tf_idf"`.
        sparse: only False (sparse outputs need TensorFlow, as in Keras's torch backend).
        ragged: only False (ragged outputs need TensorFlow, as in Keras's torch backend).
        encoding: the text encoding of byte-string inputs.
        name: the layer's name.

    Inputs are a Python string, a list of strings, or a NumPy array of `str`, `bytes` or
    objects holding them, of shape `(batch,)` or `(batch, 1)`.

    Example:
        >>> from convolve.layers import TextVectorization
        >>> vectorize = TextVectorization(output_sequence_length=4)
        >>> vectorize.adapt(["foo bar", "bar baz", "baz bada boom"])
        >>> vectorize.get_vocabulary()
        ['', '[UNK]', 'baz', 'bar', 'foo', 'boom', 'bada']
        >>> vectorize([["foo qux bar"], ["qux baz"]]).tolist()
        [[4, 1, 3, 0], [1, 2, 0, 0]]
    """

    def __init__(
        self,
        max_tokens: int | None = None,
        standardize: str | Callable | None = "lower_and_strip_punctuation",
        split: str | Callable | None = "whitespace",
        ngrams: int | tuple[int, ...] | None = None,
        output_mode: str = "int",
        output_sequence_length: int | None = None,
        pad_to_max_tokens: bool = False,
        vocabulary: Any = None,
        idf_weights: Any = None,
        sparse: bool = False,
        ragged: bool = False,
        encoding: str = "utf-8",
        name: str | None = None,
        *,
        has_input_vocabulary: bool | None = None,
        vocabulary_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        # `has_input_vocabulary` and `vocabulary_size` come back from configs (Keras writes
        # them): whether the vocabulary was given, and its size when the layer was saved.
        owner = "TextVectorization"
        if sparse:
            raise ValueError(
                f"{owner}: `sparse=True` cannot be used with convolve (as with Keras's torch "
                f"backend, it needs TensorFlow). Received: sparse={sparse!r}"
            )
        if ragged:
            raise ValueError(
                f"{owner}: `ragged=True` cannot be used with convolve (as with Keras's torch "
                f"backend, it needs TensorFlow); outputs are padded instead. Received: "
                f"ragged={ragged!r}"
            )
        if not (standardize is None or callable(standardize) or standardize in _STANDARDIZE):
            allowed = ", ".join(map(repr, _STANDARDIZE))
            raise _args.fail(owner, "standardize", standardize, f"None, a callable or {allowed}")
        if not (split is None or callable(split) or split in _SPLIT):
            allowed = ", ".join(map(repr, _SPLIT))
            raise _args.fail(owner, "split", split, f"None, a callable or {allowed}")
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        if output_mode not in _OUTPUT_MODES:
            raise _args.fail(owner, "output_mode", output_mode,
                             "one of " + ", ".join(map(repr, _OUTPUT_MODES)))  # fmt: skip
        if ngrams is None:
            widths = None
        elif _is_int(ngrams) and ngrams >= 1:
            widths = tuple(range(1, int(ngrams) + 1))
        elif isinstance(ngrams, tuple) and ngrams and all(_is_int(w) and w >= 1 for w in ngrams):
            widths = tuple(int(w) for w in ngrams)
        else:
            expected = "None, a positive integer, or a tuple of positive integers"
            raise _args.fail(owner, "ngrams", ngrams, expected)
        if output_mode == "int":
            if output_sequence_length is not None and not (
                _is_int(output_sequence_length) and output_sequence_length >= 0
            ):
                raise _args.fail(owner, "output_sequence_length", output_sequence_length,
                                 "None or an integer >= 0 when `output_mode` is 'int'")  # fmt: skip
        elif output_sequence_length is not None:
            raise ValueError(
                f"{owner}: `output_sequence_length` must not be set if `output_mode` is not "
                f"'int'. Received: output_sequence_length={output_sequence_length!r}"
            )
        if max_tokens is not None and (not _is_int(max_tokens) or max_tokens <= 1):
            raise _args.fail(owner, "max_tokens", max_tokens, "None or an integer greater than 1")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(
                f"{owner}: if `pad_to_max_tokens` is True, `max_tokens` must be set. "
                f"Received: max_tokens={max_tokens!r}"
            )
        if not isinstance(encoding, str):
            raise _args.fail(owner, "encoding", encoding, "the name of a text encoding")
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise _args.fail(owner, "encoding", encoding, "the name of a text encoding") from None
        if has_input_vocabulary is None:
            has_input_vocabulary = vocabulary is not None
        kwargs.pop("dtype", None)  # the layer computes on strings; Keras's policy is unused
        super().__init__(name=name, **kwargs)
        self._standardize = standardize
        self._split = split
        self._ngrams_arg = ngrams
        self._ngrams = widths
        self._output_mode = output_mode
        self._output_sequence_length = (
            None if output_sequence_length is None else int(output_sequence_length)
        )
        self._ragged = False
        self._encoding = encoding
        self._has_input_vocabulary = bool(has_input_vocabulary)
        try:
            self._lookup_layer = StringLookup(
                max_tokens=max_tokens,
                vocabulary=vocabulary,
                idf_weights=idf_weights,
                pad_to_max_tokens=pad_to_max_tokens,
                mask_token="",
                output_mode=output_mode,
                encoding=encoding,
                has_input_vocabulary=self._has_input_vocabulary,
                vocabulary_size=vocabulary_size,
            )
        except ValueError as err:
            raise ValueError(f"{owner} '{self.name}': {err}") from None

    # ------------------------------------------------------------------ properties
    @property
    def dtype(self) -> str:
        return "string"

    @property
    def compute_dtype(self) -> str:
        return "string"

    @property
    def variable_dtype(self) -> str:
        return "string"

    def _owner(self) -> str:
        return f"Layer '{self.name}' (TextVectorization)"

    # ------------------------------------------------------------------ vocabulary
    def get_vocabulary(self, include_special_tokens: bool = True) -> list[str]:
        """The vocabulary in index order; `include_special_tokens=False` drops the padding
        (`""`) and OOV (`"[UNK]"`) entries at the front."""
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self) -> int:
        """The number of indices: the vocabulary plus the padding and OOV indices."""
        return self._lookup_layer.vocabulary_size()

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Sets the vocabulary (a list or array of strings, or a text file with one token per
        line) and, in `"tf_idf"` mode, the inverse document frequencies."""
        try:
            self._lookup_layer.set_vocabulary(vocabulary, idf_weights=idf_weights)
        except ValueError as err:
            raise ValueError(f"{self._owner()}: {err}") from None

    # ------------------------------------------------------------------ preprocessing
    def _text_array(self, inputs: Any) -> np.ndarray:
        """`inputs` as a NumPy object array of `str` (bytes decoded with `encoding`)."""
        if isinstance(inputs, torch.Tensor):
            raise ValueError(
                f"{self._owner()}: takes strings (a list or a NumPy array of str or bytes); "
                f"received a torch tensor of dtype {inputs.dtype}"
            )
        if hasattr(inputs, "numpy") and not isinstance(inputs, np.ndarray | np.generic):
            inputs = inputs.numpy()  # a TensorFlow string tensor
        if isinstance(inputs, str | bytes):
            array = np.empty((), dtype=object)
            array[()] = inputs
        elif isinstance(inputs, np.ndarray):
            array = inputs
        else:
            try:
                array = np.asarray(inputs, dtype=object)
            except ValueError:
                raise ValueError(
                    f"{self._owner()}: takes a rectangular batch of strings; received "
                    f"{inputs!r:.200}"
                ) from None
        if array.dtype.kind not in "USO":
            raise ValueError(
                f"{self._owner()}: takes strings (a list or a NumPy array of str or bytes); "
                f"received an array of dtype {array.dtype} with shape {array.shape}"
            )
        flat = array.reshape(-1).tolist()
        texts = []
        for value in flat:
            if isinstance(value, bytes):
                value = value.decode(self._encoding, errors="surrogateescape")
            elif not isinstance(value, str):
                raise ValueError(
                    f"{self._owner()}: takes strings; received an element {value!r:.80} of "
                    f"type {type(value).__name__}"
                )
            texts.append(value)
        out = np.empty(len(texts), dtype=object)
        out[:] = texts
        return out.reshape(array.shape)

    def _standardized(self, texts: np.ndarray) -> np.ndarray:
        standardize = self._standardize
        if standardize is None:
            return texts
        if callable(standardize):
            # As Keras does on its non-TensorFlow backends: the callable sees a NumPy array
            # of unicode strings, and may return TensorFlow string tensors.
            result = standardize(texts.astype(str) if texts.size else texts.astype("U1"))
            return self._text_array(result)
        lower = standardize in ("lower", "lower_and_strip_punctuation")
        strip = standardize in ("strip_punctuation", "lower_and_strip_punctuation")
        flat = texts.reshape(-1).tolist()
        if lower:
            flat = [t.translate(_ASCII_LOWER) for t in flat]
        if strip:
            flat = [_PUNCTUATION.sub("", t) for t in flat]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(texts.shape)

    def _split_rows(self, texts: np.ndarray) -> tuple[tuple[int, ...], list[list[str]]]:
        """Splits each string into tokens: the batch shape and one token list per string."""
        if texts.ndim > 1:
            if texts.shape[-1] != 1:
                raise ValueError(
                    f"{self._owner()}: when splitting strings into tokens, the input rank must "
                    "be 1 or the last axis must have size 1. Received: inputs with shape "
                    f"{texts.shape}"
                )
            texts = texts.reshape(texts.shape[:-1])
        shape = texts.shape
        flat = texts.reshape(-1).tolist()
        if self._split == "whitespace":
            rows = [_WHITESPACE.split(t.strip(" \t\n\r\x0b\x0c")) if t else [] for t in flat]
            rows = [row if row != [""] else [] for row in rows]
        elif self._split == "character":
            rows = [list(t) for t in flat]
        else:
            result = _nested_lists(self._split(texts.astype(str) if texts.size else texts))
            rows = self._rows_of(result, shape)
        return shape, rows

    def _rows_of(self, result: Any, shape: tuple[int, ...]) -> list[list[str]]:
        """The token lists of a split callable's `result` for strings of batch `shape`."""
        rows: list[Any] = [result]
        for size in shape:
            nested = []
            for item in rows:
                if not isinstance(item, list) or len(item) != size:
                    raise ValueError(
                        f"{self._owner()}: the `split` callable must return one list of tokens "
                        f"per input string (inputs of shape {shape}); received {result!r:.200}"
                    )
                nested.extend(item)
            rows = nested
        out = []
        for row in rows:
            if not isinstance(row, list):
                raise ValueError(
                    f"{self._owner()}: the `split` callable must return one list of tokens per "
                    f"input string (inputs of shape {shape}); received {result!r:.200}"
                )
            tokens = []
            for token in row:
                if isinstance(token, bytes):
                    token = token.decode(self._encoding, errors="surrogateescape")
                elif not isinstance(token, str):
                    raise ValueError(
                        f"{self._owner()}: the `split` callable must return strings; received "
                        f"a token {token!r:.80} of type {type(token).__name__}"
                    )
                tokens.append(token)
            out.append(tokens)
        return out

    def _ngrams_of(self, tokens: list[str]) -> list[str]:
        grams: list[str] = []
        for width in self._ngrams or ():
            grams.extend(" ".join(tokens[i : i + width]) for i in range(len(tokens) - width + 1))
        return grams

    def _preprocess(self, inputs: Any) -> tuple[tuple[int, ...], list[list[str]] | np.ndarray]:
        """Standardized, split and ngrammed tokens: `(shape, rows)` with one token list per
        position of `shape` when splitting, else `(shape, array)` of tokens."""
        texts = self._standardized(self._text_array(inputs))
        if self._split is not None:
            shape, rows = self._split_rows(texts)
            if self._ngrams is not None:
                rows = [self._ngrams_of(row) for row in rows]
            return shape, rows
        if self._ngrams is None:
            return texts.shape, texts
        if texts.ndim == 0:
            raise ValueError(
                f"{self._owner()}: `ngrams` without `split` needs inputs of rank 1 or more "
                "(ngrams are taken along the last axis); received a single string"
            )
        lines = [self._ngrams_of(line) for line in texts.reshape(-1, texts.shape[-1]).tolist()]
        width = len(lines[0]) if lines else len(self._ngrams_of([""] * texts.shape[-1]))
        out = np.empty((len(lines), width), dtype=object)
        for i, line in enumerate(lines):
            out[i, :] = line
        out = out.reshape(*texts.shape[:-1], width)
        return out.shape, out

    @staticmethod
    def _padded(shape: tuple[int, ...], rows: list[list[str]], length: int) -> np.ndarray:
        """Token rows padded with the mask token `""` (or truncated) to `length`."""
        out = np.full((len(rows), length), "", dtype=object)
        for i, row in enumerate(rows):
            row = row[:length]
            out[i, : len(row)] = row
        return out.reshape(*shape, length)

    # ------------------------------------------------------------------ adapt
    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Learns the vocabulary (and, in `"tf_idf"` mode, the document frequencies) from
        `data`: most frequent tokens first, ties in descending byte order, as in Keras.

        Args:
            data: a string, a list or NumPy array of strings, or an iterable of such
                batches (a `convolve.data.Dataset` of strings, a generator, ...).
            batch_size: accepted for compatibility and unused, as in Keras.
            steps: with an iterable, the most batches to read (None: all of them).
        """
        if steps is not None and not (_is_int(steps) and steps >= 0):
            raise _args.fail("TextVectorization.adapt", "steps", steps,
                             "None or an integer >= 0")  # fmt: skip
        self.reset_state()
        if isinstance(data, list | tuple | np.ndarray | str | bytes):
            texts = self._text_array(data)
            if texts.ndim == 1:
                texts = texts[:, None]
            self.update_state(texts)
        elif isinstance(data, torch.Tensor):
            self._text_array(data)  # raises: strings cannot be torch tensors
        elif hasattr(data, "numpy"):  # a TensorFlow string tensor
            self.adapt(data.numpy(), steps=steps)
            return
        elif isinstance(data, Iterable):
            for batch in itertools.islice(data, steps):  # all batches for steps=None
                self.update_state(batch)
        else:
            raise TypeError(
                f"{self._owner()}: adapt() takes strings (a list or array) or an iterable of "
                f"batches of strings; received {type(data).__name__}"
            )
        self.finalize_state()

    def update_state(self, data: Any) -> None:
        """Counts the tokens of one batch of strings (each string is a document)."""
        shape, tokens = self._preprocess(data)
        lookup = self._lookup_layer
        if isinstance(tokens, np.ndarray):
            lookup.update_state(tokens)
            return
        if lookup.output_mode != "tf_idf" or not shape:
            flat = [token for row in tokens for token in row]
            array = np.empty(len(flat), dtype=object)
            array[:] = flat
            lookup.update_state(array)
            return
        # One document per entry of the first axis; documents of equal length go together.
        per_doc = len(tokens) // shape[0] if shape[0] else 1
        documents = [
            [t for row in tokens[i : i + per_doc] for t in row]
            for i in range(0, len(tokens), per_doc)
        ]
        by_length: dict[int, list[list[str]]] = {}
        for document in documents:
            by_length.setdefault(len(document), []).append(document)
        for length, group in by_length.items():
            array = np.empty((len(group), length), dtype=object)
            for i, document in enumerate(group):
                array[i, :] = document
            lookup.update_state(array)

    def finalize_state(self) -> None:
        """Sets the vocabulary from the counted tokens."""
        self._lookup_layer.finalize_state()

    def reset_state(self) -> None:
        """Forgets the tokens counted by `update_state`."""
        self._lookup_layer.reset_state()

    # ------------------------------------------------------------------ calling
    def _encoding_mode(self) -> str:
        return self._output_mode

    def forward(self, inputs: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        symbolic = is_symbolic(inputs)  # on a string `Input`, as the first layer of a model
        if symbolic and getattr(inputs, "dtype", None) != "string":
            raise ValueError(
                f"{self._owner()}: takes strings; in a model its input must be "
                f'`Input(dtype="string")`, received a symbolic input of dtype '
                f"{getattr(inputs, 'dtype', None)!r}"
            )
        outputs = super().forward(inputs, *args, **kwargs)
        if not symbolic:
            self.built = True
        return outputs

    def call(self, inputs: Any) -> torch.Tensor:
        """Vectorizes a batch of strings."""
        shape, tokens = self._preprocess(inputs)
        lookup = self._lookup_layer
        length = self._output_sequence_length
        if isinstance(tokens, np.ndarray):  # split=None: one token per string
            outputs = lookup.call(tokens)
            if self._output_mode != "int" or length is None:
                return outputs
            if outputs.ndim == 0:
                raise ValueError(
                    f"{self._owner()}: `output_sequence_length` needs inputs of rank 1 or "
                    "more; received a single string"
                )
            outputs = outputs[..., :length]
            missing = length - outputs.shape[-1]
            return torch.nn.functional.pad(outputs, (0, missing)) if missing else outputs
        if self._output_mode == "one_hot":
            raise ValueError(
                f"{self._owner()}: `output_mode='one_hot'` works only with `split=None` (one "
                f"token per string), as in Keras. Received: split={self._split!r}"
            )
        if self._output_mode != "int" and len(shape) <= 1:
            return self._encoded_rows(shape, tokens)
        if length is None:
            length = max((len(row) for row in tokens), default=0)
            if self._output_mode != "int":
                length = max(length, 1)  # the padding (mask) token encodes as nothing
        return lookup.call(self._padded(shape, tokens, length))

    def _encoded_rows(self, shape: tuple[int, ...], rows: list[list[str]]) -> torch.Tensor:
        """`"multi_hot"`, `"count"` or `"tf_idf"` vectors of token rows, one per row, counted
        by scatter (what the lookup computes on padded rows, without a one-hot tensor of
        rows x tokens x vocabulary)."""
        lookup = self._lookup_layer
        lookup._check_ready()
        lengths = torch.tensor([len(row) for row in rows], dtype=torch.int64)
        flat = np.empty(int(lengths.sum()), dtype=object)
        flat[:] = [token for row in rows for token in row]
        indices = torch.from_numpy(lookup._lookup(flat))
        depth = lookup.compute_output_shape((None, 1))[-1]
        row_of = torch.repeat_interleave(torch.arange(len(rows)), lengths)
        valid = (indices >= 0) & (indices < depth)  # the padding token encodes as nothing
        idf = lookup.idf_weights
        if self._output_mode == "tf_idf" and idf is None:
            raise ValueError(
                f"{self._owner()}: when `output_mode` is 'tf_idf', `idf_weights` must be provided."
            )
        dtype = torch.float32 if self._output_mode == "tf_idf" else torch.int64
        counts = torch.zeros(len(rows), depth, dtype=dtype)
        counts.index_put_(
            (row_of[valid], indices[valid]),
            torch.ones(int(valid.sum()), dtype=dtype),
            accumulate=True,
        )
        if self._output_mode == "multi_hot":
            counts = (counts > 0).to(torch.int64)
        elif self._output_mode == "tf_idf":
            counts *= idf
        return counts.reshape(*shape, depth)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        input_shape = tuple(input_shape)
        if self._output_mode == "int":
            return (input_shape[0], self._output_sequence_length)
        if self._split is None:
            if len(input_shape) <= 1:
                input_shape = (*input_shape, 1)
        else:
            input_shape = (*input_shape, None)
        return self._lookup_layer.compute_output_shape(input_shape)

    # ------------------------------------------------------------------ model files
    def save_own_variables(self, store: dict[str, Any]) -> None:
        """Writes the IDF weights (`"tf_idf"` mode) as Keras does."""
        self._lookup_layer.save_own_variables(store)

    def load_own_variables(self, store: Any) -> None:
        """Reads the IDF weights written by `save_own_variables` (or by Keras)."""
        self._lookup_layer.load_own_variables(store)

    def save_assets(self, dir_path: str) -> None:
        """Writes a learned vocabulary to `<dir_path>/vocabulary.txt`, as Keras does."""
        self._lookup_layer.save_assets(dir_path)

    def load_assets(self, dir_path: str | None) -> None:
        """Reads the vocabulary written by `save_assets` (or by Keras)."""
        self._lookup_layer.load_assets(dir_path)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        lookup = self._lookup_layer
        vocabulary = _listify(lookup.input_vocabulary)
        if isinstance(vocabulary, list):
            vocabulary = [
                v.decode(self._encoding, errors="surrogateescape") if isinstance(v, bytes) else v
                for v in vocabulary
            ]
        config = {
            **super().get_config(),
            "max_tokens": lookup.max_tokens,
            "standardize": self._standardize,
            "split": self._split,
            "ngrams": self._ngrams_arg,
            "output_mode": self._output_mode,
            "output_sequence_length": self._output_sequence_length,
            "pad_to_max_tokens": lookup.pad_to_max_tokens,
            "sparse": lookup.sparse,
            "ragged": self._ragged,
            "vocabulary": vocabulary,
            "idf_weights": _listify(lookup._input_idf_weights),
            "encoding": self._encoding,
            "vocabulary_size": self.vocabulary_size(),
        }
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TextVectorization:
        config = dict(config)
        for key in ("standardize", "split"):
            if isinstance(config.get(key), dict):  # a registered function, as Keras writes it
                from convolve.saving.keras_objects import deserialize_keras_object

                config[key] = deserialize_keras_object(config[key])
        if isinstance(config.get("ngrams"), list):
            config["ngrams"] = tuple(config["ngrams"])
        return cls(**config)
