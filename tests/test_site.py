"""The static site: written from a real run, opened in headless Chromium (file:// and HTTP)."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from services import missing

from licbench.bench.store import ResultStore
from licbench.cli import main
from licbench.leaderboard.site import Site

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site of the committed results.db (a copy), Fig. 6 with its threat model."""
    tmp = tmp_path_factory.mktemp("site")
    shutil.copy(ROOT / "results.db", tmp / "Ref-A.db")  # a name with capitals
    out = tmp / "site"
    fig6 = str(ROOT / "benchmarks/adversarial/fig6.yaml")
    args = ["leaderboard", "--db", str(tmp / "Ref-A.db"), "--site", str(out), "--manifest", fig6]
    assert main(args) == 0
    return out


@pytest.mark.slow
def test_the_site_has_an_index_a_page_per_benchmark_and_downloads(site: Path) -> None:
    store = ResultStore(str(ROOT / "results.db"), create=False)
    benches = sorted(set(store.frame("cells").benchmark))
    index = (site / "index.html").read_text()
    for bench in benches:
        assert f"href='{bench}.html'" in index and (site / f"{bench}.html").is_file()
    page = (site / "adv-fig6.html").read_text()
    assert "threat model rate-linf" in page and "robust BD-rate %" in page
    assert "(results of Ref-A.db)" in index and ">Results of Ref-A.db<" in page  # name kept
    assert "<h2>Provenance</h2>" in page and "name: adv-fig6" in page and "torch" in page
    assert "Per-image spread" in page and "plots/rd-adv-fig6-kodak.svg" in page
    assert (site / "plots" / "rd-adv-fig6-kodak.svg").read_text().startswith("<?xml")
    tables = json.loads((site / "adv-fig6.json").read_text())
    assert any("threat model" in t for t in tables) and (site / "adv-fig6.csv").is_file()
    assert "http://" not in page and "https://" not in page  # nothing from a CDN


def _browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing("selenium")
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        missing("Chromium and ChromeDriver (apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1400,1800",
                 "--allow-file-access-from-files"):  # fmt: skip
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=opts)


def _serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.mark.slow
def test_pages_load_without_errors_sort_on_click_and_are_screenshotted(site: Path) -> None:
    from selenium.webdriver.common.by import By

    browser = _browser()
    server, base = _serve(site)
    try:
        for url in (f"{base}/adv-fig6.html", (site / "adv-fig6.html").as_uri(), f"{base}/"):
            browser.get(url)
            errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
            assert not errors, (url, errors)
            assert browser.find_elements(By.CSS_SELECTOR, "table.sortable")
        browser.get(f"{base}/adv-fig6.html")
        browser.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
        table = next(  # the per-codec table: one row per quality, attack and defense
            t
            for t in browser.find_elements(By.CSS_SELECTOR, "table.sortable")
            if "bpp ↓" in [h.text for h in t.find_elements(By.TAG_NAME, "th")]
        )
        header = table.find_elements(By.TAG_NAME, "th")

        def column(i: int) -> list[str]:
            rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
            return [r.find_elements(By.TAG_NAME, "td")[i].text for r in rows]

        i = [h.text for h in header].index("bpp ↓")
        header[i].click()
        values = [float(v) for v in column(i)]
        assert values == sorted(values) and len(values) > 3
        header[i].click()
        assert [float(v) for v in column(i)] == sorted(values, reverse=True)
        assert header[i].get_attribute("data-order") == "desc"
        images = browser.find_elements(By.TAG_NAME, "img")
        assert images and all(browser.execute_script("return arguments[0].naturalWidth", im)
                              for im in images)  # fmt: skip
        shots = Path(os.environ.get("LICBENCH_SCREENSHOTS") or site)
        shots.mkdir(parents=True, exist_ok=True)
        for name in ("index", "adv-fig6", "backdoor-headline", "adv-defenses-audit"):
            browser.get(f"{base}/{name}.html")  # at 1400 px: nothing scrolls sideways
            width = browser.execute_script(
                "return [document.documentElement.scrollWidth, window.innerWidth]"
            )
            assert width[0] <= width[1], (name, width)
            shown = browser.find_elements(By.XPATH, "//table[not(ancestor::details)]")
            assert shown, name  # the ranking or summary leads the page, not collapsed
            assert browser.save_screenshot(str(shots / f"{name}.png"))
            assert (shots / f"{name}.png").stat().st_size > 10_000
        browser.get(f"{base}/adv-defenses-audit.html")
        fails = browser.find_elements(By.CSS_SELECTOR, "td.fail")
        assert fails and all(f.text == "FAIL" for f in fails)  # highlighted
        colour = fails[0].value_of_css_property("background-color")
        assert colour not in ("rgba(0, 0, 0, 0)", "transparent")
    finally:
        browser.quit()
        server.shutdown()


def test_site_needs_a_writable_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    args = ["leaderboard", "--db", str(ROOT / "results.db"), "--site", str(blocker / "sub")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("licbench: error:") and "cannot write the site" in err and "\n" not in err
    assert Site  # the module imports cleanly for third parties
