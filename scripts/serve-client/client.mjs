// The OpenAI client test of tune serve (scripts/serve-client-test.sh runs
// it): node client.mjs BASE_URL BASE_MODEL ADAPTER1 ADAPTER2. Every check
// goes through the official openai package; any failure exits non-zero.
import assert from "node:assert/strict";
import OpenAI from "openai";

const [baseURL, base, first, second] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: process.env.TUNE_API_KEY ?? "unused", maxRetries: 0 });
const messages = [{ role: "user", content: "Which law governs this agreement?" }];
let checks = 0;
const pass = (what) => { checks++; console.log(`ok ${checks} - ${what}`); };

// models.list: the base model and both adapters.
const ids = [];
for await (const m of client.models.list()) ids.push(m.id);
assert.deepEqual(ids, [base, first, second].sort((a, b) => (a === base ? -1 : b === base ? 1 : a.localeCompare(b))));
pass(`models.list gives ${ids.join(", ")}`);

// A chat completion on each model by name; greedy answers repeat.
const answers = {};
for (const model of [base, first, second]) {
  const r = await client.chat.completions.create({ model, messages, max_tokens: 8, temperature: 0 });
  assert.equal(r.object, "chat.completion");
  assert.equal(r.model, model);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, "assistant");
  assert.equal(typeof r.choices[0].message.content, "string");
  assert.ok(["stop", "length"].includes(r.choices[0].finish_reason));
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 8);
  answers[model] = r.choices[0].message.content;
  pass(`chat.completions.create on ${model}: ${JSON.stringify(answers[model])}`);
}
assert.notEqual(answers[first], answers[base], "an adapter changes the answer");
pass("the adapters answer differently from the base model");

// A streamed chat: the deltas put together are the same greedy answer.
const stream = await client.chat.completions.create({
  model: first, messages, max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true },
});
let text = "";
let finish = null;
let usage = null;
for await (const chunk of stream) {
  assert.equal(chunk.object, "chat.completion.chunk");
  for (const c of chunk.choices) {
    text += c.delta?.content ?? "";
    finish = c.finish_reason ?? finish;
  }
  usage = chunk.usage ?? usage;
}
assert.equal(text, answers[first]);
assert.ok(["stop", "length"].includes(finish));
assert.ok(usage && usage.completion_tokens >= 1);
pass("a streamed chat gives the same answer, a finish reason and usage");

// The legacy completions endpoint with a raw prompt.
const c = await client.completions.create({ model: second, prompt: "The governing law is", max_tokens: 4, temperature: 0 });
assert.equal(c.object, "text_completion");
assert.equal(typeof c.choices[0].text, "string");
pass("completions.create with a raw prompt");

// An unknown model: a 404 naming the models there are.
await assert.rejects(client.chat.completions.create({ model: "gpt-4o", messages }), (err) => {
  assert.ok(err instanceof OpenAI.NotFoundError, String(err));
  assert.equal(err.status, 404);
  assert.equal(err.code, "model_not_found");
  assert.match(err.message, new RegExp(first));
  return true;
});
pass("an unknown model is a 404 listing the served ones");

// A bad request: a 400 naming the parameter.
await assert.rejects(client.chat.completions.create({ model: base, messages, temperature: 7 }), (err) => {
  assert.ok(err instanceof OpenAI.BadRequestError, String(err));
  assert.equal(err.status, 400);
  assert.equal(err.param, "temperature");
  return true;
});
await assert.rejects(client.chat.completions.create({ model: base, messages: [] }), (err) => {
  assert.ok(err instanceof OpenAI.BadRequestError, String(err));
  assert.equal(err.param, "messages");
  return true;
});
pass("bad requests are 400s naming the parameter");

console.log(`${checks} passed, 0 failed`);
