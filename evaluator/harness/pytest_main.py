"""Start pytest for the grader: `python3 -I pytest_main.py REPO PYTEST_ARGS...`.

`-I` keeps the repository (the working directory), PYTHONPATH and user site
folders off sys.path while pytest and Clade's plugin load; the plugin reads
its secret before any test module is imported; then the repository is put
at the END of sys.path, so that its modules can be imported by the tests
but never stand in for the runner's own or the standard library's.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import clade_pytest_plugin  # noqa: E402  (must load first: it takes its secret now)

sys.path.remove(HERE)
import pytest  # noqa: E402

sys.path.append(sys.argv[1])
sys.exit(pytest.main(sys.argv[2:], plugins=[clade_pytest_plugin]))
