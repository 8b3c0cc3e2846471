// Safe sends when several machines serve one account (issue 13, "What must
// be shown"): three `msg91-mcp http` instances behind nginx, all on one
// real redis-server (MSG91_STORE=redis://...), the sandbox as MSG91. Every
// process is a child of this test, on a free loopback port, stopped at the
// end. nginx balances /mcp round-robin and routes /iN/mcp to instance N, so
// a test can name the instance each call reaches while still going through
// the balancer. What MSG91 received is the sandbox's own record.
//
// One key at several instances at once, as the contract ("Safe sends")
// implies: exactly one call runs and is answered normally; a caller whose
// call arrives while it runs gets the tool error "in progress"; one that
// arrives (or retries) after it gets the stored result marked
// `_meta["msg91/replayed"]: true`. So once every "in progress" caller has
// retried, all hold the same result, one unmarked and the others marked.
// Also: a mismatched key, the OTP limit per number across instances, an
// instance killed mid-send (its key reads "outcome unknown" elsewhere and
// is never sent again) and Redis stopped (sends refused, reads served).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSandbox, sandboxControl } from './lib.mjs';
import { startHttpServer } from './httplib.mjs';
import {
  TIMEOUT,
  callSettled,
  checkOneOriginal,
  connectHttp,
  hasSafeSends,
  instanceAudit,
  instanceEnv,
  isInProgress,
  isReplay,
  removeDir,
  startNginx,
  startRedis,
  sendsReceived,
  stats,
  tempDir,
  text,
  waitFor,
} from './scale-out-lib.mjs';

const KEY = 'scale-out-test-key-5d1e';
// Redis with a password, as a shared store on a network would have; no
// output may show it.
const REDIS_PASSWORD = 'scale-out-redis-pw-9c4b';
const OTP_LIMIT = 3;
const INSTANCES = 3;

const flow = (mobile, key, extra = {}) => ({
  name: 'send_sms_flow',
  arguments: { template_id: 'FLOW_SCALE', recipients: [{ mobiles: mobile, name: 'Asha', ...extra }], idempotency_key: key },
});
const otp = (mobile, key) => ({ name: 'send_otp', arguments: { mobile, template_id: 'OTP_SCALE', idempotency_key: key } });

