"""Challenger's domain core, shared by every function through the `CoreLayer`.

No ML libraries and no heavy imports live here: the layer is on every handler's cold path.
"""

__version__ = "0.1.0"
