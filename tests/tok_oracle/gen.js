// Differential vectors from Hugging Face tokenizers (the npm package's Rust core) for Ember's conformance test:
// variants of the shared tokenizers (every normalizer, pre-tokenizer, decoder, post-processor, added-token
// flag, truncation and padding) x random texts (and pairs, and invalid UTF-8).
// node gen.js SHARED_TOKENIZERS_DIR OUTDIR [CASES_PER_CONFIG] -> OUTDIR/<name>.json + OUTDIR/<name>.jsonl
// Each vectors line: {text | hex, pair?, ids, ids_special, decoded, decoded_skip, type_ids, offsets, special_mask,
// attention_mask} (offsets as UTF-8 byte offsets), or {..., error: true} when HF refuses the input.
const path = require('path');
const fs = require('fs');
const { Tokenizer } = require(path.resolve(process.env.HF_MODULES || '.', 'node_modules', 'tokenizers'));

const [dir, out, casesArg] = process.argv.slice(2);
const CASES = parseInt(casesArg || '60', 10);
fs.mkdirSync(out, { recursive: true });
const load = (n) => JSON.parse(fs.readFileSync(path.join(dir, 'hf', n, 'tokenizer.json'), 'utf8'));

// deterministic random numbers
let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / (1 << 24);
const pick = (a) => a[Math.floor(rnd() * a.length)];

const pieces = [
  'Hello', 'world', 'the', ' quick brown fox', 'jumps', 'OVER', 'Lazy', "don't", "I'M", "we'll", "she'D", "They've",
  'naïve', 'café', 'Ångström', 'résumé', 'ﬁne', 'Ⅻ', '①', '½', '²', 'x²', '123', '4567890', '3.14159', '1,000,000',
  '  ', '   ', '\t', '\n', '\n\n', '\r\n', ' \n ', '\u00a0', '\u3000', '\u2009', '\u200b', '\u200d', '\u0301', 'e\u0301',
  'a\u0308', '\u1100\u1161', '한국어', '日本語のテキスト', '中文字符', '𠀀𠀁', 'русский текст', 'Ελληνικά', 'עברית',
  'العربية', 'हिन्दी', 'ไทย', '😀', '👍🏽', '👨‍👩‍👧', '🇫🇷', '∑∫√', '→', '…', '—', '«»', '“quoted”', '¿Qué?', '!!!',
  '?!', '...', ',', ';', ':', '(', ')', '[', ']', '{}', '<', '>', '</s>', '<s>', '[CLS]', '[SEP]', '[MASK]', '<unk>',
  '<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|begin_of_text|>', 'int main(void) { return 0; }', 'x += 1;',
  'http://example.com/a?b=c', 'user@mail.org', '#include <stdio.h>', '\\n', '$100', '50%', '@home', '^_^', '~', '`',
  '|', '\u0000', '\u0007', '\u001f', '\u007f', '\u0085', '\ufeff', '\ufffd', 'ǅ', 'ß', 'İstanbul', 'ΣΑΣ', 'ﬀ',
  'MyCamelCase', 'snake_case_name', 'ALLCAPS', 'x1y2z3', 'AI-powered', 'e.g.', 'U.S.A.', 'tokenization', 'unbelievably',
];
function randomText() {
  const k = 1 + Math.floor(rnd() * 8);
  let s = '';
  for (let i = 0; i < k; i++) s += (rnd() < 0.5 ? ' ' : '') + pick(pieces);
  if (rnd() < 0.1) s = ' ' + s;
  if (rnd() < 0.1) s += ' ';
  return s;
}
function randomBytes() { // mostly valid UTF-8 with broken sequences mixed in
  const parts = [];
  const k = 1 + Math.floor(rnd() * 6);
  for (let i = 0; i < k; i++) {
    if (rnd() < 0.5) parts.push(Buffer.from(pick(pieces), 'utf8'));
    else parts.push(Buffer.from(pick([[0xff], [0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0x80], [0xed, 0xa0, 0x80],
      [0xc0, 0xaf], [0xf4, 0x90, 0x80, 0x80], [0xe0, 0x80, 0x80], [0xfe, 0xfe], [0xc3, 0x28], [0xf8, 0x88, 0x80, 0x80, 0x80]])));
  }
  return Buffer.concat(parts);
}

// UTF-16 string + char (code point) offsets -> UTF-8 byte offsets
function byteOffsets(str, offs) {
  const cps = Array.from(str);
  const at = [0];
  for (const c of cps) at.push(at[at.length - 1] + Buffer.byteLength(c, 'utf8'));
  return offs.map(([b, e]) => [at[Math.min(b, cps.length)], at[Math.min(e, cps.length)]]);
}

