/* Backtracking regex engine (Oniguruma-compatible subset) for tokenizer pre-tokenization patterns. */
#include "text/regex.h"

#include "text/utf8.h"

#include <pthread.h>
#include <string.h>
#include <utf8proc.h>

/* ---------------------------------------------------------------------------------------------------- */
/* Unicode properties */

/* General categories of the Basic Multilingual Plane, looked up once (64 KiB) for speed. */
static uint8_t bmp_category[0x10000];
static pthread_once_t bmp_once = PTHREAD_ONCE_INIT;

static void bmp_init(void) {
    for (uint32_t cp = 0; cp < 0x10000; cp++) bmp_category[cp] = (uint8_t)utf8proc_category((utf8proc_int32_t)cp);
}

int ember_uni_category(uint32_t cp) {
    if (cp < 0x10000) {
        pthread_once(&bmp_once, bmp_init);
        return bmp_category[cp];
    }
    return cp > 0x10FFFF ? 0 : (int)utf8proc_category((utf8proc_int32_t)cp);
}

bool ember_uni_is_space(uint32_t cp) {
    if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    if (cp < 0x85) return false;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Character classes: a union of items, optionally negated, with an ASCII bitmap precomputed. */

enum { IT_RANGE, IT_CATS, IT_SPACE, IT_WORD };

typedef struct cls_item {
    uint8_t kind;
    bool neg;
    uint32_t lo, hi; /* IT_RANGE */
    uint32_t mask;   /* IT_CATS: bit per utf8proc category */
} cls_item;

typedef struct rx_class {
    uint64_t ascii[2];
    bool neg;
    int n, cap;
    cls_item *items;
} rx_class;

static bool item_has(const cls_item *it, uint32_t cp) {
    bool r;
    switch (it->kind) {
    case IT_RANGE: r = cp >= it->lo && cp <= it->hi; break;
    case IT_CATS: r = (it->mask >> ember_uni_category(cp)) & 1; break;
    case IT_SPACE: r = ember_uni_is_space(cp); break;
    default: { /* \w as Rust's regex: Alphabetic (letters, letter numbers, marks), decimal digits, connector
                * punctuation, joiners */
        int c = ember_uni_category(cp);
        r = ((UNI_MASK_L | UNI_MASK_M | (1u << UTF8PROC_CATEGORY_ND) | (1u << UTF8PROC_CATEGORY_NL) | (1u << UTF8PROC_CATEGORY_PC)) >> c) & 1;
        r = r || cp == 0x200C || cp == 0x200D;
    }
    }
    return r != it->neg;
}

static bool class_eval(const rx_class *c, uint32_t cp) {
    bool r = false;
    for (int i = 0; i < c->n && !r; i++) r = item_has(&c->items[i], cp);
    return r != c->neg;
}

static inline bool class_has(const rx_class *c, uint32_t cp) {
    if (cp < 128) return (c->ascii[cp >> 6] >> (cp & 63)) & 1;
    return class_eval(c, cp);
}

static void class_finish(rx_class *c) {
    for (uint32_t cp = 0; cp < 128; cp++)
        if (class_eval(c, cp)) c->ascii[cp >> 6] |= 1ull << (cp & 63);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Syntax tree */

enum { N_CHAR, N_SEQ, N_ALT, N_REP, N_LOOK, N_ATOMIC, N_BOL, N_EOL, N_BOS, N_EOS, N_EOSNL, N_WORDB, N_NWORDB };

typedef struct rx_node rx_node;
struct rx_node {
    uint8_t kind;
    bool neg;                /* N_LOOK: negative */
    uint8_t mode;            /* N_REP: 0 greedy, 1 lazy, 2 possessive */
    int min, max;            /* N_REP; max < 0: unbounded */
    const rx_class *cls;     /* N_CHAR */
    rx_node **kids;
    int nkids;
    /* what a match can start with: ASCII characters, any non-ASCII one; nullable: may match empty */
    uint64_t first[2];
    bool first_high, nullable;
};

struct ember_regex {
    rx_node *root;
    /* every allocation, freed together */
    void **allocs;
    size_t nallocs, capallocs;
};

/* ---------------------------------------------------------------------------------------------------- */
/* Parser */

typedef struct rparser {
    const char *p;
    size_t n, i;
    ember_regex *re;
    ember_status err;
    int depth;
} rparser;

static void *ralloc(rparser *P, size_t size) {
    ember_regex *re = P->re;
    if (re->nallocs == re->capallocs) {
        size_t cap = re->capallocs ? re->capallocs * 2 : 32;
        void **a = ember_realloc(re->allocs, cap * sizeof *a);
        if (!a) return NULL;
        re->allocs = a, re->capallocs = cap;
    }
    void *m = ember_calloc(1, size);
    if (m) re->allocs[re->nallocs++] = m;
    else if (!P->err) P->err = ember_fail(EMBER_ERR_NOMEM, "regex: out of memory");
    return m;
}

static void *rfail(rparser *P, ember_status s, const char *what) {
    if (!P->err)
        P->err = ember_fail(s, "regex /%.*s/: %s at offset %zu", (int)(P->n > 200 ? 200 : P->n), P->p, what, P->i);
    return NULL;
}

static bool at_end(const rparser *P) { return P->i >= P->n; }
static char peek(const rparser *P) { return P->i < P->n ? P->p[P->i] : 0; }

static uint32_t next_cp(rparser *P) {
    uint32_t cp;
    int k = utf8_decode((const uint8_t *)P->p + P->i, P->n - P->i, &cp);
    P->i += (size_t)k;
    if (cp == UTF8_INVALID) {
        rfail(P, EMBER_ERR_FORMAT, "invalid UTF-8 in pattern");
        return 0;
    }
    return cp;
}

static bool add_item(rparser *P, rx_class *c, cls_item it) {
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 4;
        cls_item *items = ralloc(P, (size_t)cap * sizeof *items);
        if (!items) return false;
        if (c->n) memcpy(items, c->items, (size_t)c->n * sizeof *items);
        c->items = items, c->cap = cap; /* the old block stays in the allocation list */
    }
    c->items[c->n++] = it;
    return true;
}

static bool add_range(rparser *P, rx_class *c, uint32_t lo, uint32_t hi, bool icase) {
    if (!add_item(P, c, (cls_item){.kind = IT_RANGE, .lo = lo, .hi = hi})) return false;
    if (!icase) return true;
    if (hi - lo > 512) return true; /* large ranges: case variants are almost always inside already */
    for (uint32_t cp = lo; cp <= hi; cp++) {
        uint32_t l = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp), u = (uint32_t)utf8proc_toupper((utf8proc_int32_t)cp);
        if (l != cp && !add_item(P, c, (cls_item){.kind = IT_RANGE, .lo = l, .hi = l})) return false;
        if (u != cp && !add_item(P, c, (cls_item){.kind = IT_RANGE, .lo = u, .hi = u})) return false;
    }
    return true;
}

