"""Freed host memory kept for reuse on the CPU (`convolve.training.host_memory`).

The setting is process-wide and permanent, so every check runs in a fresh interpreter. The
oracle is the kernel's own count of minor page faults (`ru_minflt`): allocating, touching
and freeing a 64 MiB block costs one fault per 4 KiB page each time with glibc's defaults,
and next to none once freed blocks are kept (the median block of seven is compared).
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="the allocator setting exists only with glibc",
)

_FAULTS_PER_BLOCK = """
import resource, statistics, torch
def faults_per_block():
    counts = []
    for _ in range(7):  # the median: a block that has to grow the heap faults once
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        torch.ones(16 * 2**20)  # 64 MiB, touched by the fill, freed at once
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return statistics.median(counts)
"""

_FIT = """
import numpy as np, convolve
model = convolve.Sequential([convolve.Input((8, 8, 1)), convolve.layers.Flatten(),
                             convolve.layers.Dense(2)])
model.compile(optimizer="sgd", loss="mse")
model.fit(np.zeros((4, 8, 8, 1), "float32"), np.zeros((4, 2), "float32"), verbose=0)
"""


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_fit_on_cpu_stops_page_faults_on_reused_blocks():
    got = _run(
        _FAULTS_PER_BLOCK
        + "import json\nfrom convolve.training import host_memory\n"
        + "before = faults_per_block()\n"
        + _FIT
        + "after = faults_per_block()\n"
        + "print(json.dumps({'before': before, 'after': after,"
        + " 'applied': host_memory.is_applied()}))"
    )
    print(got)
    assert got["applied"]
    pages = 16 * 2**20 * 4 // 4096
    assert got["before"] > pages / 2  # the defaults fault the block in every time
    assert got["after"] < pages / 100


def test_set_host_memory_reuse_false_leaves_the_allocator_alone():
    got = _run(
        _FAULTS_PER_BLOCK
        + "import json, convolve\nfrom convolve.training import host_memory\n"
        + "convolve.config.set_host_memory_reuse(False)\n"
        + _FIT
        + "print(json.dumps({'after': faults_per_block(), 'applied': host_memory.is_applied(),"
        + " 'flag': convolve.config.host_memory_reuse()}))"
    )
    assert not got["applied"] and not got["flag"]
    assert got["after"] > 16 * 2**20 * 4 // 4096 / 2


def test_set_host_memory_reuse_names_a_bad_value():
    import convolve

    with pytest.raises(ValueError, match="enabled.*received 'no'"):
        convolve.config.set_host_memory_reuse("no")
