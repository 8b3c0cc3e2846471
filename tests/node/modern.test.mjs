// The official TypeScript SDK v2 client (@modelcontextprotocol/client)
// against the server over stdio in the stateless 2026-07-28 era: pinned to
// that version, and with automatic negotiation (a server/discover probe,
// then the modern era). The default, legacy mode still negotiates
// 2025-11-25 through initialize, as a 2025 client would. The SDK checks
// every message against its own protocol types and each structuredContent
// against the tool's outputSchema.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, ProtocolError } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { BIN, TOOLS, serverEnv, startSandbox, sandboxControl, run } from './lib.mjs';

const TIMEOUT = { timeout: 10000 };
const ALL_VERSIONS = ['2026-07-28', '2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'];

async function connect(mode, env = {}) {
  const transport = new StdioClientTransport({ command: BIN, args: [], env: serverEnv(env), stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (d) => (stderr += d));
  const client = new Client(
    { name: 'msg91-mcp-modern-tests', version: '1.0.0' },
    mode ? { versionNegotiation: { mode } } : undefined,
  );
  const errors = [];
  client.onerror = (e) => errors.push(e);
  await client.connect(transport, TIMEOUT);
  return { client, errors, stderr: () => stderr };
}

function text(result) {
  return result.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

for (const [label, mode] of [
  ['pinned to 2026-07-28', { pin: '2026-07-28' }],
  ['automatic negotiation', 'auto'],
]) {
  describe(`SDK v2 client, ${label}`, () => {
    let sandbox;
    let c;
    let version;
    before(async () => {
      sandbox = await startSandbox();
      c = await connect(mode, { MSG91_BASE_URL: sandbox.url, MSG91_AUTH_KEY: 'modern-test-key' });
      const { stdout } = await run(BIN, ['--version'], { env: serverEnv(), timeoutMs: 5000 });
      version = stdout.trim().split(' ').pop();
    });
    after(async () => {
      await c?.client.close();
      await sandbox?.stop();
    });

    it('negotiates 2026-07-28 from server/discover', () => {
      assert.equal(c.client.getNegotiatedProtocolVersion(), '2026-07-28');
      const d = c.client.getDiscoverResult();
      assert.deepEqual(d.supportedVersions, ALL_VERSIONS);
      assert.deepEqual(d.capabilities, { tools: { listChanged: false } });
      assert.equal(d.ttlMs, 3600000);
      assert.equal(d.cacheScope, 'public');
      assert.match(d.instructions, /send_otp/);
      const info = d._meta['io.modelcontextprotocol/serverInfo'];
      assert.equal(info.name, 'msg91-mcp');
      assert.equal(info.version, version);
    });

    it('lists the eight tools with cache hints', async () => {
      const r = await c.client.listTools(undefined, TIMEOUT);
      assert.deepEqual(r.tools.map((t) => t.name), TOOLS.map((t) => t.name));
      for (const [i, t] of r.tools.entries()) {
        assert.equal(t.title, TOOLS[i].title);
        assert.equal(t.outputSchema.type, 'object');
        assert.equal(t.annotations.readOnlyHint, TOOLS[i].readOnly);
      }
      assert.equal(r.ttlMs, 300000);
      assert.equal(r.cacheScope, 'public');
    });

    it('calls a tool: structuredContent and the server named in _meta', async () => {
      const r = await c.client.callTool({ name: 'list_campaigns', arguments: { limit: 2 } }, TIMEOUT);
      assert.equal(r.isError, undefined, text(r));
      assert.equal(r.structuredContent.page, 1);
      assert.equal(r.structuredContent.campaigns.length, 2);
      assert.deepEqual(JSON.parse(r.content[0].text), r.structuredContent);
      assert.equal(r._meta['io.modelcontextprotocol/serverInfo'].name, 'msg91-mcp');
    });

    it('invalid arguments are an isError result', async () => {
      const r = await c.client.callTool({ name: 'send_otp', arguments: { mobile: '12', template_id: 't' } }, TIMEOUT);
      assert.equal(r.isError, true);
      assert.match(text(r), /\/mobile: does not match/);
    });

    it('an unknown tool is -32602', async () => {
      await assert.rejects(c.client.callTool({ name: 'no_such_tool', arguments: {} }, TIMEOUT), (e) => {
        assert.ok(e instanceof ProtocolError, String(e));
        assert.equal(e.code, -32602);
        assert.match(e.message, /no_such_tool/);
        return true;
      });
    });

    it('a slow call reports progress before its result, none after', async () => {
      await sandboxControl(sandbox.url, 'misbehave', {
        method: 'POST',
        body: { tool: 'get_event_types', delay_ms: 1000, count: 1 },
      });
      const progress = [];
      const r = await c.client.callTool({ name: 'get_event_types', arguments: {} }, {
        ...TIMEOUT,
        onprogress: (p) => progress.push(p),
      });
      assert.equal(r.isError, undefined, text(r));
      assert.deepEqual(progress, [{ progress: 2, total: 3, message: 'sent to MSG91' }]);
    });

    it('the SDK saw no protocol errors and the key stayed off stderr', async () => {
      // Anything late would reach the client before this answer.
      await c.client.listTools(undefined, TIMEOUT);
      assert.deepEqual(c.errors.map(String), []);
      assert.doesNotMatch(c.stderr(), /modern-test-key/);
    });
  });
}

describe('SDK v2 client, default (legacy) mode', () => {
  let c;
  before(async () => {
    c = await connect(undefined, {});
  });
  after(async () => {
    await c?.client.close();
  });

  it('still negotiates 2025-11-25 through initialize', async () => {
    assert.equal(c.client.getNegotiatedProtocolVersion(), '2025-11-25');
    assert.equal(c.client.getDiscoverResult(), undefined);
    assert.deepEqual(c.client.getServerCapabilities(), { tools: { listChanged: false }, logging: {} });
    const r = await c.client.listTools(undefined, TIMEOUT);
    assert.equal(r.tools.length, 8);
    assert.equal(r.ttlMs, undefined);
    assert.deepEqual(c.errors.map(String), []);
  });
});