async function vectors(name, cfg, opts = {}) {
  const json = JSON.stringify(cfg);
  let tok;
  try { tok = Tokenizer.fromString(json); } catch (e) { console.error(`${name}: HF cannot load it: ${e}`); return 0; }
  fs.writeFileSync(path.join(out, name + '.json'), json);
  const lines = [];
  const n = opts.cases || CASES;
  for (let i = 0; i < n; i++) {
    const c = {};
    let text;
    if (opts.bytes !== false && rnd() < 0.12) {
      const b = randomBytes();
      c.hex = b.toString('hex');
      text = b.toString('utf8'); // WHATWG decoding: what HF gets from JavaScript
    } else {
      text = opts.texts ? opts.texts[i % opts.texts.length] : randomText();
      c.text = text;
    }
    const pair = opts.pairs && rnd() < 0.4 ? randomText() : null;
    if (pair !== null) c.pair = pair;
    try {
      const plain = await tok.encode(text, pair, { addSpecialTokens: false });
      const e = await tok.encode(text, pair, { addSpecialTokens: true });
      c.ids = plain.getIds();
      c.ids_special = e.getIds();
      c.type_ids = e.getTypeIds();
      c.special_mask = e.getSpecialTokensMask();
      c.attention_mask = e.getAttentionMask();
      if (!c.hex) {
        const seq = e.getSequenceIds();
        c.offsets = byteOffsets(text, e.getOffsets().map((o, k) => (seq[k] === 1 ? [0, 0] : o)));
        if (pair !== null) {
          const pb = byteOffsets(pair, e.getOffsets());
          c.offsets = c.offsets.map((o, k) => (seq[k] === 1 ? pb[k] : o));
        }
      }
      c.decoded = await tok.decode(c.ids, false);
      c.decoded_skip = await tok.decode(c.ids_special, true);
    } catch (err) {
      c.error = true;
      delete c.ids;
    }
    lines.push(JSON.stringify(c));
  }
  fs.writeFileSync(path.join(out, name + '.jsonl'), lines.join('\n') + '\n');
  return lines.length;
}

const clone = (x) => JSON.parse(JSON.stringify(x));
const withAdded = (cfg, extra) => ({ ...cfg, added_tokens: [...cfg.added_tokens, ...extra] });
const addedTok = (id, content, o) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: false, ...o });

