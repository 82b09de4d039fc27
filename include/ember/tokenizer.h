/* Tokenizers: Hugging Face tokenizer.json, GGUF vocabularies and llama2.c tokenizer.bin, encode and decode.
 *
 * Usage:
 *
 *     ember_tokenizer *tok = NULL;
 *     if (ember_tokenizer_open("tokenizer.json", &tok) != EMBER_OK) {   // or a .gguf, or a tokenizer.bin
 *         fprintf(stderr, "error: %s\n", ember_last_error());
 *         return 2;
 *     }
 *     int32_t *ids = NULL;
 *     size_t n = 0;
 *     ember_tokenizer_encode(tok, "Hello world", 11, true, &ids, &n);  // true: add BOS/CLS/... as configured
 *     char *text = NULL;
 *     size_t len = 0;
 *     ember_tokenizer_decode(tok, ids, n, true, &text, &len);          // true: leave special tokens out
 *     ember_free(ids);
 *     ember_free(text);
 *     ember_tokenizer_close(tok);
 *
 * Results match Hugging Face `tokenizers` exactly (ids, offsets, decoded text). A tokenizer is immutable
 * after it is opened: encode and decode may be called from many threads at once on one handle.
 * Input text is UTF-8; invalid sequences are handled as Hugging Face does (each bad byte becomes U+FFFD
 * before tokenization), never rejected and never a crash.
 */
#ifndef EMBER_TOKENIZER_H
#define EMBER_TOKENIZER_H

#include "ember/status.h"
#include "ember/threadpool.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ember_tokenizer ember_tokenizer;
typedef struct ember_gguf ember_gguf; /* a parsed GGUF file, see ember/gguf.h */

/* Byte range [begin, end) of the input text that a token came from. Tokens added by post-processing
 * (BOS, [CLS], ...) have begin == end == 0. */
typedef struct ember_token_span {
    uint32_t begin, end;
} ember_token_span;

typedef enum ember_special_token {
    EMBER_TOKEN_BOS = 0, /* beginning of sequence (<s>, <|begin_of_text|>, [CLS] for BERT) */
    EMBER_TOKEN_EOS,     /* end of sequence (</s>, <|end_of_text|>, [SEP] for BERT) */
    EMBER_TOKEN_UNK,
    EMBER_TOKEN_PAD,
    EMBER_TOKEN_SEP,
    EMBER_TOKEN_CLS,
    EMBER_TOKEN_MASK,
    EMBER_TOKEN_EOT, /* end of turn in chat models (<|eot_id|>, <|im_end|>) when known */
    EMBER_TOKEN_KINDS
} ember_special_token;

/* Open a tokenizer from a file, detecting its kind from the content: a Hugging Face tokenizer.json, a
 * GGUF file (its tokenizer.ggml.* vocabulary) or a llama2.c tokenizer.bin. On success *out is a new
 * handle the caller closes with ember_tokenizer_close. */
EMBER_API ember_status ember_tokenizer_open(const char *path, ember_tokenizer **out);

/* The same from a tokenizer.json held in memory (`json` need not be NUL-terminated; it is not kept).
 * `name` is used in error messages (e.g. the file name; may be NULL). */
EMBER_API ember_status ember_tokenizer_from_json(const char *json, size_t len, const char *name,
                                                 ember_tokenizer **out);

/* Build a tokenizer from the tokenizer.ggml.* keys of a parsed GGUF file. Nothing of `gguf` is kept:
 * the caller may close it afterwards. *out is closed with ember_tokenizer_close. */
EMBER_API ember_status ember_tokenizer_from_gguf(const ember_gguf *gguf, ember_tokenizer **out);

/* Frees the tokenizer. NULL is allowed. */
EMBER_API void ember_tokenizer_close(ember_tokenizer *tok);

/* Encode `len` bytes of UTF-8 text. add_special: apply the post-processor (BOS, [CLS] ... [SEP]) as the
 * tokenizer is configured to. Special tokens written in the text (e.g. "<|im_end|>") are always
 * recognised, as in Hugging Face. On success *ids is a new array of *n ids the caller frees with
 * ember_free (NULL when *n == 0). */
EMBER_API ember_status ember_tokenizer_encode(const ember_tokenizer *tok, const char *text, size_t len,
                                              bool add_special, int32_t **ids, size_t *n);

/* Encode and also report, for each token, the byte range of `text` it came from. *ids and *spans are
 * new arrays of *n entries, each freed by the caller with ember_free. */
EMBER_API ember_status ember_tokenizer_encode_spans(const ember_tokenizer *tok, const char *text, size_t len,
                                                    bool add_special, int32_t **ids, ember_token_span **spans,
                                                    size_t *n);

