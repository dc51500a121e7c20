"""Figures (matplotlib, Agg backend: no screen needed). Figures take data — tidy frames,
manifests as dicts, tables — and the path to write; they never read results folders and raise
ValueError for bad arguments (docs/outputs.md lists every figure)."""

import matplotlib

matplotlib.use("Agg")
