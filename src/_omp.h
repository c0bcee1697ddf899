/* OpenMP where the compiler has it, a one-thread stand-in where it does not. */
#ifndef CYCONV_OMP_H
#define CYCONV_OMP_H
#ifdef _OPENMP
#include <omp.h>
#define CYCONV_HAVE_OPENMP 1
#else
#define CYCONV_HAVE_OPENMP 0
static inline int omp_get_max_threads(void) { return 1; }
static inline void omp_set_num_threads(int n) { (void)n; }
static inline int omp_get_num_procs(void) { return 1; }
#endif
#endif
