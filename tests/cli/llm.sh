#!/usr/bin/env bash
# The LLM verbs end to end: generate (stories260K byte-exact at temperature 0, sampling, stop strings), chat
# driven by stdin on fixture models, quantize / llm-bench / logits smoke checks, and bad input.
. "$(dirname "$0")/lib.sh"

L2C=$SHARED/models/llm/llama2c
FIX=$SHARED/models/llm/fixtures/models

expect_exit 1 "generate without -m is a usage error" ember generate -p hi
expect_fail_out 1 "generate rejects a bad temperature" "is not a number" ember generate -m x.gguf --temp abc
expect_fail_out 1 "generate rejects an empty --stop" "non-empty" ember generate -m x.gguf --stop ""
expect_exit 1 "chat without -m is a usage error" ember chat
expect_fail_out 2 "generate on a missing model names it" "nonexistent.gguf" ember generate -m "$TMP/nonexistent.gguf"
expect_out "generate --help documents the flags" '--top-p' ember generate --help
expect_out "chat --help documents /reset" '/reset' ember chat --help

if [ ! -f "$L2C/stories260K.bin" ] || [ ! -d "$FIX" ]; then
    skip "model tests" "../shared/models/llm is absent"
    finish
fi

# llama2.c: `run stories260K.bin -z tok512.bin -t 0 -n 200` (empty prompt = BOS); the file lacks the final newline
{ cat "$L2C/stories260K_expected_t0_n200.txt"; echo; } >"$TMP/expected.txt"
ember generate -m "$L2C/stories260K.bin" --tokenizer "$L2C/tok512.bin" --temp 0 -n 200 >"$TMP/gen.txt" 2>"$TMP/gen.err"
if cmp -s "$TMP/gen.txt" "$TMP/expected.txt"; then _pass "stories260K at temperature 0 reproduces llama2.c byte for byte"
else cp "$TMP/gen.txt" "$TMP/.out"; _fail "stories260K at temperature 0 reproduces llama2.c byte for byte" "output differs"; fi
expect_out "generate reports tokens/s on stderr" 'generated: 200 tokens, [0-9.]+ tokens/s' cat "$TMP/gen.err"
expect_fail_out 2 "a tokenizer that is not the model's says how to give the right one" '512.*--tokenizer' \
    ember generate -m "$L2C/stories260K.bin" -n 5
expect_out "the prompt is echoed and continued" '^Once upon a time, there was a little' \
    ember generate -m "$FIX/stories260K-F16.gguf" -p "Once upon a time" --temp 0 -n 8
expect_out "--stop ends before the stop text" '^Once upon a time, there was a$' \
    ember generate -m "$FIX/stories260K-F16.gguf" -p "Once upon a time" --temp 0 -n 50 --stop " little"
a=$(ember generate -m "$FIX/stories260K-F16.gguf" -p "Tom" --temp 1 --seed 7 -n 30 2>/dev/null)
b=$(ember generate -m "$FIX/stories260K-F16.gguf" -p "Tom" --temp 1 --seed 7 -n 30 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && _pass "sampling with a seed is repeatable" || { echo "$a / $b" >"$TMP/.out"; _fail "sampling with a seed is repeatable" "differs"; }
expect_ok "top-k / top-p / min-p / penalties run" ember generate -m "$FIX/stories260K-Q6_K.gguf" -p "Lily" --temp 0.7 \
    --top-k 20 --top-p 0.9 --min-p 0.02 --repeat-penalty 1.1 --presence-penalty 0.2 --frequency-penalty 0.1 --seed 1 -n 20
# a context of 24 tokens forces context shifts while generating 60
expect_out "a full context shifts instead of failing" 'generated: 60 tokens' \
    ember generate -m "$FIX/stories260K-F16.gguf" -p "Once upon a time" --temp 0 -n 60 --ctx 24
expect_out "q8 KV cache" 'generated: 20 tokens' ember generate -m "$FIX/llama-Q4_0.gguf" --kv q8 --temp 0 -n 20

# chat, driven by stdin: two turns, /reset, /exit (what follows it is not read)
printf 'Hello there\nHow are you?\n/reset\nAgain\n/exit\nnot read\n' >"$TMP/chat.in"
ember chat -m "$FIX/stories260K-F16.gguf" --temp 0 -n 12 <"$TMP/chat.in" >"$TMP/chat.out" 2>"$TMP/chat.err"
rc=$?
n_replies=$(grep -c 'reply tokens' "$TMP/chat.err")
[ $rc -eq 0 ] && [ "$n_replies" -eq 3 ] && grep -q 'conversation reset' "$TMP/chat.err" &&
    _pass "chat: three replies, /reset, /exit, tokens/s after each" ||
    { cat "$TMP/chat.out" "$TMP/chat.err" >"$TMP/.out"; _fail "chat: three replies, /reset, /exit, tokens/s after each" "rc=$rc replies=$n_replies"; }
# the reply after /reset equals a first reply to the same text in a fresh process (the reset forgot everything)
printf 'Again\n' | ember chat -m "$FIX/stories260K-F16.gguf" --temp 0 -n 12 >"$TMP/fresh.out" 2>/dev/null
[ "$(sed -n 3p "$TMP/chat.out")" = "$(sed -n 1p "$TMP/fresh.out")" ] && _pass "chat: /reset starts over" ||
    { cat "$TMP/chat.out" "$TMP/fresh.out" >"$TMP/.out"; _fail "chat: /reset starts over" "replies differ"; }
expect_out "chat with a ChatML template file and a system prompt" 'reply tokens' sh -c \
    "printf 'hi\n' | ${EMBER_TEST_RUNNER:-} $EMBER chat -m $FIX/qwen2-Q8_0.gguf -T $SHARED/models/llm/fixtures/chat/templates/chatml.jinja --system 'Be brief.' --temp 0 -n 5"
expect_out "chat on a qwen3 fixture (built-in template)" 'reply tokens' sh -c \
    "printf 'hi\nagain\n' | ${EMBER_TEST_RUNNER:-} $EMBER chat -m $FIX/qwen3-Q4_K.gguf --temp 0 -n 5"
printf '{%% for m in messages %%}' >"$TMP/bad.jinja"
expect_fail_out 2 "a broken chat template names the file and place" 'bad.jinja: .*never closed' \
    ember chat -m "$FIX/stories260K-F16.gguf" -T "$TMP/bad.jinja"

# bad model files
head -c 1000 "$FIX/llama-Q4_0.gguf" >"$TMP/trunc.gguf"
expect_fail_out 2 "a truncated GGUF is bad input" 'trunc.gguf' ember generate -m "$TMP/trunc.gguf" -n 1
printf 'not a model at all' >"$TMP/junk.gguf"
expect_fail_out 2 "a file that is no model is bad input" 'junk.gguf' ember chat -m "$TMP/junk.gguf"

# the other LLM verbs, briefly
expect_out "llm-bench --json" '"pp_tps": [0-9.]+, "tg_tps": [0-9.]+' ember llm-bench -m "$FIX/llama-Q4_K.gguf" -p 8 -n 4 -r 1 --json
expect_ok "quantize to Q4_0" ember quantize "$FIX/llama-F32.gguf" "$TMP/q4.gguf" Q4_0
expect_out "the quantized model generates" 'generated: 5 tokens' ember generate -m "$TMP/q4.gguf" --temp 0 -n 5
finish
