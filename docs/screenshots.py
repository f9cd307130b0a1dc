"""Take docs/connection-form*.png: a real Chromium on a real Airflow api-server's connection form.

Run by ``make screenshots`` (not in CI): it needs Debian's ``chromium`` and the ``playwright`` Python
package (its driver only; the browser is the system's). It starts ``airflow api-server`` on a free
port in a throw-away AIRFLOW_HOME (SQLite, every user an admin), opens Admin > Connections > Add,
chooses the LockitNetwork type, fills the fields a user fills, and saves the form
(connection-form.png) and its extra fields
(connection-form-extras.png).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from playwright.sync_api import Page, sync_playwright

DOCS = Path(__file__).resolve().parent
OUTPUT = DOCS / "connection-form.png"
OUTPUT_EXTRAS = DOCS / "connection-form-extras.png"
BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# As a root-run, network-less machine needs them: no sandbox, no background connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main() -> int:
    """Start the api-server, drive the form, write the PNG; return the exit code."""
    with tempfile.TemporaryDirectory(prefix="lockit-screenshots-") as tmp:
        home = Path(tmp)
        port = _free_port()
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__HOST": "127.0.0.1",
        }
        subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True)
        log = (home / "api-server.log").open("wb")
        server = subprocess.Popen(
            [str(BIN / "airflow"), "api-server", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_for(f"{base}/api/v2/version", server, home / "api-server.log")
            _shoot(base)
        finally:
            server.terminate()
            server.wait(timeout=30)
    for path in (OUTPUT, OUTPUT_EXTRAS):
        print(f"wrote {path.relative_to(DOCS.parent)}")
    return 0


def _shoot(base: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1600}, device_scale_factor=1)
        page.goto(f"{base}/connections", wait_until="networkidle")
        page.get_by_role("button", name="Add Connection").click()
        _choose_connection_type(page, "LockitNetwork")
        page.get_by_label("Connection ID").fill("lockit_default")
        page.get_by_label("Client ID").fill("my-client")
        page.wait_for_timeout(500)  # let the form settle after the type change (animations)
        dialog = page.get_by_role("dialog")
        target = dialog if dialog.count() else page
        target.screenshot(path=str(OUTPUT))
        # The provider's conn-fields; the form's sections open one at a time.
        page.get_by_role("button", name="Extra Fields", exact=True).click()
        page.get_by_text("Refresh leeway", exact=False).first.wait_for()
        page.set_viewport_size({"width": 1280, "height": 2400})  # the dialog grows with the window
        page.wait_for_timeout(800)
        page.screenshot(path=str(OUTPUT_EXTRAS))
        browser.close()


def _choose_connection_type(page: Page, label: str) -> None:
    """Pick ``label`` in the form's connection-type select (a searchable combobox)."""
    combo = page.get_by_role("combobox").first
    combo.click()
    page.keyboard.type(label)
    page.get_by_role("option", name=label).first.click()


def _wait_for(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    while True:
        if server.poll() is not None:
            raise SystemExit(f"airflow api-server exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if requests.get(url, timeout=5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
