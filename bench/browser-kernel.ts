// The decode kernel (ternMatmul, row quads, one token, TQ2_0) and the Vec-LUT prefill matmul (both sweep forms) of
// one or more wasm builds, run by Chromium (Debian's /usr/bin/chromium through playwright-core, on a cross-origin-
// isolated page of the demo server, so that the memory can be shared as the engine's is) and by this Node,
// alternately: decode on one 1536×4096 matrix (in L2) and on 24 of them, the Vec-LUT on 1536² × 128 tokens.
// GOPS, best / median of 7 batches, 2 rounds. For what a browser's V8 makes of a kernel change (bench/README.md).
//
//   BENCH_ENTRY=bench/browser-kernel.ts npm run bench:kernels -- --builds dist/wasm,/tmp/other-build [--port 8099]
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { LUT_FORM } from "../src/runtime/cpu/abi.ts";
import { LUT_PANEL_BYTES, lutSlotBytes } from "../src/runtime/cpu/kernels.ts";

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.lastIndexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : def;
};
const builds = opt("builds", "dist/wasm").split(",");
const port = Number(opt("port", "8099"));

// Plain JavaScript, run as it is in both places (a bundler must not rewrite it): instantiates the build on a shared
// memory, lays out random codes, scales and activations, and times the decode call.
const RUN = `async (bytes, lut) => {
  const memory = new WebAssembly.Memory({ initial: 2048, maximum: 65536, shared: true });
  const { instance } = await WebAssembly.instantiate(new Uint8Array(bytes), { env: { memory } });
  const ex = instance.exports;
  let top = (ex.heapBase() + 63) & ~63;
  const alloc = (n) => {
    const p = top;
    top = (top + n + 63) & ~63;
    if (top > memory.buffer.byteLength) memory.grow(Math.ceil((top - memory.buffer.byteLength) / 65536) + 1);
    return p;
  };
  // GOPS of call() (ops each), best / median of 7 batches of repetitions that take ≈ 300 ms, after a warm-up
  const gops = (call, ops) => {
    for (let i = 0; i < 5; i++) call();
    let reps = 1;
    for (;;) {
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) call();
      const ms = performance.now() - t0;
      if (ms > 100) { reps = Math.max(1, Math.round((reps * 300) / ms)); break; }
      reps *= 2;
    }
    const g = [];
    for (let r = 0; r < 7; r++) {
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) call();
      g.push((ops * reps) / ((performance.now() - t0) / 1000) / 1e9);
    }
    g.sort((x, y) => y - x);
    return g[0].toFixed(1) + " / " + g[3].toFixed(1);
  };
  const out = {};
  for (const [label, m, k, count] of [["1 × 1536×4096", 1536, 4096, 1], ["24 × 1536×4096", 1536, 4096, 24]]) {
    const rowBytes = k / 4, ng = k / 256;
    const mats = [];
    for (let c = 0; c < count; c++) {
      const w = alloc(m * rowBytes), sw = alloc(ng * m * 4);
      const u8 = new Uint8Array(memory.buffer, w, m * rowBytes);
      for (let i = 0; i < u8.length; i++) u8[i] = (Math.imul(i + c * 7919, 2654435761) >>> 24) & 0xaa;
      new Float32Array(memory.buffer, sw, ng * m).fill(0.01);
      mats.push([w, sw]);
    }
    const a = alloc(k), ad = alloc(ng * 4), as = alloc(ng * 4), o = alloc(m * 4);
    const a8 = new Int8Array(memory.buffer, a, k);
    for (let i = 0; i < k; i++) a8[i] = ((i * 37) % 255) - 127;
    new Float32Array(memory.buffer, ad, ng).fill(0.02);
    // FAM.TQ2 = 0, TILE.ROWS4 = 1 (src/runtime/cpu/abi.ts): the arguments of CpuKernels.matmulQuantized
    const call = () => {
      for (const [w, sw] of mats) ex.ternMatmul(0, w, rowBytes, a, k, sw, 0, m * 4, ad, as, 0, 4, 2 * Math.ceil(k / 128), 4, ng, 1, 1, o, m * 4, 1, 0, m);
    };
    for (let i = 0; i < 15; i++) call();
    out[label] = gops(call, 2 * m * k * count);
  }
  // the Vec-LUT prefill matmul (ternMatmulLut), TQ2_0, m × k = 1536 × 1536, 128 tokens, one matrix as a set of one
  {
    const m = 1536, k = 1536, n = 128, rowBytes = k / 4, ng = k / 256, kp = k;
    const w = alloc(m * rowBytes), sw = alloc(ng * m * 4);
    const u8 = new Uint8Array(memory.buffer, w, m * rowBytes);
    for (let i = 0; i < u8.length; i++) u8[i] = (Math.imul(i, 2654435761) >>> 24) & 0xaa;
    new Float32Array(memory.buffer, sw, ng * m).fill(0.01);
    const q = alloc(n * kp), ad = alloc(ng * n * 4), o = alloc(n * m * 4);
    const q8 = new Int8Array(memory.buffer, q, n * kp);
    for (let i = 0; i < q8.length; i++) q8[i] = ((i * 37) % 255) - 127;
    new Float32Array(memory.buffer, ad, ng * n).fill(0.02);
    // one MSET entry (src/runtime/cpu/abi.ts: FAM, CODES, ROW_BYTES, SCALES, SHIFTS, SCALE_STRIDE, UNITS, UPG, GROUPS,
    // TENSOR_SCALE, OUT, OUT_STRIDE, ROWS, START; 16 words)
    const set = alloc(64);
    const e = new Int32Array(memory.buffer, set, 16);
    e.set([0, w, rowBytes, sw, 0, m * 4, 2 * Math.ceil(k / 128), 4, ng, 0, o, m * 4, m, 0]);
    new Float32Array(memory.buffer, set, 16)[9] = 1;
    // one thread's slot and the panel as CpuKernels sizes them (lut, from the caller)
    const counter = alloc(64), scratch = alloc(lut.slotBytes);
    for (const [form, name] of [[lut.map, "map"], [lut.addresses, "addresses"]]) {
      const call = () => {
        new Int32Array(memory.buffer, counter, 1)[0] = 0;
        ex.ternMatmulLut(set, 1, q, kp, ad, 0, n * 4, 64, ng, lut.panel, form, counter, scratch, lut.slotBytes, 1, 0, n);
      };
      out["lut " + name + " 1536×1536 n=128"] = gops(call, 2 * m * k * n);
    }
  }
  return out;
}`;

