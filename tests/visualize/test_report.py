"""The HTML report: every section present and every embedded image a real PNG."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convolve.visualize import Report, training_report

NAMES = ["noise", "square"]
SECTIONS = ["run", "summary", "training-curves", "confusion-matrix", "top-losses", "grad-cam"]
FIGURES = SECTIONS[2:]


class ReportParser(HTMLParser):
    """Sections with their images, text and links, from a report's HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict] = {}
        self.current: str | None = None
        self.links: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            assert attrs["id"] not in self.sections, f"duplicate section {attrs['id']}"
            self.current = attrs["id"]
            self.sections[self.current] = {"images": [], "text": ""}
        elif tag == "img":
            assert self.current is not None, "image outside a section"
            self.sections[self.current]["images"].append(attrs["src"])
        elif tag == "a":
            self.links.append(attrs["href"])
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag == "section":
            self.current = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        if self.current is not None:
            self.sections[self.current]["text"] += data


def decode_png(src: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    data = base64.b64decode(src[len(prefix) :], validate=True)
    Image.open(io.BytesIO(data)).verify()  # raises on a corrupt file
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image


@pytest.fixture(scope="module")
def report_path(trained, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    return training_report(
        path,
        trained.model,
        history=trained.history,
        data=(trained.x_test, trained.y_test),
        class_names=NAMES,
        title="Squares <in> noise",
        notes=[("data", "100 generated images"), ("seed", "0")],
    )


def test_every_section_and_image(report_path):
    parser = ReportParser()
    parser.feed(report_path.read_text(encoding="utf-8"))
    parser.close()
    assert parser.title == "Squares <in> noise"  # escaped in the file, text again when parsed
    assert list(parser.sections) == SECTIONS
    assert parser.links == [f"#{s}" for s in SECTIONS]
    for section in FIGURES:
        (src,) = parser.sections[section]["images"]
        image = decode_png(src)
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
        assert image.width >= 200 and image.height >= 150
        assert pixels.std() > 15.0, f"{section}: blank image"
    assert 'Model: "square_finder"' in parser.sections["summary"]["text"]
    assert "conv_a (Conv2D)" in parser.sections["summary"]["text"]
    assert "100 generated images" in parser.sections["run"]["text"]
    assert "<in>" not in report_path.read_text(encoding="utf-8")


def test_without_data_or_history(trained, tmp_path):
    import matplotlib.pyplot as plt

    plt.close("all")
    path = training_report(tmp_path / "r.html", trained.model, history=trained.history)
    assert plt.get_fignums() == []  # report figures are drawn off pyplot
    parser = ReportParser()
    parser.feed(path.read_text(encoding="utf-8"))
    assert list(parser.sections) == ["summary", "training-curves"]
    path = training_report(tmp_path / "r.html", trained.model)
    parser = ReportParser()
    parser.feed(path.read_text(encoding="utf-8"))
    assert list(parser.sections) == ["summary"]


def test_report_api(tmp_path):
    report = Report("t")
    report.add_text("a", "A", "<script>alert(1)</script>")
    with pytest.raises(ValueError, match="a section with id 'a' already exists"):
        report.add_text("a", "again", "x")
    assert "<script>" not in report.to_html()
    with pytest.raises(ValueError, match="an .html file; received path=.*r.txt"):
        report.save(tmp_path / "r.txt")
    assert report.save(tmp_path / "sub" / "r.html").is_file()


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.browser
@pytest.mark.skipif(find_chromium() is None, reason="needs a headless Chromium on PATH")
def test_opens_in_headless_chromium(report_path, tmp_path):
    browser = find_chromium()
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr"]
    url = report_path.resolve().as_uri()
    dom = subprocess.run(
        [*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    )
    for marker in ("Uncaught", "Failed to load resource", "ERR_"):
        assert marker not in dom.stderr, dom.stderr
    parser = ReportParser()
    parser.feed(dom.stdout)
    assert list(parser.sections) == SECTIONS
    for section in FIGURES:
        assert len(parser.sections[section]["images"]) == 1
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1200,3000", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64)
    assert pixels.std() > 15.0  # the page rendered text and images, not a blank page
