"""Retail Control Tower: raw retail files to trusted warehouse layers, data quality and churn scores."""

__version__ = "0.1.0"
