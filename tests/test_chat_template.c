/* Chat templates: the fixture templates (Qwen3, Qwen2.5, Llama-3, Llama-3.1, ChatML) rendered byte-identical
 * to Hugging Face, the ollama vectors through the built-ins, the expression language, and malformed input. */
#include "ember/chat_template.h"

#include "check.h"

#include <pthread.h>
#include <stdint.h>

#define FIXTURES "models/llm/fixtures/chat"
#define VECTORS "models/llm/chat_template_vectors"

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = 0;
    if (len) *len = (size_t)n;
    return buf;
}

static char *read_shared(const char *rel, size_t *len) {
    char path[512];
    if (!check_shared(rel, path, sizeof path)) return NULL;
    return read_file(path, len);
}

static ember_jvalue *json(const char *text) {
    ember_jvalue *v = NULL;
    if (ember_jvalue_from_json(text, (size_t)-1, &v)) printf("  bad JSON in test: %s\n", ember_last_error());
    return v;
}

/* Render `src` with the variables of the JSON object `vars`; returns the text (free with ember_free) or NULL
 * with the error message in err. */
static char *render_vars(const char *src, const char *vars, char *err, size_t errcap) {
    ember_chat_template *t = NULL;
    err[0] = 0;
    if (ember_chat_template_create(src, (size_t)-1, &t)) {
        snprintf(err, errcap, "%s", ember_last_error());
        return NULL;
    }
    ember_jvalue *extra = json(vars ? vars : "{}"), *messages = ember_jvalue_list();
    ember_chat_params p = {.messages = messages, .extra = extra, .now = 1721952000 /* 2024-07-26 */};
    char *out = NULL;
    if (ember_chat_template_render(t, &p, &out)) snprintf(err, errcap, "%s", ember_last_error());
    ember_jvalue_release(messages);
    ember_jvalue_release(extra);
    ember_chat_template_destroy(t);
    return out;
}

static int expect_render(const char *src, const char *vars, const char *want, int line) {
    char err[600];
    char *got = render_vars(src, vars, err, sizeof err);
    int ok = got && !strcmp(got, want);
    if (!ok) printf("  line %d: %s\n    want \"%s\"\n    got  \"%s\" %s\n", line, src, want, got ? got : "(error)", err);
    ember_free(got);
    return ok;
}

static int expect_error(const char *src, const char *vars, const char *want_substr, int line) {
    char err[600];
    char *got = render_vars(src, vars, err, sizeof err);
    int ok = !got && strstr(err, want_substr) != NULL;
    if (!ok) printf("  line %d: %s\n    want error containing \"%s\"\n    got \"%s\" / \"%s\"\n", line, src,
                    want_substr, got ? got : "(no output)", err);
    ember_free(got);
    return ok;
}

#define R(src, vars, want) CHECK(expect_render(src, vars, want, __LINE__))
#define E(src, vars, substr) CHECK(expect_error(src, vars, substr, __LINE__))

/* --- fixtures: every template x case of templates.json ------------------------------------------------ */
static void report_diff(const char *what, const char *want, const char *got) {
    size_t i = 0;
    while (want[i] && want[i] == got[i]) i++;
    printf("  %s: differs at byte %zu\n    want: \"%.60s\"\n    got:  \"%.60s\"\n", what, i, want + i, got + i);
}

/* Render one fixture case with template t; returns 1 when it matches rendered/<dir>/<case>.(txt|error.txt). */
static int fixture_case(ember_chat_template *t, const char *dir, const ember_jvalue *tokens, const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, FIXTURES "/cases/%s.json", name);
    char *text = read_shared(rel, NULL);
    ember_jvalue *c = text ? json(text) : NULL;
    free(text);
    if (!c) return printf("  %s: cannot read the case\n", rel), 0;
    const ember_jvalue *tools = ember_jvalue_get(c, "tools");
    const ember_jvalue *bos = ember_jvalue_get(tokens, "bos_token"), *eos = ember_jvalue_get(tokens, "eos_token");
    ember_chat_params p = {
        .messages = ember_jvalue_get(c, "messages"),
        .tools = ember_jvalue_kind_of(tools) == EMBER_JVALUE_LIST ? tools : NULL,
        .add_generation_prompt = (int)ember_jvalue_as_int(ember_jvalue_get(c, "add_generation_prompt")),
        .bos_token = ember_jvalue_str(bos, NULL),
        .eos_token = ember_jvalue_str(eos, NULL),
        .extra = ember_jvalue_get(c, "kwargs"),
    };
    char *out = NULL, what[300];
    ember_status s = ember_chat_template_render(t, &p, &out);
    snprintf(what, sizeof what, "%s/%s", dir, name);
    snprintf(rel, sizeof rel, FIXTURES "/rendered/%s/%s.txt", dir, name);
    char *want = read_shared(rel, NULL);
    int ok = 0;
    if (want) {
        ok = s == EMBER_OK && !strcmp(out, want);
        if (s != EMBER_OK) printf("  %s: render failed: %s\n", what, ember_last_error());
        else if (!ok) report_diff(what, want, out);
    } else {
        snprintf(rel, sizeof rel, FIXTURES "/rendered/%s/%s.error.txt", dir, name);
        want = read_shared(rel, NULL);
        size_t n = want ? strlen(want) : 0;
        while (n && want[n - 1] == '\n') want[--n] = 0;
        ok = want && s != EMBER_OK && !strcmp(ember_last_error(), want);
        if (!ok) printf("  %s: want error \"%s\", got %s \"%s\"\n", what, want ? want : "?", s ? "error" : "text",
                        s ? ember_last_error() : out);
    }
    free(want);
    ember_free(out);
    ember_jvalue_release(c);
    return ok;
}

