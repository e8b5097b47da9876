"""Stand-in for the scikit-learn image's own package (its wheel is built into the image, not published on PyPI)."""
