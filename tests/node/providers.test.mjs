// Every tool's inputSchema, as tools/list of the real binary publishes it,
// through the real schema conversion of the libraries that hand MCP tools to
// model providers: the AI SDK (jsonSchema, and the request bodies its
// OpenAI, Anthropic and Google providers build), LangChain (@langchain/core
// and ChatGoogleGenerativeAI) and @google/genai (mcpToTool, and the
// `parameters` route of generateContent). Checked against the contract's
// "Schemas every provider accepts": each schema stays inside the common
// subset, each converter keeps everything it says (except a field the
// target format has no place for, listed below with the reason), and
// nothing reaches Gemini's OpenAPI-style `parameters` that Gemini refuses.
// No provider is reachable from a test, so each provider's request is
// caught at its fetch: everything before the network is the real code.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { jsonSchema } from '@ai-sdk/provider-utils';
import { generateText, tool } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { createAnthropic } from '@ai-sdk/anthropic';
import { createGoogleGenerativeAI } from '@ai-sdk/google';
import { DynamicStructuredTool } from '@langchain/core/tools';
import { convertToOpenAITool } from '@langchain/core/utils/function_calling';
import { ChatGoogleGenerativeAI } from '@langchain/google-genai';
import { GoogleGenAI, mcpToTool } from '@google/genai';
import { BIN, TOOLS, serverEnv } from './lib.mjs';

const TIMEOUT = { timeout: 10000 };

// The contract's common subset, keyword by keyword.
const SUBSET = new Set([
  'type', 'properties', 'required', 'items', 'enum', 'description', 'title', 'minimum',
  'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'pattern',
  'additionalProperties', 'default', 'format',
]);

// The fields of Gemini's Schema object (ai.google.dev/api/caching#Schema),
// which is what `functionDeclarations[].parameters` takes; for STRING it
// knows only the formats "enum" and "date-time", and refuses the whole
// request on any other (the reason get_failed_events's "date" broke it).
const GEMINI_FIELDS = new Set([
  'type', 'format', 'title', 'description', 'nullable', 'enum', 'maxItems', 'minItems',
  'properties', 'required', 'minProperties', 'maxProperties', 'minLength', 'maxLength',
  'pattern', 'example', 'anyOf', 'propertyOrdering', 'default', 'items', 'minimum', 'maximum',
]);
const GEMINI_STRING_FORMATS = new Set(['enum', 'date-time']);

// Gemini's `parameters` has no field for additionalProperties, so both
// converters that target it drop it; the maps it declares are therefore
// described in words too (checked below).
const GEMINI_PARAMETERS_LOSES = new Set(['additionalProperties']);

// Arguments the server accepts, one set per tool, using every argument.
const VALID = {
  send_otp: { mobile: '+919876543210', template_id: 'tmpl_1', otp: '5497', otp_length: 4, otp_expiry: 10, variables: { name: 'Asha' } },
  resend_otp: { mobile: '919876543210', retry_type: 'voice' },
  verify_otp: { mobile: '+919876543210', otp: '5497' },
  send_sms_flow: { template_id: 'flow_1', recipients: [{ mobiles: '+919876543210', name: 'Asha' }], short_url: true, short_url_expiry: 3600, realtime_response: true },
  create_user_events: { identifier: 'contact-1001', events: [{ name: 'purchase', properties: { amount: 499, plan: 'pro' }, timestamp: '2026-11-28T10:00:00+05:30' }] },
  get_event_types: {},
  get_failed_events: { campaign_id: '1032', page: 1, limit: 10, start_date: '2026-01-01', end_date: '2026-01-31' },
  list_campaigns: { page: 2, limit: 5 },
};

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// Every subschema of s, with its JSON Pointer.
function* subschemas(s, path = '') {
  yield [path || '/', s];
  for (const [name, sub] of Object.entries(s.properties ?? {})) yield* subschemas(sub, `${path}/properties/${name}`);
  if (isObject(s.items)) yield* subschemas(s.items, `${path}/items`);
  if (isObject(s.additionalProperties)) yield* subschemas(s.additionalProperties, `${path}/additionalProperties`);
}

function assertInSubset(schema, where) {
  for (const [path, s] of subschemas(schema)) {
    for (const key of Object.keys(s)) assert.ok(SUBSET.has(key), `${where} ${path}: "${key}" is outside the common subset`);
    assert.equal(typeof s.type, 'string', `${where} ${path}: type must be one type name`);
    if ('format' in s) assert.equal(s.format, 'date-time', `${where} ${path}: format "${s.format}"`);
    if ('additionalProperties' in s)
      assert.ok(s.additionalProperties === false || isObject(s.additionalProperties), `${where} ${path}: additionalProperties is neither false nor a schema`);
  }
}

