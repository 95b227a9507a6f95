// A two-turn chat in OpenAI's shape (engine.chat.completions.create), streamed. The history is sent whole each
// turn; the engine keeps the KV cache of the turn before, so only the new part of the prompt is evaluated.
// Run: node examples/node/chat.mjs [model.gguf]      (after `npm run build`)
import { fileURLToPath } from "node:url";
import { createLocalEngine } from "ternion";

const model = process.argv[2] ?? fileURLToPath(new URL("../../../shared/models/stories260K.gguf", import.meta.url));
const engine = await createLocalEngine({ model });
try {
  const messages = [{ role: "system", content: "You tell short stories to children." }];
  for (const question of ["Tell me about a little cat.", "What did the cat do next?"]) {
    messages.push({ role: "user", content: question });
    console.log(`> ${question}`);
    const chunks = await engine.chat.completions.create({ messages, stream: true, max_tokens: 40, temperature: 0 });
    let answer = "";
    let last;
    for await (const chunk of chunks) {
      let text = chunk.choices[0].delta.content ?? "";
      if (answer === "") text = text.trimStart(); // the reply follows "Assistant:" with a space
      answer += text;
      process.stdout.write(text);
      last = chunk; // the last chunk carries usage and stats
    }
    messages.push({ role: "assistant", content: answer.trimEnd() });
    console.log(
      `\n(${last.usage.prompt_tokens} prompt tokens, ${last.stats.cachedTokens} of them reused from the KV cache; finish: ${last.choices[0].finish_reason})\n`,
    );
  }
} finally {
  await engine.dispose();
}
