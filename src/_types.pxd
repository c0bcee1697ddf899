# The one fused floating type of the compute kernels: float32 and float64 share every kernel.
ctypedef fused real_t:
    float
    double