// the Vec-LUT case's scratch slot (TQ2_0 1536 × 1536: rowBytes 384, 6 scale groups), panel and sweep forms
const lut = { slotBytes: lutSlotBytes(384, 6, 1536), panel: LUT_PANEL_BYTES, map: LUT_FORM.MAP, addresses: LUT_FORM.ADDRESSES };
const bytes = Object.fromEntries(builds.map((d) => [d, Array.from(readFileSync(`${d}/ternion-relaxed.wasm`))]));
const inNode = (
  (await import(`data:text/javascript,export default ${encodeURIComponent(RUN)}`)) as {
    default: (b: number[], l: typeof lut) => Promise<Record<string, string>>;
  }
).default;
const server = spawn(process.execPath, ["examples/browser/server.mjs", "--port", String(port)], { stdio: "ignore" });
try {
  await new Promise((r) => setTimeout(r, 1500));
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage();
    await page.goto(`http://localhost:${port}/`);
    console.log(`decode kernel (TQ2_0, one token), GOPS best / median — Chromium ${browser.version()}, Node ${process.version}`);
    for (const round of [1, 2]) {
      for (const d of builds) {
        const chrome = await page.evaluate(`(${RUN})(${JSON.stringify(bytes[d])}, ${JSON.stringify(lut)})`);
        console.log(`round ${round}  chromium  ${d}  ${JSON.stringify(chrome)}`);
        console.log(`round ${round}  node      ${d}  ${JSON.stringify(await inNode(bytes[d]!, lut))}`);
      }
    }
  } finally {
    await browser.close();
  }
} finally {
  server.kill();
}
