"""Sphinx configuration: the Markdown pages in this folder (MyST) and the API reference (autodoc).

``make docs`` builds it with ``-W``: every warning is an error.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# autodoc imports the provider, which imports Airflow: keep Airflow away from ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="lockit-docs-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

project = "airflow-provider-lockit"
author = "airflow-provider-lockit developers"
copyright = "the airflow-provider-lockit developers; Apache License 2.0"
release = "0.1.0"

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "screenshots.py"]
html_theme = "alabaster"
html_static_path: list[str] = []

myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Airflow's base classes bring hundreds of members; document only the provider's own.
autodoc_inherit_docstrings = False
