/* Picks the kernel table for this CPU once, from ember_cpu_get() (EMBER_CPU=generic forces scalar,
 * EMBER_CPU=-avx512f the AVX2 table on an AVX-512 machine). */
#include "kernels/isa.h"

#include "ember/cpu.h"

#include <pthread.h>

static ember_kernel_table chosen, generic;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void choose(void) {
    ember_kernels_init_generic(&generic);
    chosen = generic;
    const ember_cpu *cpu = ember_cpu_get();
    (void)cpu;
#if defined(__x86_64__)
    bool avx2 = cpu->avx2 && cpu->fma && cpu->f16c;
    if (avx2 && cpu->avx512f && cpu->avx512bw && cpu->avx512vl && cpu->avx512dq)
        ember_kernels_init_avx512(&chosen);
    else if (avx2)
        ember_kernels_init_avx2(&chosen);
#elif defined(__aarch64__) || defined(__arm__)
    if (cpu->neon) ember_kernels_init_neon(&chosen);
#endif
}

const ember_kernel_table *ember_kernels(void) {
    pthread_once(&once, choose);
    return &chosen;
}

const ember_kernel_table *ember_kernels_generic(void) {
    pthread_once(&once, choose);
    return &generic;
}

const char *ember_kernels_isa(void) { return ember_kernels()->name; }
