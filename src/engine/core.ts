// The engine's state and its calls, in the thread that runs the model: the loaded model and where it came from,
// the queue of calls, the token ids in the KV cache (reused when the next prompt extends them), the chat
// template, and the fallback to wasm after a lost GPU device. createLocalEngine calls it directly; the worker
// (engine-worker.ts) hosts one and createEngine calls it through comlink. Every method takes a CallContext:
// the call's signal and a sink for its events (chunks, progress), which is what crosses the worker boundary.
import { AbortError, EngineError, GpuError, OptionError } from "../runtime/errors.ts";
import { generate, type GenerateChunk, type GenerateOptions } from "./generate.ts";
import { plainScalar } from "../runtime/gguf/metadata.ts";
import type { ByteSource } from "../runtime/gguf/source.ts";
import type { GgufModel } from "../runtime/gguf/split.ts";
import type { GgufMetadata } from "../runtime/gguf/metadata.ts";
import { GgufValueType } from "../runtime/gguf/types.ts";
import { perplexity, type PerplexityResult } from "../runtime/model/perplexity.ts";
import type { DecodeOptions, EncodeOptions, Tokenizer } from "../runtime/tokenizer/types.ts";
import { anySignal } from "./signals.ts";
import { loadOnBackend } from "./backend.ts";
import { CallQueue } from "./call-queue.ts";
import { ChatTemplate } from "./chat-template.ts";
import { type ChatFitMemory, fitChat } from "./chat-fit.ts";
import { shiftsContext } from "./context-shift.ts";
import type { ChatMessage } from "./chat-types.ts";
import type { FinetuneProgress } from "../train/finetune-run.ts";
import type {
  BackendChoice,
  Completion,
  EngineFinetuneOptions,
  EngineFinetuneResult,
  EngineGenerateOptions,
  EngineInfo,
  LoadProgress,
  ModelInput,
  ModelLoadOptions,
} from "./engine.ts";
import { GpuLanguageModel } from "../gpu/language-model.ts";
import type { LanguageModel } from "../runtime/model/language-model.ts";
import { openModel, tracked } from "./model-source.ts";

export type EngineEvent =
  | { type: "chunk"; chunk: GenerateChunk }
  | { type: "progress"; progress: LoadProgress }
  | { type: "window"; window: number; windows: number; ppl: number }
  | { type: "finetune"; progress: FinetuneProgress }
  | { type: "checkpoint"; checkpoint: Uint8Array; step: number }
  | { type: "phase"; phase: string }
  | { type: "notice"; message: string };

export interface CallContext {
  signal: AbortSignal;
  emit(event: EngineEvent): void;
  /**
   * Whether the call was cancelled where the signal cannot tell yet: a worker busy in synchronous work (a chat
   * template's render) reads its caller's shared flag through this (engine-host.ts).
   */
  interrupted?(): boolean;
}

export interface CoreLoadOptions extends ModelLoadOptions {
  model: ModelInput | ByteSource;
}

/** finetune's options as they cross to the core: no signal, no callbacks (events carry the progress). */
export type WireFinetuneOptions = Omit<EngineFinetuneOptions, "signal" | "onProgress" | "onPhase" | "onCheckpoint" | "onNotice">;

/** generate's options as they cross to the core: no signal (the call's context carries it). */
export type WireGenerateOptions = Omit<EngineGenerateOptions, "signal">;

/** A completion, or a chat turn when `messages` is set (rendered with the chat template). */
export interface GenerateRequest {
  /** Text, or token ids used as they are. */
  prompt?: string | readonly number[];
  messages?: readonly ChatMessage[];
  options?: WireGenerateOptions;
}

const neverAborted = new AbortController().signal;
export const silentContext: CallContext = { signal: neverAborted, emit: () => {} };

export class EngineCore {
  private model: LanguageModel | undefined;
  private tokenizer!: Tokenizer;
  private metadata!: GgufMetadata;
  private template!: ChatTemplate | Error;
  private backendReason = "";
  /** The token ids in the model's KV cache. */
  private sequence: number[] = [];
  /** The last chat's messages and how many of them its prompt left out (chat-fit.ts). */
  private chatFit: ChatFitMemory | undefined;
  /** Set when the GPU device is lost: "auto" reloads on wasm before the next call, "webgpu" fails the calls. */
  private lost: GpuError | undefined;
  private readonly queue = new CallQueue();
  private readonly disposal = new AbortController();
  /** The running call (settled: its errors are the caller's). */
  private current: Promise<unknown> = Promise.resolve();

