// Safe sends when several stdio servers run on one machine (issue 13, "What
// must be shown"): two `msg91-mcp` processes, as two MCP hosts would spawn
// them, with no MSG91_STORE, so both use the default SQLite store under
// $XDG_STATE_HOME (a temp directory here), and the sandbox as MSG91.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { BIN, run, serverEnv, startSandbox, sandboxControl } from './lib.mjs';
import {
  TIMEOUT,
  callSettled,
  checkOneOriginal,
  connectStdio,
  hasSafeSends,
  instanceAudit,
  instanceEnv,
  isInProgress,
  isReplay,
  removeDir,
  sendsReceived,
  stats,
  tempDir,
  text,
  waitFor,
} from './scale-out-lib.mjs';

const KEY = 'scale-out-stdio-key-77c2';
const OTP_LIMIT = 2;
const PROCESSES = 2;

const flow = (mobile, key) => ({
  name: 'send_sms_flow',
  arguments: { template_id: 'FLOW_STDIO', recipients: [{ mobiles: mobile, name: 'Ravi' }], idempotency_key: key },
});
const otp = (mobile, key) => ({ name: 'send_otp', arguments: { mobile, template_id: 'OTP_STDIO', idempotency_key: key } });

describe('scale-out: two stdio servers sharing the default SQLite store', () => {
  let dir, sandbox;
  const procs = [];
  const env = (i) => ({
    ...instanceEnv({ key: KEY, sandboxUrl: sandbox.url, store: '', otpLimit: OTP_LIMIT, dir, i }),
    // MSG91_STORE '': the default, SQLite under XDG_STATE_HOME
    XDG_STATE_HOME: join(dir, 'state'),
  });
  // Process i's audit lines of calls with an idempotency_key mine() accepts.
  const audit = (i, mine = () => true) => instanceAudit(dir, i).filter((l) => mine(l.arguments?.idempotency_key ?? ''));
  const received = () => sendsReceived(sandbox.url);

  before(async () => {
    dir = tempDir('scale-stdio');
    sandbox = await startSandbox();
    for (let i = 0; i < PROCESSES; i++) procs.push(await connectStdio(env(i)));
    assert.ok(await hasSafeSends(procs[0].client), 'send_otp takes an idempotency_key');
  });

  after(async () => {
    for (const p of procs) await p.client.close().catch(() => {});
    await sandbox?.stop();
    removeDir(dir);
  });

  it('both use the default store: SQLite under $XDG_STATE_HOME', async () => {
    const r = await run(BIN, ['state'], { env: serverEnv(env(0)) });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^store: sqlite:${join(dir, 'state', 'msg91-mcp', 'state.db').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n`));
    for (const p of procs) assert.doesNotMatch(p.stderr(), /memory/i, 'no fall-back to the memory store');
  });

  it('one key at both while the first call runs: "in progress", then the replay; MSG91 gets one request', async () => {
    const args = flow('+919811000001', 'stdio-held-1');
    const r0 = await received();
    await sandboxControl(sandbox.url, 'misbehave', { method: 'POST', body: { tool: 'send_sms_flow', delay_ms: 4000, count: 1 } });
    const first = procs[0].client.callTool(args, undefined, TIMEOUT);
    await waitFor(async () => (await stats(sandbox.url)).inflight === 1, { what: 'the first send to reach the sandbox' });
    const during = await procs[1].client.callTool(args, undefined, TIMEOUT);
    const stillHeld = (await stats(sandbox.url)).inflight === 1;
    const original = await first;
    const later = await callSettled(procs[1].client, args);
    assert.ok(stillHeld, 'the first send was no longer held by the sandbox when the second was answered (a 4 s hold was too short here)');
    assert.ok(isInProgress(during), `expected "in progress", got ${JSON.stringify(during)}`);
    checkOneOriginal(assert, [{ result: original }, later]);
    assert.ok(!isReplay(original));
    assert.ok(isReplay(later.result));
    assert.equal(later.inProgress, 0);
    assert.equal((await received()) - r0, 1, 'MSG91 received the send once');
    const mine = (k) => k === 'stdio-held-1';
    await waitFor(() => audit(0, mine).length === 1 && audit(1, mine).some((l) => l.outcome === 'replayed'), { what: 'the audit lines of the send and its replay' });
    assert.deepEqual(audit(0, mine).map((l) => l.outcome), ['ok']);
    assert.equal(audit(1, mine).filter((l) => l.outcome === 'replayed').length, 1);
  });

  it('one key at both at the same moment: one send, identical results', async (t) => {
    for (let round = 0; round < 5; round++) {
      const args = flow(`+91981100010${round}`, `stdio-race-${round}`);
      const r0 = await received();
      const settled = await Promise.all(procs.map((p) => callSettled(p.client, args)));
      const first = checkOneOriginal(assert, settled);
      t.diagnostic(`round ${round}: process ${first} sent; "in progress" answers before the replay: ${settled.map((x) => x.inProgress).join(', ')}`);
      assert.equal((await received()) - r0, 1, `round ${round}: MSG91 received the send once`);
    }
  });

  it(`the OTP limit per recipient (${OTP_LIMIT} an hour) holds across both processes`, async () => {
    const mobile = '+919811000301';
    const r0 = await received();
    for (let n = 0; n < OTP_LIMIT; n++) {
      const r = await procs[n % PROCESSES].client.callTool(otp(mobile, `stdio-otp-${n}`), undefined, TIMEOUT);
      assert.notEqual(r.isError, true, `send ${n + 1} via process ${n % PROCESSES}: ${text(r)}`);
    }
    const over = (k) => k.startsWith('stdio-otp-over-');
    for (let i = 0; i < PROCESSES; i++) {
      const r = await procs[i].client.callTool(otp(mobile, `stdio-otp-over-${i}`), undefined, TIMEOUT);
      assert.equal(r.isError, true, JSON.stringify(r));
      assert.match(text(r), /recipient|per hour/i, 'the error says which limit');
      await waitFor(() => audit(i, over).length > 0, { what: `the audit line of process ${i}'s refusal` });
      assert.deepEqual(audit(i, over).map((l) => l.outcome), ['limited']);
    }
    assert.equal((await received()) - r0, OTP_LIMIT, 'no send past the limit reached MSG91');
  });

  it('without a key, an identical send from the other process within the window is refused as a duplicate', async () => {
    const args = { name: 'send_sms_flow', arguments: { template_id: 'FLOW_STDIO', recipients: [{ mobiles: '+919811000401', name: 'Ravi' }] } };
    const r0 = await received();
    const first = await procs[0].client.callTool(args, undefined, TIMEOUT);
    assert.notEqual(first.isError, true, text(first));
    const number = (l) => l.tool === 'send_sms_flow' && /0401$/.test(l.arguments?.recipients?.[0]?.mobiles ?? '');
    const twin = await procs[1].client.callTool(args, undefined, TIMEOUT);
    assert.equal(twin.isError, true, JSON.stringify(twin));
    assert.ok(text(twin).includes(first.structuredContent.request_id), `the refusal names the earlier call: ${text(twin)}`);
    assert.equal((await received()) - r0, 1);
    await waitFor(() => audit(0).some(number) && audit(1).some(number), { what: 'the audit lines of the send and its twin' });
    assert.deepEqual(audit(0).filter(number).map((l) => l.outcome), ['ok']);
    assert.deepEqual(audit(1).filter(number).map((l) => l.outcome), ['duplicate']);
  });
});
