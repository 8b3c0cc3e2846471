// The official TypeScript SDK client (v1) against the server over stdio.
// The SDK checks every message against its own protocol types and each
// tool result's structuredContent against the tool's outputSchema, so a
// call that resolves here also proves the result conforms.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { BIN, TOOLS, serverEnv, startSandbox, sandboxControl, sandboxOtp, wrongCode, toolSchemaAjv, run } from './lib.mjs';

const MOBILE = '+919876543210';
const MOBILE_DIGITS = '919876543210';
const TIMEOUT = { timeout: 10000 };

async function connect({ args = [], env = {} } = {}) {
  const transport = new StdioClientTransport({ command: BIN, args, env: serverEnv(env), stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (d) => (stderr += d));
  const client = new Client({ name: 'msg91-mcp-node-tests', version: '1.0.0' });
  const errors = [];
  client.onerror = (e) => errors.push(e);
  await client.connect(transport, TIMEOUT);
  return { client, transport, errors, stderr: () => stderr };
}

// Lists the tools (which also primes the SDK's outputSchema validators)
// and checks structuredContent once more with Ajv 2020.
async function listAndIndex(client) {
  const { tools } = await client.listTools(undefined, TIMEOUT);
  return Object.fromEntries(tools.map((t) => [t.name, t]));
}

function checkOutput(tool, result) {
  const ajv = toolSchemaAjv();
  const v = ajv.compile(tool.outputSchema);
  assert.ok(v(result.structuredContent), `${tool.name} structuredContent: ${ajv.errorsText(v.errors)}`);
  assert.equal(result.content[0].type, 'text');
  assert.deepEqual(JSON.parse(result.content[0].text), result.structuredContent);
}

function text(result) {
  return result.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

describe('SDK client, no auth key configured', () => {
  let c;
  before(async () => {
    c = await connect();
  });
  after(async () => {
    await c?.client.close();
  });

  it('reports server info, capabilities and instructions', async () => {
    const { stdout } = await run(BIN, ['--version'], { env: serverEnv(), timeoutMs: 5000 });
    const version = stdout.trim().split(' ').pop();
    const info = c.client.getServerVersion();
    assert.equal(info.name, 'msg91-mcp');
    assert.equal(info.version, version);
    assert.deepEqual(c.client.getServerCapabilities(), { tools: { listChanged: false }, logging: {} });
    const instructions = c.client.getInstructions();
    assert.equal(typeof instructions, 'string');
    assert.match(instructions, /send_otp/);
    assert.match(instructions, /verify_otp/);
  });

  it('lists exactly the eight tools with their titles and annotations', async () => {
    const { tools, nextCursor } = await c.client.listTools(undefined, TIMEOUT);
    assert.equal(nextCursor, undefined);
    assert.deepEqual(tools.map((t) => t.name), TOOLS.map((t) => t.name));
    for (const [i, t] of tools.entries()) {
      const want = TOOLS[i];
      assert.equal(t.title, want.title);
      assert.deepEqual(t.annotations, {
        title: want.title,
        readOnlyHint: want.readOnly,
        destructiveHint: want.destructive,
        idempotentHint: want.idempotent,
        openWorldHint: true,
      });
      assert.equal(t.inputSchema.type, 'object');
      assert.equal(t.outputSchema.type, 'object');
    }
  });

  it('pings', async () => {
    assert.deepEqual(await c.client.ping(TIMEOUT), {});
  });

  it('invalid arguments resolve with isError and list every violation', async () => {
    const r = await c.client.callTool(
      { name: 'send_otp', arguments: { mobile: '12', template_id: 'tmpl_1', otp_length: 12 } },
      undefined,
      TIMEOUT,
    );
    assert.equal(r.isError, true);
    const t = text(r);
    assert.match(t, /\/otp_length: must be at most 9/);
    assert.match(t, /\/mobile: does not match \^\\\+\?\[0-9\]\{8,15\}\$/);
    assert.equal(r.structuredContent, undefined);
  });

  it('an unknown tool rejects with -32602', async () => {
    await assert.rejects(
      c.client.callTool({ name: 'no_such_tool', arguments: {} }, undefined, TIMEOUT),
      (e) => {
        assert.ok(e instanceof McpError, String(e));
        assert.equal(e.code, -32602);
        assert.match(e.message, /no_such_tool/);
        return true;
      },
    );
  });

  it('a valid call without a key resolves with isError naming MSG91_AUTH_KEY', async () => {
    const r = await c.client.callTool(
      { name: 'send_otp', arguments: { mobile: MOBILE, template_id: 'tmpl_1' } },
      undefined,
      TIMEOUT,
    );
    assert.equal(r.isError, true);
    assert.match(text(r), /MSG91_AUTH_KEY/);
  });

  it('the SDK saw no protocol errors', () => {
    assert.deepEqual(c.errors.map(String), []);
  });
});

describe('SDK client, --sandbox (in-process sandbox)', () => {
  let c;
  let tools;
  before(async () => {
    c = await connect({ args: ['--sandbox'] });
    tools = await listAndIndex(c.client);
  });
  after(async () => {
    await c?.client.close();
  });

  it('send_otp returns a 24-hex request_id', async () => {
    const r = await c.client.callTool(
      { name: 'send_otp', arguments: { mobile: MOBILE, template_id: 'tmpl_1' } },
      undefined,
      TIMEOUT,
    );
    assert.equal(r.isError, undefined, text(r));
    assert.match(r.structuredContent.request_id, /^[0-9a-f]{24}$/);
    checkOutput(tools.send_otp, r);
  });

  it('list_campaigns returns page 1', async () => {
    const r = await c.client.callTool({ name: 'list_campaigns', arguments: {} }, undefined, TIMEOUT);
    assert.equal(r.isError, undefined, text(r));
    assert.ok(Array.isArray(r.structuredContent.campaigns));
    assert.equal(r.structuredContent.page, 1);
    checkOutput(tools.list_campaigns, r);
  });

  it('the SDK saw no protocol errors', () => {
    assert.deepEqual(c.errors.map(String), []);
  });
});

describe('SDK client, progress against an instant upstream', () => {
  let c;
  before(async () => {
    c = await connect({ args: ['--sandbox'] });
  });
  after(async () => {
    await c?.client.close();
  });

  // The SDK handles a notification in a microtask but a response at once,
  // and forgets the progress token with the response: a progress line that
  // arrives in the same read as its result (or after it) is reported as
  // "Received a progress notification for an unknown token". Against an
  // upstream that answers at once no progress may reach the client at all
  // after the result, so none of these calls may cause that error.
  it('50 calls with an onprogress callback: no "unknown token" error', async () => {
    const progress = [];
    for (let i = 0; i < 50; i++) {
      const r = await c.client.callTool({ name: 'list_campaigns', arguments: { limit: 1 } }, undefined, {
        ...TIMEOUT,
        onprogress: (p) => progress.push(p),
      });
      assert.equal(r.isError, undefined, text(r));
    }
    // Let any notification still in flight reach the client's handlers.
    await c.client.ping(TIMEOUT);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(c.errors.map(String), []);
    for (const p of progress) assert.ok(p.progress < 3, JSON.stringify(p));
  });
});

describe('SDK client, OTP round trip against a standalone sandbox', () => {
  let sandbox;
  let c;
  let tools;
  let otp;
  before(async () => {
    sandbox = await startSandbox();
    assert.match(sandbox.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    c = await connect({ env: { MSG91_BASE_URL: sandbox.url, MSG91_AUTH_KEY: 'test-key' } });
    tools = await listAndIndex(c.client);
  });
  after(async () => {
    await c?.client.close();
    await sandbox?.stop();
  });

  it('send_otp returns a 24-hex request_id and the sandbox holds a code', async () => {
    const r = await c.client.callTool(
      { name: 'send_otp', arguments: { mobile: MOBILE, template_id: 'tmpl_1' } },
      undefined,
      TIMEOUT,
    );
    assert.equal(r.isError, undefined, text(r));
    assert.match(r.structuredContent.request_id, /^[0-9a-f]{24}$/);
    checkOutput(tools.send_otp, r);
    otp = await sandboxOtp(sandbox.url, MOBILE_DIGITS);
    assert.match(otp, /^[0-9]{4,9}$/);
  });

  it('verify_otp with a wrong code: verified false', async () => {
    assert.ok(otp, 'no code was sent');
    const r = await c.client.callTool(
      { name: 'verify_otp', arguments: { mobile: MOBILE, otp: wrongCode(otp) } },
      undefined,
      TIMEOUT,
    );
    assert.equal(r.isError, undefined, text(r));
    assert.equal(r.structuredContent.verified, false);
    assert.equal(typeof r.structuredContent.message, 'string');
    checkOutput(tools.verify_otp, r);
  });

  it('verify_otp with the right code: verified true', async () => {
    assert.ok(otp, 'no code was sent');
    const r = await c.client.callTool({ name: 'verify_otp', arguments: { mobile: MOBILE, otp } }, undefined, TIMEOUT);
    assert.equal(r.isError, undefined, text(r));
    assert.equal(r.structuredContent.verified, true);
    checkOutput(tools.verify_otp, r);
  });

  it('verify_otp with the same code again: verified false (already used)', async () => {
    assert.ok(otp, 'no code was sent');
    const r = await c.client.callTool({ name: 'verify_otp', arguments: { mobile: MOBILE, otp } }, undefined, TIMEOUT);
    assert.equal(r.isError, undefined, text(r));
    assert.equal(r.structuredContent.verified, false);
    checkOutput(tools.verify_otp, r);
  });

  it('list_campaigns returns a campaigns array, page 1', async () => {
    const r = await c.client.callTool({ name: 'list_campaigns', arguments: {} }, undefined, TIMEOUT);
    assert.equal(r.isError, undefined, text(r));
    assert.ok(Array.isArray(r.structuredContent.campaigns));
    assert.ok(r.structuredContent.campaigns.length > 0);
    assert.equal(r.structuredContent.page, 1);
    checkOutput(tools.list_campaigns, r);
  });

  it('a slow call reports progress while it waits, before its result', async () => {
    await sandboxControl(sandbox.url, 'misbehave', {
      method: 'POST',
      body: { tool: 'list_campaigns', delay_ms: 1000, count: 1 },
    });
    const progress = [];
    const r = await c.client.callTool({ name: 'list_campaigns', arguments: {} }, undefined, {
      ...TIMEOUT,
      onprogress: (p) => progress.push(p),
    });
    assert.equal(r.isError, undefined, text(r));
    assert.deepEqual(progress, [{ progress: 2, total: 3, message: 'sent to MSG91' }]);
  });

  it('the SDK saw no protocol errors and the key never reached stderr', () => {
    assert.deepEqual(c.errors.map(String), []);
    assert.doesNotMatch(c.stderr(), /test-key/);
  });
});