describe('scale-out: three msg91-mcp http instances behind nginx on one Redis', () => {
  let dir, sandbox, redis, nginx;
  const servers = [];
  const clients = []; // clients[i] reaches instance i through nginx
  let balanced; // through nginx's round-robin /mcp
  const audit = (i) => instanceAudit(dir, i);
  // Runs fn, then waits until expect(lines) holds, lines[i] being the audit
  // lines instance i wrote for calls with an idempotency_key that mine()
  // accepts (a line may be written after its answer is sent, so the lines
  // of other tests' calls may still arrive meanwhile).
  async function auditDuring(fn, mine, expect) {
    const out = await fn();
    let lines;
    const now = () => (lines = Array.from({ length: INSTANCES }, (_, i) => audit(i).filter((l) => mine(l.arguments?.idempotency_key ?? ''))));
    await waitFor(() => expect(now(), out), { what: () => `the audit lines (so far ${JSON.stringify(lines)})` });
    return { out, lines };
  }
  const count = (ls, outcome) => ls.filter((l) => l.outcome === outcome).length;
  const received = () => sendsReceived(sandbox.url);

  before(async () => {
    dir = tempDir('scale-out');
    sandbox = await startSandbox();
    redis = await startRedis(dir, { password: REDIS_PASSWORD });
    for (let i = 0; i < INSTANCES; i++) {
      servers.push(
        await startHttpServer({
          env: instanceEnv({ key: KEY, sandboxUrl: sandbox.url, store: redis.url, otpLimit: OTP_LIMIT, dir, i }),
        }),
      );
    }
    nginx = await startNginx(dir, servers.map((s) => s.url));
    for (let i = 0; i < INSTANCES; i++) clients.push(await connectHttp(nginx.instanceUrl(i)));
    balanced = await connectHttp(nginx.url);
    assert.ok(await hasSafeSends(balanced), 'send_otp takes an idempotency_key');
  });

  after(async () => {
    for (const c of [...clients, balanced]) await c?.close().catch(() => {});
    await nginx?.stop();
    for (const s of servers) await s.stop();
    await redis?.stop();
    await sandbox?.stop();
    removeDir(dir);
  });

  it('balances through nginx and every instance answers', async () => {
    const r = await fetch(`${nginx.base}/healthz`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { status: 'ok' });
    for (const c of clients) {
      const list = await c.callTool({ name: 'get_event_types', arguments: {} }, undefined, TIMEOUT);
      assert.equal(list.isError, undefined, text(list));
    }
    // Round-robin: six calls through /mcp reach every instance.
    for (let n = 0; n < 6; n++) {
      const list = await balanced.callTool({ name: 'get_event_types', arguments: {} }, undefined, TIMEOUT);
      assert.equal(list.isError, undefined, text(list));
    }
    const reads = (i) => audit(i).filter((l) => l.tool === 'get_event_types').length;
    await waitFor(() => [0, 1, 2].reduce((n, i) => n + reads(i), 0) === INSTANCES + 6, { what: 'the audit lines of the reads' });
    for (let i = 0; i < INSTANCES; i++) assert.ok(reads(i) >= 2, `instance ${i} got ${reads(i) - 1} of the balanced calls`);
  });

  it('one key at three instances while the first call runs: "in progress", then the replay; MSG91 gets one request', async () => {
    const key = 'scale-held-1';
    const args = flow('+919800000001', key);
    const r0 = await received();
    // The sandbox holds the first send long enough for the others to
    // arrive while it runs; the check below proves they did.
    await sandboxControl(sandbox.url, 'misbehave', { method: 'POST', body: { tool: 'send_sms_flow', delay_ms: 4000, count: 1 } });
    const { out, lines } = await auditDuring(async () => {
      const first = clients[0].callTool(args, undefined, TIMEOUT);
      await waitFor(async () => (await stats(sandbox.url)).inflight === 1, { what: 'the first send to reach the sandbox' });
      const during = await Promise.all([clients[1].callTool(args, undefined, TIMEOUT), clients[2].callTool(args, undefined, TIMEOUT)]);
      const stillHeld = (await stats(sandbox.url)).inflight === 1;
      const original = await first;
      const later = [];
      for (const c of clients.slice(1)) later.push(await callSettled(c, args));
      return { during, stillHeld, original, later };
    }, (k) => k === key, (ls) => count(ls[0], 'ok') === 1 && count(ls[1], 'replayed') === 1 && count(ls[2], 'replayed') === 1);
    assert.ok(out.stillHeld, 'the first send was no longer held by the sandbox when the others were answered (a 4 s hold was too short here)');
    for (const r of out.during) assert.ok(isInProgress(r), `expected "in progress", got ${JSON.stringify(r)}`);
    for (const r of out.during) assert.ok(!isReplay(r));
    checkOneOriginal(assert, [{ result: out.original }, ...out.later]);
    assert.ok(!isReplay(out.original));
    for (const { result, inProgress } of out.later) {
      assert.ok(isReplay(result), JSON.stringify(result));
      assert.equal(inProgress, 0, 'the first call had ended: a retry gets the replay at once');
    }
    assert.match(out.original.structuredContent.request_id, /^[0-9a-f]{24}$/);
    assert.equal((await received()) - r0, 1, 'MSG91 received the send once');
    assert.deepEqual(lines[0].map((l) => l.outcome), ['ok']);
    for (const i of [1, 2]) assert.equal(lines[i].filter((l) => l.outcome === 'replayed').length, 1, JSON.stringify(lines[i]));
  });

  it('one key at three instances at the same moment: one send, three identical results', async (t) => {
    for (let round = 0; round < 3; round++) {
      const args = flow(`+91980000010${round}`, `scale-race-${round}`);
      const r0 = await received();
      const { out: settled, lines } = await auditDuring(
        () => Promise.all(clients.map((c) => callSettled(c, args))),
        (k) => k === `scale-race-${round}`,
        (ls) => ls.reduce((n, l) => n + count(l, 'ok') + count(l, 'replayed'), 0) === INSTANCES,
      );
      const first = checkOneOriginal(assert, settled);
      t.diagnostic(`round ${round}: instance ${first} sent; "in progress" answers before the replay: ${settled.map((x) => x.inProgress).join(', ')}`);
      assert.equal((await received()) - r0, 1, `round ${round}: MSG91 received the send once`);
      // "in progress" answers are tool errors; what matters is who sent.
      const outcomes = lines.map((ls) => ls.filter((l) => ['ok', 'replayed'].includes(l.outcome)).map((l) => l.outcome));
      assert.deepEqual(outcomes[first], ['ok'], JSON.stringify(lines));
      for (let i = 0; i < INSTANCES; i++) if (i !== first) assert.deepEqual(outcomes[i], ['replayed'], JSON.stringify(lines));
    }
  });

  it('the same key with other arguments at another instance is refused and sends nothing', async () => {
    const key = 'scale-mismatch';
    const sent = await clients[0].callTool(flow('+919800000201', key), undefined, TIMEOUT);
    assert.notEqual(sent.isError, true, text(sent));
    const r0 = await received();
    const other = await clients[1].callTool(flow('+919800000202', key), undefined, TIMEOUT);
    assert.equal(other.isError, true, JSON.stringify(other));
    assert.ok(!isInProgress(other) && !isReplay(other), text(other));
    assert.match(text(other), /idempotency/i);
    assert.equal(await received(), r0, 'nothing was sent');
  });

  it(`the OTP limit per recipient (${OTP_LIMIT} an hour) holds across the instances`, async () => {
    const mobile = '+919800000301';
    const r0 = await received();
    for (let n = 0; n < OTP_LIMIT; n++) {
      const r = await clients[n % INSTANCES].callTool(otp(mobile, `scale-otp-${n}`), undefined, TIMEOUT);
      assert.notEqual(r.isError, true, `send ${n + 1} via instance ${n % INSTANCES}: ${text(r)}`);
    }
    assert.equal((await received()) - r0, OTP_LIMIT);
    // The next one is refused whichever instance it reaches.
    const { out: refused, lines } = await auditDuring(async () => {
      const rs = [];
      for (let i = 0; i < INSTANCES; i++) rs.push(await clients[i].callTool(otp(mobile, `scale-otp-over-${i}`), undefined, TIMEOUT));
      rs.push(await balanced.callTool(otp(mobile, 'scale-otp-over-balanced'), undefined, TIMEOUT));
      return rs;
    }, (k) => k.startsWith('scale-otp-over-'), (ls) => ls.reduce((n, l) => n + count(l, 'limited'), 0) === INSTANCES + 1);
    for (const r of refused) {
      assert.equal(r.isError, true, JSON.stringify(r));
      assert.ok(!isInProgress(r), text(r));
      assert.match(text(r), /recipient|per hour/i, 'the error says which limit');
    }
    for (let i = 0; i < INSTANCES; i++) assert.ok(lines[i].length >= 1 && lines[i].every((l) => l.outcome === 'limited'), JSON.stringify(lines[i]));
    assert.equal((await received()) - r0, OTP_LIMIT, 'no send past the limit reached MSG91');
    // Another number is not limited.
    const r = await clients[2].callTool(otp('+919800000302', 'scale-otp-other'), undefined, TIMEOUT);
    assert.notEqual(r.isError, true, text(r));
  });

  it('an instance that dies while its send runs: a retry at another instance is "in progress", then "outcome unknown", and never sends', async () => {
    // A fourth instance on the same Redis whose claims hold for about 15 s
    // (the lease: its timeout times the turns a call may wait, plus 10 s).
    const doomed = await startHttpServer({
      env: {
        MSG91_AUTH_KEY: KEY,
        MSG91_BASE_URL: sandbox.url,
        MSG91_STORE: redis.url,
        MSG91_TIMEOUT_MS: '1000',
        MSG91_MAX_INFLIGHT: '1',
        MSG91_MAX_QUEUE: '1',
        MSG91_LOG_LEVEL: 'error',
      },
    });
    const key = 'scale-died-1';
    const args = flow('+919800000601', key);
    const r0 = await received();
    try {
      await sandboxControl(sandbox.url, 'misbehave', { method: 'POST', body: { tool: 'send_sms_flow', delay_ms: 60000, count: 1 } });
      const c = await connectHttp(doomed.url);
      const pending = c.callTool(args, undefined, TIMEOUT).catch((e) => e);
      await waitFor(async () => (await stats(sandbox.url)).inflight === 1, { what: 'the doomed send to reach the sandbox' });
      doomed.child.kill('SIGKILL');
      await doomed.exited;
      assert.ok((await pending) instanceof Error, 'the dead instance answered nothing');
      await c.close().catch(() => {});
    } finally {
      await doomed.stop();
    }
    const first = await callSettled(clients[1], args);
    assert.ok(first.inProgress >= 1, 'within the lease the key is still "in progress"');
    assert.equal(first.result.isError, true, JSON.stringify(first.result));
    assert.ok(!isReplay(first.result));
    assert.match(text(first.result), /unknown/i, 'the retry says the outcome is unknown');
    const again = await clients[2].callTool(args, undefined, TIMEOUT);
    assert.match(text(again), /unknown/i);
    assert.equal((await received()) - r0, 1, 'only the dead instance\'s send reached MSG91');
    await sandboxControl(sandbox.url, 'misbehave', { method: 'DELETE' });
  });

  it('with Redis stopped, sends are refused with a tool error and reads still answer; sends resume when it is back', async () => {
    await redis.stop();
    const r0 = await received();
    for (let i = 0; i < INSTANCES; i++) {
      const keyed = await clients[i].callTool(otp('+919800000401', `scale-down-${i}`), undefined, TIMEOUT);
      assert.equal(keyed.isError, true, JSON.stringify(keyed));
      assert.ok(!isInProgress(keyed), text(keyed));
      assert.match(text(keyed), /store/i, 'the error names the unreachable store');
      assert.ok(!text(keyed).includes(REDIS_PASSWORD), 'the error shows the Redis password');
      // Without a key the duplicate guard needs the store as much.
      const unkeyed = await clients[i].callTool(
        { name: 'send_sms_flow', arguments: { template_id: 'FLOW_SCALE', recipients: [{ mobiles: `+91980000041${i}` }] } },
        undefined,
        TIMEOUT,
      );
      assert.equal(unkeyed.isError, true, JSON.stringify(unkeyed));
      assert.match(text(unkeyed), /store/i);
      for (const read of [
        { name: 'list_campaigns', arguments: { limit: 2 } },
        { name: 'get_event_types', arguments: {} },
      ]) {
        const r = await clients[i].callTool(read, undefined, TIMEOUT);
        assert.equal(r.isError, undefined, `${read.name} via instance ${i}: ${text(r)}`);
      }
    }
    const list = await balanced.callTool({ name: 'list_campaigns', arguments: { limit: 1 } }, undefined, TIMEOUT);
    assert.equal(list.structuredContent.campaigns.length, 1);
    assert.equal(await received(), r0, 'no send reached MSG91 while the store was down');

    // Redis back on its port: each instance reconnects (with backoff) and
    // a client retrying the same key gets the send done once.
    await redis.start();
    const r1 = await received();
    for (let i = 0; i < INSTANCES; i++) {
      let result;
      await waitFor(
        async () => {
          result = await clients[i].callTool(otp(`+91980000050${i}`, `scale-back-${i}`), undefined, TIMEOUT);
          return result.isError !== true;
        },
        { what: () => `instance ${i} to send again after Redis came back (last answer: ${result && text(result)})` },
      );
      assert.ok(!isReplay(result));
    }
    assert.equal((await received()) - r1, INSTANCES);
    for (const [i, s] of servers.entries()) {
      assert.ok(!s.stderr().includes(REDIS_PASSWORD), `instance ${i} wrote the Redis password on stderr`);
      assert.ok(!s.stderr().includes(KEY), `instance ${i} wrote the auth key on stderr`);
    }
    for (let i = 0; i < INSTANCES; i++) assert.ok(!JSON.stringify(audit(i)).includes(REDIS_PASSWORD));
  });
});
