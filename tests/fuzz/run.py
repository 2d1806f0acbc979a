"""Runs the three fuzz targets for a while: `python tests/fuzz/run.py --minutes 10`.

The corpus is replayed first (the seeds); then each target gets its share of the time in
rounds of Hypothesis runs, each round with a new seed, so that later rounds explore new
inputs. Prints the examples tried per target and every failure (shrunk by Hypothesis), and
exits non-zero if there was any.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

import fuzz_strategies as fs  # noqa: E402
import fuzz_targets as ft  # noqa: E402
from hypothesis import HealthCheck, Verbosity, given, seed, settings  # noqa: E402

_ROUND = 200  # examples per Hypothesis round


def _replay_corpus(workdir: str, counts: Counter, failures: list[str]) -> None:
    for path in ft.corpus_files("images"):
        ext = path.suffix if path.suffix in ft.IMAGE_EXTENSIONS else ".png"
        for how in range(0, 60, 7):
            _attempt("images", counts, failures, ft.image_target, path.read_bytes(), ext, how,
                     workdir)  # fmt: skip
    for path in ft.corpus_files("models"):
        suffix = ".keras" if path.name.endswith(".keras") else ".weights.h5"
        for how in range(4):
            _attempt("models", counts, failures, ft.model_target, path.read_bytes(), suffix, how,
                     workdir)  # fmt: skip
    for path in ft.corpus_files("fit"):
        _attempt("fit", counts, failures, ft.fit_target, json.loads(path.read_text()))
    try:
        ft.image_dataset_target(ft.corpus_files("images"), workdir, num_workers=2)
        counts["images"] += 1
    except ft.FuzzFailure as failure:
        failures.append(str(failure))


def _attempt(target: str, counts: Counter, failures: list[str], fn, *args) -> None:
    counts[target] += 1
    try:
        outcome = fn(*args)
    except ft.FuzzFailure as failure:
        failures.append(str(failure))
        return
    counts[f"{target}:{outcome}"] += 1


def _round(target: str, round_seed: int, workdir: str, counts: Counter) -> None:
    """One Hypothesis run of `_ROUND` examples; a failure propagates, shrunk."""
    options = dict(
        max_examples=_ROUND,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )

    strategy, check = {
        "images": (fs.image_examples(), lambda example: ft.image_target(*example, workdir)),
        "models": (fs.model_examples(), lambda example: ft.model_target(*example, workdir)),
        "fit": (fs.fit_cases(), ft.fit_target),
    }[target]

    @seed(round_seed)
    @settings(**options)
    @given(strategy)
    def run(example):
        outcome = check(example)
        counts[target] += 1
        counts[f"{target}:{outcome}"] += 1

    run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="total time (default 10)")
    parser.add_argument("--targets", default="images,models,fit", help="comma-separated")
    args = parser.parse_args(argv)
    targets = [t for t in args.targets.split(",") if t]
    counts: Counter = Counter()
    failures: list[str] = []
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="convolve-fuzz-") as workdir:
        _replay_corpus(workdir, counts, failures)
        print(f"corpus replayed: {dict(sorted(counts.items()))}", flush=True)
        remaining = args.minutes * 60 - (time.monotonic() - start)
        share = max(remaining, 0) / len(targets)
        for target in targets:
            deadline = time.monotonic() + share
            round_seed = 0
            while time.monotonic() < deadline:
                try:
                    _round(target, round_seed, workdir, counts)
                except (ft.FuzzFailure, BaseExceptionGroup) as caught:
                    found = (
                        caught.exceptions if isinstance(caught, BaseExceptionGroup) else [caught]
                    )
                    for failure in found:
                        failures.append(str(failure))
                        print(f"FAILURE ({target}, round {round_seed}): {failure}", flush=True)
                round_seed += 1
            print(f"{target}: {counts[target]} examples in {round_seed} rounds", flush=True)
    elapsed = time.monotonic() - start
    print(f"\nexamples tried in {elapsed / 60:.1f} min:")
    for target in targets:
        parts = ", ".join(
            f"{k.split(':')[1]} {v}"
            for k, v in sorted(counts.items())
            if k.startswith(target + ":")
        )
        print(f"  {target}: {counts[target]} ({parts})")
    for issue in ft.KNOWN_ISSUES:
        print(f"  known issue ({issue.target}): {issue.where}")
    print(f"failures: {len(failures)}")
    for failure in failures:
        print("  " + failure.splitlines()[0])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
