"""(kernels land here)"""
