"""Challenger's developer side: the CLI and the local cloud (never packaged into a Lambda).

Both use the core the handlers use, `challenger_core` (`layers/core`, `/opt/python` in a Lambda), installed editable
in `.venv` by `make install` (layers/core/pyproject.toml).
"""