// Everything published reaches the converted schema unchanged, except the
// keywords in `loses`; the converter adds nothing either.
function assertKept(published, converted, where, { loses = new Set(), upperType = false } = {}) {
  assert.ok(isObject(converted), `${where}: the converted schema is missing`);
  for (const [key, value] of Object.entries(published)) {
    if (loses.has(key)) {
      if (key === 'additionalProperties' && isObject(value))
        assert.ok(published.description, `${where}: its map of values is lost, so its description must say what it holds`);
      continue;
    }
    assert.ok(key in converted, `${where}: "${key}" was dropped`);
    if (key === 'properties') {
      assert.deepEqual(Object.keys(converted.properties).sort(), Object.keys(value).sort(), `${where}: properties`);
      for (const [name, sub] of Object.entries(value)) assertKept(sub, converted.properties[name], `${where}/properties/${name}`, { loses, upperType });
    } else if (key === 'items' || (key === 'additionalProperties' && isObject(value))) {
      assertKept(value, converted[key], `${where}/${key}`, { loses, upperType });
    } else if (key === 'type' && upperType) {
      assert.equal(converted.type, value.toUpperCase(), `${where}: type`);
    } else {
      assert.deepEqual(converted[key], value, `${where}: "${key}" was changed`);
    }
  }
  for (const key of Object.keys(converted)) assert.ok(key in published, `${where}: "${key}" was added`);
}

// What Gemini's `parameters` (its OpenAPI-style Schema) accepts.
function assertGeminiAccepts(params, where) {
  for (const [path, s] of subschemas(params)) {
    for (const key of Object.keys(s)) assert.ok(GEMINI_FIELDS.has(key), `${where} ${path}: Gemini has no field "${key}"`);
    assert.equal(typeof s.type, 'string', `${where} ${path}: type`);
    if ('format' in s && s.type.toUpperCase() === 'STRING')
      assert.ok(GEMINI_STRING_FORMATS.has(s.format), `${where} ${path}: Gemini refuses format "${s.format}" for STRING`);
  }
}

// A fetch that keeps the request body and answers like an offline API, so
// the library gives up at once (maxRetries 0) after building the request.
function catcher() {
  const bodies = [];
  const fetch = async (_url, init) => {
    bodies.push(JSON.parse(init.body));
    return new Response('{"error":{"message":"offline test"}}', { status: 400, headers: { 'content-type': 'application/json' } });
  };
  return { bodies, fetch };
}

async function aiSdkRequest(model, tools) {
  await assert.rejects(generateText({ model, prompt: 'hello', maxRetries: 0, tools }));
}

