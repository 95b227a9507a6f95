// `ternion serve [--model M] [--host H] [--port N] [--api-key KEY] [--cors ORIGIN] [--threads N] [--backend B]
// [--ctx N] [--max-queue N] [--max-tokens N]`: an OpenAI-compatible HTTP server (src/server) over one engine with the model in a
// worker. Prints the address on stdout once it listens and one line per request on stderr; SIGINT or SIGTERM
// ends in-flight requests with an error and exits 0.
import { basename } from "node:path";
import { OptionError } from "../runtime/errors.ts";
import { startServer } from "../server/server.ts";
import { helpFlag, parseArgs, type FlagSpec } from "./args.ts";
import type { Command } from "./command.ts";
import { DEFAULT_MODEL_HELP, modelOrDefault } from "./default-model.ts";
import { backendChoice, backendFlags, headTypeChoice, headTypeFlags, kvTypeChoice, kvTypeFlags, openEngine } from "./engine-flags.ts";
import { numberFlag, optionalString } from "./flags.ts";
import { MODEL_REFERENCE_HELP, prepareModel } from "./model-reference.ts";

const flags: Record<string, FlagSpec> = {
  model: { type: "string", short: "m", description: `GGUF model to serve: ${MODEL_REFERENCE_HELP} (${DEFAULT_MODEL_HELP})` },
  host: { type: "string", description: "address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)" },
  port: { type: "string", description: "port to listen on (default 8080; 0 picks a free one)" },
  "api-key": { type: "string", description: "require `Authorization: Bearer <key>` on /v1/… (default: no key)" },
  cors: { type: "string", description: "an origin allowed to call from a browser, or * for any (default: none)" },
  ...backendFlags,
  ...headTypeFlags,
  ...kvTypeFlags,
  ctx: { type: "string", description: "context (KV cache) length in tokens (default: the model's)" },
  "max-queue": { type: "string", description: "requests that may wait behind the running one; more get 429 (default 32)" },
  "max-tokens": {
    type: "string",
    description:
      "most tokens one request may generate; a larger max_tokens is refused, a chat request without one gets it (default: the context length)",
  },
  help: helpFlag,
};

export const serveCommand: Command = {
  name: "serve",
  summary: "an OpenAI-compatible HTTP server: /v1/chat/completions, /v1/completions, /v1/models, /health",
  usage:
    "ternion serve [--model <model.gguf>] [--host 127.0.0.1] [--port 8080] [--api-key KEY] [--cors ORIGIN] " +
    "[--threads N] [--backend wasm|webgpu|auto] [--head-type stored|q8_0] [--kv-type f16|f32|q8_0] [--ctx N] [--max-queue N] [--max-tokens N]",
  flags,
  async run(argv, out) {
    const args = parseArgs(argv, flags);
    const f = args.flags;
    if (args.positionals.length) throw new OptionError("UNEXPECTED_ARGUMENT", `unexpected argument ${JSON.stringify(args.positionals[0])}`);
    const ref = modelOrDefault(f);
    const host = optionalString(f, "host") ?? "127.0.0.1";
    const port = numberFlag(f, "port", { integer: true, min: 0 }) ?? 8080;
    if (port > 65535) throw new OptionError("BAD_FLAG_VALUE", `--port must be an integer in [0, 65535], got ${port}`);
    const apiKey = optionalString(f, "api-key");
    if (apiKey === "") throw new OptionError("BAD_FLAG_VALUE", "--api-key must not be empty");
    const cors = optionalString(f, "cors");
    const threads = numberFlag(f, "threads", { integer: true, min: 1 });
    const contextLength = numberFlag(f, "ctx", { integer: true, min: 1 });
    const maxQueue = numberFlag(f, "max-queue", { integer: true, min: 0 });
    const maxTokens = numberFlag(f, "max-tokens", { integer: true, min: 1 });
    const backend = backendChoice(f);
    const { model } = await prepareModel(ref); // pulled into the cache before the worker starts

    const engine = await openEngine({ model, backend, threads, contextLength, worker: true, headType: headTypeChoice(f), kvType: kvTypeChoice(f) });
    try {
      const modelId = basename(model).replace(/\.gguf$/i, "");
      const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
      const server = await startServer({ engine, modelId, host, port, apiKey, cors, maxQueue, maxTokens, log });
      const info = await engine.info();
      const where = info.backend === "wasm" ? `wasm, ${info.threads} thread${info.threads === 1 ? "" : "s"}` : info.backend;
      out(`ternion serve: ${server.url}/v1 (model ${modelId}, ${where}, context ${info.contextLength}); Ctrl-C stops`);
      const signal = await new Promise<string>((resolve) => {
        const stop = (name: string) => () => resolve(name);
        process.once("SIGINT", stop("SIGINT"));
        process.once("SIGTERM", stop("SIGTERM"));
      });
      log(`${signal}: closing`);
      await server.close();
    } finally {
      await engine.dispose();
    }
  },
};