  private constructor(private readonly options: CoreLoadOptions) {}

  /** Reads and loads the model (progress and cancellation through `ctx`). */
  static async load(options: CoreLoadOptions, ctx: CallContext = silentContext): Promise<EngineCore> {
    if (typeof options !== "object" || options === null || options.model === undefined)
      throw new OptionError("BAD_OPTION", "options.model is required");
    const core = new EngineCore({ ...options });
    await core.loadModel(options.backend ?? "auto", undefined, ctx);
    return core;
  }

  /** Continues `prompt` (or the chat in `messages`), streaming chunks as events. Queued. */
  generate(ctx: CallContext, request: GenerateRequest): Promise<Completion> {
    return this.queued(
      ctx,
      async (signal) => {
        const model = await this.ready(ctx);
        const { options, stop } = toGenerateOptions(request.options ?? {});
        let prompt: string | number[];
        let extraStop: readonly string[] = [];
        let droppedMessages: number | undefined;
        if (request.messages !== undefined) {
          const template = this.chatTemplate();
          extraStop = template.stop;
          const render = { signal, interrupted: () => ctx.interrupted?.() ?? false };
          try {
            if (shiftsContext(options.contextShift)) {
              // The oldest turns leave the prompt when it would not fit; a shift mid-answer keeps the system prompt.
              const fit = fitChat(template, model.tokenizer, request.messages, model.contextLength, options.maxTokens ?? 256, this.chatFit, render);
              // A copy: the caller may push its next turn onto the same array.
              this.chatFit = { messages: request.messages.map((m) => ({ ...m })), dropped: fit.dropped };
              prompt = fit.tokens;
              options.contextKeep ??= fit.keep;
              droppedMessages = fit.dropped;
            } else prompt = template.tokenize(model.tokenizer, template.render(request.messages, render));
          } catch (e) {
            if (e instanceof AbortError) return this.abortedCompletion(); // as a generation aborted mid-way ends
            throw e;
          }
        } else {
          this.chatFit = undefined;
          const p = request.prompt;
          if (typeof p !== "string" && !Array.isArray(p)) throw new OptionError("BAD_OPTION", "prompt must be a string or an array of token ids");
          prompt = typeof p === "string" ? p : [...p];
        }
        try {
          const r = await generate(model, prompt, {
            ...options,
            stop: [...stop, ...extraStop],
            signal,
            cached: this.sequence,
            onToken: (chunk) => ctx.emit({ type: "chunk", chunk }),
          });
          this.sequence = r.sequence;
          const stats = droppedMessages === undefined ? r.stats : { ...r.stats, droppedMessages };
          return { text: r.text, tokens: r.tokens, stopReason: r.stopReason, stats };
        } catch (e) {
          this.sequence = [];
          this.chatFit = undefined;
          throw e;
        }
      },
      () => this.abortedCompletion(),
    );
  }

  tokenize(_ctx: CallContext, text: string, options?: EncodeOptions): Promise<number[]> {
    return this.now(() => {
      if (typeof text !== "string") throw new OptionError("BAD_OPTION", "text must be a string");
      return this.tokenizer.encode(text, options);
    });
  }

  detokenize(_ctx: CallContext, tokens: readonly number[], options?: DecodeOptions): Promise<string> {
    return this.now(() => {
      const vocab = this.tokenizer.vocabSize;
      for (const t of tokens) {
        if (!Number.isInteger(t) || t < 0 || t >= vocab)
          throw new OptionError("BAD_TOKEN", `token id ${t} is outside the vocabulary (0 … ${vocab - 1})`);
      }
      return this.tokenizer.decode(tokens, options);
    });
  }

  /** The chat's prompt text, rendered now (not queued) under the template's budget. */
  applyChatTemplate(ctx: CallContext, messages: readonly ChatMessage[]): Promise<string> {
    return this.now(() => {
      const signal = anySignal(ctx.signal, this.disposal.signal);
      return this.chatTemplate().render(messages, { signal, interrupted: () => ctx.interrupted?.() ?? false });
    });
  }