static const struct {
    const char *name;
    uint32_t mask;
} props[] = {
    {"L", UNI_MASK_L}, {"Letter", UNI_MASK_L}, {"Lu", 1u << 1}, {"Ll", 1u << 2}, {"Lt", 1u << 3}, {"Lm", 1u << 4},
    {"Lo", 1u << 5}, {"M", UNI_MASK_M}, {"Mark", UNI_MASK_M}, {"Mn", 1u << 6}, {"Mc", 1u << 7}, {"Me", 1u << 8},
    {"N", UNI_MASK_N}, {"Number", UNI_MASK_N}, {"Nd", 1u << 9}, {"Nl", 1u << 10}, {"No", 1u << 11},
    {"P", UNI_MASK_P}, {"Punctuation", UNI_MASK_P}, {"Pc", 1u << 12}, {"Pd", 1u << 13}, {"Ps", 1u << 14},
    {"Pe", 1u << 15}, {"Pi", 1u << 16}, {"Pf", 1u << 17}, {"Po", 1u << 18}, {"S", UNI_MASK_S},
    {"Symbol", UNI_MASK_S}, {"Sm", 1u << 19}, {"Sc", 1u << 20}, {"Sk", 1u << 21}, {"So", 1u << 22},
    {"Z", UNI_MASK_Z}, {"Separator", UNI_MASK_Z}, {"Zs", 1u << 23}, {"Zl", 1u << 24}, {"Zp", 1u << 25},
    {"C", UNI_MASK_C}, {"Other", UNI_MASK_C}, {"Cc", 1u << 26}, {"Cf", 1u << 27}, {"Cs", 1u << 28},
    {"Co", 1u << 29}, {"Cn", 1u << 0},
};

