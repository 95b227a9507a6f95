// Run by test/engine-deno.test.ts under Deno: the built package's createEngine (the model in a module Worker,
// dist/engine-worker.js) and createLocalEngine on stories260K, printing one JSON line with what they produced.
import { createEngine, createLocalEngine } from "../../dist/index.js";

const model = Deno.args[0]!;
const worker = await createEngine({ model, backend: "wasm", threads: 2 });
const stream = worker.generate("Once upon a time", { temperature: 0, maxTokens: 60 });
let streamed = "";
for await (const chunk of stream) streamed += chunk.text;
const result = await stream.result;
const chat = await worker.chat.completions.create({ messages: [{ role: "user", content: "Hello" }], max_tokens: 8, temperature: 0 });
// A token id outside the vocabulary: checked in the worker, which has the model (the client checks only its type).
const typedError = await worker.detokenize([1_000_000]).catch((e: Error & { code?: string }) => `${e.name}/${e.code}`);
const info = await worker.info();
await worker.dispose();

const local = await createLocalEngine({ model, backend: "wasm", threads: 1 });
const localText = (await local.complete("Once upon a time", { temperature: 0, maxTokens: 60 })).text;
await local.dispose();

console.log(
  JSON.stringify({
    streamed,
    text: result.text,
    stats: result.stats,
    chat: chat.choices[0].message.content,
    typedError,
    backend: info.backend,
    localText,
  }),
);
