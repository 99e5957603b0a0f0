"""podswitch: make a leaf-spine POD of Linux switches behave as one big switch."""

__version__ = "0.1.0"
