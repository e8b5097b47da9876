"""Challenger's developer side: the CLI and the local cloud (never packaged into a Lambda).

Both use the core the handlers use (`layers/core/challenger_core`, `/opt/python` in a Lambda). pytest puts that
directory on the path itself; the installed `challenger` console script does not, so it is added here.
"""

import sys
from pathlib import Path

_CORE_LAYER = str(Path(__file__).resolve().parents[1] / "layers" / "core")
if _CORE_LAYER not in sys.path:
    sys.path.append(_CORE_LAYER)
