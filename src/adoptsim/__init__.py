"""adoptsim: an agent-based simulator of how the world adopts open-weight and closed AI models."""

__version__ = "0.1.0"
