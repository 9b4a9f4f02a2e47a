// Drives ModelGate with LangChain JS (`ChatOpenAI` of `@langchain/openai`), configured as for any OpenAI-compatible server:
// only configuration.baseURL and apiKey point here. Prints one JSON object; the .NET test checks it.
import { ChatOpenAI } from "@langchain/openai";

const chat = new ChatOpenAI({
  model: process.env.MODELGATE_DEPLOYMENT,
  apiKey: process.env.MODELGATE_KEY,
  configuration: { baseURL: process.env.MODELGATE_BASE_URL },
  maxRetries: 0,
});

const plain = await chat.invoke("hello from langchain");

const deltas = [];
let streamUsage = null;
for await (const chunk of await chat.stream("stream from langchain")) {
  if (typeof chunk.content === "string" && chunk.content.length > 0) deltas.push(chunk.content);
  if (chunk.usage_metadata) streamUsage = chunk.usage_metadata;
}

const usage = (u) => ({ input_tokens: u?.input_tokens ?? null, output_tokens: u?.output_tokens ?? null });
console.log(JSON.stringify({
  plain: { content: plain.content, usage: usage(plain.usage_metadata) },
  stream: { deltas, content: deltas.join(""), usage: usage(streamUsage) },
}));
