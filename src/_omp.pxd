# OpenMP queries that also compile without OpenMP (see _omp.h).
cdef extern from "_omp.h" nogil:
    int CYCONV_HAVE_OPENMP
    int omp_get_max_threads()
    void omp_set_num_threads(int n)
    int omp_get_num_procs()
