// Time ONNX Runtime (onnxruntime-node, CPU) on one model: the peer side of bench/onnx.sh.
// usage: node ort_bench.mjs MODEL THREADS RUNS WARMUP 'INPUTS_JSON'
//   INPUTS_JSON: [{"name": "input", "dtype": "float32", "shape": "1x3x224x224"}, ...] (from `ember dump --json`)
// Prints one JSON line: {"median_ms", "min_ms", "max_ms", "cpu_ms" (user + system per run), "load_ms" (session
// creation), "first_ms" (the first run), "peak_rss_mb"}.
import { createRequire } from 'module';
const require = createRequire(process.env.ORT_NODE_MODULES + '/');
const ort = require('onnxruntime-node');

const [model, threads, runs, warmup, inputsJson] = process.argv.slice(2);
const specs = JSON.parse(inputsJson);

function makeInput(spec) {
  const dims = spec.shape === 'scalar' ? [] : spec.shape.split('x').map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  switch (spec.dtype) {
    case 'float32': return new ort.Tensor('float32', Float32Array.from({ length: n }, () => Math.random()), dims);
    // integers in {0, 1} like `ember bench` (token ids, masks and token types are all valid then)
    case 'int64': return new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 2)), dims);
    case 'int32': return new ort.Tensor('int32', Int32Array.from({ length: n }, (_, i) => i % 2), dims);
    case 'bool': return new ort.Tensor('bool', new Uint8Array(n), dims);
    default: throw new Error(`ort_bench: input dtype ${spec.dtype} not handled`);
  }
}

// the inputs first: making them (8.5 ms for 1x3x224x224 in JavaScript) is not loading the model
const feeds = Object.fromEntries(specs.map((s) => [s.name, makeInput(s)]));
const t0 = performance.now();
const session = await ort.InferenceSession.create(model, {
  intraOpNumThreads: Number(threads), interOpNumThreads: 1, executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
const loadMs = performance.now() - t0; // ready to run (ONNX Runtime's perf tool: "session creation")
const f0 = performance.now();
await session.run(feeds); // the first run finishes some of ORT's preparation: reported on its own
const firstMs = performance.now() - f0;
for (let i = 0; i < Number(warmup); i++) await session.run(feeds);
const times = [];
const cpu0 = process.cpuUsage();
for (let i = 0; i < Number(runs); i++) {
  const r0 = performance.now();
  await session.run(feeds);
  times.push(performance.now() - r0);
}
const cpu = process.cpuUsage(cpu0);
const cpuMs = (cpu.user + cpu.system) / 1000 / Number(runs);
times.sort((a, b) => a - b);
const m = times.length;
const median = m % 2 ? times[(m - 1) / 2] : (times[m / 2 - 1] + times[m / 2]) / 2;
const rssMb = process.resourceUsage().maxRSS / 1024;
console.log(JSON.stringify({ median_ms: median, min_ms: times[0], max_ms: times[m - 1], cpu_ms: cpuMs, load_ms: loadMs,
  first_ms: firstMs, peak_rss_mb: rssMb }));
