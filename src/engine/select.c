/* Choosing the kernel set once, from the CPU's features as detected in C.
 *
 * GCC/Clang: __builtin_cpu_supports (which also checks that the OS saves the YMM/ZMM
 * state). MSVC: __cpuid for the feature bits and _xgetbv for the OS's XSAVE mask.
 * The extension module calls cyc_select_kernels(getenv("CYCONV_KERNELS")) at import. */
#include <string.h>

#include "engine.h"

#if defined(CYCONV_HAVE_X86_KERNELS) && defined(_MSC_VER)
#include <intrin.h>
#include <immintrin.h>
static int cpu_has(int want512) {
    int r[4];
    __cpuid(r, 0);
    if (r[0] < 7)
        return 0;
    __cpuid(r, 1);
    int fma = (r[2] >> 12) & 1, osxsave = (r[2] >> 27) & 1, avx = (r[2] >> 28) & 1;
    if (!(fma && osxsave && avx))
        return 0;
    unsigned long long xcr0 = _xgetbv(0);
    if ((xcr0 & 0x6) != 0x6)  /* XMM and YMM state */
        return 0;
    __cpuidex(r, 7, 0);
    int avx2 = (r[1] >> 5) & 1, avx512f = (r[1] >> 16) & 1;
    if (!want512)
        return avx2;
    return avx2 && avx512f && (xcr0 & 0xe6) == 0xe6;  /* opmask, ZMM_Hi256, Hi16_ZMM */
}
#elif defined(CYCONV_HAVE_X86_KERNELS)
static int cpu_has(int want512) {
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
        return 0;
    return want512 ? __builtin_cpu_supports("avx512f") : 1;
}
#endif

static const cyc_kernel_set *selected = &cyc_kernels_portable;

const cyc_kernel_set *cyc_kernels(void) { return selected; }

const cyc_kernel_set *cyc_kernel_set_by_name(const char *name) {
    if (!name)
        return NULL;
    if (strcmp(name, "portable") == 0)
        return &cyc_kernels_portable;
#if defined(CYCONV_HAVE_X86_KERNELS)
    if (strcmp(name, "avx2") == 0)
        return cpu_has(0) ? &cyc_kernels_avx2 : NULL;
    if (strcmp(name, "avx512") == 0)
        return cpu_has(1) ? &cyc_kernels_avx512 : NULL;
#endif
    return NULL;
}

int cyc_kernels_supported(const char *name) { return cyc_kernel_set_by_name(name) != NULL; }

int cyc_select_kernels(const char *name) {
    if (!name || !*name) {
#if defined(CYCONV_HAVE_X86_KERNELS)
        selected = cpu_has(1) ? &cyc_kernels_avx512
                 : cpu_has(0) ? &cyc_kernels_avx2 : &cyc_kernels_portable;
#else
        selected = &cyc_kernels_portable;
#endif
        return 0;
    }
    if (strcmp(name, "portable") && strcmp(name, "avx2") && strcmp(name, "avx512"))
        return -1;
    const cyc_kernel_set *ks = cyc_kernel_set_by_name(name);
    if (!ks)
        return -2;
    selected = ks;
    return 0;
}
