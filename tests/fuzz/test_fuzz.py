"""The short fuzzing run: every corpus file replayed, then a bounded Hypothesis run per target.

Only success or one of `fuzz_targets.ALLOWED_ERRORS`, naming the file or argument and the
value received, is accepted (see `fuzz_targets.judge`). `python tests/fuzz/run.py` runs the
same targets for minutes instead.
"""

from __future__ import annotations

import json

import fuzz_strategies as fs
import fuzz_targets as ft
import pytest
from hypothesis import HealthCheck, given, settings

_SETTINGS = dict(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


# --------------------------------------------------------------------- corpus replay
@pytest.mark.parametrize("path", ft.corpus_files("images"), ids=lambda p: p.name)
def test_corpus_image(path, tmp_path):
    data = path.read_bytes()
    ext = path.suffix if path.suffix in ft.IMAGE_EXTENSIONS else ".png"
    outcomes = {ft.image_target(data, ext, how, str(tmp_path)) for how in range(0, 60, 7)}
    assert outcomes <= {"ok", "error"}


def test_corpus_images_as_a_dataset(tmp_path):
    """The whole image corpus as one folder: bad files are skipped, good ones load."""
    paths = ft.corpus_files("images")
    skipped = ft.image_dataset_target(paths, str(tmp_path))
    expected_bad = {p.name for p in paths if not _loads(p, tmp_path)}
    assert {name.split("_", 1)[1] for name in skipped} == expected_bad


def _loads(path, tmp_path) -> bool:
    from convolve.data.decode import BadImageError, DecodeSpec, decode_image

    try:
        decode_image(str(path), DecodeSpec(image_size=(8, 8)))
    except BadImageError:
        return False
    return True


@pytest.mark.parametrize("path", ft.corpus_files("models"), ids=lambda p: p.name)
def test_corpus_model_file(path, tmp_path):
    suffix = ".keras" if path.name.endswith(".keras") else ".weights.h5"
    data = path.read_bytes()
    outcomes = {ft.model_target(data, suffix, how, str(tmp_path)) for how in range(4)}
    is_seed = path.name in ("convolve.keras", "keras.keras", "convolve.weights.h5",
                            "keras.weights.h5")  # fmt: skip
    # The seeds are valid files: they must load, and they do (Keras's files too).
    assert outcomes == {"ok"} if is_seed else outcomes <= {"ok", "error"}


@pytest.mark.parametrize("path", ft.corpus_files("fit"), ids=lambda p: p.stem)
def test_corpus_fit_case(path):
    case = json.loads(path.read_text())
    outcome = ft.fit_target(case)
    expected = case.get("expect")
    if expected is not None:
        assert outcome == expected


def test_known_issues_still_reproduce():
    """Each known issue has a corpus case that still shows it; remove the entry once fixed."""
    outcomes = {}
    for path in ft.corpus_files("fit"):
        case = json.loads(path.read_text())
        if case.get("expect") == "known":
            outcomes[path.stem] = ft.fit_target(case)
    if not ft.KNOWN_ISSUES:  # all fixed: no corpus case may still be marked known
        assert outcomes == {}
        return
    assert outcomes and set(outcomes.values()) == {"known"}, outcomes


# --------------------------------------------------------------------- hypothesis
@settings(max_examples=500, **_SETTINGS)
@given(example=fs.image_examples())
def test_fuzz_images(example, tmp_path_factory):
    data, ext, how = example
    ft.image_target(data, ext, how, str(tmp_path_factory.getbasetemp()))


@settings(max_examples=150, **_SETTINGS)
@given(example=fs.model_examples())
def test_fuzz_model_files(example, tmp_path_factory):
    data, suffix, how = example
    ft.model_target(data, suffix, how, str(tmp_path_factory.getbasetemp()))


@settings(max_examples=250, **_SETTINGS)
@given(fs.fit_cases())
def test_fuzz_fit(case):
    ft.fit_target(case)
