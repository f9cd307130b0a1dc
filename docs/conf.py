"""Sphinx configuration: the Markdown pages in this folder, rendered with MyST."""

project = "airflow-provider-lockit"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
