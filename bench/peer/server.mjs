// The peer of the HTTP benchmark: the eight msg91-mcp tools served by the
// official MCP TypeScript SDK (v1) over its Streamable HTTP transport,
// stateless, JSON responses, as the SDK's own stateless example does it (a
// fresh Server and transport for each POST).
//
// What it implements (bench/README.md, "bench_http"):
//   - tools/list: the eight tools with the names and input schemas of
//     schemas/*.input.json, read at startup;
//   - tools/call: arguments validated against that schema (Ajv and ajv-formats, which the
//     SDK depends on), then one request to MSG91_BASE_URL with fetch
//     (Node's built-in fetch, whose pool keeps connections alive) and the
//     `authkey` header. list_campaigns sends pageNo/itemsPerPage and maps
//     the answer to {campaigns, page, total_pages, total} as msg91-mcp does;
//     the other seven send their arguments (query for GET, JSON body for
//     POST) and return MSG91's JSON as it came: they call the same
//     endpoints but do not implement the tool contract's output shapes.
// No authentication, no personas, no Origin checks, no limits.
//
// Usage: node server.mjs [--listen HOST:PORT]   (default 127.0.0.1:0)
// The first line on stdout is the URL bound, as `msg91-mcp http` prints.
// Environment: MSG91_BASE_URL, MSG91_AUTH_KEY.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";

const schemasDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "schemas");
const baseUrl = (process.env.MSG91_BASE_URL ?? "https://control.msg91.com").replace(/\/$/, "");
const authKey = process.env.MSG91_AUTH_KEY ?? "";

// Method and path per tool, as in tools/table.c.
const endpoints = {
  send_otp: ["POST", "/api/v5/otp"],
  resend_otp: ["GET", "/api/v5/otp/retry"],
  verify_otp: ["GET", "/api/v5/otp/verify"],
  send_sms_flow: ["POST", "/api/v5/flow"],
  create_user_events: ["POST", "/api/v5/segmento/api/v1/events"],
  get_event_types: ["GET", "/api/v5/segmento/api/v1/event-types"],
  get_failed_events: ["POST", "/api/v5/segmento/api/v1/campaigns/{campaign_id}/failed-events"],
  list_campaigns: ["GET", "/api/v5/campaign/api/campaigns"],
};

const ajv = new Ajv({ strict: false, allErrors: false });
// ajv-formats exports its function as the CommonJS default.
const addFormats = addFormatsModule.default ?? addFormatsModule;
addFormats(ajv);
const tools = Object.keys(endpoints).map((name) => {
  const inputSchema = JSON.parse(readFileSync(join(schemasDir, `${name}.input.json`), "utf8"));
  return { name, inputSchema, validate: ajv.compile(inputSchema) };
});
const byName = new Map(tools.map((t) => [t.name, t]));
const listing = tools.map(({ name, inputSchema }) => ({ name, inputSchema }));

function errorResult(text) {
  return { content: [{ type: "text", text }], isError: true };
}

function success(structured) {
  return { content: [{ type: "text", text: JSON.stringify(structured) }], structuredContent: structured };
}

// list_campaigns' answer as msg91-mcp shapes it (tools/campaign.c).
function readCampaigns(body, args) {
  const data = body?.data;
  if (!Array.isArray(data?.data)) return errorResult('MSG91 answered without "data.data".');
  const campaigns = data.data.map((c) => {
    const out = { id: Number(c.id), name: c.name };
    if (typeof c.slug === "string") out.slug = c.slug;
    if (c.is_active != null) out.is_active = c.is_active === true || c.is_active === 1 || c.is_active === "1";
    if (Array.isArray(c.channels)) out.channels = c.channels.map((x) => (typeof x === "object" ? x.channel_id : x));
    return out;
  });
  const limit = data.itemsPerPage ?? args.limit ?? 25;
  const total = data.totalEntityCount ?? data.total ?? campaigns.length;
  return success({
    campaigns,
    page: data.pageNo ?? data.pageNumber ?? args.page ?? 1,
    total_pages: data.totalPageCount ?? data.totalPages ?? Math.ceil(total / limit),
    total,
  });
}

async function callTool(name, args) {
  const tool = byName.get(name);
  if (!tool) return errorResult(`Unknown tool: ${name}`);
  if (!tool.validate(args)) return errorResult(`Invalid arguments: ${ajv.errorsText(tool.validate.errors)}`);
  const [method, template] = endpoints[name];
  const rest = { ...args };
  const path = template.replace(/\{(\w+)\}/g, (_, k) => {
    const v = rest[k];
    delete rest[k];
    return encodeURIComponent(String(v));
  });
  const url = new URL(baseUrl + path);
  const init = { method, headers: { authkey: authKey, accept: "application/json" } };
  if (name === "list_campaigns") {
    url.searchParams.set("pageNo", String(args.page ?? 1));
    url.searchParams.set("itemsPerPage", String(args.limit ?? 25));
  } else if (method === "GET") {
    for (const [k, v] of Object.entries(rest)) url.searchParams.set(k, String(v));
  } else {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(rest);
  }
  let body;
  try {
    const res = await fetch(url, init);
    body = await res.json();
    if (!res.ok) return errorResult(`MSG91 answered HTTP ${res.status}: ${JSON.stringify(body)}`);
  } catch (e) {
    return errorResult(`MSG91 could not be reached: ${e.message}`);
  }
  return name === "list_campaigns" ? readCampaigns(body, args) : success(body);
}

function makeServer() {
  const server = new Server({ name: "msg91-mcp-sdk-peer", version: "0.0.0" }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: listing }));
  server.setRequestHandler(CallToolRequestSchema, async (req) =>
    callTool(req.params.name, req.params.arguments ?? {}),
  );
  return server;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

const http = createServer(async (req, res) => {
  if (req.url !== "/mcp" || req.method !== "POST") {
    res.writeHead(req.url === "/mcp" ? 405 : 404).end();
    return;
  }
  let parsed;
  try {
    parsed = JSON.parse(await readBody(req));
  } catch {
    res.writeHead(400, { "content-type": "application/json" });
    res.end('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}');
    return;
  }
  const server = makeServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on("close", () => {
    transport.close();
    server.close();
  });
  try {
    await server.connect(transport);
    await transport.handleRequest(req, res, parsed);
  } catch (e) {
    if (!res.headersSent) res.writeHead(500).end(String(e?.message ?? e));
  }
});
http.keepAliveTimeout = 30000;

const listen = process.argv[2] === "--listen" ? process.argv[3] : "127.0.0.1:0";
const colon = listen.lastIndexOf(":");
http.listen(Number(listen.slice(colon + 1)), listen.slice(0, colon), () => {
  const { address, port } = http.address();
  process.stdout.write(`http://${address}:${port}/mcp\n`);
});
process.on("SIGTERM", () => http.close(() => process.exit(0)));
