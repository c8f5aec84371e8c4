"""Shipyard: the whole machine-learning life cycle from one project file."""

__version__ = "0.1.0"