static int fixtures_passed, fixtures_total;

/* All cases of one entry of templates.json, rendered with template t (the file's, or a built-in). */
static void run_fixture_template(const ember_jvalue *entry, const char *dir, ember_chat_template *t) {
    const ember_jvalue *cases = ember_jvalue_get(entry, "cases"), *tokens = ember_jvalue_get(entry, "special_tokens");
    for (size_t i = 0; i < ember_jvalue_len(cases); i++) {
        int ok = fixture_case(t, dir, tokens, ember_jvalue_str(ember_jvalue_at(cases, i), NULL));
        fixtures_total++;
        fixtures_passed += ok;
        CHECK(ok);
    }
}

static ember_jvalue *load_index(void) {
    char *text = read_shared(FIXTURES "/templates.json", NULL);
    ember_jvalue *index = text ? json(text) : NULL;
    free(text);
    return index;
}

static void test_fixtures(void) {
    ember_jvalue *index = load_index();
    SKIP_IF(!index, "../shared/models/llm/fixtures/chat is absent");
    const char *names[] = {"qwen3", "qwen2.5", "llama3", "llama3.1", "chatml"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        const ember_jvalue *entry = ember_jvalue_get(index, names[k]);
        CHECK(entry != NULL);
        if (!entry) continue;
        char rel[256];
        snprintf(rel, sizeof rel, FIXTURES "/%s", ember_jvalue_str(ember_jvalue_get(entry, "file"), NULL));
        size_t len;
        char *src = read_shared(rel, &len);
        ember_chat_template *t = NULL;
        CHECK(src != NULL);
        if (src && ember_chat_template_create(src, len, &t)) printf("  %s: %s\n", rel, ember_last_error());
        CHECK(t != NULL);
        if (t) run_fixture_template(entry, names[k], t);
        ember_chat_template_destroy(t);
        free(src);
    }
    printf("  fixtures: %d/%d cases byte-identical\n", fixtures_passed, fixtures_total);
    ember_jvalue_release(index);
}

/* The built-in chatml and llama3 templates must render the fixture cases exactly like the shipped ones. */
static void test_builtins_match_fixtures(void) {
    ember_jvalue *index = load_index();
    SKIP_IF(!index, "../shared/models/llm/fixtures/chat is absent");
    const char *names[] = {"chatml", "llama3"};
    for (size_t k = 0; k < 2; k++) {
        ember_chat_template *t = NULL;
        CHECK(ember_chat_template_builtin(names[k], &t) == EMBER_OK);
        if (t) run_fixture_template(ember_jvalue_get(index, names[k]), names[k], t);
        ember_chat_template_destroy(t);
    }
    ember_jvalue_release(index);
}