/* \p{Name}, \p{^Name}, \pL after the 'p'/'P'. */
static bool parse_property(rparser *P, rx_class *c, bool neg) {
    char name[32];
    size_t k = 0;
    if (peek(P) == '{') {
        P->i++;
        if (peek(P) == '^') neg = !neg, P->i++;
        while (!at_end(P) && peek(P) != '}' && k < sizeof name - 1) name[k++] = P->p[P->i++];
        if (peek(P) != '}') return rfail(P, EMBER_ERR_FORMAT, "unterminated \\p{...}"), false;
        P->i++;
    } else if (!at_end(P)) {
        name[k++] = P->p[P->i++];
    }
    name[k] = 0;
    for (size_t j = 0; j < sizeof props / sizeof props[0]; j++)
        if (!strcmp(props[j].name, name))
            return add_item(P, c, (cls_item){.kind = IT_CATS, .mask = props[j].mask, .neg = neg});
    return rfail(P, EMBER_ERR_UNSUPPORTED, "unsupported Unicode property (general categories only)"), false;
}

static uint32_t parse_hex(rparser *P, int maxdigits, bool braces) {
    uint32_t v = 0;
    int k = 0;
    if (braces) P->i++;
    while (!at_end(P) && k < maxdigits) {
        char c = peek(P);
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) break;
        v = v * 16 + (uint32_t)d, k++, P->i++;
    }
    if (braces) {
        if (peek(P) != '}') return rfail(P, EMBER_ERR_FORMAT, "unterminated \\x{...}"), 0;
        P->i++;
    }
    if (!k || v > 0x10FFFF) return rfail(P, EMBER_ERR_FORMAT, "bad hex escape"), 0;
    return v;
}

/* An escape after '\' that stands for characters: adds them to c. Returns false on error; sets *single to
 * the code point when the escape is one literal character (so it may start a range). */
static bool parse_escape_into(rparser *P, rx_class *c, uint32_t *single, bool icase) {
    *single = UTF8_INVALID;
    if (at_end(P)) return rfail(P, EMBER_ERR_FORMAT, "pattern ends with '\\'"), false;
    char e = P->p[P->i++];
    switch (e) {
    case 's': case 'S': return add_item(P, c, (cls_item){.kind = IT_SPACE, .neg = e == 'S'});
    case 'd': case 'D': return add_item(P, c, (cls_item){.kind = IT_CATS, .mask = 1u << 9, .neg = e == 'D'});
    case 'w': case 'W': return add_item(P, c, (cls_item){.kind = IT_WORD, .neg = e == 'W'});
    case 'p': case 'P': return parse_property(P, c, e == 'P');
    case 'n': *single = '\n'; break;
    case 'r': *single = '\r'; break;
    case 't': *single = '\t'; break;
    case 'f': *single = '\f'; break;
    case 'v': *single = '\v'; break;
    case 'a': *single = 7; break;
    case 'e': *single = 27; break;
    case '0': *single = 0; break;
    case 'x': *single = parse_hex(P, peek(P) == '{' ? 8 : 2, peek(P) == '{'); break;
    case 'u': *single = parse_hex(P, 4, false); break;
    default:
        if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '1' && e <= '9'))
            return rfail(P, EMBER_ERR_UNSUPPORTED, "unsupported escape"), false;
        P->i--;
        *single = next_cp(P);
    }
    if (P->err) return false;
    return add_range(P, c, *single, *single, icase);
}

static rx_node *new_node(rparser *P, int kind) {
    rx_node *n = ralloc(P, sizeof *n);
    if (n) n->kind = (uint8_t)kind;
    return n;
}

