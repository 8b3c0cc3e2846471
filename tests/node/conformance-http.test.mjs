// The official MCP conformance suite (@modelcontextprotocol/conformance,
// the version of package-lock.json) against `msg91-mcp http` itself, with
// the requirement set of the 2025-11-25 revision. Every scenario passes
// except the checks listed, each with its reason, in
// conformance-http-expected-failures.yaml: the suite's exit status fails
// on any other failure and on a listed check that starts to pass. The
// 2026-07-28 set joins when the core speaks that revision.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HERE, NODE22, serverEnv, run } from './lib.mjs';
import { startHttpServer } from './httplib.mjs';

const CONFORMANCE = join(HERE, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
const EXPECTED = join(HERE, 'conformance-http-expected-failures.yaml');
// Scenarios that must pass outright, every check of them.
const MUST_PASS = ['server-initialize', 'logging-set-level', 'ping', 'tools-list', 'dns-rebinding-protection'];

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

describe('conformance 2025-11-25 against msg91-mcp http', () => {
  let server;
  let outDir;
  before(async () => {
    const { stdout } = await run(NODE22, ['--version'], { timeoutMs: 10000 });
    assert.match(stdout.trim(), /^v22\./, 'the tests must run under the pinned Node 22 (scripts/node-runtime)');
    outDir = mkdtempSync(join(tmpdir(), 'msg91-conformance-http-'));
    server = await startHttpServer({ args: ['--sandbox'], env: { MSG91_AUTH_KEY: 'conformance-key-1234' } });
  });
  after(async () => {
    await server?.stop();
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it('passes every scenario but the listed fixture checks', async () => {
    const r = await run(
      NODE22,
      [CONFORMANCE, 'server', '--url', server.url, '--requirements', '2025-11-25', '--expected-failures', EXPECTED, '-o', outDir],
      { env: serverEnv(), cwd: HERE, timeoutMs: 300000 },
    );
    const out = stripAnsi(r.stdout + r.stderr);
    assert.equal(r.code, 0, `exit ${r.code}${r.timedOut ? ' (timed out)' : ''}\n${out}\nserver:\n${server.stderr()}`);
    assert.doesNotMatch(out, /Unexpected failures/, out);
    for (const scenario of MUST_PASS) {
      const dir = readdirSync(outDir).find((d) => d.startsWith(`server-${scenario}-`));
      assert.ok(dir, `no results for ${scenario}`);
      const checks = JSON.parse(readFileSync(join(outDir, dir, 'checks.json'), 'utf8'));
      assert.ok(checks.length > 0, scenario);
      for (const c of checks) assert.ok(['SUCCESS', 'INFO'].includes(c.status), `${scenario}: ${JSON.stringify(c)}`);
    }
  });
});