/* The chat_template of the shared tokenizer_config.json files renders like the fixture template files. */
static void test_hf_config(void) {
    ember_jvalue *index = load_index();
    SKIP_IF(!index, "../shared/models/llm/fixtures/chat is absent");
    const char *names[] = {"qwen3", "llama3"};
    for (size_t k = 0; k < 2; k++) {
        char rel[256];
        snprintf(rel, sizeof rel, "conformance/tokenizers/hf/%s/tokenizer_config.json", names[k]);
        size_t len;
        char *config = read_shared(rel, &len);
        CHECK(config != NULL);
        ember_chat_template *t = NULL;
        CHECK(config && ember_chat_template_from_hf_config(config, len, NULL, &t) == EMBER_OK);
        if (t) run_fixture_template(ember_jvalue_get(index, names[k]), names[k], t);
        ember_chat_template_destroy(t);
        free(config);
    }
    const char *named = "{\"chat_template\": [{\"name\": \"default\", \"template\": \"D{{ 1 }}\"},"
                        "{\"name\": \"tool_use\", \"template\": \"T\"}]}";
    ember_chat_template *t = NULL;
    char *out = NULL;
    ember_jvalue *msgs = ember_jvalue_list();
    ember_chat_params p = {.messages = msgs};
    CHECK(ember_chat_template_from_hf_config(named, (size_t)-1, "tool_use", &t) == EMBER_OK);
    CHECK(t && ember_chat_template_render(t, &p, &out) == EMBER_OK);
    CHECK_STR(out, "T");
    ember_free(out);
    ember_chat_template_destroy(t);
    CHECK(ember_chat_template_from_hf_config(named, (size_t)-1, NULL, &t) == EMBER_OK);
    CHECK(t && ember_chat_template_render(t, &p, &out) == EMBER_OK);
    CHECK_STR(out, "D1");
    ember_free(out);
    ember_chat_template_destroy(t);
    CHECK(ember_chat_template_from_hf_config("{\"bos_token\": \"<s>\"}", (size_t)-1, NULL, &t) == EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "no chat_template") != NULL);
    CHECK(ember_chat_template_from_hf_config("{\"chat_template\": \"{% if %}\"}", (size_t)-1, NULL, &t) ==
          EMBER_ERR_FORMAT);
    CHECK(strstr(ember_last_error(), "tokenizer_config.json: chat template 1:7") != NULL);
    ember_jvalue_release(msgs);
    ember_jvalue_release(index);
}

/* One compiled template rendered from several threads at once gives the same text everywhere. */
typedef struct render_job {
    const ember_chat_template *t;
    const ember_chat_params *p;
    const char *want;
    int mismatches;
} render_job;

static void *render_worker(void *arg) {
    render_job *job = arg;
    for (int i = 0; i < 50; i++) {
        char *out = NULL;
        if (ember_chat_template_render(job->t, job->p, &out) != EMBER_OK || strcmp(out, job->want)) job->mismatches++;
        ember_free(out);
    }
    return NULL;
}

