// Drives ModelGate with the Vercel AI SDK (`ai` with `@ai-sdk/openai-compatible`), used as an application would use it
// against any OpenAI-compatible server: only baseURL and apiKey point here. Prints one JSON object; the .NET test checks it.
import { generateText, streamText, tool, jsonSchema } from "ai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";

const provider = createOpenAICompatible({
  name: "modelgate",
  baseURL: process.env.MODELGATE_BASE_URL,
  apiKey: process.env.MODELGATE_KEY,
  includeUsage: true,
});
const model = provider(process.env.MODELGATE_DEPLOYMENT);

const plain = await generateText({ model, prompt: "hello from vercel", maxRetries: 0 });

const streamed = streamText({ model, prompt: "stream from vercel", maxRetries: 0 });
const deltas = [];
for await (const delta of streamed.textStream) deltas.push(delta);
const streamUsage = await streamed.usage;

const called = await generateText({
  model,
  prompt: "what is the weather in Paris?",
  maxRetries: 0,
  tools: {
    get_weather: tool({
      description: "The weather in a city",
      inputSchema: jsonSchema({ type: "object", properties: { city: { type: "string" } }, required: ["city"] }),
    }),
  },
});

const usage = (u) => ({ inputTokens: u?.inputTokens ?? null, outputTokens: u?.outputTokens ?? null });
console.log(JSON.stringify({
  plain: { text: plain.text, usage: usage(plain.usage) },
  stream: { deltas, text: deltas.join(""), usage: usage(streamUsage) },
  tool: { calls: called.toolCalls.map((c) => ({ name: c.toolName, input: c.input })), finishReason: called.finishReason, usage: usage(called.usage) },
}));
