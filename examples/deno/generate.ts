// Streams a continuation of a prompt, the model running in this thread (createLocalEngine), under Deno.
// Run: deno run --allow-read examples/deno/generate.ts [model.gguf] [prompt]      (after `npm run build`)
import { createLocalEngine } from "ternion"; // the package itself, by name (package.json "exports", "deno" condition)

const model = Deno.args[0] ?? new URL("../../../shared/models/stories260K.gguf", import.meta.url);
const prompt = Deno.args[1] ?? "Once upon a time";
const out = (text: string) => Deno.stdout.writeSync(new TextEncoder().encode(text));

const engine = await createLocalEngine({ model });
try {
  const stream = engine.generate(prompt, { maxTokens: 40, temperature: 0 });
  out(prompt);
  for await (const chunk of stream) out(chunk.text);
  const { stats, stopReason } = await stream.result;
  console.log(
    `\n\n${stats.generatedTokens} tokens at ${stats.decodeTokensPerSecond.toFixed(0)} tokens/s ` +
      `(${stats.backend}, ${stats.threads} threads, ${stats.simd}), stopped: ${stopReason}`,
  );
} finally {
  await engine.dispose();
}
