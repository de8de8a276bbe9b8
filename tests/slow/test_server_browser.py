"""The web page in a real browser: headless Chromium (Debian's package) driven by Playwright against
``memorag serve`` started on loopback. Upload a text file, follow the progress, ask, see the answer
stream in with its clues, and a passage highlighted in its document; a screenshot is saved."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("needs Debian's chromium package (apt-get install chromium); .ci/run installs it",
                allow_module_level=True)

# Chromium on a closed network: no background connections, no sandbox as root, a fresh profile.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
YEARS = "\n\n".join(
    f"In {year} the keeper counted {300 + 7 * i} ships passing the northern reef. The busiest month was "
    f"{['March', 'June', 'August', 'October'][i % 4]}, and the lamp was relit {2 + i % 3} times after gales. "
    f"Supplies came by the {['Maria', 'Hope', 'Swift'][i % 3]} from the harbour every second week."
    for i, year in enumerate(range(1895, 1911)))
TEXT = ("The harbour office kept the lighthouse logs from 1880 onwards.\n\n" + YEARS + "\n\n"
        "In 1911 a storm flooded the lower rooms of the lighthouse and that year's logbook was lost.\n\n"
        "The keeper's daughter rebuilt the record from letters the keeper had sent to the harbour office.")

# Every value #state takes, in order, from the mutations' old values plus the current one.
RECORD_STATES = """() => {
  const state = document.querySelector("#state");
  window.seenStates = [];
  new MutationObserver((records) => {
    for (const record of records) window.seenStates.push(record.oldValue);
    window.seenStates.push(state.dataset.state);
    window.seenStates = window.seenStates.filter((s, i, all) => s && s !== all[i - 1]);
  }).observe(state, { attributes: true, attributeFilter: ["data-state"], attributeOldValue: true });
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    root = tmp_path_factory.mktemp("serve")
    process = subprocess.Popen([sys.executable, "-m", "memorag_integrations.cli", "serve", "--port", str(port),
                                "--corpora", str(root / "corpora")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/models", timeout=2)
            break
        except OSError:
            if process.poll() is not None:
                raise AssertionError(f"memorag serve exited: {process.stdout.read()}") from None
            time.sleep(0.5)
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_upload_ask_and_see_the_evidence_in_place(server, tmp_path):
    note = tmp_path / "lighthouse.txt"
    note.write_text(TEXT, encoding="utf-8")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(server)
        page.fill("#corpus-name", "lighthouse")
        page.set_input_files("#files", str(note))
        page.click("#upload-button")
        page.wait_for_selector("#job-status[data-state=done]", timeout=300_000)
        assert page.locator("#job-progress").evaluate("bar => bar.value") == 1
        assert page.locator("#corpus").input_value() == "lighthouse"

        page.fill("#max-new-tokens", "24")
        page.check("#compare-dense")
        page.fill("#question", "What happened to the logbook of 1911?")
        # Quoted answers stream in a few milliseconds, so "writing" may never be painted: record every
        # state the page passes through instead of polling for one.
        page.evaluate(RECORD_STATES)
        page.click("#ask-button")
        page.wait_for_selector("#state[data-state=done]", timeout=300_000)
        states = page.evaluate("window.seenStates")
        assert states[-3:] == ["retrieving", "writing", "done"], states  # evidence first, then the words
        assert page.locator("#answer").inner_text().strip()
        assert page.locator("#clues li").count() >= 1
        assert page.locator("#evidence li").count() >= 1 and page.locator("#dense li").count() >= 1
        assert "found by:" in page.locator("#evidence li").first.inner_text()
        assert " s" in page.locator("#timings").inner_text()

        page.locator("#evidence li").first.click()
        mark = page.locator("#document mark")
        mark.wait_for(timeout=30_000)
        assert mark.inner_text().strip() and mark.inner_text().strip() in TEXT
        assert page.locator("#error").is_hidden()
        shot = tmp_path / "memorag-serve.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        if os.environ.get("MEMORAG_SCREENSHOT"):  # how the README's screenshot is made
            shutil.copy(shot, os.environ["MEMORAG_SCREENSHOT"])
        browser.close()
