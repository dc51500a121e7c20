"""Workflows: what one command does, from input files to an output folder — they combine
experiments, io and viz, return a report (or the paths written) and never print or parse
arguments; :mod:`adoptsim.cli` parses, calls one and prints (docs/cli.md)."""
