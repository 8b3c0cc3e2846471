// The auth key never leaves the server (tool contract, "What never happens";
// README "Operator controls", "The key"). One long, noisy session of the
// official SDK client (debug logging on stderr and as notifications, the
// audit log on) goes through every failure kind the sandbox can stage, calls
// that carry the key in their arguments, upstream answers that echo the key,
// and successful calls of every tool; then a dry-run server, a raw stdio
// session and the `call` command. Everything the server wrote is searched
// for the key, and "[REDACTED]" must show up where the key would have been,
// so a server that dropped those texts instead would fail too.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { BIN, TOOLS, serverEnv, startSandbox, sandboxControl, sandboxOtp, killTree, sleep, RawSession } from './lib.mjs';

// Distinctive, and within ^[A-Za-z0-9_-]+$ so it passes as a template id.
const KEY = 'K3y-' + randomBytes(16).toString('hex');
const MOBILE = '+919876543210';
const DIGITS = '919876543210';
const TIMEOUT = { timeout: 10000 };
const MARK = '[REDACTED]';

let sandbox;
let tmp;
const sessions = new Set();

const sb = (path, opts) => sandboxControl(sandbox.url, path, opts);
const misbehave = (rule) => sb('misbehave', { method: 'POST', body: rule });
const clearRules = () => sb('misbehave', { method: 'DELETE' });

// A server against the sandbox, spoken to by the SDK client, with everything
// it writes captured: stderr, the raw stdout bytes (tapped from the
// transport's child process), every parsed message, every notification.
async function connect(env, { key = KEY, logLevel = 'debug' } = {}) {
  const transport = new StdioClientTransport({
    command: BIN,
    args: [],
    env: serverEnv({ MSG91_BASE_URL: sandbox.url, MSG91_AUTH_KEY: key, ...env }),
    stderr: 'pipe',
  });
  const cap = { stderr: '', stdout: '', messages: [], notifications: [], results: [], errors: [] };
  transport.stderr.setEncoding('utf8');
  transport.stderr.on('data', (d) => (cap.stderr += d));
  // The raw bytes: the transport keeps its child in _process; tap its
  // stdout as soon as it is spawned, before anything was written.
  const start = transport.start.bind(transport);
  transport.start = async () => {
    await start();
    transport._process?.stdout?.on('data', (d) => (cap.stdout += d.toString('utf8')));
  };
  const client = new Client({ name: 'secrets-test', version: '1.0.0' });
  client.onerror = (e) => cap.errors.push(String(e?.stack || e));
  client.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => {
    cap.notifications.push(n);
  });
  client.fallbackNotificationHandler = async (n) => {
    cap.notifications.push(n);
  };
  await client.connect(transport, TIMEOUT);
  // Every parsed message from here on (the raw tap covers initialize).
  const onmessage = transport.onmessage;
  transport.onmessage = (m, extra) => {
    cap.messages.push(m);
    onmessage?.(m, extra);
  };
  if (logLevel) await client.setLoggingLevel(logLevel, TIMEOUT);
  const pid = transport.pid;
  const s = {
    client,
    transport,
    cap,
    // Calls a tool and keeps whatever comes back (result or error).
    async call(name, args, opts = TIMEOUT) {
      try {
        const r = await client.callTool({ name, arguments: args }, undefined, opts);
        cap.results.push(r);
        return r;
      } catch (e) {
        cap.results.push({ thrown: String(e), code: e?.code, data: e?.data });
        throw e;
      }
    },
    async close() {
      sessions.delete(s);
      await client.close().catch(() => {});
      if (pid) await killTree(pid, { graceMs: 500 });
    },
  };
  sessions.add(s);
  assert.ok(transport._process, 'the SDK transport no longer keeps its child in _process: the raw stdout tap needs a new hook');
  return s;
}

const text = (r) => r.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');
const readIf = (f) => (existsSync(f) ? readFileSync(f, 'utf8') : '');

// Each place the server writes to, as one string each, for searching.
function haystacks(s, auditFile) {
  return {
    stderr: s.cap.stderr,
    'raw stdout': s.cap.stdout,
    'parsed messages': JSON.stringify(s.cap.messages),
    notifications: JSON.stringify(s.cap.notifications),
    'tool results': JSON.stringify(s.cap.results),
    'tool result texts': s.cap.results.map((r) => (r.content ? text(r) : r.thrown)).join('\n'),
    'audit log': auditFile ? readIf(auditFile) : '',
  };
}

