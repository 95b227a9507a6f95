// The model in a worker thread (createEngine): this thread stays free while the model loads and computes.
// Shows load progress, calls that queue in order, a cancelled generation, and a typed error from the worker.
// Run: node examples/node/worker.mjs [model.gguf]      (after `npm run build`)
import { fileURLToPath } from "node:url";
import { createEngine, ContextError } from "ternion";

const model = process.argv[2] ?? fileURLToPath(new URL("../../../shared/models/stories260K.gguf", import.meta.url));

const engine = await createEngine({
  model,
  onProgress: ({ phase, total }) => {
    if (phase === "ready") console.log(`loaded ${total} bytes`);
  },
});
try {
  const info = await engine.info();
  console.log(
    `${info.model.architecture}, ${info.model.layers} layers, context ${info.contextLength}: ${info.backend} (${info.backendReason}), ${info.threads} threads`,
  );

  // Calls made together run one after the other, in the order they were made.
  const [a, b] = await Promise.all([
    engine.complete("Once upon a time", { maxTokens: 20, temperature: 0 }),
    engine.complete("The little dog", { maxTokens: 20, temperature: 0 }),
  ]);
  console.log(`1: Once upon a time${a.text}`);
  console.log(`2: The little dog${b.text}`);

  // A signal ends a generation; the text so far is kept (stopReason "abort").
  const controller = new AbortController();
  let pieces = 0;
  const stream = engine.generate("Once upon a time", { maxTokens: 200, temperature: 0, signal: controller.signal });
  for await (const chunk of stream) if (chunk.text && ++pieces === 5) controller.abort();
  const cut = await stream.result;
  console.log(`cancelled after ${cut.tokens.length} tokens: stopReason ${cut.stopReason}`);

  // Errors keep their class and code across the worker.
  try {
    await engine.complete("once ".repeat(info.contextLength + 1));
  } catch (e) {
    console.log(`typed error: ${e instanceof ContextError ? "ContextError" : e.name} ${e.code}`);
  }
} finally {
  await engine.dispose();
}
