// The browser demo: a GGUF model in a Web Worker (createEngine from ternion/inline, so that the wasm and the
// worker come inside this one bundle), its load progress, tokens streaming, speed, backend and memory; a
// fine-tune tab trains a ternary student from the loaded model (engine.finetune) with a live loss chart.
// A model named by reference (`hf:owner/repo/file.gguf`, an http(s) URL, or a path on this server) is downloaded
// into the browser's model cache on first use and read from it afterwards; the cached models are listed with
// their size and a button that deletes them.
// Query parameters drive it without clicks (the browser tests use them): model (a path, a URL or an hf:
// reference), hub (the hub's base URL for hf:), backend, threads, prompt, maxTokens, ftSteps, ftBatch, ftSeqLen,
// ftMode; run=1 generates once the model is loaded, and run=finetune fine-tunes on the TinyStories sample.
import {
  createEngine,
  deleteBrowserCachedModel,
  listBrowserCachedModels,
  openBrowserCachedModel,
  type BackendChoice,
  type CachedModel,
  type Engine,
  type EngineFinetuneOptions,
  type EngineInfo,
  type LoadProgress,
} from "ternion/inline";

type FinetuneProgress = Parameters<NonNullable<EngineFinetuneOptions["onProgress"]>>[0];

const STORIES_URL = "/models/stories260K.gguf";
const SAMPLE_URL = "/corpus/tinystories_sample.txt";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const fileInput = $<HTMLInputElement>("file");
const loadUrlButton = $<HTMLButtonElement>("load-url");
const modelRefInput = $<HTMLInputElement>("model-ref");
const loadRefButton = $<HTMLButtonElement>("load-ref");
const cachedList = $<HTMLUListElement>("cached-models");
const cacheUsage = $("cache-usage");
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
const tabs = { generate: $<HTMLButtonElement>("tab-generate"), finetune: $<HTMLButtonElement>("tab-finetune") };
const panels = { generate: $("generate-panel"), finetune: $("finetune-panel") };
const ftData = $<HTMLTextAreaElement>("ft-data");
const ftSample = $<HTMLButtonElement>("ft-sample");
const ftDataFree = $<HTMLInputElement>("ft-data-free");
const ftSteps = $<HTMLInputElement>("ft-steps");
const ftMode = $<HTMLSelectElement>("ft-mode");
const ftBatch = $<HTMLInputElement>("ft-batch");
const ftSeqLen = $<HTMLInputElement>("ft-seq-len");
const ftStart = $<HTMLButtonElement>("ft-start");
const ftStop = $<HTMLButtonElement>("ft-stop");
const ftStatus = $("ft-status");
const ftDownload = $<HTMLAnchorElement>("ft-download");
const ftUse = $<HTMLButtonElement>("ft-use");
const lossCurves = document.getElementById("loss-curves") as unknown as SVGGElement;
const lossLegend = $("loss-legend");
const lossOne = document.getElementById("loss-one") as unknown as SVGLineElement;
const lossMax = document.getElementById("loss-max") as unknown as SVGTextElement;
const lossMin = document.getElementById("loss-min") as unknown as SVGTextElement;
const lossSteps = document.getElementById("loss-steps") as unknown as SVGTextElement;

/** What the page shows, also kept for scripts (the browser tests read it). */
interface DemoState {
  info?: EngineInfo;
  text?: string;
  /** Chunks the stream delivered (one per token). */
  chunks?: number;
  stopReason?: string;
  crossOriginIsolated: boolean;
  error?: string;
  /** The last fine-tuning run: its losses as they came, and the student's size. */
  finetune?: { losses: number[]; relativeLosses?: number[]; steps?: number; tokensPerSecond?: number; studentBytes?: number; warnings?: string[] };
  /** The models in the browser's cache, as the list shows them. */
  cached?: CachedModel[];
  /** The last download's progress events (a model read from the cache has none). */
  downloads?: number;
}
const state: DemoState = { crossOriginIsolated: self.crossOriginIsolated };
(window as unknown as { demo: DemoState }).demo = state;
// The model cache's functions, for scripts (the browser tests try the Cache API fallback through them).
(window as unknown as { ternionCache: object }).ternionCache = { openBrowserCachedModel, listBrowserCachedModels, deleteBrowserCachedModel };

