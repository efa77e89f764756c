"""numba kernels for segscore. Imports numpy and numba only, never segscore.

Kernels are private (leading underscore): they never validate. Callers go through the
thin typed wrappers in ``segscore`` (``scoring.py``, ``clustering.py``), which check
shapes and dtypes, make arrays contiguous and allocate outputs.
"""