  /** llama.cpp's perplexity (runtime/model/perplexity.ts); each window's running value as a "window" event. Queued. */
  perplexity(ctx: CallContext, text: string, options: { ctx?: number } = {}): Promise<PerplexityResult> {
    return this.queued(
      ctx,
      async (signal) => {
        const model = await this.ready(ctx);
        this.sequence = [];
        return perplexity(model, text, {
          ctx: options.ctx,
          signal,
          onWindow: (window, windows, ppl) => ctx.emit({ type: "window", window, windows, ppl }),
        });
      },
      () => Promise.reject(new AbortError("perplexity was aborted")),
    );
  }

  /**
   * Fine-tunes a ternary student from the float teacher (default: this engine's model file) with
   * train/finetune-run.ts, each step's progress as a "finetune" event. Queued. The training code is imported
   * on the first call, so that an engine that never trains does not evaluate it.
   */
  finetune(ctx: CallContext, options: WireFinetuneOptions): Promise<EngineFinetuneResult> {
    return this.queued(
      ctx,
      async (signal) => {
        if (typeof options !== "object" || options === null) throw new OptionError("BAD_OPTION", "finetune options must be an object");
        const { teacher, data, resumeFrom, ...training } = options;
        for (const key of ["resume", "checkpoints", "dataText", "onProgress", "onPhase", "onCheckpoint", "onNotice", "signal"]) {
          if (key in training)
            throw new OptionError("UNKNOWN_OPTION", `unknown finetune option "${key}" (to resume, pass a checkpoint as resumeFrom)`);
        }
        if (data !== undefined && typeof data !== "string") throw new OptionError("BAD_OPTION", "data must be a string (the training text)");
        if (resumeFrom !== undefined && !(resumeFrom instanceof Uint8Array))
          throw new OptionError("BAD_OPTION", "resumeFrom must be the bytes of a checkpoint (Uint8Array)");
        this.loaded();
        // Opened as the engine's model is (a split model's parts together) and read one tensor at a time.
        const opened = await openModel(teacher ?? this.options.model, {
          hub: this.options.hub,
          cache: this.options.cache,
          cacheDir: this.options.cacheDir,
          signal,
        });
        try {
          return await this.finetuneFrom(ctx, signal, opened, { ...training, data, resumeFrom });
        } finally {
          await opened.close();
        }
      },
      () => Promise.reject(new AbortError("fine-tuning was aborted")),
    );
  }

  private async finetuneFrom(
    ctx: CallContext,
    signal: AbortSignal,
    teacher: GgufModel,
    { data, resumeFrom, ...training }: Omit<WireFinetuneOptions, "teacher">,
  ): Promise<EngineFinetuneResult> {
    const [{ runFinetune }, { writeGgufToBytes }, { encodeCheckpoint }] = await Promise.all([
      import("../train/finetune-run.ts"),
      import("../runtime/gguf/writer.ts"),
      import("../train/checkpoint.ts"),
    ]);
    // Checkpoints go to the caller as events (bytes); a resume reads the one the caller hands back, and one that
    // fails verification rejects the call with CheckpointError BAD_CHECKPOINT (there is no other to fall back to).
    const name = "the checkpoint passed as resumeFrom";
    const checkpoints = {
      name,
      load: async () => (resumeFrom ? [{ name, bytes: async () => resumeFrom }] : []),
      save: async (c: Parameters<typeof encodeCheckpoint>[0], step: number) =>
        ctx.emit({ type: "checkpoint", checkpoint: encodeCheckpoint(c), step }),
    };
    try {
      const { student, ...result } = await runFinetune(
        { ...training, teacher, dataText: data, checkpoints, resume: resumeFrom !== undefined },
        {
          signal,
          onProgress: (progress) => ctx.emit({ type: "finetune", progress }),
          onPhase: (phase) => ctx.emit({ type: "phase", phase }),
          onNotice: (message) => ctx.emit({ type: "notice", message }),
        },
      );
      return { ...result, student: await writeGgufToBytes(student) };
    } catch (e) {
      // runFinetune stops between two steps with OptionError ABORTED; the engine's calls end with AbortError.
      if (signal.aborted && e instanceof OptionError && e.code === "ABORTED") throw new AbortError(e.message);
      throw e;
    }
  }

