"""The examples run end to end and learn their task."""

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_photos_from_scratch_learns_the_two_photographs(tmp_path):
    example = _load("photos_from_scratch")
    result = example.run(tmp_path / "photos", per_class=80, epochs=12, image_size=48, verbose=0)
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["flower", "temple"]
    assert len(list((tmp_path / "photos" / "flower").glob("*.jpg"))) == 80
    # Crops of two very different photos: a small convnet separates them well.
    assert result["val_accuracy"] >= 0.85
