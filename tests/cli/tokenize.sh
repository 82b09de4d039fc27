#!/usr/bin/env bash
# `ember tokenize` / `ember detokenize` end to end on the shared tokenizers (tokenizer.json, GGUF, tokenizer.bin).
. "$(dirname "$0")/lib.sh"

HF=$SHARED/conformance/tokenizers/hf
VOC=$SHARED/conformance/tokenizers/llamacpp-vectors
L2C=$SHARED/models/llm/llama2c

expect_exit 1 "tokenize without -t is a usage error" ember tokenize "hi"
expect_exit 1 "detokenize rejects non-numeric ids" ember detokenize -t /dev/null abc
expect_out "tokenize --help documents -t" '^usage: ember tokenize' ember tokenize --help

if [ ! -d "$HF" ]; then
    skip "tokenizer files" "../shared is absent"
    finish
fi
expect_out "qwen3 ids" '^9707 1879 11 419 374 264 1273 0$' ember tokenize -t "$HF/qwen3/tokenizer.json" "Hello world, this is a test!"
expect_out "llama3 tokens" '^Hello Ġworld$' ember tokenize -t "$HF/llama3/tokenizer.json" --tokens "Hello world"
expect_out "text from stdin" '^9707 1879$' sh -c "printf 'Hello world' | ${EMBER_TEST_RUNNER:-} $EMBER tokenize -t $HF/qwen3/tokenizer.json"
expect_out "--special adds BOS (mistral)" '^1 22557$' ember tokenize -t "$HF/mistral-spm32k/tokenizer.json" --special "Hello"
expect_out "--special adds [CLS] [SEP] (bert)" '^101 7592 102$' ember tokenize -t "$HF/bert_uncased/tokenizer.json" --special "Hello"
expect_out "--json has ids, tokens and byte offsets" '^\{"ids": \[9707, 1879\], "tokens": \["Hello", "Ġworld"\], "offsets": \[\[0, 5\], \[5, 11\]\], "type_ids": \[0, 0\]' \
    ember tokenize -t "$HF/qwen3/tokenizer.json" --json "Hello world"
# the same as HF tokenizers 0.23.2 gives for bert_uncased.encode("Hello world", "How are you")
expect_out "--pair (bert): template, type ids, offsets per text" \
    '^\{"ids": \[101, 7592, 2088, 102, 2129, 2024, 2017, 102\].*"offsets": \[\[0, 0\], \[0, 5\], \[6, 11\], \[0, 0\], \[0, 3\], \[4, 7\], \[8, 11\], \[0, 0\]\], "type_ids": \[0, 0, 0, 0, 1, 1, 1, 1\], "special_mask": \[1, 0, 0, 1, 0, 0, 0, 1\]' \
    ember tokenize -t "$HF/bert_uncased/tokenizer.json" --special --json "Hello world" --pair "How are you"
expect_out "special tokens in text are recognised" '^151644 872 151645$' ember tokenize -t "$HF/qwen3/tokenizer.json" "<|im_start|>user<|im_end|>"
printf 'Hello world\nsecond line\n\nfourth' >"$TMP/lines.txt"
expect_out "--lines encodes each line (batch on threads)" '^9707 1879 / 5569 1555 /  / 34024 339$' \
    sh -c "${EMBER_TEST_RUNNER:-} $EMBER tokenize -t $HF/qwen3/tokenizer.json --lines --threads 2 <$TMP/lines.txt | paste -sd/ | sed 's|/| / |g'"
expect_out "detokenize" '^Hello world, this is a test!$' ember detokenize -t "$HF/qwen3/tokenizer.json" 9707 1879 11 419 374 264 1273 0
expect_out "detokenize keeps special tokens by default" '^<\|im_start\|>user$' ember detokenize -t "$HF/qwen3/tokenizer.json" 151644 872
expect_out "detokenize --skip-special" '^user$' ember detokenize -t "$HF/qwen3/tokenizer.json" --skip-special 151644 872
expect_out "detokenize reads ids from stdin" '^Hello world$' sh -c "echo '[9707, 1879]' | ${EMBER_TEST_RUNNER:-} $EMBER detokenize -t $HF/qwen3/tokenizer.json"
expect_fail_out 1 "an id outside the vocabulary is a usage error" 'outside the vocabulary' ember detokenize -t "$HF/qwen3/tokenizer.json" 999999
expect_fail_out 2 "a missing tokenizer file is bad input" 'nonexistent' ember tokenize -t "$TMP/nonexistent.json" hi
printf '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}' >"$TMP/bad.json"
expect_fail_out 2 "a broken tokenizer.json names the problem" 'not in the vocabulary' ember tokenize -t "$TMP/bad.json" hi
printf '{"model": {"type": "BPE",\n "vocab": {"a": 0}' >"$TMP/trunc.json"
expect_fail_out 2 "a truncated tokenizer.json gives line:column" 'trunc.json:2:' ember tokenize -t "$TMP/trunc.json" hi
printf 'a\377b' >"$TMP/bad-utf8.txt"
expect_out "invalid UTF-8 input is tokenized as U+FFFD" '^64 5691 65$' sh -c "${EMBER_TEST_RUNNER:-} $EMBER tokenize -t $HF/qwen3/tokenizer.json <$TMP/bad-utf8.txt"
if [ -f "$VOC/ggml-vocab-llama-spm.gguf" ]; then
    expect_out "GGUF vocabulary (llama-spm) with BOS" '^1 15043 3186$' ember tokenize -t "$VOC/ggml-vocab-llama-spm.gguf" --special "Hello world"
    expect_out "GGUF vocabulary (gpt-2)" '^15496 995$' ember tokenize -t "$VOC/ggml-vocab-gpt-2.gguf" "Hello world"
else
    skip "GGUF vocabularies" "llamacpp-vectors absent"
fi
if [ -f "$L2C/tokenizer.bin" ]; then
    expect_out "llama2.c tokenizer.bin" '^1 15043 3186$' ember tokenize -t "$L2C/tokenizer.bin" --special "Hello world"
    expect_out "llama2.c detokenize" '^Hello world$' ember detokenize -t "$L2C/tokenizer.bin" --skip-special 1 15043 3186
else
    skip "llama2.c tokenizer.bin" "absent"
fi
finish
