"""Challenger's recipe kit: ``challenger_kit`` (shipped in every source bundle) and ``bundle`` (builds it)."""
