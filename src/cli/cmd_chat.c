/* `ember chat`: an interactive, multi-turn conversation with a language model. Each turn renders the whole
 * conversation with the model's chat template (the GGUF's tokenizer.chat_template, --template FILE, or a built-in
 * ChatML / Llama-3 / Llama-2 one), evaluates only what differs from the KV cache, and streams the reply. Ctrl-C
 * stops the reply (not the program); /reset forgets the conversation; /exit or end of input quits. Line editing
 * comes from the system's libedit when built with it (EMBER_HAVE_LIBEDIT) and stdin is a terminal. */
#include "cli/llm_cli.h"
#include "cli/chat_conv.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef EMBER_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

static const cli_opt opts[] = {
    {"model", 'm', "FILE", "GGUF model or llama2.c checkpoint"},
    {"system", OPT_SYSTEM, "TEXT", "system prompt"},
    {"template", 'T', "FILE", "Jinja chat template file (default: the model's, else a built-in one)"},
    {"n", 'n', "N", "most tokens per reply (default: until the end of turn)"},
    LLM_CLI_SAMPLER_OPTS,
    {"tokenizer", OPT_TOKENIZER, "FILE", "tokenizer (default: the GGUF's, or tokenizer.bin beside a .bin model)"},
    {"ctx", OPT_CTX, "N", "context length (default: min(model's, 4096)); a full context shifts"},
    {"kv", OPT_KV, "TYPE", "KV cache type: f16 (default), q8 or f32"},
    {0},
};
static const cli_help help = {"chat", "-m MODEL [--system TEXT] [--temp T] ...",
                              "Chat with a language model: type a message, the reply streams back.", opts, CLI_THREADS,
                              "Commands: /reset starts over, /exit quits (so does end of input). Ctrl-C stops a\n"
                              "reply. Speed is shown on stderr after each reply."};

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

/* A growing array of token ids mirroring the KV cache. */
typedef struct ids_vec {
    int32_t *v;
    int n, cap;
} ids_vec;

static bool ids_push(ids_vec *a, int32_t id) {
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 256;
        int32_t *v = realloc(a->v, (size_t)cap * sizeof *v);
        if (!v) return false;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = id;
    return true;
}

typedef struct chat {
    llm_cli c;
    const ember_llm_info *in;
    chat_conv *conv;
    const char *system;
    ids_vec cache;
    ember_sampler *smp;
    int32_t bos, eos, eot;
    long max_reply;
    bool tty;
} chat;

static ember_status reset(chat *ch) {
    ember_llm_rewind(ch->c.session, 0);
    ch->cache.n = 0;
    ember_sampler_reset(ch->smp);
    return chat_conv_clear(ch->conv, ch->system);
}

static ember_status open_template(chat *ch, const char *path) {
    if (path) {
        FILE *f = fopen(path, "rb");
        if (!f) return ember_fail(EMBER_ERR_IO, "%s: cannot open the chat template", path);
        char *buf = NULL;
        size_t len = 0, cap = 0, got;
        do {
            if (len + 4096 > cap) {
                char *b = realloc(buf, cap = (len + 4096) * 2);
                if (!b) break;
                buf = b;
            }
            got = fread(buf + len, 1, cap - len, f);
            len += got;
        } while (got);
        fclose(f);
        ember_status s = buf ? chat_conv_create(buf, len, NULL, &ch->conv) : ember_fail(EMBER_ERR_NOMEM, "out of memory");
        free(buf);
        if (!s) return EMBER_OK;
        char why[512];
        snprintf(why, sizeof why, "%s", ember_last_error());
        return ember_fail(s, "%s: %s", path, why);
    }
    const char *src = NULL;
    if (ch->in->gguf && !ember_gguf_get_str(ch->in->gguf, "tokenizer.chat_template", &src))
        return chat_conv_create(src, strlen(src), NULL, &ch->conv);
    const char *name = ember_tokenizer_token_id(ch->c.tok, "<|im_start|>") >= 0          ? "chatml"
                       : ember_tokenizer_token_id(ch->c.tok, "<|start_header_id|>") >= 0 ? "llama3"
                                                                                          : "llama2";
    return chat_conv_create(NULL, 0, name, &ch->conv);
}