static rx_node *char_node(rparser *P, rx_class *c) {
    class_finish(c);
    rx_node *n = new_node(P, N_CHAR);
    if (n) n->cls = c;
    return n;
}

static rx_node *parse_class(rparser *P, bool icase) {
    rx_class *c = ralloc(P, sizeof *c);
    if (!c) return NULL;
    P->i++; /* '[' */
    if (peek(P) == '^') c->neg = true, P->i++;
    bool first = true;
    while (!at_end(P) && (peek(P) != ']' || first)) {
        first = false;
        uint32_t lo;
        if (peek(P) == '[') return rfail(P, EMBER_ERR_UNSUPPORTED, "nested or POSIX classes are not supported");
        if (peek(P) == '&' && P->i + 1 < P->n && P->p[P->i + 1] == '&')
            return rfail(P, EMBER_ERR_UNSUPPORTED, "class intersection is not supported");
        if (peek(P) == '\\') {
            P->i++;
            size_t before = (size_t)c->n;
            if (!parse_escape_into(P, c, &lo, icase)) return NULL;
            if (lo == UTF8_INVALID) continue;
            c->n = (int)before; /* a literal: re-added below, possibly as a range start */
        } else {
            lo = next_cp(P);
            if (P->err) return NULL;
        }
        uint32_t hi = lo;
        if (peek(P) == '-' && P->i + 1 < P->n && P->p[P->i + 1] != ']') {
            P->i++;
            if (peek(P) == '\\') {
                P->i++;
                rx_class tmp = {0};
                if (!parse_escape_into(P, &tmp, &hi, false)) return NULL;
                if (hi == UTF8_INVALID) return rfail(P, EMBER_ERR_FORMAT, "bad range end in class");
            } else {
                hi = next_cp(P);
                if (P->err) return NULL;
            }
            if (hi < lo) return rfail(P, EMBER_ERR_FORMAT, "range out of order in class");
        }
        if (!add_range(P, c, lo, hi, icase)) return NULL;
    }
    if (at_end(P)) return rfail(P, EMBER_ERR_FORMAT, "unterminated character class");
    P->i++;
    return char_node(P, c);
}

static rx_node *parse_alt(rparser *P, bool icase);

/* Group after '(': returns the node for the whole group. */
static rx_node *parse_group(rparser *P, bool icase) {
    int kind = -1;
    bool neg = false;
    if (peek(P) == '?') {
        P->i++;
        char c = peek(P);
        if (c == ':') P->i++;
        else if (c == '=' || c == '!') kind = N_LOOK, neg = c == '!', P->i++;
        else if (c == '>') kind = N_ATOMIC, P->i++;
        else if (c == '<' && P->i + 1 < P->n && (P->p[P->i + 1] == '=' || P->p[P->i + 1] == '!'))
            return rfail(P, EMBER_ERR_UNSUPPORTED, "lookbehind is not supported");
        else if (c == '<' || c == 'P' || c == '\'') { /* named group: skip the name */
            while (!at_end(P) && peek(P) != '>' && peek(P) != '\'') P->i++;
            if (at_end(P)) return rfail(P, EMBER_ERR_FORMAT, "unterminated group name");
            P->i++;
        } else { /* flags: (?i) (?-i) (?i:...) */
            bool on = true, ic = icase;
            while (!at_end(P) && peek(P) != ':' && peek(P) != ')') {
                char f = P->p[P->i++];
                if (f == '-') on = false;
                else if (f == 'i') ic = on;
                else if (f == 'x' || f == 'm' || f == 's') return rfail(P, EMBER_ERR_UNSUPPORTED, "unsupported group flag");
                else return rfail(P, EMBER_ERR_FORMAT, "unknown group flag");
            }
            if (at_end(P)) return rfail(P, EMBER_ERR_FORMAT, "unterminated group");
            if (P->p[P->i++] == ')') return rfail(P, EMBER_ERR_UNSUPPORTED, "inline flags (?i) without ':' are not supported");
            icase = ic;
        }
    }
    rx_node *inner = parse_alt(P, icase);
    if (!inner) return NULL;
    if (peek(P) != ')') return rfail(P, EMBER_ERR_FORMAT, "missing ')'");
    P->i++;
    if (kind < 0) return inner;
    rx_node *g = new_node(P, kind);
    if (!g) return NULL;
    g->neg = neg;
    g->kids = ralloc(P, sizeof *g->kids);
    if (!g->kids) return NULL;
    g->kids[0] = inner, g->nkids = 1;
    return g;
}

