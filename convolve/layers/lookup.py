"""Vocabulary lookups: `StringLookup` and `IntegerLookup`, as `keras.layers` has them.

Both map tokens to indices (or, with `invert=True`, indices back to tokens) through a
vocabulary that is given, read from a file, or learned by `adapt()` (most frequent first,
ties broken as Keras breaks them). Index `0` is the mask token when one is set (in `"int"`
mode), the next `num_oov_indices` are out-of-vocabulary buckets, then the vocabulary.
Outputs are torch tensors of int64 indices, or encoded vectors for the other output modes;
`StringLookup(invert=True)` returns Python strings, as Keras does on its torch backend.
"""

from __future__ import annotations

import collections
import itertools
import math
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from convolve.layers import _args
from convolve.layers.base import Layer, policy_config
from convolve.layers.hashing import as_strings, encode_bins, hash_buckets
from convolve.layers.symbolic import is_symbolic

_OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
_VOCABULARY_FILE = "vocabulary.txt"  # where Keras keeps a learned vocabulary in a model file


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _to_numpy(inputs: Any) -> np.ndarray:
    if isinstance(inputs, torch.Tensor):
        return inputs.detach().cpu().numpy()
    return np.asarray(inputs)


class EncodingOutputs(Layer):
    """Keras's output spec for layers that turn values into indices or encodings (the
    lookups, TextVectorization): int64 indices and float32 encodings, in a model as its
    symbolic outputs and its outputs between layers (standalone calls return int64
    encodings, as Keras's torch backend does). Eager calls take the data as it is."""

    def _encoding_mode(self) -> str:
        raise NotImplementedError

    def forward(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if is_symbolic(inputs):
            outputs = super().forward(inputs, *args, **kwargs)
            outputs.dtype = "int64" if self._encoding_mode() == "int" else "float32"
            return outputs
        kwargs.pop("training", None)
        return self.call(inputs, *args, **kwargs)

    def engine_call(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        outputs = super().engine_call(inputs, training, **kwargs)
        if self._encoding_mode() != "int" and not outputs.is_floating_point():
            outputs = outputs.to(torch.float32)
        return outputs


class _IndexLookup(EncodingOutputs):
    """The lookup shared by StringLookup and IntegerLookup (Keras's `IndexLookup`)."""

    _built_at_init = True
    _strings = True

    def __init__(
        self,
        max_tokens: int | None,
        num_oov_indices: int,
        mask_token: Any,
        oov_token: Any,
        vocabulary: Any = None,
        idf_weights: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        sparse: bool = False,
        pad_to_max_tokens: bool = False,
        oov_method: str = "floormod",
        name: str | None = None,
        salt: Any = None,
        *,
        vocabulary_size: int | None = None,
        has_input_vocabulary: bool | None = None,
        vocabulary_dtype: str | None = None,
        **kwargs: Any,
    ) -> None:
        # `vocabulary_size` and `vocabulary_dtype` come back from configs (Keras writes
        # them); `has_input_vocabulary` as Keras's constructor takes it.
        owner = type(self).__name__
        expected_dtype = "string" if self._strings else "int64"
        if vocabulary_dtype not in (None, expected_dtype):
            raise _args.fail(owner, "vocabulary_dtype", vocabulary_dtype, repr(expected_dtype))
        if max_tokens is not None and (not _is_int(max_tokens) or max_tokens <= 1):
            raise _args.fail(owner, "max_tokens", max_tokens, "None or an integer greater than 1")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(
                f"{owner}: if `pad_to_max_tokens` is True, `max_tokens` must be set. "
                f"Received: max_tokens={max_tokens!r}"
            )
        if not _is_int(num_oov_indices) or num_oov_indices < 0:
            raise _args.fail(owner, "num_oov_indices", num_oov_indices, "an integer >= 0")
        if oov_method not in ("floormod", "farmhash"):
            raise _args.fail(owner, "oov_method", oov_method, "one of 'floormod', 'farmhash'")
        if salt is not None:
            if not self._strings and oov_method != "farmhash":
                raise ValueError(
                    f"{owner}: `salt` can only be used when `oov_method='farmhash'`. "
                    f"Received: oov_method={oov_method!r}"
                )
            salt = _salt(owner, salt)
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        if output_mode not in _OUTPUT_MODES:
            raise _args.fail(owner, "output_mode", output_mode,
                             "one of " + ", ".join(map(repr, _OUTPUT_MODES)))  # fmt: skip
        if invert and output_mode != "int":
            raise ValueError(
                f"{owner}: `output_mode` must be 'int' when `invert` is true. "
                f"Received: output_mode={output_mode!r}"
            )
        if sparse:
            raise ValueError(
                f"{owner}: `sparse=True` cannot be used with convolve (as with Keras's torch "
                f"backend). Received: sparse={sparse!r}"
            )
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(
                f"{owner}: `idf_weights` should only be set if `output_mode` is 'tf_idf'. "
                f"Received: idf_weights={idf_weights!r:.200} and output_mode={output_mode!r}"
            )
        frozen_size = vocabulary_size
        if has_input_vocabulary is None:
            has_input_vocabulary = vocabulary is not None
        kwargs.pop("dtype", None)  # lookups compute on tokens; Keras ignores `dtype`
        kwargs.pop("trainable", None)
        if kwargs:
            raise ValueError(f"{owner}: unrecognized keyword argument(s): {sorted(kwargs)}")
        super().__init__(name=name)
        self.invert = bool(invert)
        self.max_tokens = max_tokens
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.output_mode = output_mode
        self.sparse = False
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.oov_method = oov_method
        self._salt = salt
        self._frozen_vocab_size = frozen_size
        self._input_vocabulary = None if isinstance(vocabulary, str) else vocabulary
        self._input_idf_weights = idf_weights
        self._has_input_vocabulary = bool(has_input_vocabulary)
        self._tokens: list[Any] | None = None  # None: no vocabulary set or learned yet
        self._index: dict[Any, int] = {}
        self._idf: np.ndarray | None = None
        self._reset_counts()
        if output_mode == "tf_idf":
            if self._has_input_vocabulary and idf_weights is None:
                raise ValueError(
                    f"{owner}: when specifying the `vocabulary` argument in 'tf_idf' output "
                    "mode, the `idf_weights` argument must also be provided."
                )
            if idf_weights is not None:
                self._idf = np.asarray(_to_numpy(idf_weights), dtype="float32")
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # ------------------------------------------------------------------ indices
    def _oov_start_index(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start_index(self) -> int:
        return self._oov_start_index() + self.num_oov_indices

    @property
    def salt(self) -> list[int] | None:
        return None if self._salt is None else list(self._salt)

    @property
    def input_vocabulary(self) -> Any:
        return self._input_vocabulary

    @property
    def idf_weights(self) -> torch.Tensor | None:
        """The inverse document frequencies, per index (`"tf_idf"` mode only)."""
        return None if self._idf is None else torch.from_numpy(self._idf.copy())

    def vocabulary_size(self) -> int:
        """The number of indices: the vocabulary plus the mask and OOV indices."""
        return len(self._tokens or ()) + self._token_start_index()

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[Any]:
        """The vocabulary in index order; `include_special_tokens=False` drops the mask
        and OOV entries at the front."""
        vocab = [self.oov_token] * self._token_start_index() + list(self._tokens or ())
        if self.mask_token is not None and self.output_mode == "int":
            vocab[0] = self.mask_token
        if not include_special_tokens:
            vocab = vocab[self._token_start_index() :]
        return vocab

    # ------------------------------------------------------------------ vocabulary
    def _token(self, value: Any) -> Any:
        raise NotImplementedError

    def _read_vocabulary_file(self, path: str) -> list[Any]:
        raise NotImplementedError

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Sets the vocabulary (a list, array or tensor of tokens, or a text file with one
        token per line) and, in `"tf_idf"` mode, its inverse document frequencies."""
        owner = f"Layer '{self.name}' ({type(self).__name__})"
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError(f"{owner}: `idf_weights` must be set if output_mode is 'tf_idf'.")
        elif idf_weights is not None:
            raise ValueError(
                f"{owner}: `idf_weights` should only be set if output_mode is 'tf_idf'. "
                f"Received: output_mode={self.output_mode!r} and idf_weights={idf_weights!r:.200}"
            )
        if isinstance(vocabulary, str | os.PathLike):
            path = os.fspath(vocabulary)
            if not os.path.exists(path):
                raise ValueError(f"{owner}: vocabulary file {path} does not exist.")
            if self.output_mode == "tf_idf":
                raise ValueError(
                    f"{owner}: output_mode 'tf_idf' does not support loading a vocabulary "
                    f"from file. Received: vocabulary={path!r}"
                )
            self._install(self._read_vocabulary_file(path))
            return
        array = _to_numpy(vocabulary)
        if array.ndim != 1:
            raise ValueError(
                f"{owner}: `vocabulary` must be 1-D (a list of tokens), received shape "
                f"{array.shape}"
            )
        if array.size == 0:
            raise ValueError(
                f"{owner}: cannot set an empty vocabulary. Received: vocabulary={vocabulary!r}"
            )
        tokens_all = [self._token(v) for v in array.tolist()]
        token_start = self._token_start_index()
        special = [self.mask_token] * self._oov_start_index() + [
            self.oov_token
        ] * self.num_oov_indices
        found_special = tokens_all[:token_start] == special
        tokens = tokens_all[token_start:] if found_special else tokens_all
        counts = collections.Counter(tokens)
        repeated = [t for t, c in counts.items() if c > 1]
        if repeated:
            raise ValueError(
                f"{owner}: the passed vocabulary has at least one repeated term. Please "
                f"uniquify your dataset. The repeated terms are: {repeated}"
            )
        for reserved, kind, check in (
            (self.mask_token, "mask_token", True),
            (self.oov_token, "oov_token", self.invert),
        ):
            if check and reserved is not None and reserved in counts:
                raise ValueError(
                    f"{owner}: found reserved {kind.split('_')[0].upper()} token at an "
                    "unexpected location in `vocabulary`. Note that the vocabulary does not "
                    "need to include the OOV and mask tokens. Either remove all mask and OOV "
                    "tokens, or include them only at the start of the vocabulary in "
                    f"precisely this order: {special}. Received: {kind}={reserved!r} at "
                    f"vocabulary index {tokens_all.index(reserved)}"
                )
        size = token_start + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ValueError(
                f"{owner}: attempted to set a vocabulary larger than the maximum vocab size. "
                f"Received vocabulary size is {size}; `max_tokens` is {self.max_tokens}."
            )
        self._install(tokens)
        if self.output_mode == "tf_idf":
            weights = np.asarray(_to_numpy(idf_weights), dtype="float64")
            if weights.ndim != 1:
                raise ValueError(
                    f"{owner}: TF-IDF data must be a 1-D array. Received: idf_weights with "
                    f"shape {weights.shape}"
                )
            if len(weights) != len(array):
                raise ValueError(
                    f"{owner}: `idf_weights` must be the same length as vocabulary. "
                    f"len(idf_weights) is {len(weights)}; len(vocabulary) is {len(array)}"
                )
            front = 0 if found_special else token_start
            back = 0
            if self.pad_to_max_tokens and self.max_tokens is not None:
                back = self.max_tokens - front - len(weights)
            fill = float(np.average(weights)) if front else 0.0
            padded = np.concatenate([np.full(front, fill), weights, np.zeros(max(back, 0))])
            self._idf = padded.astype("float32")

    def _install(self, tokens: list[Any]) -> None:
        self._tokens = list(tokens)
        start = self._token_start_index()
        self._index = {t: start + i for i, t in enumerate(self._tokens)}
        self._record_vocabulary_size()

    def _record_vocabulary_size(self) -> None:
        size = self.vocabulary_size()
        if (
            self.output_mode != "int"
            and not self.pad_to_max_tokens
            and self._frozen_vocab_size is not None
            and size != self._frozen_vocab_size
        ):
            raise RuntimeError(
                f"Layer '{self.name}' ({type(self).__name__}): when using "
                f"`output_mode={self.output_mode}` and `pad_to_max_tokens=False`, the "
                "vocabulary size cannot be changed after the layer is called. Old vocab size "
                f"is {self._frozen_vocab_size}, new vocab size is {size}"
            )
        self._frozen_vocab_size = size

    # ------------------------------------------------------------------ adapt
    def _reset_counts(self) -> None:
        self._token_counts: collections.Counter = collections.Counter()
        self._document_counts: collections.Counter = collections.Counter()
        self._num_documents = 0

    def _tokens_of(self, data: Any) -> np.ndarray:
        """`data` as an array of this layer's tokens (str or int)."""
        raise NotImplementedError

    def adapt(self, data: Any, steps: int | None = None) -> None:
        """Learns the vocabulary from `data`, most frequent tokens first, as Keras does.

        Args:
            data: an array, list or tensor of tokens, or an iterable of such batches
                (a `convolve.data.Dataset`, a generator, ...).
            steps: with an iterable, the most batches to read (None: all of them).
        """
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)):
            raise _args.fail(f"{type(self).__name__}.adapt", "steps", steps, "an integer or None")
        self.reset_state()
        if isinstance(data, list | tuple | np.ndarray | torch.Tensor | str | bytes):
            array = self._tokens_of(data)
            if array.ndim == 1:
                array = array[:, None]
            self.update_state(array)
        elif isinstance(data, Iterable):
            for batch in itertools.islice(data, steps):  # all batches for steps=None
                self.update_state(batch)
        else:
            raise TypeError(
                f"Layer '{self.name}' ({type(self).__name__}): adapt() takes an array, list, "
                f"tensor or an iterable of batches; received {type(data).__name__}"
            )
        self.finalize_state()

    def update_state(self, data: Any) -> None:
        """Counts the tokens of one batch (rows are documents, for `"tf_idf"`)."""
        if self._has_input_vocabulary:
            raise ValueError(
                f"Cannot adapt layer '{self.name}' after setting a static vocabulary via "
                "`vocabulary` argument or `set_vocabulary()` method."
            )
        array = self._tokens_of(data)
        if array.ndim == 0:
            array = array[None]
        if array.ndim == 1:
            array = array[None]
        self._token_counts.update(array.reshape(-1).tolist())
        if self.output_mode == "tf_idf":
            for document in array:
                self._document_counts.update(set(np.reshape(document, [-1]).tolist()))
            self._num_documents += len(array)

    def _sort_key(self, token: Any) -> Any:
        return token

    def finalize_state(self) -> None:
        """Sets the vocabulary from the counted tokens (a no-op for a given vocabulary)."""
        if self._has_input_vocabulary or not self._token_counts:
            self._record_vocabulary_size()
            return
        counts = self._token_counts
        for special in (self.mask_token, self.oov_token):
            if special is not None:
                counts.pop(special, None)
        # Keras orders by count, then by token, both descending.
        ordered = sorted(counts, key=lambda t: (counts[t], self._sort_key(t)), reverse=True)
        token_start = self._token_start_index()
        if self.max_tokens:
            ordered = ordered[: self.max_tokens - token_start]
        self._tokens = None  # a new vocabulary; its size may differ from the last one's
        self._frozen_vocab_size = None
        self._install(ordered)
        if self.output_mode == "tf_idf":
            docs = np.array([self._document_counts[t] for t in ordered], dtype="float64")
            idf = np.log(1.0 + self._num_documents / (1.0 + docs)).astype("float32")
            fill = np.float32(np.mean(idf)) if len(idf) else np.float32(0)
            idf = np.concatenate([np.full(token_start, fill, dtype="float32"), idf])
            if self.pad_to_max_tokens and self.max_tokens is not None:
                idf = np.concatenate([idf, np.zeros(self.max_tokens - len(idf), "float32")])
            self._idf = idf
        self.reset_state()

    def reset_state(self) -> None:
        """Forgets the tokens counted by `update_state`."""
        if not self._has_input_vocabulary:
            self._reset_counts()

    # ------------------------------------------------------------------ calling
    def _encoding_mode(self) -> str:
        return self.output_mode

    def _owner(self) -> str:
        return f"Layer '{self.name}' ({type(self).__name__})"

    def _check_ready(self) -> None:
        if self._tokens is None:
            raise RuntimeError(
                f"{self._owner()}: the vocabulary is not set. Pass a `vocabulary` argument to "
                "the layer, call `set_vocabulary()`, or call `adapt()` with some sample data "
                "before calling the layer."
            )
        if self.output_mode != "int" and not self.pad_to_max_tokens:
            if self._frozen_vocab_size is None:
                raise RuntimeError(
                    f"{self._owner()}: when using `output_mode={self.output_mode}` and "
                    "`pad_to_max_tokens=False`, you must set the layer's vocabulary before "
                    "calling it."
                )

    def _oov_buckets(self, flat: np.ndarray) -> np.ndarray:
        """The OOV index of each (out-of-vocabulary) token, when num_oov_indices > 1."""
        n = self.num_oov_indices
        if not self._strings and self.oov_method != "farmhash":
            return np.mod(flat.astype("int64"), n)
        return hash_buckets(as_strings(flat), n, self._salt)

    def _lookup(self, flat: np.ndarray) -> np.ndarray:
        """Indices of a flat array of tokens (before encoding)."""
        if flat.size == 0:
            return np.zeros(0, dtype="int64")
        unique, inverse = np.unique(flat, return_inverse=True)
        default = self._oov_start_index() if self.num_oov_indices == 1 else -1
        mask_value = 0 if self.output_mode == "int" else np.iinfo(np.int64).max
        values = []
        for token in unique.tolist():
            if self.mask_token is not None and token == self.mask_token:
                values.append(mask_value)
            else:
                values.append(self._index.get(token, default))
        found = np.asarray(values, dtype="int64")
        if self.num_oov_indices == 0 and (found == -1).any():
            missing = [t for t, v in zip(unique.tolist(), values, strict=True) if v == -1]
            raise ValueError(
                f"{self._owner()}: when `num_oov_indices=0` all inputs should be in the "
                f"vocabulary, found OOV values {missing[:10]}; consider setting "
                "`num_oov_indices=1`."
            )
        if self.num_oov_indices > 1 and (found == -1).any():
            oov = found == -1
            found[oov] = self._oov_buckets(unique[oov]) + self._oov_start_index()
        return found[inverse.reshape(-1)]

    def _inverse_lookup(self, indices: np.ndarray) -> list[Any]:
        start = self._token_start_index()
        tokens = self._tokens or []
        out = []
        for i in indices.tolist():
            if self.mask_token is not None and i == 0:
                out.append(self.mask_token)
            elif start <= i < start + len(tokens):
                out.append(tokens[i - start])
            else:
                out.append(self.oov_token)
        return out

    def _indices_of(self, inputs: Any) -> tuple[np.ndarray, torch.device]:
        device = inputs.device if isinstance(inputs, torch.Tensor) else torch.device("cpu")
        array = _to_numpy(inputs)
        if array.dtype.kind == "f":
            array = np.trunc(array)
        if array.dtype.kind not in "biuf":
            raise ValueError(
                f"{self._owner()}: with `invert=True` the inputs are integer indices; "
                f"received an array of dtype {array.dtype} with shape {array.shape}"
            )
        return array.astype("int64"), device

    def _encode(self, indices: np.ndarray, shape: tuple, device: torch.device) -> torch.Tensor:
        tensor = torch.from_numpy(indices.reshape(shape)).to(device)
        if self.output_mode == "int":
            return tensor
        depth = self.max_tokens if self.pad_to_max_tokens else self._frozen_vocab_size
        mode = "count" if self.output_mode == "tf_idf" else self.output_mode
        encoded = encode_bins(tensor, mode, depth, torch.int64)
        if self.output_mode != "tf_idf":
            return encoded
        if self._idf is None:
            raise ValueError(
                f"{self._owner()}: when `output_mode` is 'tf_idf', `idf_weights` must be provided."
            )
        idf = torch.from_numpy(self._idf).to(device)
        return encoded.to(torch.float32) * idf

    def compute_output_shape(self, input_shape: Any) -> tuple:
        input_shape = tuple(input_shape)
        if self.output_mode == "int":
            return input_shape
        depth = self.max_tokens if self.pad_to_max_tokens else self._frozen_vocab_size
        if self.output_mode == "one_hot":
            if len(input_shape) > 1 and input_shape[-1] == 1:
                return (*input_shape[:-1], depth)
            return (*input_shape, depth)
        return (*input_shape[:-1], depth)

    # ------------------------------------------------------------------ model files
    def save_own_variables(self, store: dict[str, Any]) -> None:
        """Writes the IDF weights (`"tf_idf"` mode) as Keras does: `store["idf_weights"]`."""
        if self.output_mode == "tf_idf" and self._idf is not None:
            store["idf_weights"] = np.asarray(self._idf, dtype="float32").copy()

    def load_own_variables(self, store: Any) -> None:
        """Reads the IDF weights written by `save_own_variables` (or by Keras)."""
        if self.output_mode != "tf_idf" or "idf_weights" not in store:
            return
        idf = np.asarray(_to_numpy(store["idf_weights"]), dtype="float32")
        if idf.ndim != 1:
            raise ValueError(
                f"{self._owner()}: the saved `idf_weights` must be 1-D; received shape {idf.shape}"
            )
        self._idf = idf.copy()

    def save_assets(self, dir_path: str) -> None:
        """Writes a learned vocabulary to `<dir_path>/vocabulary.txt`, one token a line,
        special tokens first, as Keras lays it out in a `.keras` file. A vocabulary passed
        to the constructor is in the config instead, and nothing is written."""
        if self._input_vocabulary is not None:
            return
        vocabulary = self.get_vocabulary(include_special_tokens=True)
        lines = [str(token) for token in vocabulary]
        broken = next((t for t in lines if "\n" in t), None)
        if broken is not None:
            raise ValueError(
                f"{self._owner()}: cannot save a vocabulary token that holds a line break "
                f"(the vocabulary file has one token a line). Received token {broken!r:.80}"
            )
        data = "\n".join(lines).encode("utf-8", errors="surrogateescape")
        with open(os.path.join(dir_path, _VOCABULARY_FILE), "wb") as f:
            f.write(data)

    def load_assets(self, dir_path: str | None) -> None:
        """Sets the vocabulary from `<dir_path>/vocabulary.txt` (written by `save_assets`
        or by Keras); in `"tf_idf"` mode with the IDF weights loaded before it. Without
        that file the layer is left as it is (its vocabulary unset unless given)."""
        if self._input_vocabulary is not None:
            return
        path = None if dir_path is None else os.path.join(dir_path, _VOCABULARY_FILE)
        if path is None or not os.path.isfile(path):
            return
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", errors="surrogateescape")
        lines = text.split("\n")
        while lines and lines[-1] == "":
            lines.pop()
        if self._strings:
            values: list[Any] = lines
        else:
            try:
                values = [int(line) for line in lines]
            except ValueError as err:
                raise ValueError(f"{self._owner()}: saved vocabulary file {path}: {err}") from None
        if not values:
            return
        if self.output_mode != "tf_idf":
            self.set_vocabulary(values)
            return
        idf = self._idf
        if idf is None or len(idf) < len(values):
            raise ValueError(
                f"{self._owner()}: the saved vocabulary has {len(values)} entries but the "
                f"saved `idf_weights` have {0 if idf is None else len(idf)}."
            )
        self.set_vocabulary(values, idf_weights=idf[: len(values)])
        self._idf = idf.copy()  # as saved, padding included

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        vocabulary = self._input_vocabulary
        if vocabulary is not None:
            vocabulary = [self._token(v) for v in _to_numpy(vocabulary).tolist()]
        idf = self._input_idf_weights
        if idf is not None:
            idf = _to_numpy(idf).tolist()
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": policy_config(self._dtype),
            "invert": self.invert,
            "max_tokens": self.max_tokens,
            "num_oov_indices": self.num_oov_indices,
            "oov_token": self.oov_token,
            "mask_token": self.mask_token,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
            "pad_to_max_tokens": self.pad_to_max_tokens,
            "vocabulary_dtype": "int64" if not self._strings else "string",
            "idf_weights": idf,
            "vocabulary": vocabulary,
            "vocabulary_size": self._frozen_vocab_size,
            "oov_method": self.oov_method,
            "salt": self.salt,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _IndexLookup:
        config = dict(config)
        if isinstance(config.get("dtype"), dict):  # a dtype policy as Keras writes it
            config["dtype"] = (config["dtype"].get("config") or {}).get("name")
        return cls(**config)


def _salt(owner: str, salt: Any) -> list[int]:
    if isinstance(salt, tuple | list) and len(salt) == 2 and all(map(_is_int, salt)):
        return [int(salt[0]), int(salt[1])]
    if _is_int(salt):
        return [int(salt), int(salt)]
    raise _args.fail(owner, "salt", salt, "a single integer or a tuple of 2 integers")


class StringLookup(_IndexLookup):
    """Maps strings to integer indices through a vocabulary, as `keras.layers.StringLookup`.

    Args:
        max_tokens: the most indices, counting the mask and OOV indices (None: no limit).
        num_oov_indices: how many out-of-vocabulary indices; unknown strings are hashed
            among them (FarmHash, or SipHash with `salt`), as in Keras.
        mask_token: a string that maps to index 0 (None: no mask).
        oov_token: what `invert=True` returns for unknown indices.
        vocabulary: a list or array of strings, or the path of a text file with one per
            line; a vocabulary that starts with the mask and OOV tokens is taken as is.
        idf_weights: per-token inverse document frequencies, for `output_mode="tf_idf"`.
        invert: map indices back to strings (Python strings, as Keras returns them).
        output_mode: `"int"`, `"one_hot"`, `"multi_hot"`, `"count"` or `"tf_idf"`.
        pad_to_max_tokens: encode over `max_tokens` indices rather than the vocabulary.
        sparse: only False (sparse outputs are not supported, as on Keras's torch backend).
        encoding: the text encoding of byte-string inputs.
        name: the layer's name.
        salt: with `num_oov_indices > 1`, the key of the OOV hash (an int or two ints).

    Example:
        >>> from convolve.layers import StringLookup
        >>> to_ids = StringLookup(vocabulary=["a", "b", "c", "d"])
        >>> to_ids(["a", "c", "d", "z"]).tolist()
        [1, 3, 4, 0]
        >>> StringLookup(vocabulary=to_ids.get_vocabulary(), invert=True)([1, 3, 4, 0])
        ['a', 'c', 'd', '[UNK]']
    """

    def __init__(
        self,
        max_tokens: int | None = None,
        num_oov_indices: int = 1,
        mask_token: str | None = None,
        oov_token: str = "[UNK]",
        vocabulary: Any = None,
        idf_weights: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        pad_to_max_tokens: bool = False,
        sparse: bool = False,
        encoding: str = "utf-8",
        name: str | None = None,
        salt: Any = None,
        **kwargs: Any,
    ) -> None:
        self._encoding_name = encoding
        super().__init__(
            max_tokens=max_tokens,
            num_oov_indices=num_oov_indices,
            mask_token=mask_token,
            oov_token=oov_token,
            vocabulary=vocabulary,
            idf_weights=idf_weights,
            invert=invert,
            output_mode=output_mode,
            pad_to_max_tokens=pad_to_max_tokens,
            sparse=sparse,
            name=name,
            salt=salt,
            **kwargs,
        )
        self.encoding = encoding

    def _token(self, value: Any) -> str:
        if isinstance(value, bytes):
            return value.decode(self._encoding_name, errors="surrogateescape")
        return str(value)

    def _sort_key(self, token: Any) -> bytes:
        return token.encode("utf-8", errors="surrogateescape")

    def _read_vocabulary_file(self, path: str) -> list[str]:
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        return [self._token(line) for line in lines]

    def _tokens_of(self, data: Any) -> np.ndarray:
        if isinstance(data, torch.Tensor):
            raise ValueError(
                f"{self._owner()}: takes strings (a list or a NumPy array of str or bytes); "
                f"received a torch tensor of dtype {data.dtype}"
            )
        array = np.asarray(data)
        if array.dtype.kind not in "USO":
            raise ValueError(
                f"{self._owner()}: takes strings (a list or a NumPy array of str or bytes); "
                f"received an array of dtype {array.dtype} with shape {array.shape}"
            )
        if array.dtype.kind == "U":
            return array
        flat = array.reshape(-1).tolist()
        for v in flat:
            if not isinstance(v, str | bytes):
                raise ValueError(
                    f"{self._owner()}: takes strings; received an element {v!r:.80} of type "
                    f"{type(v).__name__}"
                )
        tokens = np.empty(len(flat), dtype=object)
        tokens[:] = [self._token(v) for v in flat]
        return tokens.reshape(array.shape)

    def _oov_buckets(self, flat: np.ndarray) -> np.ndarray:
        data = [t.encode("utf-8", errors="surrogateescape") for t in flat.tolist()]
        return hash_buckets(data, self.num_oov_indices, self._salt)

    def call(self, inputs: Any) -> Any:
        """Looks `inputs` up: strings to indices, or indices to strings with `invert`."""
        self._check_ready()
        if self.invert:
            indices, _ = self._indices_of(inputs)
            tokens = self._inverse_lookup(indices.reshape(-1))
            if indices.ndim == 0:
                return tokens[0]
            return np.asarray(tokens, dtype=object).reshape(indices.shape).tolist()
        tokens = self._tokens_of(inputs)
        indices = self._lookup(tokens.reshape(-1))
        return self._encode(indices, tokens.shape, torch.device("cpu"))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["vocabulary_dtype"]
        config["encoding"] = self.encoding
        return config


class IntegerLookup(_IndexLookup):
    """Maps integers to contiguous indices through a vocabulary, as `keras.layers.IntegerLookup`.

    Args:
        max_tokens: the most indices, counting the mask and OOV indices (None: no limit).
        num_oov_indices: how many out-of-vocabulary indices; unknown values go to
            `value mod num_oov_indices` (or a FarmHash of it with `oov_method="farmhash"`).
        mask_token: an integer that maps to index 0 (None: no mask).
        oov_token: what `invert=True` returns for unknown indices.
        vocabulary: a list, array or tensor of integers, or a text file with one per line.
        vocabulary_dtype: only `"int64"`, as in Keras.
        idf_weights: per-token inverse document frequencies, for `output_mode="tf_idf"`.
        invert: map indices back to the integers of the vocabulary.
        output_mode: `"int"`, `"one_hot"`, `"multi_hot"`, `"count"` or `"tf_idf"`.
        sparse: only False (sparse outputs are not supported, as on Keras's torch backend).
        pad_to_max_tokens: encode over `max_tokens` indices rather than the vocabulary.
        oov_method: `"floormod"` or `"farmhash"`.
        salt: with `oov_method="farmhash"`, the key of the OOV hash (an int or two ints).
        name: the layer's name.

    Example:
        >>> from convolve.layers import IntegerLookup
        >>> IntegerLookup(vocabulary=[12, 36, 1138, 42])([12, 1138, 1000]).tolist()
        [1, 3, 0]
        >>> IntegerLookup(vocabulary=[12, 36], output_mode="one_hot")([36, 7]).tolist()
        [[0, 0, 1], [1, 0, 0]]
    """

    _strings = False

    def __init__(
        self,
        max_tokens: int | None = None,
        num_oov_indices: int = 1,
        mask_token: int | None = None,
        oov_token: int = -1,
        vocabulary: Any = None,
        vocabulary_dtype: str = "int64",
        idf_weights: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        sparse: bool = False,
        pad_to_max_tokens: bool = False,
        oov_method: str = "floormod",
        salt: Any = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if vocabulary_dtype != "int64":
            raise ValueError(
                "IntegerLookup: only `vocabulary_dtype='int64'` is supported at this time. "
                f"Received: vocabulary_dtype={vocabulary_dtype!r}"
            )
        for argument, value in (("mask_token", mask_token), ("oov_token", oov_token)):
            if value is not None and not _is_int(value):
                raise _args.fail("IntegerLookup", argument, value, "an integer or None")
        super().__init__(
            max_tokens=max_tokens,
            num_oov_indices=num_oov_indices,
            mask_token=None if mask_token is None else int(mask_token),
            oov_token=None if oov_token is None else int(oov_token),
            vocabulary=vocabulary,
            idf_weights=idf_weights,
            invert=invert,
            output_mode=output_mode,
            sparse=sparse,
            pad_to_max_tokens=pad_to_max_tokens,
            oov_method=oov_method,
            salt=salt,
            name=name,
            **kwargs,
        )

    def _token(self, value: Any) -> int:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{self._owner()}: vocabulary values must be integers, got {value}")
        return int(value)

    def _read_vocabulary_file(self, path: str) -> list[int]:
        with open(path) as f:
            lines = f.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        try:
            return [int(line) for line in lines]
        except ValueError as err:
            raise ValueError(f"{self._owner()}: vocabulary file {path}: {err}") from None

    def _tokens_of(self, data: Any) -> np.ndarray:
        array, _ = self._indices_of(data)
        return array

    def _indices_of(self, inputs: Any) -> tuple[np.ndarray, torch.device]:
        try:
            return super()._indices_of(inputs)
        except ValueError:
            array = np.asarray(inputs) if not isinstance(inputs, torch.Tensor) else inputs
            raise ValueError(
                f"{self._owner()}: takes integers (a list, NumPy array or tensor); received "
                f"dtype {array.dtype} with shape {tuple(array.shape)}"
            ) from None

    def call(self, inputs: Any) -> torch.Tensor:
        """Looks `inputs` up: integers to indices, or indices back to integers with `invert`."""
        self._check_ready()
        array, device = self._indices_of(inputs)
        if self.invert:
            tokens = self._inverse_lookup(array.reshape(-1))
            return torch.tensor(tokens, dtype=torch.int64, device=device).reshape(array.shape)
        return self._encode(self._lookup(array.reshape(-1)), array.shape, device)
