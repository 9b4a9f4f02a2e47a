// Drives ModelGate with the official `openai` npm package, used exactly as an application would use it against OpenAI:
// only baseURL and apiKey point elsewhere. Prints one JSON object with what came back; the .NET test checks it.
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.MODELGATE_BASE_URL, apiKey: process.env.MODELGATE_KEY, maxRetries: 0 });
const model = process.env.MODELGATE_DEPLOYMENT;

const plain = await client.chat.completions.create({ model, messages: [{ role: "user", content: "hello from node" }] });

const stream = await client.chat.completions.create({
  model,
  messages: [{ role: "user", content: "stream from node" }],
  stream: true,
  stream_options: { include_usage: true },
});
const deltas = [];
let streamUsage = null;
for await (const chunk of stream) {
  for (const choice of chunk.choices) {
    if (choice.delta?.content) deltas.push(choice.delta.content);
  }
  if (chunk.usage) streamUsage = chunk.usage;
}

const embedding = await client.embeddings.create({ model, input: "vowels", encoding_format: "float" });

let refused = null;
try {
  await client.chat.completions.create({ model: "no-such-deployment", messages: [{ role: "user", content: "x" }] });
} catch (e) {
  refused = { status: e.status ?? null, name: e.constructor?.name ?? null, message: e.message ?? null, code: e.code ?? null, type: e.type ?? null };
}

const { data: response, response: raw } = await client.chat.completions
  .create({ model, messages: [{ role: "user", content: "headers" }] })
  .withResponse();

// The Responses API, plain and streamed (its events: text deltas, then response.completed with the usage).
const answered = await client.responses.create({ model, input: "respond from node", instructions: "Answer plainly." });
const responseStream = await client.responses.create({ model, input: "respond in a stream", stream: true });
const responseDeltas = [];
let completed = null;
for await (const event of responseStream) {
  if (event.type === "response.output_text.delta") responseDeltas.push(event.delta);
  if (event.type === "response.completed") completed = event.response;
}

console.log(JSON.stringify({
  responses: {
    plain: { text: answered.output_text, usage: answered.usage },
    stream: { deltas: responseDeltas, text: responseDeltas.join(""), usage: completed?.usage ?? null, status: completed?.status ?? null },
  },
  plain: { content: plain.choices[0].message.content, usage: plain.usage },
  stream: { deltas, content: deltas.join(""), usage: streamUsage },
  embedding: embedding.data[0].embedding,
  refused,
  headers: { version: raw.headers.get("x-modelgate-version"), route: raw.headers.get("x-modelgate-route"), content: response.choices[0].message.content },
}));