static rx_node *parse_atom(rparser *P, bool icase) {
    char c = peek(P);
    if (c == '(') {
        if (++P->depth > 200) return rfail(P, EMBER_ERR_FORMAT, "groups nested too deep");
        P->i++;
        rx_node *g = parse_group(P, icase);
        P->depth--;
        return g;
    }
    if (c == '[') return parse_class(P, icase);
    if (c == '^') return P->i++, new_node(P, N_BOL);
    if (c == '$') return P->i++, new_node(P, N_EOL);
    if (c == '*' || c == '+' || c == '?' || c == '{') return rfail(P, EMBER_ERR_FORMAT, "quantifier without anything to repeat");
    rx_class *cls = ralloc(P, sizeof *cls);
    if (!cls) return NULL;
    if (c == '.') {
        P->i++;
        cls->neg = true;
        if (!add_range(P, cls, '\n', '\n', false)) return NULL;
        return char_node(P, cls);
    }
    if (c == '\\') {
        P->i++;
        char e = peek(P);
        if (e == 'A' || e == 'z' || e == 'Z') return P->i++, new_node(P, e == 'A' ? N_BOS : e == 'z' ? N_EOS : N_EOSNL);
        if (e == 'b' || e == 'B') return P->i++, new_node(P, e == 'b' ? N_WORDB : N_NWORDB);
        if (e == 'G' || e == 'k' || e == 'K') return rfail(P, EMBER_ERR_UNSUPPORTED, "unsupported escape");
        uint32_t single;
        if (!parse_escape_into(P, cls, &single, icase)) return NULL;
        return char_node(P, cls);
    }
    uint32_t cp = next_cp(P);
    if (P->err || !add_range(P, cls, cp, cp, icase)) return NULL;
    return char_node(P, cls);
}

static bool parse_count(rparser *P, int *v) {
    if (peek(P) < '0' || peek(P) > '9') return false;
    long x = 0;
    while (peek(P) >= '0' && peek(P) <= '9') {
        x = x * 10 + (P->p[P->i++] - '0');
        if (x > 100000) return rfail(P, EMBER_ERR_UNSUPPORTED, "repeat count too large"), false;
    }
    *v = (int)x;
    return true;
}

/* Quantifier after an atom: returns the (possibly wrapped) node. */
static rx_node *parse_quant(rparser *P, rx_node *atom) {
    for (;;) {
        int min, max;
        char c = peek(P);
        if (c == '*') min = 0, max = -1, P->i++;
        else if (c == '+') min = 1, max = -1, P->i++;
        else if (c == '?') min = 0, max = 1, P->i++;
        else if (c == '{') {
            size_t save = P->i++;
            if (!parse_count(P, &min)) { /* not a quantifier: a literal '{' (Oniguruma) */
                if (P->err) return NULL;
                P->i = save;
                return atom;
            }
            max = min;
            if (peek(P) == ',') {
                P->i++;
                max = -1;
                if (peek(P) != '}' && !parse_count(P, &max)) return rfail(P, EMBER_ERR_FORMAT, "bad {n,m}");
            }
            if (peek(P) != '}') return rfail(P, EMBER_ERR_FORMAT, "bad {n,m}");
            P->i++;
            if (max >= 0 && max < min) return rfail(P, EMBER_ERR_FORMAT, "{n,m} with m < n");
        } else {
            return atom;
        }
        rx_node *r = new_node(P, N_REP);
        if (!r || !(r->kids = ralloc(P, sizeof *r->kids))) return NULL;
        r->kids[0] = atom, r->nkids = 1, r->min = min, r->max = max;
        if (peek(P) == '?') r->mode = 1, P->i++;
        else if (peek(P) == '+' && c != '{') r->mode = 2, P->i++;
        atom = r;
    }
}

