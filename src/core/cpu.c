/* CPU feature detection: cpuid + xgetbv on x86-64, getauxval(AT_HWCAP) on Arm; EMBER_CPU masks features. */
#include "ember/cpu.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define ARCH_NAME "x86_64"
#elif defined(__aarch64__)
#include <sys/auxv.h>
#define ARCH_NAME "aarch64"
#elif defined(__arm__)
#include <sys/auxv.h>
#define ARCH_NAME "armv7"
#else
#define ARCH_NAME "generic"
#endif

/* Name and offset of every flag, for EMBER_CPU parsing and ember_cpu_describe. */
#define FEATURES(X)                                                                                          \
    X(avx2) X(fma) X(f16c) X(avx512f) X(avx512bw) X(avx512vl) X(avx512dq) X(avx512vnni) X(avx512bf16)         \
    X(avxvnni) X(neon) X(dotprod) X(fp16) X(i8mm)
#define FEATURE_ENTRY(f) {#f, offsetof(ember_cpu, f)},
static const struct {
    const char *name;
    size_t offset;
} feature_table[] = {FEATURES(FEATURE_ENTRY)};
enum { NFEATURES = sizeof feature_table / sizeof feature_table[0] };

static bool *flag(ember_cpu *c, int i) { return (bool *)((char *)c + feature_table[i].offset); }

static ember_cpu detected;
static pthread_once_t once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__) || defined(__i386__)
static void detect_arch(ember_cpu *c) {
    unsigned a, b, cx, d;
    if (!__get_cpuid(1, &a, &b, &cx, &d)) return;
    bool osxsave = cx & (1u << 27);
    unsigned long long xcr0 = 0;
    if (osxsave) {
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        xcr0 = ((unsigned long long)hi << 32) | lo;
    }
    bool os_avx = (xcr0 & 6) == 6, os_avx512 = (xcr0 & 0xe6) == 0xe6;
    bool avx = os_avx && (cx & (1u << 28));
    c->fma = avx && (cx & (1u << 12));
    c->f16c = avx && (cx & (1u << 29));
    if (__get_cpuid_max(0, NULL) < 7) return;
    __cpuid_count(7, 0, a, b, cx, d);
    c->avx2 = avx && (b & (1u << 5));
    c->avx512f = os_avx512 && (b & (1u << 16));
    c->avx512dq = c->avx512f && (b & (1u << 17));
    c->avx512bw = c->avx512f && (b & (1u << 30));
    c->avx512vl = c->avx512f && (b & (1u << 31));
    c->avx512vnni = c->avx512f && (cx & (1u << 11));
    __cpuid_count(7, 1, a, b, cx, d);
    c->avxvnni = c->avx2 && (a & (1u << 4));
    c->avx512bf16 = c->avx512f && (a & (1u << 5));
}
#elif defined(__aarch64__)
static void detect_arch(ember_cpu *c) {
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    c->neon = true;
    c->fp16 = (hw & (1ul << 9)) && (hw & (1ul << 10)); /* FPHP and ASIMDHP */
    c->dotprod = hw & (1ul << 20);                      /* ASIMDDP */
    c->i8mm = hw2 & (1ul << 13);
}
#elif defined(__arm__)
static void detect_arch(ember_cpu *c) {
    unsigned long hw = getauxval(AT_HWCAP);
    c->neon = hw & (1ul << 12); /* HWCAP_NEON */
}
#else
static void detect_arch(ember_cpu *c) { (void)c; }
#endif

/* EMBER_CPU=generic clears everything; EMBER_CPU=-a,-b clears the features named. */
static void apply_mask(ember_cpu *c, const char *spec) {
    if (!spec || !*spec) return;
    if (!strcmp(spec, "generic")) {
        for (int i = 0; i < NFEATURES; i++) *flag(c, i) = false;
        return;
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*tok == '-') tok++;
        for (int i = 0; i < NFEATURES; i++)
            if (!strcmp(tok, feature_table[i].name)) *flag(c, i) = false;
    }
}

static void detect(void) {
    detect_arch(&detected);
    apply_mask(&detected, getenv("EMBER_CPU"));
    detected.cores = ember_cpu_count();
}

const ember_cpu *ember_cpu_get(void) {
    pthread_once(&once, detect);
    return &detected;
}

int ember_cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int ember_cpu_describe(char *buf, size_t cap) {
    const ember_cpu *c = ember_cpu_get();
    int total = snprintf(buf, cap, "%s, %d cores:", ARCH_NAME, c->cores);
    for (int i = 0; i < NFEATURES; i++) {
        if (!*flag((ember_cpu *)c, i)) continue;
        size_t used = (size_t)total < cap ? (size_t)total : cap;
        total += snprintf(buf + used, cap - used, " %s", feature_table[i].name);
    }
    if (total == snprintf(NULL, 0, "%s, %d cores:", ARCH_NAME, c->cores)) {
        size_t used = (size_t)total < cap ? (size_t)total : cap;
        total += snprintf(buf + used, cap - used, " (scalar only)");
    }
    return total;
}