/* The conversation so far as token ids (template rendered with the generation prompt). */
static ember_status render(chat *ch, int32_t **ids, size_t *n) {
    const char *bos = ch->bos >= 0 ? ember_tokenizer_token(ch->c.tok, ch->bos) : NULL;
    const char *eos = ch->eos >= 0 ? ember_tokenizer_token(ch->c.tok, ch->eos) : NULL;
    char *text = NULL;
    ember_status s = chat_conv_render(ch->conv, bos, eos, &text);
    if (!s) s = ember_tokenizer_encode(ch->c.tok, text, strlen(text), false, ids, n);
    free(text);
    return s;
}

/* Drop the oldest user/assistant exchange (keeping a system message); false when there is none to drop. */
static bool drop_oldest(chat *ch) {
    size_t first = ch->system ? 1 : 0;
    return chat_conv_count(ch->conv) >= first + 3 && chat_conv_drop(ch->conv, first, 2);
}

/* Bring the KV cache to the rendered conversation: keep the common prefix, evaluate the rest. */
static ember_status prefill(chat *ch, const float **logits) {
    int n_ctx = ember_llm_n_ctx(ch->c.session);
    for (;;) {
        int32_t *ids = NULL;
        size_t n = 0;
        ember_status s = render(ch, &ids, &n);
        if (s) return s;
        if ((int)n + 16 > n_ctx) { /* leave room for a reply */
            ember_free(ids);
            if (drop_oldest(ch)) continue;
            return ember_fail(EMBER_ERR_ARG, "the message (%zu tokens with the template) does not fit the context of %d "
                              "tokens (use --ctx)", n, n_ctx);
        }
        int common = 0;
        while (common < ch->cache.n && common < (int)n - 1 && ch->cache.v[common] == ids[common]) common++;
        ember_llm_rewind(ch->c.session, common);
        ch->cache.n = common;
        s = ember_llm_eval(ch->c.session, ids + common, (int)n - common, logits);
        for (size_t i = common; !s && i < n; i++)
            if (!ids_push(&ch->cache, ids[i])) s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
        ember_free(ids);
        return s;
    }
}

/* One assistant reply, streamed; its text is appended to the conversation. */
static ember_status reply(chat *ch) {
    const float *logits = NULL;
    double t0 = llm_cli_now();
    int before = ember_llm_pos(ch->c.session);
    ember_status s = prefill(ch, &logits);
    if (s) return s;
    int prompt_tokens = ember_llm_pos(ch->c.session) - before;
    double t1 = llm_cli_now();
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, &sa, &old);
    llm_stream st = {.out = stdout};
    char *text = NULL;
    size_t len = 0, cap = 0;
    long made = 0;
    int32_t prev = -1;
    while (!interrupted && (ch->max_reply <= 0 || made < ch->max_reply)) {
        int32_t next = ember_sampler_sample(ch->smp, logits, ch->in->n_vocab);
        made++;
        if (next == ch->eos || next == ch->eot || next == ch->bos || ember_tokenizer_is_special(ch->c.tok, next)) break;
        char piece[256];
        size_t pl = llm_cli_piece(&ch->c, prev, next, piece, sizeof piece);
        prev = next;
        if (len + pl + 1 > cap) {
            char *b = realloc(text, cap = (len + pl + 1) * 2);
            if (!b) {
                s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
                break;
            }
            text = b;
        }
        memcpy(text + len, piece, pl);
        len += pl;
        llm_stream_push(&st, piece, pl);
        /* a full context shifts: keep the first token, drop the older half of the rest */
        int pos = ember_llm_pos(ch->c.session), n_ctx = ember_llm_n_ctx(ch->c.session);
        if (pos + 1 > n_ctx) {
            int keep = pos > 0 ? 1 : 0, discard = (pos - keep) / 2;
            if ((s = ember_llm_shift(ch->c.session, keep, discard))) break;
            memmove(ch->cache.v + keep, ch->cache.v + keep + discard, (size_t)(ch->cache.n - keep - discard) * sizeof(int32_t));
            ch->cache.n -= discard;
        }
        if ((s = ember_llm_eval(ch->c.session, &next, 1, &logits))) break;
        if (!ids_push(&ch->cache, next)) {
            s = ember_fail(EMBER_ERR_NOMEM, "out of memory");
            break;
        }
    }
    sigaction(SIGINT, &old, NULL);
    llm_stream_end(&st);
    double t2 = llm_cli_now();
    printf("\n");
    fflush(stdout);
    if (interrupted) fprintf(stderr, "[stopped]\n");
    fprintf(stderr, "[%d prompt tokens, %.2f tokens/s | %ld reply tokens, %.2f tokens/s]\n", prompt_tokens,
            t1 > t0 ? prompt_tokens / (t1 - t0) : 0.0, made, t2 > t1 ? made / (t2 - t1) : 0.0);
    if (!s) s = chat_conv_add(ch->conv, "assistant", text ? text : "", len);
    free(text);
    return s;
}

