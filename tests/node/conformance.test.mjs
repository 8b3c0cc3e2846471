// The official MCP conformance scenarios that a tool server without the
// suite's fixture tools can pass, run against the binary bridged from stdio
// to Streamable HTTP by supergateway (stateful: one server process per HTTP
// session). Conformance 0.1.16 needs Node >= 22: it runs on the Node 22
// binary from the `node` package. Everything stays on 127.0.0.1.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, HERE, NODE22, serverEnv, run, freePort, listeners, descendants, alive, killTree, sleep, exited } from './lib.mjs';

const SUPERGATEWAY = join(HERE, 'node_modules', 'supergateway', 'dist', 'index.js');
const CONFORMANCE = join(HERE, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
const LOOPBACK = join(HERE, 'loopback-only.mjs');
const SCENARIOS = ['server-initialize', 'tools-list', 'ping', 'logging-set-level'];

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

async function waitForHttp(url, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`supergateway exited with ${child.exitCode}`);
    try {
      // Any HTTP answer means it is listening; a GET without a session is refused.
      await fetch(url, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`supergateway did not answer on ${url} within ${timeoutMs} ms`);
}

describe('conformance (server scenarios) via supergateway', () => {
  let gateway;
  let gatewayLog = '';
  let url;
  let port;
  let outDir;
  const seen = new Set(); // every process ever below supergateway

  before(async () => {
    const { stdout } = await run(NODE22, ['--version'], { timeoutMs: 10000 });
    assert.match(stdout.trim(), /^v22\./, 'the tests must run under the pinned Node 22 (scripts/node-runtime)');
    outDir = mkdtempSync(join(tmpdir(), 'msg91-conformance-'));
    port = await freePort();
    url = `http://127.0.0.1:${port}/mcp`;
    gateway = spawn(
      process.execPath,
      [
        '--import', LOOPBACK, SUPERGATEWAY,
        '--stdio', BIN,
        '--outputTransport', 'streamableHttp',
        '--stateful',
        '--port', String(port),
        '--logLevel', 'none',
      ],
      { env: serverEnv(), cwd: HERE, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    gateway.stdout.setEncoding('utf8').on('data', (d) => (gatewayLog += d));
    gateway.stderr.setEncoding('utf8').on('data', (d) => (gatewayLog += d));
    // A bound, not a wait: supergateway takes 10 s to listen on a busy machine.
    await waitForHttp(url, gateway, 90000);
  });

  after(async () => {
    if (gateway) {
      for (const p of descendants(gateway.pid)) seen.add(p);
      // supergateway stops its own children on SIGTERM; then anything left
      // is killed by PID.
      try {
        process.kill(gateway.pid, 'SIGTERM');
      } catch {}
      await Promise.race([exited(gateway), sleep(6000)]);
      await killTree(gateway.pid, { graceMs: 500 });
      for (const p of seen) if (alive(p)) await killTree(p, { graceMs: 500 });
    }
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it('listens on loopback only', () => {
    const addrs = listeners(port);
    assert.ok(addrs.length > 0, `nothing listens on port ${port}`);
    for (const a of addrs)
      assert.ok(
        a === '0100007F' || a === '0000000000000000FFFF00000100007F',
        `port ${port} is bound to ${a}, not 127.0.0.1`,
      );
  });

  for (const scenario of SCENARIOS) {
    it(`${scenario}: Passed, 0 failed`, async () => {
      const r = await run(NODE22, [CONFORMANCE, 'server', '--url', url, '--scenario', scenario, '-o', outDir], {
        env: serverEnv(),
        cwd: HERE,
        timeoutMs: 60000,
      });
      for (const p of descendants(gateway.pid)) seen.add(p);
      const out = stripAnsi(r.stdout + r.stderr);
      const detail = `exit ${r.code}${r.timedOut ? ' (timed out)' : ''}\n${out}\nsupergateway:\n${gatewayLog}`;
      assert.equal(r.code, 0, detail);
      const m = out.match(/Passed: (\d+)\/(\d+), (\d+) failed, (\d+) warnings/);
      assert.ok(m, `no summary line:\n${detail}`);
      assert.ok(Number(m[2]) > 0, detail);
      assert.equal(m[1], m[2], detail);
      assert.equal(m[3], '0', detail);
      assert.equal(m[4], '0', detail);
      // The saved checks agree: every check of this scenario succeeded.
      const dir = readdirSync(outDir).find((d) => d.startsWith(`server-${scenario}-`));
      assert.ok(dir, `no results directory for ${scenario} in ${outDir}`);
      const checks = JSON.parse(readFileSync(join(outDir, dir, 'checks.json'), 'utf8'));
      assert.ok(checks.length > 0);
      for (const c of checks) assert.equal(c.status, 'SUCCESS', JSON.stringify(c));
    });
  }
});
