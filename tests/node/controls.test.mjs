// The operator controls (README "Operator controls", "Scripted use") through
// real MCP sessions of the official TypeScript SDK client against a server
// pointed at a standalone sandbox: scopes (MSG91_TOOLS, MSG91_READ_ONLY),
// dry run, the audit log (fields, masking, mode, SIGHUP reopening), the tool
// prefix, and the exit codes of `msg91-mcp call`.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { BIN, TOOLS, serverEnv, startSandbox, sandboxControl, killTree, sleep } from './lib.mjs';

const KEY = 'ctl-key-' + randomBytes(10).toString('hex');
const MOBILE = '+919876543210';
const TIMEOUT = { timeout: 10000 };
const CLIENT_INFO = { name: 'controls-test-client', version: '3.1.4-ctl' };

// Valid arguments for each of the eight tools.
const VALID_ARGS = {
  send_otp: { mobile: MOBILE, template_id: 'tmpl_otp_1', otp: '123456' },
  resend_otp: { mobile: MOBILE },
  verify_otp: { mobile: MOBILE, otp: '123456' },
  send_sms_flow: { template_id: 'flow_1', recipients: [{ mobiles: '919876543210', name: 'Asha' }] },
  create_user_events: { identifier: 'contact-1001', events: [{ name: 'login' }] },
  get_event_types: {},
  get_failed_events: { campaign_id: '1001' },
  list_campaigns: { limit: 2 },
};

let sandbox;
const sessions = new Set();
let tmp;

const sb = (path, opts) => sandboxControl(sandbox.url, path, opts);
const recorded = async () => (await sb('requests')).requests;
const clearRecorded = () => sb('requests', { method: 'DELETE' });
const misbehave = (rule) => sb('misbehave', { method: 'POST', body: rule });
const clearRules = () => sb('misbehave', { method: 'DELETE' });

// A server with the sandbox as MSG91 and the test key, plus env, spoken to by
// the SDK client.
async function connect(env = {}, clientInfo = CLIENT_INFO) {
  const transport = new StdioClientTransport({
    command: BIN,
    args: [],
    env: serverEnv({ MSG91_BASE_URL: sandbox.url, MSG91_AUTH_KEY: KEY, ...env }),
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d) => (stderr += d));
  const client = new Client(clientInfo);
  await client.connect(transport, TIMEOUT);
  const pid = transport.pid;
  const s = {
    client,
    transport,
    pid,
    stderr: () => stderr,
    async close() {
      sessions.delete(s);
      await client.close().catch(() => {});
      if (pid) await killTree(pid, { graceMs: 500 });
    },
  };
  sessions.add(s);
  return s;
}

const text = (result) => result.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');

