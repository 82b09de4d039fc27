/* What happens to the model's tokens before they are returned, as in Hugging Face's Tokenizer::post_process:
 * truncation (LongestFirst / OnlyFirst / OnlySecond, either direction), the post-processor (ByteLevel offset
 * trimming, TemplateProcessing / BertProcessing / RobertaProcessing special tokens and type ids, one
 * sequence or a pair) and padding (fixed or to the longest of a batch, to a multiple, either side). */
#include "text/tok.h"

#include "text/utf8.h"

ember_status tk_post_simple(ember_tokenizer *tok, const int32_t *before, int nbefore, const int32_t *after, int nafter) {
    tk_post *p = &tok->post;
    int32_t *ids = ember_arena_alloc(&tok->arena, ((size_t)nbefore + (size_t)nafter + 1) * sizeof *ids, 4);
    p->single = ember_arena_alloc(&tok->arena, 3 * sizeof *p->single, 8);
    p->pair = ember_arena_alloc(&tok->arena, 6 * sizeof *p->pair, 8);
    if (!ids || !p->single || !p->pair) return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory");
    if (nbefore) memcpy(ids, before, (size_t)nbefore * sizeof *ids);
    if (nafter) memcpy(ids + nbefore, after, (size_t)nafter * sizeof *ids);
    p->nsingle = p->npair = 0;
    for (uint32_t s = 0; s < 2; s++) {
        tk_tpl_item *t = s ? p->pair : p->single;
        int *n = s ? &p->npair : &p->nsingle;
        for (uint32_t q = 0; q <= s; q++) {
            if (nbefore) t[(*n)++] = (tk_tpl_item){-1, ids, nbefore, q};
            t[(*n)++] = (tk_tpl_item){(int)q, NULL, 0, q};
            if (nafter) t[(*n)++] = (tk_tpl_item){-1, ids + nbefore, nafter, q};
        }
    }
    p->nadd_single = nbefore + nafter, p->nadd_pair = 2 * (nbefore + nafter);
    return EMBER_OK;
}

/* BertProcessing: [CLS] A [SEP] and [CLS] A [SEP] B [SEP] (B and its [SEP] type 1); RobertaProcessing:
 * <s> A </s> and <s> A </s> </s> B </s> (all type 0). Without special tokens both give the sequences as
 * they are (the pair with type 1). */