  info(_ctx: CallContext): Promise<EngineInfo> {
    return this.now(() => {
      const model = this.loaded();
      const b = model.backendInfo();
      const info: EngineInfo = {
        backend: b.backend,
        backendReason: this.backendReason,
        threads: b.threads,
        simd: b.simd,
        contextLength: model.contextLength,
        kvType: b.kvType,
        model: { ...model.config, rope: { ...model.config.rope } },
        metadata: scalarMetadata(this.metadata),
        chatTemplate: this.template instanceof ChatTemplate ? this.template.source : "gguf",
        memory: b.memory,
        cachedTokens: this.sequence.length,
      };
      if (b.adapter !== undefined) info.adapter = b.adapter;
      if (b.threadsReason !== undefined) info.threadsReason = b.threadsReason;
      if (b.simdReason !== undefined) info.simdReason = b.simdReason;
      return info;
    });
  }

  /** Loads the model again (on `backend`, else the backend chosen at load). Queued. */
  restart(ctx: CallContext, options: { backend?: BackendChoice } = {}): Promise<void> {
    return this.queued(
      ctx,
      async () => {
        if (options.backend !== undefined) this.options.backend = options.backend;
        await this.loadModel(this.options.backend ?? "auto", undefined, ctx);
      },
      () => Promise.reject(new AbortError("restart was aborted")),
    );
  }

  /** Ends the running call, rejects the waiting ones with EngineError DISPOSED, frees the model. */
  async dispose(): Promise<void> {
    if (this.disposal.signal.aborted) return;
    this.disposal.abort();
    this.queue.failWaiting(new EngineError("DISPOSED", "the engine was disposed"));
    await this.current.catch(() => {});
    this.model?.dispose();
    this.model = undefined;
  }

  // ---- internals ----

  private async loadModel(backend: BackendChoice, why: string | undefined, ctx: CallContext): Promise<void> {
    this.model?.dispose();
    this.model = undefined;
    this.sequence = [];
    this.chatFit = undefined;
    this.lost = undefined;
    const { signal, emit } = ctx;
    if (signal.aborted) throw new AbortError("the model load was aborted");
    const opened = await openModel(this.options.model, {
      hub: this.options.hub,
      cache: this.options.cache,
      cacheDir: this.options.cacheDir,
      signal,
      onDownload: (p) => emit({ type: "progress", progress: { phase: "download", ...p } }),
    });
    try {
      const { header } = opened;
      const source = tracked(opened.source, (loaded, total) => emit({ type: "progress", progress: { phase: "read", loaded, total } }), signal);
      const loaded = await loadOnBackend(
        source,
        { ...this.options, backend },
        {
          header,
          why,
          onUpload: (loaded, total) => emit({ type: "progress", progress: { phase: "upload", loaded, total } }),
        },
      );
      if (signal.aborted || this.disposal.signal.aborted) {
        loaded.model.dispose();
        throw new AbortError("the model load was aborted");
      }
      this.model = loaded.model;
      this.tokenizer = loaded.model.tokenizer;
      this.backendReason = loaded.backendReason;
      this.metadata = header.metadata;
      try {
        this.template = ChatTemplate.fromGguf(header.metadata, loaded.model.tokenizer, loaded.model.contextLength);
      } catch (e) {
        this.template = e as Error; // a chat fails with it; everything else works
      }
      this.watchDevice(loaded.model);
      emit({ type: "progress", progress: { phase: "ready", loaded: source.size, total: source.size } });
    } finally {
      await opened.close();
    }
  }

  /** A GPU model's device loss is noted as it happens, so that the next call need not fail on it. */
  private watchDevice(model: LanguageModel): void {
    if (!(model instanceof GpuLanguageModel)) return;
    void model.model.ctx.lost.then((info) => {
      if (this.model === model)
        this.lost ??= new GpuError("DEVICE_LOST", `the GPU device was lost (${info.reason}): ${info.message || "no message"}`);
    });
  }

  /** The model to run the next call on: after a lost device, "auto" reloads on wasm; "webgpu" fails. */
  private async ready(ctx: CallContext): Promise<LanguageModel> {
    if (this.disposal.signal.aborted) throw new EngineError("DISPOSED", "the engine was disposed");
    if (this.lost) {
      if ((this.options.backend ?? "auto") !== "auto") throw this.lost;
      const why = `auto: the WebGPU device was lost (${this.lost.message}); wasm`;
      await this.loadModel("wasm", why, { signal: neverAborted, emit: ctx.emit });
    }
    return this.loaded();
  }