/* Encode `count` texts, spread over the pool's threads (pool may be NULL: serial). The caller passes two
 * arrays of `count` entries: on success ids[i] is a new array of n[i] ids (freed with ember_free each).
 * On failure nothing is left allocated. Padding to the longest pads to the longest of the batch. */
EMBER_API ember_status ember_tokenizer_encode_batch(const ember_tokenizer *tok, ember_pool *pool,
                                                    const char *const *texts, const size_t *lens, size_t count,
                                                    bool add_special, int32_t **ids, size_t *n);

/* Everything Hugging Face's Encoding holds, for one text or a pair of texts. All arrays have n entries;
 * one allocation owns them all: free with ember_encoding_free. */
typedef struct ember_encoding {
    int32_t *ids;
    uint32_t *type_ids;      /* segment ids the post-processor assigns (BERT: 0 first text, 1 the pair) */
    ember_token_span *spans; /* byte offsets into the text the token came from (the first text or the pair) */
    uint8_t *special_mask;   /* 1: added by post-processing (BOS, [CLS], [SEP] ...) or padding */
    uint8_t *attention_mask; /* 0: padding */
    int8_t *sequence;        /* 0: first text, 1: the pair, -1: added by post-processing or padding */
    size_t n;
} ember_encoding;

/* Encode a text, or a pair of texts (pair != NULL, e.g. question and passage for a cross-encoder), with
 * everything the tokenizer.json configures: truncation, the post-processor's template (add_special), and
 * padding. The plain encode functions above apply the same truncation and padding (as HF's encode does).
 * On success *out holds a new encoding (ember_encoding_free); on failure it is zeroed. */
EMBER_API ember_status ember_tokenizer_encode_full(const ember_tokenizer *tok, const char *text, size_t len, const char *pair,
                                                   size_t pair_len, bool add_special, ember_encoding *out);

/* The same for `count` inputs over the pool's threads (pool may be NULL). pairs and pair_lens may be NULL
 * (no pairs), or hold NULL entries. Padding to the longest (BatchLongest) pads to the longest of the batch.
 * out[i] are freed with ember_encoding_free each; on failure none is left allocated. */
EMBER_API ember_status ember_tokenizer_encode_batch_full(const ember_tokenizer *tok, ember_pool *pool,
                                                         const char *const *texts, const size_t *lens,
                                                         const char *const *pairs, const size_t *pair_lens, size_t count,
                                                         bool add_special, ember_encoding *out);

/* Frees the arrays of an encoding and zeroes it. NULL is allowed. */
EMBER_API void ember_encoding_free(ember_encoding *e);

/* Decode ids to UTF-8 text as Hugging Face's decode() does (the decoder chain, then invalid byte
 * sequences as U+FFFD). skip_special: leave special tokens out. *text is a new NUL-terminated string
 * of *len bytes freed with ember_free. An id outside the vocabulary is an EMBER_ERR_ARG error. */
EMBER_API ember_status ember_tokenizer_decode(const ember_tokenizer *tok, const int32_t *ids, size_t n,
                                              bool skip_special, char **text, size_t *len);

/* The raw bytes one token stands for in generated text, for streaming output: byte-level pieces mapped
 * back to bytes, "▁" as a space, <0xAB> byte tokens as that byte, with no stripping of leading spaces.
 * A token may be part of a UTF-8 character; join pieces before printing. Special tokens give their text.
 * Returns the number of bytes (which may exceed cap; then only cap bytes were written), or -1 for an
 * id outside the vocabulary. */
EMBER_API int ember_tokenizer_piece(const ember_tokenizer *tok, int32_t id, char *buf, size_t cap);

/* The vocabulary string of a token as stored (e.g. "Ġhello", "▁the", "##ing", "<0x0A>"), or NULL for an
 * id outside the vocabulary. Owned by the tokenizer. */
EMBER_API const char *ember_tokenizer_token(const ember_tokenizer *tok, int32_t id);

/* The id of a vocabulary string (model vocabulary or added token), or -1. */
EMBER_API int32_t ember_tokenizer_token_id(const ember_tokenizer *tok, const char *token);

/* Number of ids: one more than the largest id of the model vocabulary and the added tokens. */
EMBER_API int32_t ember_tokenizer_vocab_size(const ember_tokenizer *tok);

/* The id of a special token, or -1 when the tokenizer has none of that kind. */
EMBER_API int32_t ember_tokenizer_special(const ember_tokenizer *tok, ember_special_token kind);

/* True when `id` is a special (control) token: skipped by decode(skip_special). */
EMBER_API bool ember_tokenizer_is_special(const ember_tokenizer *tok, int32_t id);

#ifdef __cplusplus
}
#endif
#endif