ember_status tk_post_bert(ember_tokenizer *tok, int32_t cls_id, int32_t sep_id, bool roberta) {
    tk_post *p = &tok->post;
    int32_t *ids = ember_arena_alloc(&tok->arena, 2 * sizeof *ids, 4);
    p->single = ember_arena_alloc(&tok->arena, 3 * sizeof *p->single, 8);
    p->pair = ember_arena_alloc(&tok->arena, 6 * sizeof *p->pair, 8);
    if (!ids || !p->single || !p->pair) return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory");
    ids[0] = cls_id, ids[1] = sep_id;
    const int32_t *cls = ids, *sep = ids + 1;
    uint32_t bt = roberta ? 0 : 1;
    p->nsingle = 3, p->nadd_single = 2;
    p->single[0] = (tk_tpl_item){-1, cls, 1, 0}, p->single[1] = (tk_tpl_item){0, NULL, 0, 0}, p->single[2] = (tk_tpl_item){-1, sep, 1, 0};
    int n = 0;
    p->pair[n++] = (tk_tpl_item){-1, cls, 1, 0};
    p->pair[n++] = (tk_tpl_item){0, NULL, 0, 0};
    p->pair[n++] = (tk_tpl_item){-1, sep, 1, 0};
    if (roberta) p->pair[n++] = (tk_tpl_item){-1, sep, 1, 0};
    p->pair[n++] = (tk_tpl_item){1, NULL, 0, bt};
    p->pair[n++] = (tk_tpl_item){-1, sep, 1, bt};
    p->npair = n, p->nadd_pair = n - 2;
    p->plain_without_special = true;
    return EMBER_OK;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Output arrays */

void tk_post_ctx_free(tk_ctx *c) {
    ember_free(c->own_ids), ember_free(c->own_spans), ember_free(c->o_type), ember_free(c->o_special);
    ember_free(c->o_attn), ember_free(c->o_seq);
    c->own_ids = NULL, c->own_spans = NULL, c->o_type = NULL, c->o_special = NULL, c->o_attn = NULL, c->o_seq = NULL;
    c->o_ids = NULL, c->o_spans = NULL, c->o_n = c->o_cap = 0;
}

static ember_status out_reserve(tk_ctx *c, size_t n) {
    if (n <= c->o_cap) return EMBER_OK;
    size_t cap = c->o_cap ? c->o_cap : 64;
    while (cap < n) cap *= 2;
#define GROW(f) do { void *q = ember_realloc(c->f, cap * sizeof *c->f); if (!q) goto fail; c->f = q; } while (0)
    GROW(own_ids);
    GROW(own_spans);
    GROW(o_type);
    GROW(o_special);
    GROW(o_attn);
    GROW(o_seq);
#undef GROW
    c->o_cap = cap;
    return EMBER_OK;
fail:
    return ember_fail(EMBER_ERR_NOMEM, "tokenizer: out of memory for the output");
}

/* Makes the o_* arrays the owned ones (copying a direct result in). */
static ember_status out_own(tk_ctx *c) {
    if (!c->o_direct) return EMBER_OK;
    size_t n = c->o_n;
    ember_status s = out_reserve(c, n + 1);
    if (s) return s;
    if (n) {
        memcpy(c->own_ids, c->o_ids, n * sizeof *c->own_ids);
        memcpy(c->own_spans, c->o_spans, n * sizeof *c->own_spans);
    }
    for (size_t i = 0; i < n; i++) c->o_type[i] = 0, c->o_special[i] = 0, c->o_attn[i] = 1, c->o_seq[i] = 0;
    c->o_ids = c->own_ids, c->o_spans = c->own_spans, c->o_direct = false;
    return EMBER_OK;
}

/* ---------------------------------------------------------------------------------------------------- */
/* ByteLevel offset trimming */

static bool trim_char(uint32_t cp) { return cp == 0x120 || ember_uni_is_space(cp); }

/* Leading and trailing characters of a token string that are spaces (Ġ or Unicode white space). */
static void count_spaces(const char *p, size_t n, size_t *lead, size_t *trail) {
    size_t i = 0, chars = 0, run = 0;
    *lead = 0;
    bool leading = true;
    while (i < n) {
        uint32_t cp;
        i += (size_t)utf8_decode((const uint8_t *)p + i, n - i, &cp);
        chars++;
        if (trim_char(cp)) {
            run++;
            if (leading) (*lead)++;
        } else {
            leading = false, run = 0;
        }
    }
    *trail = run;
    (void)chars;
}

static void trim_offsets(tk_ctx *c, size_t from, size_t to) {
    const ember_tokenizer *tok = c->tok;
    for (size_t i = from; i < to; i++) {
        const char *p = ember_tokenizer_token(tok, c->ids[i]);
        if (!p) continue;
        size_t lead, trail;
        count_spaces(p, strlen(p), &lead, &trail);
        ember_token_span *o = &c->spans[i];
        if (lead) {
            bool first = i == from || o->begin == 0;
            if (!(first && tok->post.trim_prefix_space && lead == 1)) o->begin = o->begin + (uint32_t)lead < o->end ? o->begin + (uint32_t)lead : o->end;
        }
        if (trail && o->end >= trail) o->end = o->end - (uint32_t)trail > o->begin ? o->end - (uint32_t)trail : o->begin;
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* Truncation */

static ember_status too_short(void) {
    return ember_fail(EMBER_ERR_ARG, "tokenizer: truncation: the sequence to truncate is too short for max_length");
}

/* How many tokens of each sequence stay (HF's truncate_encodings). */
static ember_status trunc_lengths(const tk_trunc *t, size_t max, size_t na, size_t nb, bool has_pair, size_t *ka, size_t *kb) {
    /* LongestFirst on a pair keeps the shorter sequence whole when it fits, else splits max in halves,
     * the odd token going to the longer sequence unless the shorter alone reaches max_length (counting
     * the special tokens): fitted to HF 0.23.2 over every length up to 20 */
    *ka = na, *kb = nb;
    if (max == 0) {
        *ka = *kb = 0;
        return EMBER_OK;
    }
    size_t total = na + nb;
    if (total <= max) return EMBER_OK;
    size_t remove = total - max;
    if (t->strategy == TRUNC_LONGEST_FIRST) {
        if (!has_pair) {
            *ka = max;
            return EMBER_OK;
        }
        size_t n1 = na, n2 = nb;
        bool swap = n1 > n2;
        if (swap) n1 = nb, n2 = na;
        bool both_long = n1 >= t->max_len;
        n2 = n1 > max ? n1 : (n1 > max - n1 ? n1 : max - n1);
        if (n1 + n2 > max) {
            n1 = max / 2, n2 = n1 + max % 2;
            if (both_long) swap = false;
        }
        *ka = swap ? n2 : n1, *kb = swap ? n1 : n2;
        return EMBER_OK;
    }
    if (t->strategy == TRUNC_ONLY_SECOND && !has_pair)
        return ember_fail(EMBER_ERR_ARG, "tokenizer: truncation only_second needs a pair of sequences");
    size_t *k = t->strategy == TRUNC_ONLY_FIRST ? ka : kb;
    if (*k <= remove) return too_short();
    *k -= remove;
    return EMBER_OK;
}

/* Keeps `keep` of the `n` tokens at c->ids[at..): the first ones, or the last ones (left truncation). */
static void cut(tk_ctx *c, size_t at, size_t n, size_t keep, bool left) {
    if (keep >= n) return;
    if (left) {
        memmove(c->ids + at, c->ids + at + n - keep, keep * sizeof *c->ids);
        memmove(c->spans + at, c->spans + at + n - keep, keep * sizeof *c->spans);
    }
    size_t rest = c->n - (at + n);
    memmove(c->ids + at + keep, c->ids + at + n, rest * sizeof *c->ids);
    memmove(c->spans + at + keep, c->spans + at + n, rest * sizeof *c->spans);
    c->n -= n - keep;
}

/* ---------------------------------------------------------------------------------------------------- */

static ember_status put(tk_ctx *c, int32_t id, ember_token_span sp, uint32_t type, uint8_t special, int8_t seq) {
    if (c->o_n + 1 > c->o_cap) {
        ember_status s = out_reserve(c, c->o_n + 1);
        if (s) return s;
    }
    size_t i = c->o_n++;
    c->own_ids[i] = id, c->own_spans[i] = sp, c->o_type[i] = type, c->o_special[i] = special, c->o_attn[i] = 1;
    c->o_seq[i] = seq;
    return EMBER_OK;
}

ember_status tk_post_process(tk_ctx *c, size_t na, size_t nb, bool has_pair, bool add_special) {
    const ember_tokenizer *tok = c->tok;
    const tk_post *p = &tok->post;
    const tk_tpl_item *tpl = has_pair ? p->pair : p->single;
    int ntpl = has_pair ? p->npair : p->nsingle;
    const tk_tpl_item *order = add_special || !p->plain_without_special ? tpl : NULL; /* what gets applied */
    /* truncation, leaving room for what the post-processor adds */
    if (tok->trunc.on) {
        size_t add = add_special && tpl ? (size_t)(has_pair ? p->nadd_pair : p->nadd_single) : 0;
        if (add <= tok->trunc.max_len) {
            size_t ka, kb;
            ember_status s = trunc_lengths(&tok->trunc, tok->trunc.max_len - add, na, nb, has_pair, &ka, &kb);
            if (s) return s;
            cut(c, na, nb, kb, tok->trunc.left);
            cut(c, 0, na, ka, tok->trunc.left);
            na = ka, nb = has_pair ? kb : 0;
        }
    }
    if (p->trim_offsets) trim_offsets(c, 0, na), trim_offsets(c, na, na + nb);
    c->o_n = 0;
    c->o_direct = !has_pair && (!order || !add_special || p->nadd_single == 0);
    if (c->o_direct) {
        c->o_ids = c->ids, c->o_spans = c->spans, c->o_n = c->n;
    } else {
        ember_status s = out_reserve(c, c->n + (size_t)p->nadd_pair + 1);
        if (s) return s;
        c->o_ids = c->own_ids, c->o_spans = c->own_spans;
        if (!order) { /* no template: the sequences one after the other, the pair with type id 1 */
            for (size_t i = 0; i < na + nb && !s; i++) s = put(c, c->ids[i], c->spans[i], i >= na, 0, (int8_t)(i >= na));
        } else {
            for (int k = 0; k < ntpl && !s; k++) {
                const tk_tpl_item *it = &order[k];
                if (it->seq < 0) {
                    for (int j = 0; j < it->nids && add_special && !s; j++) s = put(c, it->ids[j], (ember_token_span){0, 0}, it->type_id, 1, -1);
                    continue;
                }
                size_t b = it->seq ? na : 0, e = it->seq ? na + nb : na;
                for (size_t i = b; i < e && !s; i++) s = put(c, c->ids[i], c->spans[i], it->type_id, 0, (int8_t)it->seq);
            }
        }
        if (s) return s;
        c->o_ids = c->own_ids, c->o_spans = c->own_spans;
    }
    if (tok->pad.on) {
        size_t target = tok->pad.fixed ? tok->pad.fixed : c->o_n;
        if (tok->pad.multiple && target % tok->pad.multiple) target += tok->pad.multiple - target % tok->pad.multiple;
        return tk_pad_to(c, target);
    }
    return EMBER_OK;
}

ember_status tk_pad_to(tk_ctx *c, size_t target) {
    const tk_pad *pd = &c->tok->pad;
    if (!pd->on || c->o_n >= target) return EMBER_OK;
    ember_status s = out_own(c);
    if (!s) s = out_reserve(c, target + 1);
    if (s) return s;
    size_t n = c->o_n, k = target - n, at = pd->left ? 0 : n;
    if (pd->left) {
        memmove(c->own_ids + k, c->own_ids, n * sizeof *c->own_ids);
        memmove(c->own_spans + k, c->own_spans, n * sizeof *c->own_spans);
        memmove(c->o_type + k, c->o_type, n * sizeof *c->o_type);
        memmove(c->o_special + k, c->o_special, n);
        memmove(c->o_attn + k, c->o_attn, n);
        memmove(c->o_seq + k, c->o_seq, n);
    }
    for (size_t i = at; i < at + k; i++) {
        c->own_ids[i] = pd->id, c->own_spans[i] = (ember_token_span){0, 0}, c->o_type[i] = pd->type_id;
        c->o_special[i] = 1, c->o_attn[i] = 0, c->o_seq[i] = -1;
    }
    c->o_ids = c->own_ids, c->o_spans = c->own_spans, c->o_n = target;
    return EMBER_OK;
}