async function waitFor(pred, what, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const readLines = (file) =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : [];

before(async () => {
  sandbox = await startSandbox();
  tmp = mkdtempSync(join(tmpdir(), 'msg91-ctl-'));
});

after(async () => {
  for (const s of [...sessions]) await s.close();
  await sandbox?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('scopes', () => {
  it('MSG91_TOOLS limits tools/list and refuses other tools without sending anything', async () => {
    const s = await connect({ MSG91_TOOLS: 'list_campaigns,verify_otp' });
    try {
      const { tools } = await s.client.listTools(undefined, TIMEOUT);
      assert.deepEqual(tools.map((t) => t.name).sort(), ['list_campaigns', 'verify_otp']);

      await clearRecorded();
      const r = await s.client.callTool({ name: 'send_otp', arguments: VALID_ARGS.send_otp }, undefined, TIMEOUT);
      assert.equal(r.isError, true, JSON.stringify(r));
      assert.match(text(r), /MSG91_TOOLS/);
      assert.match(text(r), /send_otp/);
      assert.deepEqual(await recorded(), [], 'the refused call reached the sandbox');

      // The same session does reach the sandbox with an allowed tool, so the
      // empty record above means something.
      const ok = await s.client.callTool({ name: 'list_campaigns', arguments: { limit: 1 } }, undefined, TIMEOUT);
      assert.notEqual(ok.isError, true, text(ok));
      const reqs = await recorded();
      assert.equal(reqs.length, 1);
      assert.equal(reqs[0].tool, 'list_campaigns');
    } finally {
      await s.close();
    }
  });

  it('MSG91_READ_ONLY=1 lists the three read-only tools and refuses a send', async () => {
    const s = await connect({ MSG91_READ_ONLY: '1' });
    try {
      const { tools } = await s.client.listTools(undefined, TIMEOUT);
      assert.deepEqual(tools.map((t) => t.name).sort(), ['get_event_types', 'get_failed_events', 'list_campaigns']);
      for (const t of tools) assert.equal(t.annotations?.readOnlyHint, true, t.name);

      await clearRecorded();
      const r = await s.client.callTool({ name: 'send_sms_flow', arguments: VALID_ARGS.send_sms_flow }, undefined, TIMEOUT);
      assert.equal(r.isError, true, JSON.stringify(r));
      assert.match(text(r), /read-only/i);
      assert.match(text(r), /send_sms_flow/);
      assert.deepEqual(await recorded(), [], 'the refused call reached the sandbox');
    } finally {
      await s.close();
    }
  });
});

describe('dry run', () => {
  it('MSG91_DRY_RUN=1 returns each of the eight requests, key redacted, and sends nothing', async () => {
    const s = await connect({ MSG91_DRY_RUN: '1' });
    try {
      const { tools } = await s.client.listTools(undefined, TIMEOUT);
      assert.deepEqual(tools.map((t) => t.name), TOOLS.map((t) => t.name));
      await clearRecorded();
      for (const { name } of TOOLS) {
        const r = await s.client.callTool({ name, arguments: VALID_ARGS[name] }, undefined, TIMEOUT);
        const whole = JSON.stringify(r);
        assert.equal(r.isError, true, `${name}: ${whole}`);
        assert.equal(r._meta?.['msg91/dryRun'], true, `${name}: ${whole}`);
        assert.match(r.content[0].text, /^Dry run \(MSG91_DRY_RUN=1\)/, name);
        assert.ok(r.content.length >= 2, `${name}: no request block: ${whole}`);
        assert.equal(r.content[1].type, 'text');
        const req = JSON.parse(r.content[1].text);
        assert.match(req.method, /^(GET|POST|PUT|PATCH|DELETE)$/, name);
        assert.equal(typeof req.url, 'string', name);
        assert.ok(req.url.startsWith(sandbox.url + '/'), `${name}: url ${req.url} is not on ${sandbox.url}`);
        assert.equal(req.headers?.authkey, '[REDACTED]', `${name}: ${r.content[1].text}`);
        assert.ok('body' in req, `${name}: no body member: ${r.content[1].text}`);
        if (req.method !== 'GET') assert.notEqual(req.body, null, `${name}: a ${req.method} without a body`);
        assert.ok(!whole.includes(KEY), `${name}: the key is in the dry-run result`);
      }
      // The flow's body carries the arguments as built.
      const flow = await s.client.callTool({ name: 'send_sms_flow', arguments: VALID_ARGS.send_sms_flow }, undefined, TIMEOUT);
      const body = JSON.parse(flow.content[1].text).body;
      assert.equal(body.template_id, 'flow_1');
      assert.equal(body.recipients[0].mobiles, '919876543210');
      assert.deepEqual(await recorded(), [], 'a dry run reached the sandbox');
      assert.ok(!s.stderr().includes(KEY), 'the key is on stderr');
    } finally {
      await s.close();
    }
  });
});

describe('audit log', () => {
  it('writes one masked JSON line per call with every outcome, mode 0600, no key', async () => {
    const file = join(tmp, 'audit.jsonl');
    // resend_otp is left out so that a call to it is refused.
    const allowed = TOOLS.map((t) => t.name).filter((n) => n !== 'resend_otp');
    const s = await connect({ MSG91_AUDIT_LOG: file, MSG91_TOOLS: allowed.join(',') });
    const started = Date.now();
    let okResult;
    try {
      await s.client.listTools(undefined, TIMEOUT);
      await clearRules();

      // 1. ok
      okResult = await s.client.callTool(
        { name: 'send_otp', arguments: { otp: '123456', mobile: '+919876543210', template_id: 'tmpl_audit' } },
        undefined,
        TIMEOUT,
      );
      assert.notEqual(okResult.isError, true, text(okResult));
      assert.equal(typeof okResult.structuredContent?.request_id, 'string');

      // 2. invalid arguments
      const bad = await s.client.callTool({ name: 'verify_otp', arguments: { mobile: '+919876543210', otp: 'abc' } }, undefined, TIMEOUT);
      assert.equal(bad.isError, true);
      assert.match(text(bad), /^Invalid arguments for verify_otp/);

      // 3. refused
      const refused = await s.client.callTool({ name: 'resend_otp', arguments: { mobile: MOBILE } }, undefined, TIMEOUT);
      assert.equal(refused.isError, true);
      assert.match(text(refused), /MSG91_TOOLS/);

      // 4. tool error: HTTP 500 (list_campaigns is read-only, so it is retried;
      // the rule outlasts the retries)
      await misbehave({ tool: 'list_campaigns', status: 500, body: '{}', count: 10 });
      const failed = await s.client.callTool({ name: 'list_campaigns', arguments: { limit: 3 } }, undefined, TIMEOUT);
      assert.equal(failed.isError, true, JSON.stringify(failed));
      await clearRules();

      // 5. cancelled: the sandbox holds the answer, the client aborts; the SDK
      // sends notifications/cancelled.
      await misbehave({ tool: 'list_campaigns', delay_ms: 2000, count: 1 });
      const ac = new AbortController();
      const pending = s.client.callTool({ name: 'list_campaigns', arguments: { page: 2 } }, undefined, {
        timeout: 10000,
        signal: ac.signal,
      });
      await waitFor(() => readLines(file).length === 4, 'the fourth audit line');
      await sleep(300); // the call is in flight at the sandbox
      ac.abort('test cancels');
      await assert.rejects(pending);
      await waitFor(() => readLines(file).length >= 5, 'the audit line of the cancelled call');
      // The server is still fine after the cancellation.
      const after = await s.client.callTool({ name: 'get_event_types', arguments: {} }, undefined, TIMEOUT);
      assert.notEqual(after.isError, true, text(after));
      await waitFor(() => readLines(file).length >= 6, 'the sixth audit line');
    } finally {
      await clearRules();
      await s.close();
    }

    const raw = readFileSync(file, 'utf8');
    assert.ok(raw.endsWith('\n'), 'the last line is not terminated');
    assert.ok(!raw.includes(KEY), 'the key is in the audit log');
    assert.equal(statSync(file).mode & 0o777, 0o600, `mode ${(statSync(file).mode & 0o777).toString(8)}`);

    const lines = raw.split('\n').filter(Boolean).map((l, i) => {
      try {
        return JSON.parse(l);
      } catch {
        assert.fail(`audit line ${i + 1} is not JSON: ${l}`);
      }
    });
    assert.equal(lines.length, 6, raw);
    const want = [
      ['send_otp', 'ok'],
      ['verify_otp', 'invalid_arguments'],
      ['resend_otp', 'refused'],
      ['list_campaigns', 'tool_error'],
      ['list_campaigns', 'cancelled'],
      ['get_event_types', 'ok'],
    ];
    const ended = Date.now();
    for (const [i, line] of lines.entries()) {
      const where = `line ${i + 1}: ${JSON.stringify(line)}`;
      assert.equal(line.tool, want[i][0], where);
      assert.equal(line.outcome, want[i][1], where);
      assert.ok(['ok', 'invalid_arguments', 'refused', 'tool_error', 'cancelled'].includes(line.outcome), where);
      assert.match(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, where);
      const t = Date.parse(line.time);
      assert.ok(t >= started - 1000 && t <= ended + 1000, `${where}: time out of the test's window`);
      assert.deepEqual(line.client, CLIENT_INFO, where);
      assert.equal(typeof line.arguments, 'object', where);
      assert.ok(line.arguments !== null, where);
      assert.ok('request_id' in line, where);
      assert.ok('http_status' in line, where);
      assert.equal(typeof line.duration_ms, 'number', where);
      assert.ok(line.duration_ms >= 0, where);
    }
    // Times are in call order.
    for (let i = 1; i < lines.length; i++) assert.ok(Date.parse(lines[i].time) >= Date.parse(lines[i - 1].time));

    const [ok, invalid, refusedLine, toolError, cancelled] = lines;
    assert.deepEqual(ok.arguments, { otp: '****', mobile: '+********3210', template_id: 'tmpl_audit' });
    assert.equal(typeof ok.request_id, 'string');
    assert.equal(ok.request_id, okResult.structuredContent.request_id);
    assert.equal(ok.http_status, 200);
    assert.deepEqual(invalid.arguments, { mobile: '+********3210', otp: '****' });
    assert.equal(invalid.http_status, null);
    assert.deepEqual(refusedLine.arguments, { mobile: '+********3210' });
    assert.equal(refusedLine.http_status, null);
    assert.deepEqual(toolError.arguments, { limit: 3 });
    assert.equal(toolError.http_status, 500);
    assert.deepEqual(cancelled.arguments, { page: 2 });
    // A cancelled call has no answer: it cannot have taken less than the
    // wait before the abort.
    assert.ok(cancelled.duration_ms >= 250, `cancelled after ${cancelled.duration_ms} ms`);
    assert.ok(cancelled.duration_ms < 2000, `cancelled after ${cancelled.duration_ms} ms: the abort was not acted on`);
    // No OTP code or full number anywhere.
    assert.ok(!raw.includes('123456'), 'an OTP code is in the audit log');
    assert.ok(!raw.includes('9876543210'), 'a full mobile number is in the audit log');
  });

  it('reopens the file on SIGHUP after it was moved away', async () => {
    const file = join(tmp, 'rotate.jsonl');
    const moved = join(tmp, 'rotate.jsonl.1');
    const s = await connect({ MSG91_AUDIT_LOG: file });
    try {
      assert.ok(Number.isInteger(s.pid) && s.pid > 0, 'the transport exposes no pid');
      const first = await s.client.callTool({ name: 'list_campaigns', arguments: { page: 1 } }, undefined, TIMEOUT);
      assert.notEqual(first.isError, true, text(first));
      await waitFor(() => readLines(file).length === 1, 'the first audit line');
      renameSync(file, moved);
      assert.ok(!existsSync(file));
      process.kill(s.pid, 'SIGHUP');
      // The reopen creates the file at the original path.
      await waitFor(() => existsSync(file), 'a new audit file at the original path after SIGHUP');
      const second = await s.client.callTool({ name: 'list_campaigns', arguments: { page: 2 } }, undefined, TIMEOUT);
      assert.notEqual(second.isError, true, text(second));
      await waitFor(() => readLines(file).length === 1, 'the second audit line in the new file');
      const oldLines = readLines(moved).map((l) => JSON.parse(l));
      const newLines = readLines(file).map((l) => JSON.parse(l));
      assert.equal(oldLines.length, 1);
      assert.deepEqual(oldLines[0].arguments, { page: 1 });
      assert.equal(newLines.length, 1);
      assert.deepEqual(newLines[0].arguments, { page: 2 });
      assert.equal(statSync(file).mode & 0o777, 0o600);
      // The server survived the signal.
      assert.equal(s.transport.pid, s.pid);
    } finally {
      await s.close();
    }
  });
});

describe('tool prefix', () => {
  it('MSG91_TOOL_PREFIX=msg91_ renames every tool; the bare name is unknown', async () => {
    const s = await connect({ MSG91_TOOL_PREFIX: 'msg91_' });
    try {
      const { tools } = await s.client.listTools(undefined, TIMEOUT);
      assert.deepEqual(tools.map((t) => t.name), TOOLS.map((t) => 'msg91_' + t.name));
      const r = await s.client.callTool({ name: 'msg91_list_campaigns', arguments: { limit: 2 } }, undefined, TIMEOUT);
      assert.notEqual(r.isError, true, text(r));
      assert.equal(r.structuredContent.campaigns.length, 2);
      await assert.rejects(
        s.client.callTool({ name: 'list_campaigns', arguments: {} }, undefined, TIMEOUT),
        (e) => e instanceof McpError && e.code === -32602,
      );
    } finally {
      await s.close();
    }
  });
});

describe('msg91-mcp call exit codes', () => {
  const call = (args, env = {}) => {
    const r = spawnSync(BIN, ['call', ...args], {
      env: serverEnv({ MSG91_BASE_URL: sandbox.url, MSG91_AUTH_KEY: KEY, ...env }),
      encoding: 'utf8',
      timeout: 15000,
    });
    assert.equal(r.error, undefined, String(r.error));
    assert.ok(!r.stdout.includes(KEY) && !r.stderr.includes(KEY), `the key is in the output of call ${args.join(' ')}`);
    return r;
  };

  it('0 on success, with the result on stdout', () => {
    const r = call(['list_campaigns', '{"limit":2}']);
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.structuredContent.campaigns.length, 2);
    assert.notEqual(result.isError, true);
    const viaArgs = call(['get_failed_events', '--arg', 'campaign_id=1001', '--arg', 'limit=1']);
    assert.equal(viaArgs.status, 0, viaArgs.stdout + viaArgs.stderr);
    assert.ok(JSON.parse(viaArgs.stdout).structuredContent);
  });

  it('2 when the tool reports an error (invalid arguments, HTTP 500)', async () => {
    const invalid = call(['list_campaigns', '{"limit":"2"}']);
    assert.equal(invalid.status, 2, invalid.stdout + invalid.stderr);
    assert.equal(JSON.parse(invalid.stdout).isError, true);
    await clearRules();
    await misbehave({ tool: 'list_campaigns', status: 500, count: 10 });
    try {
      const failed = call(['list_campaigns', '{}']);
      assert.equal(failed.status, 2, failed.stdout + failed.stderr);
      assert.match(JSON.parse(failed.stdout).content[0].text, /server error|HTTP 500/i);
    } finally {
      await clearRules();
    }
  });

  it('1 for usage errors: unknown tool, bad JSON, no tool', () => {
    for (const args of [['no_such_tool', '{}'], ['list_campaigns', '{bad json'], []]) {
      const r = call(args);
      assert.equal(r.status, 1, `call ${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stdout, '', `call ${args.join(' ')} printed a result`);
      assert.notEqual(r.stderr.trim(), '', `call ${args.join(' ')} said nothing on stderr`);
    }
  });

  it('1 for a configuration error (MSG91_TOOLS=nope)', () => {
    const r = call(['list_campaigns', '{}'], { MSG91_TOOLS: 'nope' });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /MSG91_TOOLS/);
  });

  it('0 for a dry run, which sends nothing', async () => {
    await clearRecorded();
    const r = call(['send_otp', JSON.stringify(VALID_ARGS.send_otp)], { MSG91_DRY_RUN: '1' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result._meta['msg91/dryRun'], true);
    assert.equal(JSON.parse(result.content[1].text).headers.authkey, '[REDACTED]');
    assert.deepEqual(await recorded(), []);
  });
});