static void test_threads(void) {
    size_t len;
    char *src = read_shared(FIXTURES "/templates/qwen3.jinja", &len);
    char *text = read_shared(FIXTURES "/cases/tools_parallel.json", NULL);
    char *want = read_shared(FIXTURES "/rendered/qwen3/tools_parallel.txt", NULL);
    if (!src || !text || !want) {
        free(src), free(text), free(want);
        SKIP_IF(1, "../shared/models/llm/fixtures/chat is absent");
    }
    ember_jvalue *c = json(text);
    ember_chat_template *t = NULL;
    CHECK(ember_chat_template_create(src, len, &t) == EMBER_OK);
    ember_chat_params p = {.messages = ember_jvalue_get(c, "messages"), .tools = ember_jvalue_get(c, "tools"),
                           .add_generation_prompt = 1};
    render_job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (render_job){t, &p, want, 0};
        CHECK(pthread_create(&th[i], NULL, render_worker, &jobs[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(jobs[i].mismatches, 0);
    }
    ember_chat_template_destroy(t);
    ember_jvalue_release(c);
    free(src);
    free(text);
    free(want);
}

/* --- ollama vectors through the built-ins -------------------------------------------------------------- */
static ember_jvalue *message(const char *role, const char *content) {
    ember_jvalue *m = ember_jvalue_dict();
    ember_jvalue_dict_set(m, "role", ember_jvalue_string(role, (size_t)-1));
    ember_jvalue_dict_set(m, "content", ember_jvalue_string(content, (size_t)-1));
    return m;
}

/* The conversation a vector's file name describes ("system-user-assistant-user"). */
static ember_jvalue *vector_messages(const char *name) {
    ember_jvalue *list = ember_jvalue_list();
    int users = 0;
    char roles[128];
    snprintf(roles, sizeof roles, "%s", name);
    for (char *r = strtok(roles, "-"); r; r = strtok(NULL, "-")) {
        const char *content = !strcmp(r, "system")      ? "You are a helpful assistant."
                              : !strcmp(r, "assistant") ? "I'm doing great. How can I help you today?"
                              : users++ == 0            ? "Hello, how are you?"
                                                        : "I'd like to show off how chat templating works!";
        ember_jvalue_list_append(list, message(r, content));
    }
    return list;
}

static void test_ollama_vectors(void) {
    char probe[512];
    SKIP_IF(!check_shared(VECTORS "/chatml/user", probe, sizeof probe), "../shared chat_template_vectors absent");
    static const struct {
        const char *dir, *builtin, *bos, *eos;
    } families[] = {{"chatml", "chatml", NULL, "<|im_end|>"},
                    {"llama3-instruct", "llama3", "", "<|eot_id|>"}, /* BOS comes from the tokenizer */
                    {"llama2-chat", "llama2", "<s>", "</s>"}};
    const char *cases[] = {"user", "user-assistant-user", "system-user-assistant-user"};
    int passed = 0, total = 0;
    for (size_t f = 0; f < 3; f++) {
        ember_chat_template *t = NULL;
        CHECK(ember_chat_template_builtin(families[f].builtin, &t) == EMBER_OK);
        for (size_t k = 0; t && k < 3; k++) {
            char rel[256];
            snprintf(rel, sizeof rel, VECTORS "/%s/%s", families[f].dir, cases[k]);
            char *want = read_shared(rel, NULL);
            ember_jvalue *msgs = vector_messages(cases[k]);
            ember_chat_params p = {.messages = msgs, .add_generation_prompt = 1, .bos_token = families[f].bos,
                                   .eos_token = families[f].eos};
            char *got = NULL;
            CHECK(ember_chat_template_render(t, &p, &got) == EMBER_OK);
            int ok = want && got && !strcmp(want, got);
            if (!ok && want && got) report_diff(rel, want, got);
            CHECK(ok);
            passed += ok, total++;
            ember_free(got);
            free(want);
            ember_jvalue_release(msgs);
        }
        ember_chat_template_destroy(t);
    }
    printf("  ollama vectors: %d/%d byte-identical\n", passed, total);
}

/* --- the language --------------------------------------------------------------------------------------- */
static void test_whitespace(void) {
    R("a\n{% if true %}\n  b\n{% endif %}\nc", NULL, "a\n  b\nc");      /* trim_blocks */
    R("a\n    {% if true %}x{% endif %}\n", NULL, "a\nx");             /* lstrip_blocks, trailing \n dropped */
    R("a  {%- if true -%}  b  {%- endif -%}  c", NULL, "abc");
    R("a {{- 'x' -}} b", NULL, "axb");
    R("a\n  {{ 'x' }}\n", NULL, "a\n  x");                              /* no lstrip/trim for {{ }} */
    R("a {# c #} b", NULL, "a  b");
    R("  {# c #}\nb", NULL, "b");
    R("a\n  {%+ if true %}x{% endif %}", NULL, "a\n  x");
    R("{% if true +%}\nx{% endif %}", NULL, "\nx");
    R("{% raw %}{{ not parsed }}{% endraw %}", NULL, "{{ not parsed }}");
    R("a\r\nb\rc", NULL, "a\nb\nc");
    R("{{ 'x' }}\n\n", NULL, "x\n");
}

static void test_expressions(void) {
    R("{{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % 3 }}|{{ -7 % 3 }}|{{ 2 ** 10 }}", NULL,
      "7|9|3|-4|1|2|1024");
    R("{{ 7 / 2 }}|{{ 6 / 2 }}|{{ 0.1 + 0.2 }}|{{ 1e16 }}|{{ 1.5e-7 }}|{{ 2.0 }}|{{ 1_000 }}", NULL,
      "3.5|3.0|0.30000000000000004|1e+16|1.5e-07|2.0|1000");
    R("{{ 'a' ~ 1 ~ none ~ true }}|{{ 'ab' + 'cd' }}|{{ 'ab' * 3 }}|{{ [1] + [2] }}", NULL, "a1NoneTrue|abcd|ababab|[1, 2]");
    R("{{ 1 < 2 < 3 }}|{{ 3 > 2 > 2 }}|{{ 'a' in 'cat' }}|{{ 2 not in [1, 3] }}|{{ 'k' in {'k': 1} }}", NULL,
      "True|False|True|True|True");
    R("{{ not 1 == 2 }}|{{ none or 'x' }}|{{ 0 and 'x' }}|{{ 'y' if false else 'n' }}|{{ 'y' if true }}", NULL,
      "True|x|0|n|y");
    R("{{ [1, 'a', none, true, 2.5, {'k': [1]}] }}", NULL, "[1, 'a', None, True, 2.5, {'k': [1]}]");
    R("{{ \"it's\" }}|{{ ['it\\'s'] }}|{{ ['a\\nb'] }}|{{ 'x' 'y' }}|{{ '\\u00fc\\x41\\t' }}", NULL,
      "it's|[\"it's\"]|['a\\nb']|xy|\xc3\xbc" "A\t");
    R("{{ x[0] }}{{ x[-1] }}{{ x[1:] }}{{ x[::-1] }}{{ x[:-1] }}{{ x[::2] }}", "{\"x\": [1, 2, 3]}",
      "13[2, 3][3, 2, 1][1, 2][1, 3]");
    R("{{ s[::-1] }}|{{ s[1:3] }}|{{ s[0] }}|{{ s|length }}", "{\"s\": \"Z\\u00fcrich\"}", "hcir\xc3\xbcZ|\xc3\xbcr|Z|6");
    R("{{ d.a }}{{ d['b'].c }}{{ d.missing }}{{ d.b.get('c') }}{{ d.get('zz', 'dflt') }}",
      "{\"d\": {\"a\": 1, \"b\": {\"c\": 2}}}", "122dflt");
    R("{{ x is defined }}{{ y is defined }}{{ y is undefined }}{{ none is none }}{{ 'a' is string }}"
      "{{ {} is mapping }}{{ [] is sequence }}{{ 'a' is iterable }}{{ 3 is odd }}{{ 4 is divisibleby 2 }}"
      "{{ 1 is number }}{{ true is boolean }}{{ 1 is integer }}{{ 1.0 is float }}{{ x is not none }}",
      "{\"x\": 1}", "TrueFalseTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrueTrue");
}

static void test_statements(void) {
    R("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}",
      "{\"xs\": [\"a\", \"b\"]}", "10TrueFalse2;21FalseTrue2;");
    R("{% for x in xs %}{{ loop.previtem | default('-') }}{{ x }}{{ loop.nextitem | default('-') }} {% endfor %}",
      "{\"xs\": [1, 2, 3]}", "-12 123 23- ");
    R("{% for x in [] %}x{% else %}empty{% endfor %}", NULL, "empty");
    R("{% for x in xs if x > 1 %}{{ x }}{{ loop.length }}{% endfor %}", "{\"xs\": [1, 2, 3]}", "2232");
    R("{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}", "{\"d\": {\"b\": 1, \"a\": 2}}", "b=1,a=2,");
    R("{% for k in d %}{{ k }}{% endfor %}", "{\"d\": {\"b\": 1, \"a\": 2}}", "ba");
    R("{% for x in xs %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}"
      "{% endfor %}",
      "{\"xs\": [1, 2, 3, 4, 5]}", "13");
    R("{% for a in [1, 2] %}{% for b in [3, 4] %}{{ loop.index }}{% endfor %}{{ loop.index }}{% endfor %}", NULL,
      "121122");
    R("{% if 0 %}a{% elif '' %}b{% elif [1] %}c{% else %}d{% endif %}", NULL, "c");
    R("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}", NULL, "21"); /* loop scope */
    R("{% set ns = namespace(x=1) %}{% for i in [1, 2] %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}", NULL, "4");
    R("{% set a, b = [1, 2] %}{{ b }}{{ a }}", NULL, "21");
    R("{% set t %}x{{ 1 + 1 }}{% endset %}[{{ t }}]", NULL, "[x2]");
    R("{% macro m(a, b='B') %}<{{ a }}{{ b }}>{% endmacro %}{{ m(1) }}{{ m(2, b=3) }}{{ m(a='x', b='y') }}", NULL,
      "<1B><23><xy>");
    R("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}", NULL, "321");
    R("{% filter upper %}ab{{ 'c' }}{% endfilter %}", NULL, "ABC");
    R("{% generation %}kept{% endgeneration %}", NULL, "kept");
    R("{{ strftime_now('%Y-%m-%d %d %b %Y') }}", NULL, "2024-07-26 26 Jul 2024");
    R("{% for i in range(3) %}{{ i }}{% endfor %}{{ range(1, 7, 2) | list }}{{ dict(a=1) }}", NULL, "012[1, 3, 5]{'a': 1}");
    R("{% for x in 'ab' %}{{ x }}{{ loop.cycle('+', '-') }}{% endfor %}", NULL, "a+b-");
}

static void test_filters(void) {
    R("{{ '  a b  ' | trim }}|{{ 'xxaxx' | trim('x') }}|{{ 'aBc' | upper }}{{ 'aBc' | lower }}|{{ 'hello world-x' | title }}"
      "|{{ 'hELLO' | capitalize }}",
      NULL, "a b|a|ABCabc|Hello World-X|Hello");
    R("{{ [1, 2, 3] | length }}{{ 'abc' | count }}{{ {'a': 1} | length }}|{{ [1, 2] | first }}{{ [1, 2] | last }}"
      "|{{ ['a', 'b'] | join(', ') }}|{{ [3, 1, 2] | sort }}|{{ [3, 1, 2] | sort(reverse=true) }}",
      NULL, "331|12|a, b|[1, 2, 3]|[3, 2, 1]");
    R("{{ x | default('d') }}|{{ '' | default('d') }}|{{ '' | default('d', true) }}|{{ none | string }}", NULL,
      "d||d|None");
    R("{{ 'a-b-c' | replace('-', '+') }}|{{ 42 | string }}|{{ '42' | int + 1 }}|{{ '2.5' | float }}|{{ 3.7 | int }}"
      "|{{ -3 | abs }}|{{ 2.567 | round(2) }}|{{ [1, 2] | sum }}|{{ [3, 1] | max }}{{ [3, 1] | min }}",
      NULL, "a+b+c|42|43|2.5|3|3|2.57|3|31");
    R("{{ {'b': 1, 'a': 2} | items | list }}|{{ {'b': 1, 'a': 2} | dictsort }}|{{ [1, 2, 1] | unique | list }}"
      "|{{ [1, 2] | reverse | list }}|{{ 'abc' | reverse }}",
      NULL, "[('b', 1), ('a', 2)]|[('a', 2), ('b', 1)]|[1, 2]|[2, 1]|cba");
    R("{{ xs | selectattr('role', 'equalto', 'user') | map(attribute='c') | join }}"
      "|{{ xs | rejectattr('role', 'eq', 'user') | map(attribute='c') | list }}"
      "|{{ [0, 1, 2] | select | list }}{{ [0, 1, 2] | reject('odd') | list }}|{{ ['a', 'b'] | map('upper') | join }}",
      "{\"xs\": [{\"role\": \"user\", \"c\": \"1\"}, {\"role\": \"bot\", \"c\": \"2\"}, {\"role\": \"user\", \"c\": \"3\"}]}",
      "13|['2']|[1, 2][0, 2]|AB");
    R("{{ {'a': [1, 2.5, 'x\"\\u00fc'], 'b': none, 'c': true} | tojson }}", NULL,
      "{\"a\": [1, 2.5, \"x\\\"\xc3\xbc\"], \"b\": null, \"c\": true}");
    R("{{ {'a': [1, {}], 'b': []} | tojson(indent=2) }}", NULL, "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": []\n}");
    R("{{ {'b': '\\u00fc', 'a': 1} | tojson(ensure_ascii=true, sort_keys=true) }}", NULL, "{\"a\": 1, \"b\": \"\\u00fc\"}");
    R("{{ {'a': 1, 'b': 2} | tojson(separators=(',', ':')) }}", NULL, "{\"a\":1,\"b\":2}");
    R("{{ 2.45 | round(1) }}|{{ 2.5 | round }}|{{ 7 | round }}|{{ 1234.5 | round(-2) }}|{{ 'a b-c' | wordcount }}", NULL,
      "2.5|2.0|7|1200.0|3");
    R("{{ (1, 2) }}{{ (1,) }}{{ () }}{{ [x, 1] }}{{ (1, 2) == [1, 2] }}", NULL, "(1, 2)(1,)()[Undefined, 1]False");
    R("{{ '{\\n' | indent(4, first=true) }}|", NULL, "    {\n|");
    R("{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}", NULL, "a\n  b\n\n  c|  a\n  b");
}

static void test_methods(void) {
    R("{{ ' x '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '\\n\\nx\\n'.lstrip('\\n') }}|{{ 'x  '.rstrip() }}", NULL,
      "x|hi|x\n|x");
    R("{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}", NULL,
      "['a', 'b', '', 'c']|['a', 'b']|['a', 'b,c']|['a,b', 'c']");
    R("{{ 'x</think>y'.split('</think>')[-1] }}|{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}", NULL,
      "y|TrueTrue");
    R("{{ 'hello wORLD'.title() }}|{{ 'ab'.upper() }}{{ 'AB'.lower() }}|{{ 'aaa'.replace('a', 'b', 2) }}"
      "|{{ 'abcb'.find('b') }}{{ 'abcb'.count('b') }}|{{ '-'.join(['a', 'b']) }}|{{ '\\u00fc'.upper() }}",
      NULL, "Hello World|ABab|bba|12|a-b|\xc3\x9c");
    R("{{ d.items() | list }}|{{ d.keys() | list }}|{{ d.values() | list }}|{{ d.get('x') }}",
      "{\"d\": {\"a\": 1}}", "[('a', 1)]|['a']|[1]|None");
    R("{{ '  a  b  '.split(None, 1) }}|{{ '  a  b  '.rsplit(None, 1) }}|{{ 'a\\u00a0b'.split() }}", NULL,
      "['a', 'b  ']|['  a', 'b']|['a', 'b']");
    R("{{ 'stra\\u00dfe'.upper() }}|{{ '\\u00dfx'.title() }}|{{ '\\u00dfx' | title }}", NULL,
      "STRASSE|Ssx|SSx");
}

static void test_errors(void) {
    E("{{ raise_exception('Boom: ' ~ 1) }}", NULL, "Boom: 1");
    E("{% if x %}never closed", NULL, "chat template 1:4: 'if' tag is never closed (expected '{% endif %}')");
    E("{% for x in xs %}", NULL, "'for' tag is never closed");
    E("line\n  {{ x | nosuchfilter }}", NULL, "chat template 2:10: no filter named 'nosuchfilter'");
    E("{{ x is nosuchtest }}", NULL, "no test named 'nosuchtest'");
    E("{{ 'abc }}", NULL, "string literal is never closed");
    E("{{ x ", NULL, "'{{' tag is never closed");
    E("{# x", NULL, "comment is never closed");
    E("{% endif %}", NULL, "unknown or unexpected tag 'endif'");
    E("{% frobnicate %}", NULL, "unknown or unexpected tag 'frobnicate'");
    E("{{ 1 + }}", NULL, "unexpected '}}', expected an expression");
    E("{{ (1 }}", NULL, "1:7: unexpected '}', expected ')'");
    E("{% break %}", NULL, "outside of a for loop");
    E("{{ 'a' + 1 }}", NULL, "unsupported operand type(s) for +: 'str' and 'int'");
    E("{{ 1 / 0 }}", NULL, "division by zero");
    E("{{ x.y }}", NULL, "1:5: 'x' is undefined");
    E("{{ d.a.b }}", "{\"d\": {}}", "'dict object' has no attribute 'a'");
    E("{{ undefined_fn() }}", NULL, "'undefined_fn' is undefined");
    E("{{ [].append(1) }}", NULL, "unsafe");
    E("{{ 1 < 'a' }}", NULL, "'<' not supported between instances of 'int' and 'str'");
    E("{% set x = 1 %}{% set x.y = 2 %}", NULL, "non-namespace");
    E("{{ range(1000000) }}", NULL, "range too big");
    E("{% for x in 5 %}{% endfor %}", NULL, "'int' object is not iterable");
    E("{{ x | tojson }}", NULL, "'x' is undefined");
}

static void test_recursion_bounded(void) {
    char *deep = malloc(64000);
    size_t n = 0;
    n += (size_t)sprintf(deep + n, "{{ ");
    for (int i = 0; i < 5000; i++) deep[n++] = '(';
    deep[n++] = '1';
    for (int i = 0; i < 5000; i++) deep[n++] = ')';
    strcpy(deep + n, " }}");
    E(deep, NULL, "nested too deeply");
    n = 0;
    for (int i = 0; i < 3000; i++) n += (size_t)sprintf(deep + n, "{%% if 1 %%}");
    deep[n] = 0;
    E(deep, NULL, "nested too deeply");
    n = 0;
    for (int i = 0; i < 5000; i++) n += (size_t)sprintf(deep + n, "not ");
    deep[n] = 0;
    char *expr = malloc(n + 16);
    sprintf(expr, "{{ %s1 }}", deep);
    E(expr, NULL, "nested too deeply");
    free(expr);
    free(deep);
    E("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, "recursion too deep");
    ember_jvalue *v = NULL;
    char *json_deep = malloc(4001);
    memset(json_deep, '[', 4000);
    json_deep[4000] = 0;
    CHECK(ember_jvalue_from_json(json_deep, (size_t)-1, &v) == EMBER_ERR_FORMAT && !v);
    CHECK(strstr(ember_last_error(), "nested too deeply") != NULL);
    free(json_deep);
}

/* --- values and JSON --------------------------------------------------------------------------------- */
static void test_values(void) {
    ember_jvalue *v = json("{\"a\": [1, -2.5, 1e3, true, null, \"\\u00fc\\ud83d\\ude00\\n\"], \"b\": {}, \"a\": 7}");
    CHECK(v != NULL);
    char *s = NULL;
    CHECK(ember_jvalue_to_json(v, 0, &s) == EMBER_OK);
    CHECK_STR(s, "{\"a\": 7, \"b\": {}}"); /* a duplicate key keeps its place, takes the last value */
    ember_free(s);
    ember_jvalue_release(v);
    v = json("[1, -2.5, 1e3, 12345678901234567890, true, null, \"\\u00fc\\ud83d\\ude00\\n\"]");
    CHECK(ember_jvalue_to_json(v, 0, &s) == EMBER_OK);
    CHECK_STR(s, "[1, -2.5, 1000.0, 1.2345678901234567e+19, true, null, \"\xc3\xbc\xf0\x9f\x98\x80\\n\"]");
    ember_free(s);
    CHECK(ember_jvalue_kind_of(ember_jvalue_at(v, 0)) == EMBER_JVALUE_INT);
    CHECK(ember_jvalue_kind_of(ember_jvalue_at(v, 2)) == EMBER_JVALUE_FLOAT);
    CHECK_EQ(ember_jvalue_len(v), 7);
    ember_jvalue_release(v);

    const char *bad[] = {"", "[1,]", "{\"a\" 1}", "[01]", "\"abc", "[1] x", "{'a': 1}", "\"\\q\"", "-", "1.", "nul",
                         "\"a\nb\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = NULL;
        CHECK(ember_jvalue_from_json(bad[i], (size_t)-1, &v) == EMBER_ERR_FORMAT && !v);
        CHECK(strncmp(ember_last_error(), "JSON ", 5) == 0);
    }

    ember_jvalue *d = ember_jvalue_dict();
    CHECK(ember_jvalue_dict_set(d, "x", ember_jvalue_float(0.1)) == EMBER_OK);
    CHECK(ember_jvalue_dict_set(d, "y", ember_jvalue_int(-3)) == EMBER_OK);
    CHECK(ember_jvalue_list_append(d, ember_jvalue_none()) == EMBER_ERR_ARG); /* not a list: item released */
    CHECK(ember_jvalue_to_json(d, 2, &s) == EMBER_OK);
    CHECK_STR(s, "{\n  \"x\": 0.1,\n  \"y\": -3\n}");
    ember_free(s);
    ember_jvalue_release(d);
}

static void test_api_misuse(void) {
    ember_chat_template *t = NULL;
    CHECK(ember_chat_template_builtin("nope", &t) == EMBER_ERR_ARG && !t);
    CHECK(ember_chat_template_create(NULL, 0, &t) == EMBER_ERR_ARG);
    CHECK(ember_chat_template_builtin("chatml", &t) == EMBER_OK);
    char *out = NULL;
    ember_chat_params p = {0};
    CHECK(ember_chat_template_render(t, &p, &out) == EMBER_ERR_ARG && !out);
    ember_jvalue *msgs = json("[{\"role\": \"user\", \"content\": \"Hi\"}]");
    p.messages = msgs;
    p.extra = msgs; /* not a dict */
    CHECK(ember_chat_template_render(t, &p, &out) == EMBER_ERR_ARG);
    p.extra = NULL;
    CHECK(ember_chat_template_render(t, &p, &out) == EMBER_OK);
    CHECK_STR(out, "<|im_start|>user\nHi<|im_end|>\n");
    ember_free(out);
    ember_jvalue_release(msgs);
    ember_chat_template_destroy(t);
    /* missing keys: Jinja's undefined is an error only when used */
    msgs = json("[{\"role\": \"user\"}]");
    ember_chat_template_builtin("chatml", &t);
    p.messages = msgs;
    CHECK(ember_chat_template_render(t, &p, &out) != EMBER_OK);
    CHECK(strstr(ember_last_error(), "'dict object' has no attribute 'content'") != NULL);
    ember_jvalue_release(msgs);
    ember_chat_template_destroy(t);
}

/* Random mutations of a real template must compile or fail cleanly, and render or fail cleanly. */
static void test_fuzz_mutations(void) {
    char rel[] = FIXTURES "/templates/qwen3.jinja";
    size_t len;
    char *src = read_shared(rel, &len);
    SKIP_IF(!src, "../shared/models/llm/fixtures/chat is absent");
    ember_jvalue *msgs = json("[{\"role\": \"system\", \"content\": \"s\"}, {\"role\": \"user\", \"content\": \"u\"},"
                             "{\"role\": \"assistant\", \"content\": \"<think>r</think>a\"}]");
    const char alphabet[] = "{}%#-+()[]'\"|.:, \nxa0";
    int compiled = 0;
    for (int iter = 0; iter < 300; iter++) {
        char *m = malloc(len + 1);
        memcpy(m, src, len + 1);
        for (int k = 0; k < 3; k++) m[check_rand() % len] = alphabet[check_rand() % (sizeof alphabet - 1)];
        ember_chat_template *t = NULL;
        if (ember_chat_template_create(m, len, &t) == EMBER_OK) {
            compiled++;
            ember_chat_params p = {.messages = msgs, .add_generation_prompt = 1};
            char *out = NULL;
            if (ember_chat_template_render(t, &p, &out) == EMBER_OK) CHECK(out != NULL);
            else CHECK(ember_last_error()[0] != 0);
            ember_free(out);
            ember_chat_template_destroy(t);
        } else {
            CHECK(strncmp(ember_last_error(), "chat template ", 14) == 0);
        }
        free(m);
    }
    CHECK(compiled > 0);
    ember_jvalue_release(msgs);
    free(src);
}

int main(void) {
    RUN(test_fixtures);
    RUN(test_builtins_match_fixtures);
    RUN(test_hf_config);
    RUN(test_threads);
    RUN(test_ollama_vectors);
    RUN(test_whitespace);
    RUN(test_expressions);
    RUN(test_statements);
    RUN(test_filters);
    RUN(test_methods);
    RUN(test_errors);
    RUN(test_recursion_bounded);
    RUN(test_values);
    RUN(test_api_misuse);
    RUN(test_fuzz_mutations);
    return check_done();
}