  private loaded(): LanguageModel {
    if (!this.model) throw new EngineError(this.disposal.signal.aborted ? "DISPOSED" : "NOT_LOADED", "the engine has no model loaded");
    return this.model;
  }

  private chatTemplate(): ChatTemplate {
    if (this.template instanceof Error) throw this.template;
    return this.template;
  }

  /** A call that runs now (it reads only the tokenizer and the loaded state). */
  private async now<T>(f: () => T): Promise<T> {
    if (this.disposal.signal.aborted) throw new EngineError("DISPOSED", "the engine was disposed");
    if (!this.model) await this.current.catch(() => {}); // a reload in progress
    return f();
  }

  /** Runs `task` in turn; its signal fires on the call's abort or on dispose. A GPU device loss is noted. */
  private queued<T>(ctx: CallContext, task: (signal: AbortSignal) => Promise<T>, cancelled: () => T | Promise<T>): Promise<T> {
    if (this.disposal.signal.aborted) return Promise.reject(new EngineError("DISPOSED", "the engine was disposed"));
    const signal = anySignal(ctx.signal, this.disposal.signal);
    return this.queue.run(
      async () => {
        const running = task(signal);
        this.current = running.catch(() => {});
        try {
          return await running;
        } catch (e) {
          if (e instanceof GpuError && e.code === "DEVICE_LOST") this.lost ??= e;
          throw e;
        }
      },
      ctx.signal,
      cancelled,
    );
  }

  private abortedCompletion(): Completion {
    const b = this.model?.backendInfo();
    return {
      text: "",
      tokens: [],
      stopReason: "abort",
      stats: {
        promptTokens: 0,
        cachedTokens: 0,
        generatedTokens: 0,
        prefillTokensPerSecond: 0,
        decodeTokensPerSecond: 0,
        timeToFirstTokenMs: 0,
        backend: b?.backend ?? "wasm",
        threads: b?.threads ?? 0,
        simd: b?.simd ?? "none",
        contextShifts: 0,
        shiftedTokens: 0,
      },
    };
  }
}

/** The engine's generate options as the loop's, with the stop strings apart; OptionError for a key it does not know. */
function toGenerateOptions(o: WireGenerateOptions): { options: Omit<GenerateOptions, "stop">; stop: string[] } {
  if (typeof o !== "object" || o === null) throw new OptionError("BAD_OPTION", "generate options must be an object");
  const { maxTokens, stop = [], addBos, ignoreEos, repetitionPenalty, ...sampling } = o as WireGenerateOptions & Record<string, unknown>;
  if (ignoreEos !== undefined && typeof ignoreEos !== "boolean") throw new OptionError("BAD_OPTION_VALUE", "ignoreEos must be a boolean");
  for (const internal of ["onText", "onToken", "cached", "signal"]) {
    if (internal in sampling) throw new OptionError("UNKNOWN_OPTION", `unknown generate option "${internal}"`);
  }
  if (!Array.isArray(stop) || !stop.every((s) => typeof s === "string"))
    throw new OptionError("BAD_OPTION_VALUE", "stop must be an array of strings");
  if (repetitionPenalty !== undefined) {
    if (sampling.repeatPenalty !== undefined && sampling.repeatPenalty !== repetitionPenalty) {
      throw new OptionError("BAD_OPTION_VALUE", "repetitionPenalty and repeatPenalty are the same option: give one");
    }
    sampling.repeatPenalty = repetitionPenalty;
  }
  return { options: { maxTokens, addBos, ignoreEos, ...sampling }, stop: [...stop] };
}

/** The metadata's scalars as plain values (u64/i64 as numbers where exact, else strings); arrays are left out. */
function scalarMetadata(meta: GgufMetadata): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [key, v] of meta) {
    if (v.type === GgufValueType.ARRAY) continue;
    const x = plainScalar(v);
    out[key] = typeof x === "bigint" ? (Number.isSafeInteger(Number(x)) ? Number(x) : x.toString()) : x;
  }
  return out;
}
