"""Sphinx configuration for the airflow-provider-dataops documentation.

Build with: .venv/bin/sphinx-build -q -W -b html docs docs/_build/html
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

# Autodoc imports the provider, which imports Airflow. Give Airflow a throw-away home before
# anything is imported, so the build never reads or writes a real AIRFLOW_HOME (airflow.cfg,
# the SQLite database, logs) and does not load Airflow's example DAGs.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="dataops-docs-airflow-home-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.pop("AIRFLOW_CONFIG", None)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from airflow_provider_dataops import __version__  # noqa: E402

# -- Project -----------------------------------------------------------------------------------

project = "airflow-provider-dataops"
author = "airflow-provider-dataops maintainers"
copyright = "airflow-provider-dataops maintainers"
release = __version__
version = __version__

# -- General -----------------------------------------------------------------------------------

extensions = ["sphinx.ext.autodoc"]

exclude_patterns = ["_build", "examples"]
root_doc = "index"
source_suffix = {".rst": "restructuredtext"}
pygments_style = "sphinx"

# -- Autodoc -----------------------------------------------------------------------------------

autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_class_signature = "mixed"
# Every autodoc directive names its members explicitly (``:members: a, b``). ``members`` is left
# out of the defaults on purpose: with Sphinx 9, a default ``members: True`` makes autodoc ignore
# those explicit lists and document every member.
autodoc_default_options = {
    "show-inheritance": True,
}
# ``inherited-members`` stays off: the members of Airflow's base classes (BaseHook, BaseOperator,
# BaseSensorOperator, BaseTrigger) are Airflow's to document.

# -- HTML --------------------------------------------------------------------------------------

html_theme = "alabaster"
html_title = f"airflow-provider-dataops {release}"
html_theme_options = {
    "description": "Apache Airflow provider for DataOps.live",
    "fixed_sidebar": True,
    "page_width": "1280px",
    "sidebar_width": "240px",
    # Example files are ruff-formatted at 120 columns: a smaller code font shows their lines whole.
    "code_font_size": "0.8em",
}
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}
# custom.css (which alabaster links by itself): long lines of code wrap instead of being clipped.
html_static_path = ["_static"]
