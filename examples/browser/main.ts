// The browser demo: a GGUF model in a Web Worker (createEngine from ternion/inline, so that the wasm and the
// worker come inside this one bundle), its load progress, tokens streaming, speed, backend and memory.
// Query parameters drive it without clicks (the browser tests use them): model (a URL), backend, threads,
// prompt, maxTokens, and run=1 to generate once the model is loaded.
import { createEngine, type BackendChoice, type Engine, type EngineInfo, type LoadProgress } from "ternion/inline";

const STORIES_URL = "/models/stories260K.gguf";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const fileInput = $<HTMLInputElement>("file");
const loadUrlButton = $<HTMLButtonElement>("load-url");
const backendSelect = $<HTMLSelectElement>("backend");
const threadsInput = $<HTMLInputElement>("threads");
const progressBar = $<HTMLProgressElement>("progress");
const loadStatus = $("load-status");
const promptInput = $<HTMLTextAreaElement>("prompt");
const maxTokensInput = $<HTMLInputElement>("max-tokens");
const temperatureInput = $<HTMLInputElement>("temperature");
const generateButton = $<HTMLButtonElement>("generate");
const stopButton = $<HTMLButtonElement>("stop");
const output = $("output");
const backendInfo = $("backend-info");
const threadsInfo = $("threads-info");
const speed = $("speed");
const memory = $("memory");
const isolation = $("isolation");
const errorBox = $("error");

/** What the page shows, also kept for scripts (the browser tests read it). */
interface DemoState {
  info?: EngineInfo;
  text?: string;
  /** Chunks the stream delivered (one per token). */
  chunks?: number;
  stopReason?: string;
  crossOriginIsolated: boolean;
  error?: string;
}
const state: DemoState = { crossOriginIsolated: self.crossOriginIsolated };
(window as unknown as { demo: DemoState }).demo = state;

let engine: Engine | undefined;
let running: AbortController | undefined;

function setState(s: "idle" | "loading" | "ready" | "generating" | "done" | "error"): void {
  document.body.dataset.state = s;
  const busy = s === "loading" || s === "generating";
  generateButton.disabled = busy || !engine;
  stopButton.disabled = s !== "generating";
  loadUrlButton.disabled = fileInput.disabled = busy;
}

function showError(e: unknown): void {
  const err = e as { name?: string; code?: string; message?: string };
  state.error = `${err.name ?? "Error"}${err.code ? ` ${err.code}` : ""}: ${err.message ?? String(e)}`;
  errorBox.textContent = state.error;
  setState("error");
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

function showInfo(info: EngineInfo): void {
  state.info = info;
  backendInfo.textContent =
    info.backend === "webgpu"
      ? `WebGPU (${info.adapter ?? "adapter"}) · ${info.backendReason}`
      : `wasm · ${info.simd === "relaxed" ? "relaxed SIMD" : "SIMD"} build · ${info.backendReason}`;
  threadsInfo.textContent =
    info.backend === "webgpu"
      ? "the GPU computes"
      : info.threads > 1
        ? `${info.threads} (one wasm memory shared by ${info.threads} threads)`
        : self.crossOriginIsolated
          ? "1"
          : "1: this page is not cross-origin isolated (no COOP/COEP headers), so there is no SharedArrayBuffer and the kernels run on one thread";
  threadsInfo.className = info.threads === 1 && !self.crossOriginIsolated ? "note" : "";
  const m = info.memory;
  memory.textContent = `${mib(m.total)} (weights ${mib(m.weights)}, KV cache ${mib(m.kvCache)} for ${info.contextLength} positions, scratch ${mib(m.scratch)})`;
}

isolation.textContent = self.crossOriginIsolated
  ? `cross-origin isolated: SharedArrayBuffer available, ${navigator.hardwareConcurrency} cores`
  : "not cross-origin isolated: one thread only";
threadsInput.value = String(navigator.hardwareConcurrency || 1);

async function load(model: string | File): Promise<void> {
  running?.abort();
  await engine?.dispose();
  engine = undefined;
  state.info = undefined;
  errorBox.textContent = "";
  setState("loading");
  const name = typeof model === "string" ? model : model.name;
  loadStatus.textContent = `Loading ${name}…`;
  progressBar.value = 0;
  const started = performance.now();
  try {
    engine = await createEngine({
      model,
      backend: backendSelect.value as BackendChoice,
      threads: Math.max(1, Number(threadsInput.value) || 1),
      onProgress: (p: LoadProgress) => {
        progressBar.value = p.total > 0 ? p.loaded / p.total : 0;
        loadStatus.textContent =
          p.phase === "ready" ? `Loaded ${name}` : `${p.phase === "read" ? "Reading" : "Uploading"} ${name}: ${mib(p.loaded)} of ${mib(p.total)}`;
      },
    });
    progressBar.value = 1;
    const info = await engine.info();
    const arch = info.model.architecture;
    loadStatus.textContent = `Loaded ${name} (${arch}) in ${((performance.now() - started) / 1000).toFixed(1)} s`;
    showInfo(info);
    setState("ready");
  } catch (e) {
    engine = undefined;
    showError(e);
  }
}

async function generate(): Promise<void> {
  if (!engine) return;
  const prompt = promptInput.value;
  running = new AbortController();
  setState("generating");
  errorBox.textContent = "";
  output.replaceChildren(Object.assign(document.createElement("span"), { className: "prompt", textContent: prompt }));
  const generated = output.appendChild(document.createElement("span"));
  speed.textContent = "…";
  try {
    const stream = engine.generate(prompt, {
      maxTokens: Math.max(1, Number(maxTokensInput.value) || 1),
      temperature: Math.max(0, Number(temperatureInput.value) || 0),
      signal: running.signal,
    });
    let tokens = 0;
    let first = 0;
    state.chunks = 0;
    for await (const chunk of stream) {
      generated.textContent += chunk.text;
      state.chunks = ++tokens;
      if (tokens === 1) first = performance.now();
      else speed.textContent = `${((tokens - 1) / ((performance.now() - first) / 1000)).toFixed(1)} tokens/s so far`;
    }
    const r = await stream.result;
    state.text = r.text;
    state.stopReason = r.stopReason;
    speed.textContent =
      `${r.stats.decodeTokensPerSecond.toFixed(1)} tokens/s decode, ${r.stats.prefillTokensPerSecond.toFixed(1)} tokens/s prefill ` +
      `(${r.stats.generatedTokens} tokens, first after ${r.stats.timeToFirstTokenMs.toFixed(0)} ms; stopped: ${r.stopReason})`;
    showInfo(await engine.info());
    setState("done");
  } catch (e) {
    showError(e);
  } finally {
    running = undefined;
  }
}

fileInput.addEventListener("change", () => {
  const file = fileInput.files?.[0];
  if (file) void load(file);
});
loadUrlButton.addEventListener("click", () => void load(new URL(STORIES_URL, location.href).href));
generateButton.addEventListener("click", () => void generate());
stopButton.addEventListener("click", () => running?.abort());

// Driven by the URL (the browser tests, or a link to share).
const params = new URLSearchParams(location.search);
for (const [param, input] of [["backend", backendSelect], ["threads", threadsInput], ["prompt", promptInput], ["maxTokens", maxTokensInput]] as const) {
  const v = params.get(param);
  if (v !== null) input.value = v;
}
const modelParam = params.get("model");
if (modelParam !== null) {
  void load(new URL(modelParam, location.href).href).then(() => {
    if (params.get("run") === "1" && engine) return generate();
  });
}
