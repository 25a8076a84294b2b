"""``predict --report``: one self-contained HTML page of a series, opened in a real browser.

The page is made from real corpus spectra (and a file that is not one) by the command line,
then loaded in headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven by
Selenium): no console errors, every image present and decoded, one table row per input.
Where Chromium is not installed the browser tests are skipped and say so; ``.ci/run``
installs it where it can.
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exafs_cn.cli import app
from exafs_cn.measured._series_report import series_report_html

MEASURED = Path(__file__).parent / "data" / "experimental"
SERIES = [
    "data__Zn__ZnO.xdi",
    "data__Zn__Zn_foil.xdi",
    "examples__xafsdata__AthenaProjectFiles__zn_solution__13BM_znsoln.001.dat",
    "data__Cr__k2cro4_rt_001.xdi",
    "data__Cr__cr2o3_ssrl4_1_rt_003.xdi",
]
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
runner = CliRunner()


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    stray = folder / "notes <i>&x.txt"  # a name the page must escape
    stray.write_text("not a spectrum\n")
    page = folder / "series.html"
    result = runner.invoke(app, ["predict", *(str(MEASURED / f) for f in SERIES), str(stray), "--report", str(page)])
    assert result.exit_code == 1  # the stray file
    return page


def test_the_page_is_self_contained_and_escapes_what_files_say(report):
    text = report.read_text()
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert "notes &lt;i&gt;&amp;x.txt" in text and "<i>&x" not in text
    assert text.count('<tr class="failure">') == 1
    assert text.count("<tr>") == 1 + len(SERIES)  # the header and one row per spectrum
    assert text.count('src="data:image/png;base64,') == 1 + len(SERIES)  # the series and a thumbnail each


def test_a_report_never_replaces_a_file(report):
    before = report.read_bytes()
    result = runner.invoke(app, ["predict", str(MEASURED / SERIES[0]), "--report", str(report)])
    assert result.exit_code == 2 and "exists" in result.stderr
    assert report.read_bytes() == before


def test_a_long_series_keeps_its_page_bounded():
    """Hundreds of scans: the same spectra repeated 400 times, thumbnails only for the first ones."""
    import exafs_cn
    from exafs_cn.measured._series_report import MAX_THUMBNAILS

    (one,) = exafs_cn.predict(str(MEASURED / SERIES[0]))
    text = series_report_html([one] * 400)
    assert text.count('src="data:image/png;base64,') == 1 + MAX_THUMBNAILS
    assert f"Thumbnails of the first {MAX_THUMBNAILS} spectra only" in text
    assert len(text) < 4_000_000


@pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason="Debian's chromium and chromium-driver are not installed")
def test_the_page_loads_in_chromium_without_errors_and_every_image_decodes(report, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1600"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.get(report.as_uri())
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]);"
        )
        rows = driver.execute_script("return document.querySelectorAll('tbody tr').length;")
        errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    finally:
        driver.quit()
    assert not errors, errors
    assert len(images) == 1 + len(SERIES)
    assert all(complete and width > 0 and height > 0 for _, complete, width, height in images), images
    assert rows == len(SERIES) + 1
    assert html.unescape(images[0][0]).startswith("the series")


def test_the_series_is_drawn_against_the_scans_start_times_where_every_file_gives_one():
    import exafs_cn

    timed = exafs_cn.predict([str(MEASURED / f) for f in SERIES if f.endswith(".xdi")])
    assert all(r.scan_time is not None for r in timed)  # XDI's Scan.start_time
    assert timed[0].to_dict()["scan_time"] == timed[0].scan_time.isoformat()
    first = min(r.scan_time for r in timed).isoformat(sep=" ")
    assert f"Against hours since the first scan's start ({first}" in html.unescape(series_report_html(timed))
    mixed = exafs_cn.predict([str(MEASURED / f) for f in SERIES])  # an Athena export has no start time
    assert "Against the order given" in series_report_html(mixed)