let engine: Engine | undefined;
let running: AbortController | undefined;

function setState(s: "idle" | "loading" | "ready" | "generating" | "done" | "training" | "trained" | "error"): void {
  document.body.dataset.state = s;
  const busy = s === "loading" || s === "generating" || s === "training";
  generateButton.disabled = ftStart.disabled = busy || !engine;
  stopButton.disabled = s !== "generating";
  ftStop.disabled = s !== "training";
  loadUrlButton.disabled = loadRefButton.disabled = fileInput.disabled = ftUse.disabled = busy;
}

function showTab(name: keyof typeof tabs): void {
  for (const k of Object.keys(tabs) as (keyof typeof tabs)[]) {
    tabs[k].setAttribute("aria-selected", String(k === name));
    panels[k].hidden = k !== name;
  }
}

function showError(e: unknown): void {
  const err = e as { name?: string; code?: string; message?: string };
  state.error = `${err.name ?? "Error"}${err.code ? ` ${err.code}` : ""}: ${err.message ?? String(e)}`;
  errorBox.textContent = state.error;
  setState("error");
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** The hub that hf: references resolve on (?hub=, else the library's default). */
const hubEndpoint = new URLSearchParams(location.search).get("hub") ?? undefined;

/** A reference as the engine takes it: hf: and http(s) as they are, a path relative to this page. */
function modelReference(text: string): string {
  return /^(hf|https?):/i.test(text) ? text : new URL(text, location.href).href;
}

/** Redraws the list of cached models (reference, size, a delete button) and the storage estimate. */
async function showCache(): Promise<void> {
  const models = await listBrowserCachedModels();
  state.cached = models;
  cachedList.replaceChildren(
    ...models.map((m) => {
      const item = document.createElement("li");
      item.dataset.reference = m.reference;
      const remove = Object.assign(document.createElement("button"), { type: "button", textContent: "Delete" });
      remove.addEventListener("click", () => void deleteBrowserCachedModel(m.reference).then(showCache, showError));
      item.append(`${m.reference} · ${mib(m.size)} · ${m.storage}${m.sha256 ? " · sha256 checked" : ""} `, remove);
      return item;
    }),
  );
  if (models.length === 0) cachedList.append(Object.assign(document.createElement("li"), { textContent: "none" }));
  const estimate = await navigator.storage?.estimate?.();
  cacheUsage.textContent = estimate?.quota
    ? `${mib(estimate.usage ?? 0)} used of ${mib(estimate.quota)} this site may use`
    : "storage estimate unavailable";
}

/** One line for a download in progress: bytes, total, pace and time left. */
function downloadLine(p: LoadProgress): string {
  const pace = p.bytesPerSecond ? `, ${mib(p.bytesPerSecond)}/s` : "";
  const eta = p.etaSeconds !== undefined ? `, ${Math.ceil(p.etaSeconds)} s left` : "";
  return `Downloading ${p.file ?? "the model"} into the browser's cache: ${mib(p.loaded)}${p.total ? ` of ${mib(p.total)}` : ""}${pace}${eta}`;
}

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
        : info.threadsReason
          ? `1: ${info.threadsReason}` // the engine says why it could not start more (no SharedArrayBuffer here)
          : "1";
  threadsInfo.className = info.threadsReason ? "note" : "";
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
  state.downloads = 0;
  loadStatus.textContent = `Loading ${name}…`;
  progressBar.value = 0;
  const started = performance.now();
  try {
    engine = await createEngine({
      model,
      backend: backendSelect.value as BackendChoice,
      threads: Math.max(1, Number(threadsInput.value) || 1),
      ...(hubEndpoint ? { hub: { endpoint: hubEndpoint } } : {}),
      onProgress: (p: LoadProgress) => {
        progressBar.value = p.total > 0 ? p.loaded / p.total : 0;
        if (p.phase === "download") state.downloads = (state.downloads ?? 0) + 1;
        loadStatus.textContent =
          p.phase === "download"
            ? downloadLine(p)
            : p.phase === "ready"
              ? `Loaded ${name}`
              : `${p.phase === "read" ? "Reading" : "Uploading"} ${name}: ${mib(p.loaded)} of ${mib(p.total)}`;
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
  await showCache().catch(() => {});
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

/** The chart's colours, one per block (blockwise) in turn. */
const CURVE_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];

/**
 * Redraws the loss chart, one point per step. Full schedule: one curve of the loss. Blockwise: each block is
 * trained against its own target and a later block's loss is larger, so one curve would climb at every block
 * change; each block gets its own curve instead, its loss divided by the block's first-step loss (1 = the block's
 * start), and the legend says so.
 */
function drawLosses(progress: readonly FinetuneProgress[], steps: number): void {
  const blockwise = progress.length > 0 && progress[0]!.block !== undefined;
  const value = (p: FinetuneProgress) => (blockwise ? p.relativeLoss! : p.loss);
  const values = progress.map(value);
  const hi = Math.max(...values, ...(blockwise ? [1] : []));
  const lo = Math.min(...values, ...(blockwise ? [1] : []));
  const span = hi - lo || 1;
  const x = (step: number) => 40 + (556 * (step - 1)) / Math.max(1, steps - 1);
  const y = (v: number) => 20 + 180 * (1 - (v - lo) / span);
  // Consecutive steps of one block (and round) make one curve.
  const curves: FinetuneProgress[][] = [];
  for (const p of progress) {
    const last = curves.at(-1)?.at(-1);
    if (last && last.block === p.block && last.round === p.round) curves.at(-1)!.push(p);
    else curves.push([p]);
  }
  lossCurves.replaceChildren(
    ...curves.map((c) => {
      const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
      line.setAttribute("class", "loss-curve");
      if (blockwise) line.dataset.block = String(c[0]!.block);
      line.setAttribute("stroke", blockwise ? CURVE_COLOURS[c[0]!.block! % CURVE_COLOURS.length]! : "#0a66c2");
      line.setAttribute("points", c.map((p) => `${x(p.step).toFixed(1)},${y(value(p)).toFixed(1)}`).join(" "));
      return line;
    }),
  );
  // Blockwise: a dashed line at ×1, where each block started.
  lossOne.setAttribute("visibility", blockwise ? "visible" : "hidden");
  for (const a of ["y1", "y2"]) lossOne.setAttribute(a, y(1).toFixed(1));
  const label = (v: number) => (blockwise ? `×${v.toFixed(3)}` : v.toFixed(3));
  lossMax.textContent = progress.length ? label(hi) : "";
  lossMin.textContent = progress.length ? label(lo) : "";
  lossSteps.textContent = `step ${progress.length} of ${steps}`;
  const blocks = [...new Set(progress.map((p) => p.block))];
  lossLegend.replaceChildren(
    blockwise
      ? "Blockwise: one curve per block, each block's loss divided by its loss at the block's first step (1 = where the block started, lower is better). " +
          "Each block is trained against its own target, so the blocks' losses are not on one scale. "
      : progress.length
        ? "Loss per step (cross-entropy + OFF)."
        : "",
    ...(blockwise
      ? blocks.map((b) => {
          const key = document.createElement("span");
          key.className = "legend-key";
          key.style.color = CURVE_COLOURS[b! % CURVE_COLOURS.length]!;
          key.textContent = `■ block ${b} `;
          return key;
        })
      : []),
  );
}

let student: Uint8Array | undefined;

async function finetune(): Promise<void> {
  if (!engine) return;
  const dataFree = ftDataFree.checked;
  if (!dataFree && ftData.value.trim() === "") ftData.value = await (await fetch(SAMPLE_URL)).text();
  const steps = Math.max(1, Number(ftSteps.value) || 1);
  running = new AbortController();
  setState("training");
  errorBox.textContent = "";
  ftDownload.hidden = ftUse.hidden = true;
  const losses: number[] = [];
  const progress: FinetuneProgress[] = [];
  state.finetune = { losses, relativeLosses: [] };
  drawLosses([], steps);
  ftStatus.textContent = "Starting…";
  try {
    const r = await engine.finetune({
      ...(dataFree ? { dataFree: true } : { data: ftData.value }),
      steps,
      mode: ftMode.value as "blockwise" | "full",
      batch: Math.max(1, Number(ftBatch.value) || 1),
      seqLen: Math.max(2, Number(ftSeqLen.value) || 2),
      threads: Math.max(1, state.info?.threads ?? 1),
      signal: running.signal,
      onPhase: (phase) => (ftStatus.textContent = `${phase}…`),
      onProgress: (p: FinetuneProgress) => {
        losses.push(p.loss);
        progress.push(p);
        if (p.relativeLoss !== undefined) state.finetune!.relativeLosses!.push(p.relativeLoss);
        drawLosses(progress, p.steps);
        const block =
          p.block === undefined ? "" : ` · block ${p.block} step ${p.blockStep}/${p.blockSteps} (×${p.relativeLoss!.toFixed(3)} of its start)`;
        ftStatus.textContent = `step ${p.step}/${p.steps}${block} · loss ${p.loss.toFixed(4)} · ${p.tokensPerSecond.toFixed(0)} tokens/s · ${p.etaSeconds.toFixed(0)} s left`;
      },
    });
    student = r.student;
    Object.assign(state.finetune, { steps: r.steps, tokensPerSecond: r.tokensPerSecond, studentBytes: r.student.length, warnings: r.warnings });
    const change = (c: number) => `${c <= 0 ? "−" : "+"}${Math.abs(100 * c).toFixed(1)} %`;
    const result = r.blockLosses
      ? `loss per block from its first to its last step: ${r.blockLosses.map((b) => `block ${b.block} ${change(b.change)}`).join(", ")}`
      : `loss ${r.loss.toFixed(4)} (mean of the last tenth)`;
    ftStatus.textContent =
      `Done: ${r.steps} ${r.mode} steps, ${result}, ${r.tokensPerSecond.toFixed(0)} training tokens/s; student ${mib(r.student.length)}` +
      r.warnings.map((w) => ` · ${w}`).join("");
    if (ftDownload.href) URL.revokeObjectURL(ftDownload.href);
    ftDownload.href = URL.createObjectURL(new Blob([r.student as Uint8Array<ArrayBuffer>], { type: "application/octet-stream" }));
    ftDownload.hidden = ftUse.hidden = false;
    setState("trained");
  } catch (e) {
    if ((e as Error).name !== "AbortError") showError(e);
    else {
      ftStatus.textContent = `Stopped after ${losses.length} of ${steps} steps.`;
      setState("ready");
    }
  } finally {
    running = undefined;
  }
}

tabs.generate.addEventListener("click", () => showTab("generate"));
tabs.finetune.addEventListener("click", () => showTab("finetune"));
ftSample.addEventListener("click", () => void fetch(SAMPLE_URL).then(async (r) => (ftData.value = await r.text())));
ftStart.addEventListener("click", () => void finetune());
ftStop.addEventListener("click", () => running?.abort());
ftUse.addEventListener("click", () => {
  if (student) void load(new File([student as Uint8Array<ArrayBuffer>], "student.gguf")).then(() => showTab("generate"));
});

fileInput.addEventListener("change", () => {
  const file = fileInput.files?.[0];
  if (file) void load(file);
});
loadUrlButton.addEventListener("click", () => void load(new URL(STORIES_URL, location.href).href));
loadRefButton.addEventListener("click", () => {
  if (modelRefInput.value.trim() !== "") void load(modelReference(modelRefInput.value.trim()));
});
void showCache().catch(() => {});
generateButton.addEventListener("click", () => void generate());
stopButton.addEventListener("click", () => running?.abort());

// Driven by the URL (the browser tests, or a link to share).
const params = new URLSearchParams(location.search);
const inputs = [
  ["backend", backendSelect],
  ["threads", threadsInput],
  ["prompt", promptInput],
  ["maxTokens", maxTokensInput],
  ["ftSteps", ftSteps],
  ["ftBatch", ftBatch],
  ["ftSeqLen", ftSeqLen],
  ["ftMode", ftMode],
] as const;
for (const [param, input] of inputs) {
  const v = params.get(param);
  if (v !== null) input.value = v;
}
const modelParam = params.get("model");
if (modelParam !== null) {
  modelRefInput.value = modelParam;
  void load(modelReference(modelParam)).then(() => {
    if (!engine) return;
    if (params.get("run") === "1") return generate();
    if (params.get("run") === "finetune") {
      showTab("finetune");
      return finetune();
    }
  });
}
