"""`ops.ctc_decode(strategy="beam_search")` against keras.ops (Keras 3.15.1, torch backend).

Random logits of several shapes, sequence lengths (including 0 and the full length), beam
widths, numbers of paths and blank indices, plus inputs full of ties (all-equal and 0/1
logits) where only the order in which candidates are visited decides. Decoded paths must be
equal (int32, -1 padded) and scores (log-probabilities, float32) agree within
rtol = atol = 1e-5.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch

from convolve import ops

RTOL = ATOL = 1e-5


def _compare(x, lengths, **kwargs):
    theirs = keras.ops.ctc_decode(x, lengths, strategy="beam_search", **kwargs)
    ours = ops.ctc_decode(x, lengths, strategy="beam_search", **kwargs)
    assert type(ours) is type(theirs) and len(ours) == 2
    for a, b in zip(ours, theirs, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
    assert torch.equal(ours[0], theirs[0]), (ours[0], theirs[0])
    np.testing.assert_allclose(ours[1].numpy(), theirs[1].numpy(), RTOL, ATOL, equal_nan=True)


@pytest.mark.parity
@pytest.mark.parametrize("seed", range(12))
def test_random_logits_match_keras(seed):
    rng = np.random.default_rng(seed)
    batch, steps, classes = rng.integers(1, 4), rng.integers(1, 9), rng.integers(2, 6)
    x = (rng.normal(size=(batch, steps, classes)) * 2).astype("float32")
    lengths = rng.integers(0, steps + 1, size=batch).astype("int32")
    beam_width = int(rng.integers(1, 8))
    top_paths = int(rng.integers(1, min(beam_width, 3) + 1))
    mask_index = [0, None, 1][seed % 3]
    _compare(x, lengths, beam_width=beam_width, top_paths=top_paths, mask_index=mask_index)


@pytest.mark.parity
@pytest.mark.parametrize("seed", range(6))
def test_ties_and_more_paths_than_beams_match_keras(seed):
    rng = np.random.default_rng(100 + seed)
    shape = (2, int(rng.integers(1, 6)), int(rng.integers(2, 5)))
    x = rng.integers(0, 2, size=shape).astype("float32") if seed % 2 else np.zeros(shape)
    beam_width = int(rng.integers(1, 6))
    top_paths = int(rng.integers(1, 2 * beam_width * shape[2] + 1))
    lengths = rng.integers(0, shape[1] + 1, size=2)
    _compare(x, lengths, beam_width=beam_width, top_paths=top_paths, mask_index=seed % 2)


@pytest.mark.parity
def test_default_beam_width_on_torch_inputs_matches_keras():
    x = torch.from_numpy(np.random.default_rng(5).normal(size=(2, 12, 8)).astype("float32"))
    _compare(x, torch.tensor([12, 9]), top_paths=3)


def test_bad_arguments_are_named():
    x = np.zeros((1, 4, 3), "float32")
    with pytest.raises(ValueError, match="beam_width=0"):
        ops.ctc_decode(x, [4], strategy="beam_search", beam_width=0)
    with pytest.raises(ValueError, match="top_paths=-1"):
        ops.ctc_decode(x, [4], strategy="beam_search", top_paths=-1)
    with pytest.raises(ValueError, match="mask_index=3"):
        ops.ctc_decode(x, [4], strategy="beam_search", mask_index=3)
    with pytest.raises(ValueError, match="strategy='beam'"):
        ops.ctc_decode(x, [4], strategy="beam")
