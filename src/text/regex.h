/* A small backtracking regex engine with Oniguruma (Hugging Face tokenizers) semantics for the constructs
 * tokenizer pre-tokenization patterns use: classes with \p{..} Unicode properties, alternation, greedy /
 * lazy / possessive quantifiers, groups incl. (?i:...), lookahead (?=...) (?!...), atomic groups, ^ $.
 *
 *     ember_regex *re = NULL;
 *     if (ember_regex_compile("\\p{L}+|\\s+", 0, &re)) return ember_last_error();
 *     size_t b, e;
 *     for (size_t at = 0; ember_regex_find(re, s, n, at, &b, &e); at = e > b ? e : e + 1) use(b, e);
 *     ember_regex_free(re);
 *
 * The subject must be valid UTF-8 (the tokenizer sanitizes input first). A compiled regex is immutable
 * and may be used by many threads at once.
 */
#ifndef EMBER_TEXT_REGEX_H
#define EMBER_TEXT_REGEX_H

#include "ember/status.h"

#include <stdbool.h>

typedef struct ember_regex ember_regex;

/* len 0 means strlen(pattern). On failure the message names the position and the construct. */
ember_status ember_regex_compile(const char *pattern, size_t len, ember_regex **out);
void ember_regex_free(ember_regex *re);

/* Leftmost (Perl/Oniguruma leftmost-first) match starting at or after byte `from` of s[0..n). Returns
 * false when there is none. A match may be empty (*end == *begin). */
bool ember_regex_find(const ember_regex *re, const char *s, size_t n, size_t from, size_t *begin, size_t *end);

/* --- Unicode character properties used by the regex and the tokenizer (utf8proc) --------------------- */
/* General category as utf8proc numbers them (0 = Cn ... 29 = Co). */
int ember_uni_category(uint32_t cp);
/* Unicode White_Space property (what \s matches in Oniguruma). */
bool ember_uni_is_space(uint32_t cp);

/* Category bit masks for ember_uni_category results. */
#define UNI_MASK_L 0x3Eu        /* Lu Ll Lt Lm Lo */
#define UNI_MASK_M 0x1C0u       /* Mn Mc Me */
#define UNI_MASK_N 0xE00u       /* Nd Nl No */
#define UNI_MASK_P 0x7F000u     /* Pc Pd Ps Pe Pi Pf Po */
#define UNI_MASK_S 0x780000u    /* Sm Sc Sk So */
#define UNI_MASK_Z 0x3800000u   /* Zs Zl Zp */
#define UNI_MASK_C 0x3C000001u  /* Cc Cf Cs Co Cn */

#endif
