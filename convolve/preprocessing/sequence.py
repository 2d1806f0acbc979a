"""`keras.preprocessing.sequence` names: `pad_sequences`."""

from convolve.utils.sequence_utils import pad_sequences

__all__ = ["pad_sequences"]