function assertNoKey(hay, key = KEY) {
  for (const [where, h] of Object.entries(hay)) {
    const i = h.indexOf(key);
    assert.equal(i, -1, `the key appears in ${where}: ...${h.slice(Math.max(0, i - 120), i + key.length + 40)}...`);
  }
}

// Every run of 12 characters of the key: a cut-off key is still a leak.
function assertNoKeyFragment(hay, key = KEY, len = 12) {
  for (const [where, h] of Object.entries(hay)) {
    for (let i = 0; i + len <= key.length; i++) {
      const frag = key.slice(i, i + len);
      const at = h.indexOf(frag);
      assert.equal(at, -1, `${len} characters of the key (${frag}) appear in ${where}: ...${h.slice(Math.max(0, at - 80), at + len + 40)}...`);
    }
  }
}

before(async () => {
  sandbox = await startSandbox();
  tmp = mkdtempSync(join(tmpdir(), 'msg91-secrets-'));
});

after(async () => {
  for (const s of [...sessions]) await s.close();
  await sandbox?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the auth key never leaves the server', () => {
  it('one long noisy session: every failure kind, the key in arguments and in answers, every tool', async () => {
    const audit = join(tmp, 'noisy.jsonl');
    await sb('reset', { method: 'POST' });
    // The session repeats sends to one number on purpose: no limits.
    const s = await connect({ MSG91_LOG_LEVEL: 'debug', MSG91_AUDIT_LOG: audit, MSG91_TIMEOUT_MS: '500', MSG91_OTP_PER_RECIPIENT_PER_HOUR: '0', MSG91_DUPLICATE_WINDOW_S: '0' });
    try {
      const { tools } = await s.client.listTools(undefined, TIMEOUT);
      assert.equal(tools.length, 8);

      // ---- successful calls of every tool
      const sent = await s.call('send_otp', { mobile: MOBILE, template_id: 'tmpl_secrets', otp_length: 6 });
      assert.notEqual(sent.isError, true, text(sent));
      const resent = await s.call('resend_otp', { mobile: MOBILE, retry_type: 'text' });
      assert.notEqual(resent.isError, true, text(resent));
      const code = await sandboxOtp(sandbox.url, DIGITS);
      const verified = await s.call('verify_otp', { mobile: MOBILE, otp: code });
      assert.equal(verified.structuredContent?.verified, true, text(verified));
      for (const [name, args] of [
        ['send_sms_flow', { template_id: 'flow_secrets', recipients: [{ mobiles: DIGITS, name: 'Asha' }] }],
        ['create_user_events', { identifier: 'contact-1001', events: [{ name: 'login', properties: { plan: 'gold' } }] }],
        ['get_event_types', {}],
        ['get_failed_events', { campaign_id: '1001', limit: 2 }],
        ['list_campaigns', { limit: 3 }],
      ]) {
        const r = await s.call(name, args);
        assert.notEqual(r.isError, true, `${name}: ${text(r)}`);
        assert.ok(r.structuredContent, name);
      }

      // ---- the key inside the arguments
      const keyTemplate = await s.call('send_otp', { mobile: MOBILE, template_id: KEY, otp: '7391' });
      assert.notEqual(keyTemplate.isError, true, text(keyTemplate));
      const keyFlow = await s.call('send_sms_flow', { template_id: KEY, recipients: [{ mobiles: DIGITS, note: KEY }] });
      assert.notEqual(keyFlow.isError, true, text(keyFlow));
      const keyEvents = await s.call('create_user_events', { identifier: KEY, events: [{ name: KEY, properties: { k: KEY } }] });
      assert.notEqual(keyEvents.isError, true, text(keyEvents));
      const keyCampaign = await s.call('get_failed_events', { campaign_id: KEY });
      assert.equal(keyCampaign.isError, true, text(keyCampaign));
      assert.ok(text(keyCampaign).includes(`"${MARK}"`), `the campaign id should be echoed redacted: ${text(keyCampaign)}`);
      const keyInvalid = await s.call('send_otp', { mobile: KEY, template_id: KEY, otp: KEY, [KEY]: KEY });
      assert.equal(keyInvalid.isError, true);
      assert.match(text(keyInvalid), /^Invalid arguments for send_otp/);
      const keyVars = await s.call('send_otp', { mobile: MOBILE, template_id: 'tmpl_vars', variables: { name: KEY } });
      assert.notEqual(keyVars.isError, true, text(keyVars));
      // Unknown tool named after the key: a protocol error that names it.
      await assert.rejects(s.call(KEY, {}), (e) => e.code === -32602 && e.message.includes(MARK) && !e.message.includes(KEY));
      await assert.rejects(s.call('no_such_tool', { x: KEY }), (e) => e.code === -32602);

      // ---- every failure kind, staged by the sandbox. Each rule outlasts
      // the read-only tools' retries; `want` proves the kind really happened.
      const otpArgs = { mobile: MOBILE, template_id: 'tmpl_fail' };
      const failures = [
        ['401', 'list_campaigns', {}, { status: 401 }, /rejected the auth key/],
        ['401 echoing the key', 'list_campaigns', {}, { status: 401, body: JSON.stringify({ status: 'fail', hasError: true, errors: `Unauthorized key ${KEY}` }) }, /rejected the auth key/],
        ['403', 'get_event_types', {}, { status: 403 }, /rejected the auth key/],
        ['404', 'get_failed_events', { campaign_id: '1001' }, { status: 404 }, /did not find/],
        ['413', 'send_sms_flow', { template_id: 'f1', recipients: [{ mobiles: DIGITS }] }, { status: 413 }, /too large/],
        ['429 with Retry-After', 'list_campaigns', {}, { retry_after: 30 }, /rate limited.*30 s/],
        ['429 on a send', 'send_otp', otpArgs, { status: 429, retry_after: 7 }, /rate limited.*7 s/],
        ['500', 'send_otp', otpArgs, { status: 500 }, /server error \(HTTP 500\)/],
        ['500 on a read, retried', 'list_campaigns', {}, { status: 500 }, /server error \(HTTP 500\)/],
        ['502 page echoing the key', 'resend_otp', { mobile: MOBILE }, { status: 502, body: `<html>bad gateway for authkey=${KEY}</html>`, content_type: 'text/html' }, /HTTP 502/],
        ['503', 'create_user_events', { identifier: 'contact-1002', events: [{ name: 'logout' }] }, { status: 503 }, /HTTP 503/],
        ['non-JSON body echoing the key', 'send_otp', otpArgs, { body: `proxy says: authkey ${KEY} refused`, content_type: 'text/plain' }, /not JSON/],
        ['JSON error echoing the key', 'verify_otp', { mobile: MOBILE, otp: '1234' }, { body: JSON.stringify({ type: 'error', message: `Invalid authkey ${KEY}` }) }, /MSG91 returned an error/],
        ['field errors keyed by the key', 'list_campaigns', {}, { status: 422, body: JSON.stringify({ status: 'fail', hasError: true, errors: { [KEY]: [`bad ${KEY}`] } }) }, /./],
        ['unexpected shape echoing the key', 'send_sms_flow', { template_id: 'f2', recipients: [{ mobiles: DIGITS }] }, { body: JSON.stringify({ type: 'success', weird: KEY }) }, /./],
        ['empty body', 'send_otp', otpArgs, { body: '' }, /empty body|not JSON/],
        ['huge body', 'list_campaigns', {}, { huge_bytes: 9 * 1024 * 1024 }, /too large/],
        ['connection reset', 'send_otp', otpArgs, { reset: true }, /connection|dropped|reset/i],
        ['delay beyond MSG91_TIMEOUT_MS', 'send_otp', otpArgs, { delay_ms: 1500 }, /timed out after 500 ms/],
      ];
      const echoed = [];
      for (const [label, tool, args, rule, want] of failures) {
        await clearRules();
        await misbehave({ tool, count: 5, ...rule });
        const r = await s.call(tool, args);
        assert.equal(r.isError, true, `${label}: ${JSON.stringify(r)}`);
        assert.match(text(r), want, `${label}: ${text(r)}`);
        if (text(r).includes(MARK)) echoed.push(label);
      }
      await clearRules();
      // Where the answer echoed the key and the server quotes the answer,
      // the quote shows the mark in its place.
      for (const label of ['non-JSON body echoing the key', 'JSON error echoing the key'])
        assert.ok(echoed.includes(label), `${label}: no ${MARK} in the result (echoed: ${echoed.join(', ')})`);

      // A cancelled call, while the sandbox holds the answer.
      await misbehave({ tool: 'get_event_types', delay_ms: 400, count: 1 });
      const ac = new AbortController();
      const pending = s.call('get_event_types', {}, { timeout: 5000, signal: ac.signal });
      await sleep(100);
      ac.abort();
      await assert.rejects(pending);
      await sleep(500);
      await clearRules();
      // And the session is still well after all that.
      const last = await s.call('list_campaigns', { page: 2, limit: 1 });
      assert.notEqual(last.isError, true, text(last));
    } finally {
      await clearRules();
      await s.close();
    }

    // The server did hold the key and did use it: the sandbox saw it in the
    // authkey header (and as the template id we passed), never in a URL
    // built from the key setting.
    const { requests } = await sb('requests');
    assert.ok(requests.length > 20, `only ${requests.length} requests reached the sandbox`);
    assert.ok(requests.some((r) => r.headers.authkey === KEY), 'the sandbox never saw the key in the authkey header');
    assert.ok(requests.every((r) => !r.headers.authkey || r.headers.authkey === KEY));

    const hay = haystacks(s, audit);
    assertNoKey(hay);
    // Noisy indeed, and each output had the key to redact.
    assert.match(hay.stderr, /debug: /);
    assert.ok(hay.stderr.includes(MARK), 'stderr: the debug line of the call with template_id = key should show the mark');
    assert.ok(s.cap.notifications.filter((n) => n.method === 'notifications/message').length >= 20, 'few log notifications');
    assert.ok(hay.notifications.includes(MARK), `notifications: no ${MARK}`);
    assert.ok(hay['tool results'].includes(MARK), `tool results: no ${MARK}`);
    assert.ok(hay['raw stdout'].length > 1000 && hay['raw stdout'].includes(MARK), `raw stdout: no ${MARK}`);
    assert.deepEqual(s.cap.errors, []);
    // The audit log: one line per tools/call of a known tool, arguments with
    // the key show the mark.
    const lines = hay['audit log'].split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.ok(lines.length >= 30, `only ${lines.length} audit lines`);
    const withKeyTemplate = lines.find((l) => l.tool === 'send_otp' && l.arguments.otp === '****' && l.arguments.template_id === MARK);
    assert.ok(withKeyTemplate, `no audit line with template_id ${MARK}: ${hay['audit log'].slice(0, 2000)}`);
    assert.equal(withKeyTemplate.outcome, 'ok');
    assert.ok(lines.some((l) => l.tool === 'create_user_events' && l.arguments.identifier === MARK));
    assert.ok(lines.some((l) => l.outcome === 'cancelled'));
  });

  it('a dry-run server shows the mark where the key was, in the request it returns', async () => {
    const audit = join(tmp, 'dry.jsonl');
    await sb('requests', { method: 'DELETE' });
    const s = await connect({ MSG91_DRY_RUN: '1', MSG91_LOG_LEVEL: 'debug', MSG91_AUDIT_LOG: audit });
    try {
      const otp = await s.call('send_otp', { mobile: MOBILE, template_id: KEY, variables: { v: KEY } });
      assert.equal(otp._meta?.['msg91/dryRun'], true);
      const otpReq = JSON.parse(otp.content[1].text);
      assert.equal(otpReq.headers.authkey, MARK);
      assert.ok(otpReq.url.includes(`template_id=${MARK}`) || JSON.stringify(otpReq.body).includes(MARK), `no mark where the template id was: ${otp.content[1].text}`);

      const flow = await s.call('send_sms_flow', { template_id: KEY, recipients: [{ mobiles: DIGITS, code: KEY }] });
      const flowReq = JSON.parse(flow.content[1].text);
      assert.equal(flowReq.body.template_id, MARK, flow.content[1].text);
      assert.equal(flowReq.body.recipients[0].code, MARK, flow.content[1].text);

      const events = await s.call('create_user_events', { identifier: KEY, events: [{ name: KEY }] });
      assert.ok(events.content[1].text.includes(MARK), events.content[1].text);
      const failed = await s.call('get_failed_events', { campaign_id: KEY });
      const failedReq = JSON.parse(failed.content[1].text);
      assert.ok(failedReq.url.includes(MARK) || JSON.stringify(failedReq.body).includes(MARK), failed.content[1].text);
      for (const { name } of TOOLS) {
        const args = {
          send_otp: { mobile: MOBILE, template_id: 't1' },
          resend_otp: { mobile: MOBILE },
          verify_otp: { mobile: MOBILE, otp: '1234' },
          send_sms_flow: { template_id: 'f1', recipients: [{ mobiles: DIGITS }] },
          create_user_events: { identifier: 'contact-1001', events: [{ name: 'login' }] },
          get_event_types: {},
          get_failed_events: { campaign_id: '1001' },
          list_campaigns: {},
        }[name];
        const r = await s.call(name, args);
        assert.equal(r._meta?.['msg91/dryRun'], true, name);
        assert.equal(JSON.parse(r.content[1].text).headers.authkey, MARK, name);
      }
    } finally {
      await s.close();
    }
    assert.deepEqual((await sb('requests')).requests, [], 'a dry run reached the sandbox');
    const hay = haystacks(s, audit);
    assertNoKey(hay);
    assert.ok(hay['audit log'].includes(MARK));
    assert.ok(hay['raw stdout'].includes(MARK));
  });

  it('a raw stdio session (our own JSON lines) writes only redacted bytes', async () => {
    const audit = join(tmp, 'raw.jsonl');
    const raw = new RawSession(
      [],
      serverEnv({ MSG91_BASE_URL: sandbox.url, MSG91_AUTH_KEY: KEY, MSG91_LOG_LEVEL: 'debug', MSG91_AUDIT_LOG: audit, MSG91_TIMEOUT_MS: '500' }),
    );
    const pid = raw.child.pid;
    try {
      raw.send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: `raw-${KEY}`, version: KEY } } });
      assert.match((await raw.response()).line, /"id":1,"result"/);
      raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      raw.send({ jsonrpc: '2.0', id: 2, method: 'logging/setLevel', params: { level: 'debug' } });
      await raw.response();
      const calls = [
        ['send_otp', { mobile: MOBILE, template_id: KEY }],
        ['get_failed_events', { campaign_id: KEY }],
        ['send_otp', { mobile: KEY }],
        [KEY, {}],
      ];
      let id = 10;
      for (const [name, args] of calls) {
        raw.send({ jsonrpc: '2.0', id: id++, method: 'tools/call', params: { name, arguments: args } });
        await raw.response();
      }
      // An id, a method and a cursor made of the key.
      raw.send({ jsonrpc: '2.0', id: KEY, method: 'tools/list', params: { cursor: KEY } });
      await raw.response();
      raw.send({ jsonrpc: '2.0', id: id++, method: KEY });
      await raw.response();
      raw.send(`{"jsonrpc":"2.0","id":${id++},"method":"${KEY}"`); // not JSON
      await raw.response();
      await clearRules();
      await misbehave({ tool: 'send_otp', count: 2, body: `<h1>${KEY}</h1>`, content_type: 'text/html' });
      raw.send({ jsonrpc: '2.0', id: id++, method: 'tools/call', params: { name: 'send_otp', arguments: { mobile: MOBILE, template_id: 'raw1' } } });
      const { line } = await raw.response();
      assert.ok(line.includes(MARK), line);
      await raw.quiet(100);
    } finally {
      await clearRules();
      await raw.close();
      await killTree(pid, { graceMs: 200 });
    }
    const out = raw.all.join('\n');
    assert.ok(out.length > 500);
    assertNoKey({ 'raw stdout': out, stderr: raw.stderr, 'audit log': readIf(audit) });
    assert.ok(out.includes(MARK), 'raw stdout: no mark');
    for (const l of raw.all) JSON.parse(l); // nothing but JSON on stdout
    // The client info echoed into the audit line (client name, version) is redacted too.
    const lines = readIf(audit).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.ok(lines.length >= 3);
    for (const l of lines) assert.equal(l.client.version, MARK);
  });

  it('`msg91-mcp call` with debug logging prints no key', async () => {
    const audit = join(tmp, 'cli.jsonl');
    await clearRules();
    const env = serverEnv({ MSG91_BASE_URL: sandbox.url, MSG91_AUTH_KEY: KEY, MSG91_LOG_LEVEL: 'debug', MSG91_AUDIT_LOG: audit });
    const runs = [
      ['send_otp', JSON.stringify({ mobile: MOBILE, template_id: KEY })],
      ['get_failed_events', '--arg', `campaign_id=${KEY}`],
      ['send_otp', JSON.stringify({ mobile: KEY })],
    ];
    let all = '';
    for (const args of runs) {
      const r = spawnSync(BIN, ['call', ...args], { env, encoding: 'utf8', timeout: 15000 });
      assert.equal(r.error, undefined);
      all += r.stdout + r.stderr;
      assertNoKey({ [`call ${args[0]} stdout`]: r.stdout, [`call ${args[0]} stderr`]: r.stderr });
    }
    const dry = spawnSync(BIN, ['call', 'send_otp', JSON.stringify({ mobile: MOBILE, template_id: KEY })], {
      env: { ...env, MSG91_DRY_RUN: '1' },
      encoding: 'utf8',
      timeout: 15000,
    });
    assert.equal(dry.status, 0, dry.stderr);
    assertNoKey({ 'dry call stdout': dry.stdout, 'dry call stderr': dry.stderr, 'audit log': readIf(audit) });
    assert.ok(dry.stdout.includes(MARK));
    assert.ok(all.includes(MARK));
  });
});