/* One line of input without its newline (NULL at end of input). Caller frees. */
static char *read_line(const chat *ch) {
#ifdef EMBER_HAVE_LIBEDIT
    if (ch->tty) {
        char *line = readline("> ");
        if (line && *line) add_history(line);
        return line;
    }
#endif
    if (ch->tty) {
        fputs("> ", stdout);
        fflush(stdout);
    }
    size_t cap = 256, len = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    int c;
    while ((c = getchar()) != EOF && c != '\n') {
        if (len + 2 > cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) break;
            buf = b;
        }
        buf[len++] = (char)c;
    }
    if (c == EOF && len == 0) {
        free(buf);
        return NULL;
    }
    if (len && buf[len - 1] == '\r') len--;
    buf[len] = 0;
    return buf;
}

int cmd_chat(int argc, char **argv) {
    cli_parser p;
    cli_begin(&p, &help, argc, argv);
    chat ch = {0};
    ember_sampler_params sp = ember_sampler_defaults();
    bool seeded = false, bad = false;
    const char *tok_path = NULL, *tmpl_path = NULL;
    int k;
    while ((k = cli_next(&p)) > 0) {
        if (llm_cli_option(&p, &ch.c, k, &bad)) continue;
        if (llm_cli_sampler_option(&p, &sp, k, &bad)) {
            seeded |= k == OPT_SEED;
            continue;
        }
        if (k == 'm') ch.c.model_path = p.arg;
        else if (k == OPT_SYSTEM) ch.system = p.arg;
        else if (k == 'T') tmpl_path = p.arg;
        else if (k == 'n') bad |= !cli_int(&p, p.arg, 1, 1 << 24, &ch.max_reply);
        else if (k == OPT_TOKENIZER) tok_path = p.arg;
    }
    if (k < 0) return cli_stop(k);
    if (bad) return CLI_EXIT_USAGE;
    if (!ch.c.model_path) return cli_usage(&p, "-m MODEL is required");
    if (p.npos) return cli_usage(&p, "unexpected argument '%s'", p.pos[0]);
    if (!seeded) sp.seed = (uint64_t)(llm_cli_now() * 1e6);
    int rc = llm_cli_open(&p, &ch.c);
    if (rc) return rc;
    if ((rc = llm_cli_open_tokenizer(&ch.c, tok_path))) {
        llm_cli_close(&ch.c);
        return rc;
    }
    ch.in = ember_llm_info_get(ch.c.model);
    ch.bos = ember_tokenizer_special(ch.c.tok, EMBER_TOKEN_BOS);
    ch.eos = ember_tokenizer_special(ch.c.tok, EMBER_TOKEN_EOS);
    ch.eot = ember_tokenizer_special(ch.c.tok, EMBER_TOKEN_EOT);
    if (ch.eos < 0) ch.eos = ch.in->eos;
    ch.tty = isatty(0) && isatty(1);
    ember_status s = open_template(&ch, tmpl_path);
    if (!s) s = ember_sampler_create(&sp, &ch.smp);
    if (!s) s = reset(&ch);
    if (!s && ch.tty)
        fprintf(stderr, "ember chat: %s (%s %s). /reset starts over, /exit quits, Ctrl-C stops a reply.\n",
                ch.c.model_path, ch.in->arch_name, ember_ggml_type_name(ch.in->main_type));
    char *line;
    while (!s && (line = read_line(&ch))) {
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) {
            free(line);
            break;
        }
        if (!strcmp(line, "/reset")) {
            s = reset(&ch);
            fprintf(stderr, "[conversation reset]\n");
        } else if (*line) {
            s = chat_conv_add(ch.conv, "user", line, strlen(line));
            if (!s) s = reply(&ch);
            if (s == EMBER_ERR_ARG) { /* this message cannot be answered (too long, template refused): say so, go on */
                fprintf(stderr, "ember chat: %s\n", ember_last_error());
                chat_conv_drop(ch.conv, chat_conv_count(ch.conv) - 1, 1); /* forget the message; go on */
                s = EMBER_OK;
            }
        }
        free(line);
    }
    ember_sampler_destroy(ch.smp);
    chat_conv_destroy(ch.conv);
    free(ch.cache.v);
    llm_cli_close(&ch.c);
    return s ? cli_fail(s) : CLI_OK;
}
