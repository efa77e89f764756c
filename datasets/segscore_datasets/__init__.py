"""Synthetic data sets for segscore (demo, tests, benchmarks)."""

from segscore_datasets.generate import GenerateSummary, generate_transactions

__all__ = ["GenerateSummary", "generate_transactions"]
