// A two-turn chat in OpenAI's shape (engine.chat.completions.create), streamed, under Deno. The history is sent
// whole each turn; the engine keeps the KV cache of the turn before, so only the new part is evaluated.
// Run: deno run --allow-read examples/deno/chat.ts [model.gguf]      (after `npm run build`)
import { createLocalEngine, type ChatCompletionChunk, type ChatMessage } from "ternion";

const model = Deno.args[0] ?? new URL("../../../shared/models/stories260K.gguf", import.meta.url);
const out = (text: string) => Deno.stdout.writeSync(new TextEncoder().encode(text));

const engine = await createLocalEngine({ model });
try {
  const messages: ChatMessage[] = [{ role: "system", content: "You tell short stories to children." }];
  for (const question of ["Tell me about a little cat.", "What did the cat do next?"]) {
    messages.push({ role: "user", content: question });
    console.log(`> ${question}`);
    const chunks = await engine.chat.completions.create({ messages, stream: true, max_tokens: 40, temperature: 0 });
    let answer = "";
    let last: ChatCompletionChunk | undefined;
    for await (const chunk of chunks) {
      let text = chunk.choices[0].delta.content ?? "";
      if (answer === "") text = text.trimStart(); // the reply follows "Assistant:" with a space
      answer += text;
      out(text);
      last = chunk; // the last chunk carries usage and stats
    }
    messages.push({ role: "assistant", content: answer.trimEnd() });
    console.log(
      `\n(${last!.usage!.prompt_tokens} prompt tokens, ${last!.stats!.cachedTokens} of them reused from the KV cache; finish: ${last!.choices[0].finish_reason})\n`,
    );
  }
} finally {
  await engine.dispose();
}