(async () => {
  const bert = load('bert_uncased'), gpt2 = load('gpt2'), llama3 = load('llama3'), qwen3 = load('qwen3'), mistral = load('mistral-spm32k');
  let total = 0;
  const V = async (n, c, o) => { total += await vectors(n, c, o); };
  // the shared tokenizers as they are, with pairs
  await V('bert', bert, { pairs: true });
  await V('gpt2', gpt2, { pairs: true });
  await V('llama3', llama3, { pairs: true });
  await V('qwen3', qwen3, { pairs: true });
  await V('mistral', mistral, { pairs: true });
  // normalizers (on the WordPiece vocabulary, cased so that case survives where the normalizer keeps it)
  const norms = {
    bertnorm_cased: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: false },
    bertnorm_accents: { type: 'BertNormalizer', clean_text: false, handle_chinese_chars: false, strip_accents: true, lowercase: false },
    nfd_lower_strip: { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'Lowercase' }, { type: 'StripAccents' }] },
    nfkc_lower: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] },
    nfkd: { type: 'Sequence', normalizers: [{ type: 'NFKD' }, { type: 'Lowercase' }] },
    strip: { type: 'Sequence', normalizers: [{ type: 'Strip', strip_left: true, strip_right: false }, { type: 'Lowercase' }] },
    replace_re: { type: 'Sequence', normalizers: [{ type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Replace', pattern: { String: 'the' }, content: 'THE' }, { type: 'Lowercase' }] },
    prepend: { type: 'Sequence', normalizers: [{ type: 'Lowercase' }, { type: 'Prepend', prepend: '##' }] },
  };
  for (const [k, n] of Object.entries(norms)) await V('norm_' + k, { ...clone(bert), normalizer: n });
  // pre-tokenizers
  const pres = {
    whitespace: { type: 'Whitespace' },
    wsplit: { type: 'WhitespaceSplit' },
    digits: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Digits', individual_digits: true }] },
    digits_grp: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Digits', individual_digits: false }] },
    chardelim: { type: 'CharDelimiterSplit', delimiter: 'e' },
  };
  for (const b of ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous']) {
    pres['punct_' + b] = { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Punctuation', behavior: b }] };
    pres['split_re_' + b] = { type: 'Split', pattern: { Regex: '\\s+|[,.!?]' }, behavior: b, invert: false };
    pres['split_str_' + b] = { type: 'Split', pattern: { String: ' ' }, behavior: b, invert: false };
    pres['split_inv_' + b] = { type: 'Split', pattern: { Regex: '\\p{L}+' }, behavior: b, invert: true };
  }
  for (const [k, p] of Object.entries(pres)) await V('pre_' + k, { ...clone(bert), pre_tokenizer: p });
  // Metaspace on the SentencePiece-BPE vocabulary, instead of its normalizer
  for (const scheme of ['always', 'first', 'never'])
    for (const split of [true, false]) {
      const c = clone(mistral);
      c.normalizer = null;
      c.pre_tokenizer = { type: 'Metaspace', replacement: '▁', prepend_scheme: scheme, split };
      c.decoder = { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Metaspace', replacement: '▁', prepend_scheme: scheme, split }] };
      await V(`metaspace_${scheme}_${split}`, c, { pairs: true });
    }
  // byte-level options
  {
    const c = clone(gpt2);
    c.pre_tokenizer = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true };
    c.post_processor = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true };
    await V('bytelevel_prefix_trim', c, { pairs: true });
    const d = clone(gpt2);
    d.pre_tokenizer = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
    d.post_processor = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
    await V('bytelevel_noregex', d, { pairs: true });
    for (const [tr, ap] of [[true, true], [true, false], [false, true]]) {
      const r = clone(gpt2);
      r.post_processor = { type: 'RobertaProcessing', sep: ['<|endoftext|>', 50256], cls: ['!', 0], trim_offsets: tr, add_prefix_space: ap };
      await V(`roberta_${tr}_${ap}`, r, { pairs: true });
    }
    const s = clone(llama3); // as the published Llama 3: ByteLevel then a template
    s.post_processor = { type: 'Sequence', processors: [{ type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
      { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [128000], tokens: ['<|begin_of_text|>'] } } }] };
    await V('llama3_template', s, { pairs: true });
  }
  // post-processors on BERT
  await V('bertprocessing', { ...clone(bert), post_processor: { type: 'BertProcessing', sep: ['[SEP]', 102], cls: ['[CLS]', 101] } }, { pairs: true });
  await V('no_post', { ...clone(bert), post_processor: null }, { pairs: true });
  // truncation and padding
  const tp = [
    ['trunc_lf', { direction: 'Right', max_length: 9, strategy: 'LongestFirst', stride: 0 }, null],
    ['trunc_left', { direction: 'Left', max_length: 7, strategy: 'LongestFirst', stride: 0 }, null],
    ['trunc_of', { direction: 'Right', max_length: 10, strategy: 'OnlyFirst', stride: 0 }, null],
    ['trunc_os', { direction: 'Right', max_length: 10, strategy: 'OnlySecond', stride: 0 }, null],
    ['trunc_tiny', { direction: 'Right', max_length: 4, strategy: 'LongestFirst', stride: 0 }, null],
    ['pad_fixed', null, { strategy: { Fixed: 24 }, direction: 'Right', pad_to_multiple_of: null, pad_id: 0, pad_type_id: 0, pad_token: '[PAD]' }],
    ['pad_left_mult', { direction: 'Right', max_length: 20, strategy: 'LongestFirst', stride: 0 }, { strategy: 'BatchLongest', direction: 'Left', pad_to_multiple_of: 8, pad_id: 0, pad_type_id: 3, pad_token: '[PAD]' }],
  ];
  for (const [n, t, p] of tp) await V(n, { ...clone(bert), truncation: t, padding: p }, { pairs: true });
  // added tokens with every flag, normalized or not
  {
    const flags = [
      addedTok(30522, 'hello', { single_word: true }), addedTok(30523, '<X>', { lstrip: true }), addedTok(30524, '<Y>', { rstrip: true }),
      addedTok(30525, 'Quick', { normalized: true }), addedTok(30526, '<Z>', { lstrip: true, rstrip: true, special: true }),
      addedTok(30527, 'lazy', { single_word: true, normalized: true }), addedTok(30528, '[SEP]x', {}),
    ];
    const texts = [];
    for (let i = 0; i < CASES; i++) {
      let s = '';
      for (let k = 0; k < 5; k++) s += pick(['hello', ' hello ', 'hellos', 'ahello', ' <X> ', '  <Y>  ', '<Z>', ' \t<Z>\n ', 'Quick', 'QUICK', 'quick', 'lazy', 'LAZY', ' lazy,', 'lazyness', '[SEP]x', '[SEP]', ' ', 'x', 'é']);
      texts.push(s);
    }
    await V('added_flags', withAdded(clone(bert), flags), { texts, bytes: false });
    const g = withAdded(clone(gpt2), [addedTok(50257, ' world', { single_word: true }), addedTok(50258, '<X>', { lstrip: true, special: true }), addedTok(50259, 'Quick', { normalized: true, rstrip: true })]);
    await V('added_flags_bytelevel', g, { texts: texts.map((t) => t.replace(/hello/g, ' world')), bytes: false });
  }
  // models: WordLevel and Unigram built from the shared vocabularies
  {
    const wl = clone(bert);
    wl.model = { type: 'WordLevel', vocab: bert.model.vocab, unk_token: '[UNK]' };
    wl.pre_tokenizer = { type: 'Whitespace' };
    await V('wordlevel', wl, { pairs: true });
    const ug = clone(mistral);
    const vocab = Object.entries(mistral.model.vocab).sort((a, b) => a[1] - b[1]);
    ug.model = { type: 'Unigram', unk_id: 0, byte_fallback: true, vocab: vocab.map(([p, id]) => [p, id < 3 ? 0 : -Math.log(2 + id) - p.length * 0.01]) };
    await V('unigram', ug, { pairs: true });
    const ug2 = clone(ug);
    ug2.model.byte_fallback = false;
    ug2.normalizer = null;
    ug2.pre_tokenizer = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true };
    ug2.decoder = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true };
    await V('unigram_nofallback', ug2, {});
  }
  // BPE with continuing_subword_prefix: merges derived from the WordPiece vocabulary ("hell" + "##o" -> "hello")
  {
    const vocab = bert.model.vocab;
    const toks = Object.keys(vocab).filter((t) => !t.startsWith('[') && Array.from(t.replace(/^##/, '')).length >= 2);
    toks.sort((a, b) => Array.from(a).length - Array.from(b).length || vocab[a] - vocab[b]);
    const merges = [];
    for (const t of toks) {
      const pre = t.startsWith('##') ? '##' : '';
      const cs = Array.from(t.slice(pre.length));
      for (let k = cs.length - 1; k >= 1; k--) {
        const l = pre + cs.slice(0, k).join(''), r = '##' + cs.slice(k).join('');
        if (l in vocab && r in vocab) { merges.push([l, r]); break; }
      }
    }
    const c = clone(bert);
    c.model = { type: 'BPE', dropout: null, unk_token: '[UNK]', continuing_subword_prefix: '##', end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges };
    await V('bpe_prefix', c, { pairs: true });
    // end_of_word_suffix: the word pieces (without "##") as inner pieces and with "</w>" as word ends
    const sv = {};
    let next = 0;
    const add = (t) => { if (!(t in sv)) sv[t] = next++; };
    add('[UNK]');
    const base = [...new Set(Object.keys(vocab).filter((t) => !t.startsWith('[')).map((t) => t.replace(/^##/, '')))];
    for (const t of base) add(t), add(t + '</w>');
    const words = Object.keys(sv).filter((t) => Array.from(t.replace(/<\/w>$/, '')).length >= 2);
    words.sort((a, b) => Array.from(a).length - Array.from(b).length || sv[a] - sv[b]);
    const sm = [];
    for (const t of words) {
      const end = t.endsWith('</w>') ? '</w>' : '';
      const cs = Array.from(end ? t.slice(0, -4) : t);
      for (let k = cs.length - 1; k >= 1; k--) {
        const l = cs.slice(0, k).join(''), r = cs.slice(k).join('') + end;
        if (l in sv && r in sv) { sm.push([l, r]); break; }
      }
    }
    const d = clone(bert);
    d.model = { type: 'BPE', dropout: null, unk_token: '[UNK]', continuing_subword_prefix: null, end_of_word_suffix: '</w>', fuse_unk: true, byte_fallback: false, vocab: sv, merges: sm };
    d.decoder = { type: 'BPEDecoder', suffix: '</w>' };
    d.post_processor = null;
    await V('bpe_suffix', d, { pairs: true });
  }
  // decoders
  {
    const d = clone(bert);
    d.decoder = { type: 'Sequence', decoders: [{ type: 'WordPiece', prefix: '##', cleanup: false }, { type: 'Replace', pattern: { String: 'a' }, content: 'A' }, { type: 'Strip', content: ' ', start: 1, stop: 1 }] };
    await V('decoders_seq', d);
    const f = clone(bert);
    f.decoder = { type: 'Sequence', decoders: [{ type: 'Fuse' }, { type: 'Strip', content: '#', start: 2, stop: 0 }] };
    await V('decoders_fuse', f);
    const r = clone(bert);
    r.decoder = { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { Regex: '[aeiou]+|##' }, content: '_' }, { type: 'Fuse' }] };
    await V('decoders_replace_re', r);
  }
  console.log(`wrote ${total} cases`);
})().catch((e) => { console.error(e); process.exit(2); });