static rx_node *finish_list(rparser *P, int kind, rx_node **list, int n) {
    if (n == 1 && kind == N_SEQ) return list[0];
    rx_node *s = new_node(P, kind);
    if (!s) return NULL;
    if (n) {
        if (!(s->kids = ralloc(P, (size_t)n * sizeof *s->kids))) return NULL;
        memcpy(s->kids, list, (size_t)n * sizeof *list);
    }
    s->nkids = n;
    return s;
}

static bool grow(rparser *P, rx_node ***list, int *cap, int n) {
    if (n < *cap) return true;
    int nc = *cap ? *cap * 2 : 8;
    rx_node **l = ralloc(P, (size_t)nc * sizeof *l);
    if (!l) return false;
    if (n) memcpy(l, *list, (size_t)n * sizeof *l);
    *list = l, *cap = nc;
    return true;
}

static rx_node *parse_seq(rparser *P, bool icase) {
    rx_node **list = NULL;
    int n = 0, cap = 0;
    while (!at_end(P) && peek(P) != '|' && peek(P) != ')') {
        rx_node *a = parse_atom(P, icase);
        if (!a || !(a = parse_quant(P, a))) return NULL;
        if (!grow(P, &list, &cap, n)) return NULL;
        list[n++] = a;
    }
    return finish_list(P, N_SEQ, list, n);
}

static rx_node *parse_alt(rparser *P, bool icase) {
    rx_node **list = NULL;
    int n = 0, cap = 0;
    for (;;) {
        rx_node *s = parse_seq(P, icase);
        if (!s || !grow(P, &list, &cap, n)) return NULL;
        list[n++] = s;
        if (peek(P) != '|') break;
        P->i++;
    }
    return n == 1 ? list[0] : finish_list(P, N_ALT, list, n);
}

static bool class_has_high(const rx_class *c) {
    if (c->neg) return true;
    for (int i = 0; i < c->n; i++)
        if (c->items[i].kind != IT_RANGE || c->items[i].neg || c->items[i].hi >= 128) return true;
    return false;
}

/* Fills first/first_high/nullable bottom-up (lookarounds and anchors are treated as empty). */
static void compute_first(rx_node *n) {
    for (int i = 0; i < n->nkids; i++) compute_first(n->kids[i]);
    n->first[0] = n->first[1] = 0;
    n->first_high = false;
    switch (n->kind) {
    case N_CHAR:
        n->first[0] = n->cls->ascii[0], n->first[1] = n->cls->ascii[1];
        n->first_high = class_has_high(n->cls);
        n->nullable = false;
        return;
    case N_SEQ:
        n->nullable = true;
        for (int i = 0; i < n->nkids && n->nullable; i++) {
            rx_node *k = n->kids[i];
            if (k->kind == N_LOOK) continue;
            n->first[0] |= k->first[0], n->first[1] |= k->first[1], n->first_high |= k->first_high;
            n->nullable = k->nullable;
        }
        return;
    case N_ALT:
        n->nullable = false;
        for (int i = 0; i < n->nkids; i++) {
            rx_node *k = n->kids[i];
            n->first[0] |= k->first[0], n->first[1] |= k->first[1], n->first_high |= k->first_high;
            n->nullable |= k->nullable;
        }
        return;
    case N_REP: case N_ATOMIC:
        n->first[0] = n->kids[0]->first[0], n->first[1] = n->kids[0]->first[1], n->first_high = n->kids[0]->first_high;
        n->nullable = n->kids[0]->nullable || (n->kind == N_REP && n->min == 0);
        return;
    default: /* lookaround, anchors: zero width */
        n->nullable = true;
        return;
    }
}

/* Whether a match of n can start with the character at pos (true when n may match empty). */
static inline bool may_start(const rx_node *n, const uint8_t *s, size_t len, size_t pos) {
    if (n->nullable) return true;
    if (pos >= len) return false;
    uint8_t c = s[pos];
    return c < 0x80 ? (n->first[c >> 6] >> (c & 63)) & 1 : n->first_high;
}

