// Hugging Face tokenizers (Rust core via its Node binding) throughput on the same text as bench/tokenizers.c:
// node tokenizers.js TOKENIZER.json TEXTFILE RUNS whole|para|batch -> {"mbps", "tokens", "load_ms"} (median of runs).
// "para" encodes paragraph after paragraph (split at blank lines), each call awaited before the next; "batch"
// encodes the paragraphs with one encodeBatch call (Rayon threads: set RAYON_NUM_THREADS).
const path = require('path');
const fs = require('fs');
const { Tokenizer } = require(path.resolve(process.env.HF_MODULES || '.', 'node_modules', 'tokenizers'));

(async () => {
  const [file, textFile, runsArg, mode] = process.argv.slice(2);
  const runs = Math.max(1, Math.min(100, parseInt(runsArg || '5', 10)));
  const text = fs.readFileSync(textFile, 'utf8');
  const bytes = Buffer.byteLength(text, 'utf8');
  let t0 = process.hrtime.bigint();
  const tok = Tokenizer.fromFile(file);
  const load = Number(process.hrtime.bigint() - t0) / 1e6;
  const times = [];
  let n = 0;
  const parts = [];
  if (mode === 'para' || mode === 'batch') {
    for (let p = 0; p < text.length;) {
      const q = text.indexOf('\n\n', p);
      const e = q < 0 ? text.length : q + 2;
      parts.push(text.slice(p, e));
      p = e;
    }
  } else {
    parts.push(text);
  }
  for (let r = 0; r < runs; r++) {
    t0 = process.hrtime.bigint();
    n = 0;
    if (mode === 'batch') {
      const encs = await tok.encodeBatch(parts, { addSpecialTokens: false });
      for (const e of encs) n += e.getIds().length;
      times.push(Number(process.hrtime.bigint() - t0) / 1e9);
      continue;
    }
    for (const part of parts) {
      const enc = await tok.encode(part, null, { addSpecialTokens: false });
      n += enc.getIds().length;
    }
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ mbps: bytes / 1e6 / times[Math.floor(runs / 2)], tokens: n, load_ms: load }));
})().catch((e) => { console.error(String(e)); process.exit(2); });
