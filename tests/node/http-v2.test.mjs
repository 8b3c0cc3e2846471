// The official TypeScript SDK v2 client (@modelcontextprotocol/client)
// against `msg91-mcp http` with a personas file, over Streamable HTTP with a
// bearer token, in both eras: pinned to 2026-07-28 (stateless, per-request
// _meta, no initialize) and in its default legacy mode (initialize,
// 2025-11-25). The token comes from `msg91-mcp token --json`, as an
// operator makes one. Each era lists only the persona's tools, calls one
// against the sandbox with the persona's key, and a wrong token is refused.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { BIN, serverEnv, startSandbox, sandboxControl, run } from './lib.mjs';
import { startHttpServer } from './httplib.mjs';

const TIMEOUT = { timeout: 10000 };
const KEY_PERSONA = 'persona-' + randomBytes(12).toString('hex');
const KEY_SERVER = 'server-' + randomBytes(12).toString('hex');
const PERSONA_TOOLS = ['send_otp', 'list_campaigns'];

async function newToken() {
  const { code, stdout } = await run(BIN, ['token', '--json'], { env: serverEnv(), timeoutMs: 5000 });
  assert.equal(code, 0);
  const t = JSON.parse(stdout);
  assert.match(t.token, /^[A-Za-z0-9_-]{43}$/);
  assert.match(t.token_sha256, /^[0-9a-f]{64}$/);
  return t;
}

async function connect(url, token, mode) {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new Client(
    { name: 'msg91-mcp-http-v2-tests', version: '1.0.0' },
    mode ? { versionNegotiation: { mode } } : undefined,
  );
  const errors = [];
  client.onerror = (e) => errors.push(e);
  await client.connect(transport, TIMEOUT);
  return { client, errors };
}

describe('SDK v2 client over HTTP with a bearer token', () => {
  let tmp;
  let sandbox;
  let server;
  let token;
  let other;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'msg91-http-v2-'));
    token = await newToken();
    other = await newToken();
    writeFileSync(join(tmp, 'key'), KEY_PERSONA + '\n');
    writeFileSync(
      join(tmp, 'personas.json'),
      JSON.stringify({
        personas: [
          { name: 'agent', token_sha256: token.token_sha256, tools: PERSONA_TOOLS, auth_key_file: join(tmp, 'key') },
          // A second persona so that the list is per persona, not the
          // server's; its token is never sent.
          { name: 'other', token_sha256: other.token_sha256, tools: ['verify_otp'] },
        ],
      }),
    );
    sandbox = await startSandbox();
    server = await startHttpServer({
      env: { MSG91_BASE_URL: sandbox.url, MSG91_AUTH_KEY: KEY_SERVER, MSG91_PERSONAS: join(tmp, 'personas.json') },
    });
  });

  after(async () => {
    await server?.stop();
    await sandbox?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    for (const secret of [token?.token, token?.token_sha256, other?.token, KEY_PERSONA, KEY_SERVER])
      if (secret && server) assert.ok(!server.stderr().includes(secret), 'the server log holds a secret');
  });

  for (const [label, mode, version] of [
    ['pinned to 2026-07-28', { pin: '2026-07-28' }, '2026-07-28'],
    ['legacy mode (initialize)', undefined, '2025-11-25'],
  ]) {
    describe(label, () => {
      let c;
      before(async () => {
        c = await connect(server.url, token.token, mode);
      });
      after(async () => {
        await c?.client.close();
      });

      it(`negotiates ${version}`, () => {
        assert.equal(c.client.getNegotiatedProtocolVersion(), version);
      });

      it("lists only the persona's tools", async () => {
        const r = await c.client.listTools(undefined, TIMEOUT);
        assert.deepEqual(r.tools.map((t) => t.name), PERSONA_TOOLS);
        // The list depends on who asks: 2026-07-28 marks it private.
        if (version === '2026-07-28') assert.equal(r.cacheScope, 'private');
      });

      it("calls a tool against the sandbox with the persona's key", async () => {
        await sandboxControl(sandbox.url, 'requests', { method: 'DELETE' });
        const r = await c.client.callTool({ name: 'list_campaigns', arguments: { limit: 2 } }, TIMEOUT);
        assert.equal(r.isError, undefined, JSON.stringify(r));
        assert.ok(Array.isArray(r.structuredContent.campaigns), JSON.stringify(r.structuredContent));
        const { requests } = await sandboxControl(sandbox.url, 'requests');
        assert.deepEqual(requests.map((q) => q.headers.authkey), [KEY_PERSONA]);
        assert.deepEqual(c.errors, []);
      });

      it('refuses a tool outside the persona as unknown', async () => {
        await assert.rejects(
          c.client.callTool({ name: 'verify_otp', arguments: { mobile: '919876543210', otp: '1234' } }, TIMEOUT),
          (e) => /Unknown tool: verify_otp/.test(e.message),
        );
      });

      it('rejects a wrong token with 401', async () => {
        const wrong = randomBytes(32).toString('base64url');
        // The SDK reports the HTTP status of the refused POST (an SdkHttpError).
        await assert.rejects(connect(server.url, wrong, mode), (e) => e.status === 401 && /bearer token/.test(JSON.stringify(e.data)));
      });
    });
  }
});
