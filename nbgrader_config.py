# nbgrader settings for JupyterLab's formgrader and Validate button, with this
# repository as the course directory: solutions/ is nbgrader's "source",
# notebooks/ its "release". The settings themselves live in autograder/config.py.
import os
import tempfile
from pathlib import Path

from autograder.config import configure

configure(get_config(), Path(__file__).resolve().parent,  # noqa: F821 (nbgrader defines it)
          source="solutions", release="notebooks",
          exchange=Path(tempfile.gettempdir()) / f"nbgrader-exchange-{os.getuid()}")
