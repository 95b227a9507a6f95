// Streams a continuation of a prompt, the model running in this thread (createLocalEngine).
// Run: node examples/node/generate.mjs [model.gguf] [prompt]      (after `npm run build`)
import { fileURLToPath } from "node:url";
import { createLocalEngine } from "ternion"; // the package imports itself by name (package.json "exports")

const model = process.argv[2] ?? fileURLToPath(new URL("../../../shared/models/stories260K.gguf", import.meta.url));
const prompt = process.argv[3] ?? "Once upon a time";

const engine = await createLocalEngine({ model });
try {
  const stream = engine.generate(prompt, { maxTokens: 40, temperature: 0 });
  process.stdout.write(prompt);
  for await (const chunk of stream) process.stdout.write(chunk.text);
  const { stats, stopReason } = await stream.result;
  console.log(
    `\n\n${stats.generatedTokens} tokens at ${stats.decodeTokensPerSecond.toFixed(0)} tokens/s ` +
      `(${stats.backend}, ${stats.threads} threads, ${stats.simd}), stopped: ${stopReason}`,
  );
} finally {
  await engine.dispose();
}
