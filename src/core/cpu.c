/* CPU feature detection: cpuid + xgetbv on x86-64, getauxval(AT_HWCAP) on Arm; EMBER_CPU masks features. */
#include "ember/cpu.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
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

/* "32768K", "1M", "512" (bytes) -> bytes; -1 when it is not such a size. */
static long long parse_size(const char *s) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v < 0) return -1;
    int shift = *end == 'K' || *end == 'k'   ? 10
                : *end == 'M' || *end == 'm' ? 20
                : *end == 'G' || *end == 'g' ? 30
                                             : 0;
    if (shift) end++;
    if ((*end && *end != '\n') || v > (1LL << (62 - shift))) return -1;
    return v << shift;
}

/* The first line of a small text file into buf (NUL-terminated); false when it cannot be read. */
static bool read_line(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0) return false;
    buf[n] = 0;
    return true;
}

/* The highest-level data or unified cache of cpu0 in /sys/devices/system/cpu/cpu0/cache/index* (Linux);
 * 0 where that is absent (other systems, some Arm boards' device trees). */
static long long detect_cache(void) {
    long long best = 0;
    int best_level = 0;
    for (int i = 0; i < 16; i++) {
        char path[96], text[32];
        long long field[2] = {0, 0}; /* level, size */
        bool data = false;
        const char *names[3] = {"level", "size", "type"};
        for (int f = 0; f < 3; f++) {
            snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/%s", i, names[f]);
            if (!read_line(path, text, sizeof text)) {
                if (f == 0) return best; /* no more caches */
                continue;
            }
            if (f < 2)
                field[f] = parse_size(text);
            else
                data = !strncmp(text, "Data", 4) || !strncmp(text, "Unified", 7);
        }
        if (data && field[1] > 0 && field[0] >= best_level) best = field[1], best_level = (int)field[0];
    }
    return best;
}

/* EMBER_CPU items, comma-separated: generic clears every feature, -a (or a) clears feature a (both when c is
 * not NULL), cache=SIZE sets *cache (when not NULL). */
static void apply_mask(ember_cpu *c, long long *cache, const char *spec) {
    if (!spec || !*spec) return;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strncmp(tok, "cache=", 6)) {
            long long v = parse_size(tok + 6);
            if (v >= 0 && cache) *cache = v;
            continue;
        }
        if (!c) continue;
        if (!strcmp(tok, "generic")) {
            for (int i = 0; i < NFEATURES; i++) *flag(c, i) = false;
            continue;
        }
        if (*tok == '-') tok++;
        for (int i = 0; i < NFEATURES; i++)
            if (!strcmp(tok, feature_table[i].name)) *flag(c, i) = false;
    }
}

/* Read on first use (a dozen sysfs files, ~0.1 ms here): only plans that weigh a chain ask, not every
 * process start. */
static long long cache_bytes;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void detect_cache_once(void) {
    cache_bytes = detect_cache();
    apply_mask(NULL, &cache_bytes, getenv("EMBER_CPU"));
}

long long ember_cpu_cache_bytes(void) {
    pthread_once(&cache_once, detect_cache_once);
    return cache_bytes;
}

static void detect(void) {
    detect_arch(&detected);
    apply_mask(&detected, NULL, getenv("EMBER_CPU"));
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

/* "x86_64, 2 cores, 32 MB cache:" (the cache left out when unknown) */
static int describe_head(char *buf, size_t cap, const ember_cpu *c) {
    long long kb = ember_cpu_cache_bytes() >> 10;
    if (!kb) return snprintf(buf, cap, "%s, %d cores:", ARCH_NAME, c->cores);
    return kb % 1024 ? snprintf(buf, cap, "%s, %d cores, %lld KB cache:", ARCH_NAME, c->cores, kb)
                     : snprintf(buf, cap, "%s, %d cores, %lld MB cache:", ARCH_NAME, c->cores, kb >> 10);
}

int ember_cpu_describe(char *buf, size_t cap) {
    const ember_cpu *c = ember_cpu_get();
    int head = describe_head(buf, cap, c), total = head;
    for (int i = 0; i < NFEATURES; i++) {
        if (!*flag((ember_cpu *)c, i)) continue;
        size_t used = (size_t)total < cap ? (size_t)total : cap;
        total += snprintf(buf + used, cap - used, " %s", feature_table[i].name);
    }
    if (total == head) {
        size_t used = (size_t)total < cap ? (size_t)total : cap;
        total += snprintf(buf + used, cap - used, " (scalar only)");
    }
    return total;
}
