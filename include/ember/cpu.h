/* Run-time CPU feature detection, so one binary picks the best kernels on any CPU of its architecture.
 *
 * Usage:
 *
 *     const ember_cpu *cpu = ember_cpu_get();
 *     if (cpu->avx2 && cpu->fma) gemm = gemm_avx2;
 *     char text[256];
 *     ember_cpu_describe(text, sizeof text);   // "x86_64, 2 cores, 32 MB cache: avx2 fma f16c ..."
 *
 * The environment variable EMBER_CPU limits what is used: EMBER_CPU=generic turns every feature off (the
 * scalar reference kernels run), EMBER_CPU=-avx512f,-avx512vnni turns off the ones listed. Tests use it to
 * check each kernel family on one machine. A `cache=SIZE` item (cache=1M, cache=512K, cache=0 for unknown)
 * sets the last-level cache size the planner assumes instead of the one detected; items combine
 * (EMBER_CPU=generic,cache=1M).
 */
#ifndef EMBER_CPU_H
#define EMBER_CPU_H

#include "ember/status.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ember_cpu {
    /* x86-64 (each implies the OS saves the registers it needs) */
    bool avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16, avxvnni;
    /* Arm (aarch64 always has neon) */
    bool neon, dotprod, fp16, i8mm;
    int cores; /* cores this process may run on */
} ember_cpu;

/* Detected once (thread-safe), with EMBER_CPU applied. Never NULL. */
EMBER_API const ember_cpu *ember_cpu_get(void);
/* Bytes of the largest (last-level) data cache cpu0 sees, from Linux's sysfs, read on first call
 * (thread-safe), EMBER_CPU's cache= applied; 0 when unknown (the planner then assumes a small one, as on a
 * Raspberry Pi). */
EMBER_API long long ember_cpu_cache_bytes(void);
/* Cores this process may run on (affinity-aware), at least 1. */
EMBER_API int ember_cpu_count(void);
/* "arch: feature feature ..." into buf; returns the length it wanted, like snprintf. */
EMBER_API int ember_cpu_describe(char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