describe('published inputSchemas through the providers\' converters', () => {
  let client;
  let published; // name -> inputSchema, in tools/list order
  let listed;

  before(async () => {
    const transport = new StdioClientTransport({ command: BIN, args: [], env: serverEnv(), stderr: 'pipe' });
    client = new Client({ name: 'msg91-mcp-provider-tests', version: '1.0.0' });
    await client.connect(transport, TIMEOUT);
    listed = (await client.listTools(undefined, TIMEOUT)).tools;
    published = Object.fromEntries(listed.map((t) => [t.name, t.inputSchema]));
    assert.deepEqual(Object.keys(published), TOOLS.map((t) => t.name));
  });
  after(async () => {
    await client?.close();
  });

  it('every published inputSchema is inside the common subset', () => {
    for (const [name, schema] of Object.entries(published)) assertInSubset(schema, name);
  });

  it('the checks catch what broke Gemini before (format "date")', () => {
    const old = { type: 'object', properties: { start_date: { type: 'string', format: 'date' } } };
    assert.throws(() => assertInSubset(old, 'old'), /format "date"/);
    assert.throws(() => assertGeminiAccepts({ type: 'OBJECT', properties: { d: { type: 'STRING', format: 'date' } } }, 'old'), /refuses format "date"/);
  });

  it('AI SDK jsonSchema() keeps every schema as it is', async () => {
    for (const [name, schema] of Object.entries(published)) assertKept(schema, await jsonSchema(schema).jsonSchema, `ai-sdk ${name}`);
  });

  function aiSdkTools() {
    return Object.fromEntries(listed.map((t) => [t.name, tool({ description: t.description, inputSchema: jsonSchema(t.inputSchema) })]));
  }

  it('@ai-sdk/openai sends every schema unchanged, non-strict (Responses and Chat)', async () => {
    const c = catcher();
    const openai = createOpenAI({ apiKey: 'offline', fetch: c.fetch });
    await aiSdkRequest(openai('gpt-4o'), aiSdkTools());
    await aiSdkRequest(openai.chat('gpt-4o'), aiSdkTools());
    const [responses, chat] = c.bodies;
    assert.equal(responses.tools.length, 8);
    for (const t of responses.tools) {
      assert.equal(t.strict, false, `${t.name}: strict`);
      assertKept(published[t.name], t.parameters, `openai-responses ${t.name}`);
    }
    assert.equal(chat.tools.length, 8);
    for (const t of chat.tools) assertKept(published[t.function.name], t.function.parameters, `openai-chat ${t.function.name}`);
  });

  it('@ai-sdk/anthropic sends every schema unchanged', async () => {
    const c = catcher();
    await aiSdkRequest(createAnthropic({ apiKey: 'offline', fetch: c.fetch })('claude-sonnet-4-5'), aiSdkTools());
    assert.equal(c.bodies[0].tools.length, 8);
    for (const t of c.bodies[0].tools) assertKept(published[t.name], t.input_schema, `anthropic ${t.name}`);
  });

  it('@ai-sdk/google sends every schema to Gemini unchanged', async () => {
    const c = catcher();
    await aiSdkRequest(createGoogleGenerativeAI({ apiKey: 'offline', fetch: c.fetch })('gemini-2.5-flash'), aiSdkTools());
    const decls = c.bodies[0].tools.flatMap((t) => t.functionDeclarations ?? []);
    assert.equal(decls.length, 8);
    for (const d of decls) {
      if (d.parameters) {
        assertGeminiAccepts(d.parameters, `ai-sdk-google ${d.name}`);
        assertKept(published[d.name], d.parameters, `ai-sdk-google ${d.name}`, { loses: GEMINI_PARAMETERS_LOSES, upperType: /^[A-Z]/.test(d.parameters.type) });
      } else {
        assertKept(published[d.name], d.parametersJsonSchema, `ai-sdk-google ${d.name}`);
      }
    }
  });

  function langchainTools() {
    return listed.map((t) => new DynamicStructuredTool({ name: t.name, description: t.description, schema: t.inputSchema, func: async () => 'ok' }));
  }

  it('@langchain/core keeps every schema and validates with it', async () => {
    for (const lc of langchainTools()) {
      assertKept(published[lc.name], convertToOpenAITool(lc).function.parameters, `langchain ${lc.name}`);
      // LangChain checks arguments against the schema before a call: the
      // server's valid arguments must pass, a wrong type must not.
      assert.equal(await lc.invoke(VALID[lc.name]), 'ok', `${lc.name}: valid arguments refused`);
      if (lc.name !== 'get_event_types') await assert.rejects(lc.invoke({ unexpected: 1 }), /did not match/, lc.name);
    }
  });

  it('@langchain/google-genai sends nothing Gemini refuses and loses only additionalProperties', () => {
    const model = new ChatGoogleGenerativeAI({ apiKey: 'offline', model: 'gemini-2.5-flash' });
    const decls = model.invocationParams({ tools: langchainTools() }).tools.flatMap((t) => t.functionDeclarations);
    assert.equal(decls.length, 8);
    for (const d of decls) {
      // A tool without arguments goes without parameters.
      if (!d.parameters) {
        assert.deepEqual(published[d.name].properties, {}, `${d.name}: parameters dropped`);
        continue;
      }
      assertGeminiAccepts(d.parameters, `langchain-gemini ${d.name}`);
      assertKept(published[d.name], d.parameters, `langchain-gemini ${d.name}`, { loses: GEMINI_PARAMETERS_LOSES });
    }
  });

  it('@google/genai mcpToTool gives Gemini every schema unchanged', async () => {
    const declared = await mcpToTool(client).tool();
    assert.equal(declared.functionDeclarations.length, 8);
    for (const d of declared.functionDeclarations) {
      assert.ok(!d.parameters, `${d.name}: sent as parameters`);
      assertKept(published[d.name], d.parametersJsonSchema, `genai-mcp ${d.name}`);
    }
  });

  it('@google/genai `parameters` sends nothing Gemini refuses and loses only additionalProperties', async () => {
    const c = catcher();
    const saved = globalThis.fetch;
    globalThis.fetch = c.fetch; // @google/genai has no fetch option
    try {
      const ai = new GoogleGenAI({ apiKey: 'offline' });
      const functionDeclarations = listed.map((t) => ({ name: t.name, description: t.description, parameters: structuredClone(t.inputSchema) }));
      await assert.rejects(ai.models.generateContent({ model: 'gemini-2.5-flash', contents: 'hello', config: { tools: [{ functionDeclarations }] } }));
    } finally {
      globalThis.fetch = saved;
    }
    const decls = c.bodies[0].tools[0].functionDeclarations;
    assert.equal(decls.length, 8);
    for (const d of decls) {
      assertGeminiAccepts(d.parameters, `genai-parameters ${d.name}`);
      assertKept(published[d.name], d.parameters, `genai-parameters ${d.name}`, { loses: GEMINI_PARAMETERS_LOSES, upperType: true });
    }
  });
});
