// The official TypeScript SDK client (v1) over Streamable HTTP against
// `msg91-mcp http`, with the sandbox as MSG91: the SDK checks every message
// against its protocol types and each structuredContent against the tool's
// outputSchema, so a call that resolves here also proves the result
// conforms. Plus the raw HTTP rules a client library does not exercise.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { TOOLS, startSandbox, sandboxOtp } from './lib.mjs';
import { startHttpServer } from './httplib.mjs';

const KEY = 'node-http-test-key-0b7d';
const MOBILE = '+919876543210';
const TIMEOUT = { timeout: 10000 };

async function connect(url) {
  const client = new Client({ name: 'msg91-mcp-node-http', version: '1.0.0' });
  const errors = [];
  // Closing right after connecting aborts the SDK's own GET probe for a
  // stream (answered 405): that abort is not an error of the server.
  client.onerror = (e) => e.name !== 'AbortError' && errors.push(e);
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport, TIMEOUT);
  return { client, transport, errors };
}

describe('SDK v1 StreamableHTTPClientTransport against msg91-mcp http', () => {
  let sandbox;
  let server;
  before(async () => {
    sandbox = await startSandbox();
    server = await startHttpServer({ env: { MSG91_AUTH_KEY: KEY, MSG91_BASE_URL: sandbox.url } });
  });
  after(async () => {
    await server?.stop();
    await sandbox?.stop();
  });

  it('initializes statelessly: no session id, 2025-11-25', async () => {
    const c = await connect(server.url);
    assert.equal(c.transport.sessionId, undefined);
    assert.equal(c.client.getServerVersion().name, 'msg91-mcp');
    assert.equal(c.transport.protocolVersion, '2025-11-25');
    await c.client.close();
    assert.deepEqual(c.errors, []);
  });

  it('lists the eight tools', async () => {
    const c = await connect(server.url);
    const { tools } = await c.client.listTools(undefined, TIMEOUT);
    assert.deepEqual(tools.map((t) => t.name), TOOLS.map((t) => t.name));
    await c.client.close();
  });

  it('runs the OTP flow and a read-only call', async () => {
    const c = await connect(server.url);
    await c.client.listTools(undefined, TIMEOUT); // primes outputSchema checks
    const sent = await c.client.callTool({ name: 'send_otp', arguments: { mobile: MOBILE, template_id: 'T1' } }, undefined, TIMEOUT);
    assert.equal(sent.isError, undefined, JSON.stringify(sent));
    const otp = await sandboxOtp(sandbox.url, MOBILE.slice(1));
    const verified = await c.client.callTool({ name: 'verify_otp', arguments: { mobile: MOBILE, otp } }, undefined, TIMEOUT);
    assert.equal(verified.structuredContent.verified, true);
    const list = await c.client.callTool({ name: 'list_campaigns', arguments: { limit: 2 } }, undefined, TIMEOUT);
    assert.equal(list.structuredContent.campaigns.length, 2);
    await c.client.close();
    assert.deepEqual(c.errors, []);
  });

  it('answers an invalid argument with a tool error, not an HTTP error', async () => {
    const c = await connect(server.url);
    const r = await c.client.callTool({ name: 'verify_otp', arguments: { mobile: 'abc', otp: '1' } }, undefined, TIMEOUT);
    assert.equal(r.isError, true);
    await c.client.close();
  });

  it('serves many clients at once', async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, () => connect(server.url)));
    const results = await Promise.all(
      clients.map((c) => c.client.callTool({ name: 'get_event_types', arguments: {} }, undefined, TIMEOUT)),
    );
    for (const r of results) assert.equal(r.isError, undefined, JSON.stringify(r));
    await Promise.all(clients.map((c) => c.client.close()));
  });

  it('GET /healthz answers 200 {"status":"ok"}', async () => {
    const r = await fetch(new URL('/healthz', server.url));
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { status: 'ok' });
  });

  it('refuses a foreign Origin with 403', async () => {
    const r = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', origin: 'http://evil.example.com' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    assert.equal(r.status, 403);
  });
});
