"""A stand-in for a web browser: `fake_browser.py PAGE_FILE URL` follows URL and saves the last page.

Python's webbrowser module runs it when BROWSER is set to its command line.
"""

from __future__ import annotations

import sys
from pathlib import Path

import requests


def main() -> None:
    page_file, url = sys.argv[1], sys.argv[2]
    Path(page_file).write_text(requests.get(url, timeout=30).text)


if __name__ == "__main__":
    main()
