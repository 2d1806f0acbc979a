"""Beam-search CTC decoding (`ctc_decode(strategy="beam_search")`), as `keras.ops`.

Each beam is a label prefix with two log-probability tracks: ending in a blank, or ending in
its last label. At each step every beam is extended by every class (a blank or a repeat of
the last label after no blank keeps the prefix), candidates with equal prefixes are merged by
log-sum-exp per track, and the `beam_width` prefixes with the highest total are kept. Sums
are taken relative to the largest score of the step, as Keras does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_PAD = -1


def _merge(inverse: torch.Tensor, scores: torch.Tensor, size: int) -> torch.Tensor:
    """Log-sum-exp of `scores` grouped by `inverse` into `size` groups (empty: -inf)."""
    top = scores.max()
    sums = torch.zeros(size, dtype=scores.dtype, device=scores.device)
    sums.scatter_add_(0, inverse, torch.exp(scores - top))
    return torch.log(sums) + top


_HASH_BASE = 2654435769  # Knuth's multiplicative constant; int64 products wrap around


def _unique(paths: torch.Tensor, classes: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct rows of `paths`, padded with empty rows to `size`, and each row's index.

    Rows are ordered by a polynomial hash of their labels (taken as `classes - label`, 0 for
    padding), the order in which Keras breaks ties between equal scores. Should two distinct
    rows share a hash, rows are ordered lexicographically instead.
    """
    steps = paths.shape[1]
    codes = torch.where(paths == _PAD, 0, classes - paths.long())
    powers = _HASH_BASE ** torch.arange(steps, dtype=torch.int64, device=paths.device)
    hashes, inverse = torch.unique((codes * powers).sum(1), return_inverse=True)
    first = torch.empty(hashes.shape[0], dtype=torch.int64, device=paths.device)
    first.scatter_(0, inverse, torch.arange(paths.shape[0], device=paths.device))
    unique = paths[first]
    if not torch.equal(unique[inverse], paths):  # a hash collision
        unique, inverse = torch.unique(paths, dim=0, return_inverse=True)
    if unique.shape[0] < size:
        filler = torch.full(
            (size - unique.shape[0], steps), _PAD, dtype=paths.dtype, device=paths.device
        )
        unique = torch.cat([unique, filler])
    return unique, inverse


def _decode_one(
    log_probs: torch.Tensor, length: int, beam_width: int, top_paths: int, blank: int
) -> tuple[torch.Tensor, torch.Tensor]:
    steps, classes = log_probs.shape
    device = log_probs.device
    size = 2 * classes * beam_width
    # Classes are visited from the last to the first, so that among equal scores the lower
    # class wins, as in Keras.
    labels = torch.arange(classes - 1, -1, -1, device=device, dtype=torch.int32)
    log_probs = log_probs.flip(-1)
    first = min(classes, beam_width)
    best = torch.argsort(log_probs[0], stable=True)[-first:]
    paths = torch.full((2 * beam_width, steps), _PAD, dtype=torch.int32, device=device)
    paths[:first, 0] = torch.where(labels[best] == blank, _PAD, labels[best])
    scores = torch.full((2 * beam_width,), -torch.inf, dtype=log_probs.dtype, device=device)
    scores[:first] = log_probs[0, best]
    ends_blank = paths[:, 0] == _PAD
    for t in range(1, length):
        count = paths.shape[0]
        cand = paths.repeat_interleave(classes, 0)
        cand_scores = scores.repeat_interleave(classes) + log_probs[t].repeat(count)
        prev_blank = ends_blank.repeat_interleave(classes)
        filled = (cand != _PAD).sum(1)
        last = cand.gather(1, (filled - 1).clamp(min=0)[:, None])[:, 0]
        tail = torch.where(filled > 0, last, _PAD)
        cls = labels.repeat(count)
        is_blank = cls == blank
        grows = ~is_blank & (prev_blank | (tail != cls))
        rows = torch.nonzero(grows)[:, 0]
        cand[rows, filled[rows]] = cls[rows]
        unique, inverse = _unique(cand, classes, size)
        n = unique.shape[0]
        emit = _merge(inverse, torch.where(is_blank, -torch.inf, cand_scores), n)
        blank_scores = _merge(inverse, torch.where(is_blank, cand_scores, -torch.inf), n)
        keep = torch.argsort(torch.logaddexp(emit, blank_scores), stable=True)[-beam_width:]
        paths = unique[keep].repeat(2, 1)
        scores = torch.cat([emit[keep], blank_scores[keep]])
        ends_blank = torch.arange(2 * beam_width, device=device) >= beam_width
    unique, inverse = _unique(paths, classes, size)
    merged = _merge(inverse, scores, unique.shape[0])
    chosen = torch.argsort(merged, stable=True)[-top_paths:].flip(0)
    return unique[chosen], merged[chosen]


def ctc_beam_search_decode(
    inputs: torch.Tensor,
    lengths: torch.Tensor,
    beam_width: int,
    top_paths: int,
    mask_index: int | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decodes `inputs` `(batch, time, classes)` (unnormalised log-probabilities).

    Returns `(paths, scores)`: `paths` `(top_paths, batch, time)` int32 labels padded with
    -1, best first; `scores` `(batch, top_paths)`, their log-probabilities.
    """
    batch, steps, classes = inputs.shape
    for value, name in ((beam_width, "beam_width"), (top_paths, "top_paths")):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(
                f"ctc_decode: `{name}` must be a positive integer. Received: {name}={value!r}"
            )
    blank = classes - 1 if mask_index is None else int(mask_index)
    if not 0 <= blank < classes:
        raise ValueError(
            f"ctc_decode: `mask_index` must be in [0, {classes}). Received: mask_index={blank}"
        )
    log_probs = F.log_softmax(inputs, dim=-1)
    results = [
        _decode_one(log_probs[b], int(n), beam_width, top_paths, blank)
        for b, n in enumerate(lengths.tolist())
    ]
    paths = torch.stack([r[0] for r in results]).permute(1, 0, 2)
    return paths, torch.stack([r[1] for r in results])