void ember_regex_free(ember_regex *re) {
    if (!re) return;
    for (size_t i = 0; i < re->nallocs; i++) ember_free(re->allocs[i]);
    ember_free(re->allocs);
    ember_free(re);
}

ember_status ember_regex_compile(const char *pattern, size_t len, ember_regex **out) {
    *out = NULL;
    if (!len) len = strlen(pattern);
    ember_regex *re = ember_calloc(1, sizeof *re);
    if (!re) return ember_fail(EMBER_ERR_NOMEM, "regex: out of memory");
    rparser P = {.p = pattern, .n = len, .re = re};
    re->root = parse_alt(&P, false);
    if (re->root && !at_end(&P)) rfail(&P, EMBER_ERR_FORMAT, "unmatched ')'");
    if (P.err || !re->root) {
        ember_regex_free(re);
        return P.err ? P.err : ember_fail(EMBER_ERR_INTERNAL, "regex: no tree built");
    }
    compute_first(re->root);
    *out = re;
    return EMBER_OK;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Matcher: backtracking with explicit continuations on the C stack. */

typedef struct kont kont;
struct kont {
    const rx_node *n; /* N_SEQ: continue with kids[i]; N_REP: one iteration ended; NULL: accept */
    int i;
    size_t start; /* N_REP: where the iteration began */
    const kont *next;
};

typedef struct matcher {
    const uint8_t *s;
    size_t n;
    size_t end;
    long budget; /* steps left before giving up on catastrophic backtracking */
    int depth;
} matcher;

static bool match(matcher *m, const rx_node *n, size_t pos, const kont *k);

static bool cont(matcher *m, const kont *k, size_t pos);

static inline size_t char_at(const matcher *m, size_t pos, uint32_t *cp) {
    uint8_t c = m->s[pos];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int l = utf8_decode(m->s + pos, m->n - pos, cp);
    return (size_t)l;
}

static inline size_t prev_char(const matcher *m, size_t pos) {
    do pos--;
    while (pos > 0 && (m->s[pos] & 0xC0) == 0x80);
    return pos;
}

static bool rep_iter(matcher *m, const rx_node *n, size_t pos, int count, const kont *k);

/* A repetition of a single-character node: scan the run, then try the continuation at each length. */
static bool rep_chars(matcher *m, const rx_node *n, size_t pos, const kont *k) {
    const rx_class *c = n->kids[0]->cls;
    int count = 0;
    size_t p = pos;
    if (n->mode == 1) { /* lazy */
        for (;;) {
            if (count >= n->min && cont(m, k, p)) return true;
            if (p >= m->n || (n->max >= 0 && count >= n->max)) return false;
            uint32_t cp;
            size_t l = char_at(m, p, &cp);
            if (!class_has(c, cp)) return false;
            p += l, count++;
        }
    }
    while (p < m->n && (n->max < 0 || count < n->max)) {
        uint32_t cp;
        size_t l = char_at(m, p, &cp);
        if (!class_has(c, cp)) break;
        p += l, count++;
    }
    if (count < n->min) return false;
    if (n->mode == 2) return cont(m, k, p);
    for (;;) {
        if (cont(m, k, p)) return true;
        if (count == n->min) return false;
        p = prev_char(m, p), count--;
    }
}

/* Matches n alone and reports where the first (preferred) match ends. */
static bool match_alone(matcher *m, const rx_node *n, size_t pos, size_t *end) {
    kont accept = {0};
    size_t save = m->end;
    bool ok = match(m, n, pos, &accept);
    *end = m->end;
    m->end = save;
    return ok;
}

static bool match_node(matcher *m, const rx_node *n, size_t pos, const kont *k);

/* Every step counts against a budget and the recursion depth is bounded, so a pathological pattern
 * fails to match instead of hanging or overflowing the stack. */
static bool match(matcher *m, const rx_node *n, size_t pos, const kont *k) {
    if (--m->budget < 0 || m->depth >= 20000) return false;
    m->depth++;
    bool r = match_node(m, n, pos, k);
    m->depth--;
    return r;
}

static bool match_node(matcher *m, const rx_node *n, size_t pos, const kont *k) {
    switch (n->kind) {
    case N_CHAR: {
        if (pos >= m->n) return false;
        uint32_t cp;
        size_t l = char_at(m, pos, &cp);
        return class_has(n->cls, cp) && cont(m, k, pos + l);
    }
    case N_SEQ: {
        if (!n->nkids) return cont(m, k, pos);
        kont nk = {n, 1, 0, k};
        return match(m, n->kids[0], pos, &nk);
    }
    case N_ALT:
        for (int i = 0; i < n->nkids; i++)
            if (may_start(n->kids[i], m->s, m->n, pos) && match(m, n->kids[i], pos, k)) return true;
        return false;
    case N_REP:
        if (n->kids[0]->kind == N_CHAR) return rep_chars(m, n, pos, k);
        if (n->mode == 2) {
            size_t end;
            rx_node atomic = *n;
            atomic.mode = 0;
            return match_alone(m, &atomic, pos, &end) && cont(m, k, end);
        }
        return rep_iter(m, n, pos, 0, k);
    case N_LOOK: {
        size_t end;
        bool ok = match_alone(m, n->kids[0], pos, &end);
        return ok != n->neg && cont(m, k, pos);
    }
    case N_ATOMIC: {
        size_t end;
        return match_alone(m, n->kids[0], pos, &end) && cont(m, k, end);
    }
    case N_BOL: return (pos == 0 || m->s[pos - 1] == '\n') && cont(m, k, pos);
    case N_EOL: return (pos == m->n || m->s[pos] == '\n') && cont(m, k, pos);
    case N_BOS: return pos == 0 && cont(m, k, pos);
    case N_EOS: return pos == m->n && cont(m, k, pos);
    case N_EOSNL: return (pos == m->n || (pos + 1 == m->n && m->s[pos] == '\n')) && cont(m, k, pos);
    case N_WORDB: case N_NWORDB: { /* \b: a word character on exactly one side */
        static const cls_item word = {.kind = IT_WORD};
        uint32_t cp;
        bool before = pos > 0 && (char_at(m, prev_char(m, pos), &cp), item_has(&word, cp));
        bool after = pos < m->n && (char_at(m, pos, &cp), item_has(&word, cp));
        return ((before != after) == (n->kind == N_WORDB)) && cont(m, k, pos);
    }
    }
    return false;
}

static bool rep_iter(matcher *m, const rx_node *n, size_t pos, int count, const kont *k) {
    bool more = n->max < 0 || count < n->max;
    kont it = {n, count + 1, pos, k};
    if (n->mode == 1) { /* lazy: stop first */
        if (count >= n->min && cont(m, k, pos)) return true;
        return more && match(m, n->kids[0], pos, &it);
    }
    if (more && match(m, n->kids[0], pos, &it)) return true;
    return count >= n->min && cont(m, k, pos);
}

static bool cont(matcher *m, const kont *k, size_t pos) {
    if (!k || !k->n) {
        m->end = pos;
        return true;
    }
    const rx_node *n = k->n;
    if (n->kind == N_SEQ) {
        if (k->i == n->nkids) return cont(m, k->next, pos);
        kont nk = {n, k->i + 1, 0, k->next};
        return match(m, n->kids[k->i], pos, &nk);
    }
    /* N_REP: an iteration ended; an empty iteration beyond the minimum cannot help */
    if (pos == k->start && k->i > n->min) return false;
    return rep_iter(m, n, pos, k->i, k->next);
}

bool ember_regex_find(const ember_regex *re, const char *s, size_t n, size_t from, size_t *begin, size_t *end) {
    matcher m = {(const uint8_t *)s, n, 0, 0, 0};
    for (size_t pos = from; pos <= n;) {
        m.budget = 1000000;
        if (may_start(re->root, m.s, n, pos) && match(&m, re->root, pos, NULL)) {
            *begin = pos;
            *end = m.end;
            return true;
        }
        if (pos == n) break;
        pos += (size_t)utf8_len(m.s[pos]);
    }
    return false;
}
