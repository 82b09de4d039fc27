// llama.cpp (through node-llama-cpp, CPU build) timed like `ember llm-bench`: pp = one batch of P tokens from an
// empty context, tg = N single-token steps from an empty context; reps timed runs after one warm-up, mean tokens/s.
// usage: node bench/llama_bench.mjs MODEL THREADS P N REPS   (NODE_LLAMA_CPP_DIR: the node_modules holding it)
// prints {"pp_tps": ..., "tg_tps": ..., "rss_mb": ...}
import path from "node:path";
const [model, threads, np, ng, reps] = process.argv.slice(2);
const dir = process.env.NODE_LLAMA_CPP_DIR;
const { getLlama } = await import(path.join(dir, "node-llama-cpp/dist/index.js"));
const llama = await getLlama({ gpu: false, maxThreads: Number(threads), logLevel: "error" });
const m = await llama.loadModel({ modelPath: model, gpuLayers: 0 });
const P = Number(np), N = Number(ng), R = Number(reps), T = Number(threads);
const ctx = await m.createContext({ contextSize: 256, batchSize: Math.max(P, 1), threads: { ideal: T, min: T }, flashAttention: false });
const seq = ctx.getSequence();
let x = 12345n;
const ids = [];
for (let i = 0; i < Math.max(P, N); i++) { // the same pseudo-random tokens as ember llm-bench
    x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    ids.push(Number((x >> 33n) % BigInt(m.tokens.length ?? 32000)));
}
async function pp() {
    await seq.clearHistory();
    const t0 = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(ids.slice(0, P));
    return (performance.now() - t0) / 1000;
}
async function tg() {
    await seq.clearHistory();
    const t0 = performance.now();
    let n = 0;
    for await (const tok of seq.evaluate([ids[0]], { temperature: 0 })) { if (++n >= N) break; void tok; }
    return (performance.now() - t0) / 1000;
}
async function rate(fn, n) {
    if (!n) return 0;
    await fn();
    let total = 0;
    for (let r = 0; r < R; r++) total += await fn();
    return n * R / total;
}
const ppr = await rate(pp, P), tgr = await rate(tg, N);
console.log(JSON.stringify({ pp_tps: ppr, tg_tps: tgr, rss_mb: process.resourceUsage().maxRSS / 1024 }));
process.exit(0);