describe('the key in forms the exact-value redaction may miss', () => {
  // MSG91 or a proxy in front of it may echo the key back; the server quotes
  // such answers in excerpts of 200 (non-JSON) or 300 (MSG91's message)
  // characters. When the cut falls inside the key, the remaining part no
  // longer matches the key by value.
  it('an excerpt cut inside an echoed key leaks no part of it', async () => {
    const audit = join(tmp, 'cut.jsonl');
    const s = await connect({ MSG91_LOG_LEVEL: 'debug', MSG91_AUDIT_LOG: audit });
    try {
      const otpArgs = { mobile: MOBILE, template_id: 'tmpl_cut' };
      // Padding that puts the cut about halfway into the key (200 and 300
      // are the excerpt limits of tools/answer.c), and a little earlier.
      const half = Math.floor(KEY.length / 2);
      const rules = [];
      for (const back of [0, 12]) {
        rules.push({ body: 'y'.repeat(200 - half - back) + KEY + '</p>', content_type: 'text/html' });
        rules.push({ body: JSON.stringify({ type: 'error', message: 'm'.repeat(300 - half - back) + KEY }) });
      }
      for (const rule of rules) {
        await clearRules();
        await misbehave({ tool: 'send_otp', count: 2, ...rule });
        const r = await s.call('send_otp', otpArgs);
        assert.equal(r.isError, true);
      }
    } finally {
      await clearRules();
      await s.close();
    }
    const hay = haystacks(s, audit);
    assertNoKey(hay);
    assertNoKeyFragment(hay);
  });

  // A key with characters that JSON escapes (" and \) is written escaped in
  // every JSON line, where its raw value is not found.
  it('a key with characters JSON escapes is redacted in JSON output too', async () => {
    const odd = 'Q"uo\\te-' + randomBytes(8).toString('hex');
    const escaped = JSON.stringify(odd).slice(1, -1);
    const audit = join(tmp, 'escaped.jsonl');
    const s = await connect({ MSG91_LOG_LEVEL: 'debug', MSG91_AUDIT_LOG: audit }, { key: odd });
    try {
      await clearRules();
      await misbehave({ tool: 'send_otp', count: 2, body: JSON.stringify({ type: 'error', message: `Invalid authkey ${odd}` }) });
      const r = await s.call('send_otp', { mobile: MOBILE, template_id: 'tmpl_esc' });
      assert.equal(r.isError, true);
    } finally {
      await clearRules();
      await s.close();
    }
    const hay = haystacks(s, audit);
    assertNoKey(hay, odd);
    assertNoKey(hay, escaped);
  });
});
