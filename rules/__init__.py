"""The rule engine: declarative rules compiled to numba kernels over columnar sample batches."""
