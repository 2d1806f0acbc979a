"""The docstring examples of `convolve.applications` and `examples/transfer_learning.py` run."""

import doctest
import os
import subprocess
import sys
from pathlib import Path

import pytest

from convolve import applications
from convolve.applications import (
    densenet,
    efficientnet,
    imagenet_utils,
    mobilenet_v2,
    resnet,
    vgg,
    weights,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "transfer_learning.py"


@pytest.mark.parametrize(
    "module",
    [
        applications,
        weights,
        imagenet_utils,
        mobilenet_v2,
        pytest.param(vgg, marks=pytest.mark.slow),
        pytest.param(resnet, marks=pytest.mark.slow),
        pytest.param(densenet, marks=pytest.mark.slow),
        pytest.param(efficientnet, marks=pytest.mark.slow),
    ],
    ids=lambda m: m.__name__.rsplit(".", 1)[-1],
)
def test_docstring_examples(module, cache):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.slow
def test_transfer_learning_example_runs_offline(tmp_path):
    env = {
        **os.environ,
        "CONVOLVE_HOME": str(tmp_path),
        "CONVOLVE_MODELS_URL": "http://127.0.0.1:1/",
    }
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--epochs", "1", "--size", "32"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "no --weights file given" in result.stdout
    assert "Validation accuracy:" in result.stdout
