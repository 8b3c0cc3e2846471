// The official MCP conformance suite (@modelcontextprotocol/conformance,
// the version of package-lock.json) against `msg91-mcp http` itself, once
// per era: the requirement set of the 2025-11-25 revision (initialize
// handshake) and of the 2026-07-28 revision (stateless, per-request _meta).
// Every scenario passes except the checks listed, each with its reason, in
// that era's expected-failures file: the suite's exit status fails on any
// other failure and on a listed check that starts to pass.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HERE, NODE22, serverEnv, run } from './lib.mjs';
import { startHttpServer } from './httplib.mjs';

const CONFORMANCE = join(HERE, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
// Per era: the expected-failures file, and the scenarios that must pass
// outright, every check of them.
const ERAS = [
  {
    requirements: '2025-11-25',
    expected: join(HERE, 'conformance-http-expected-failures.yaml'),
    mustPass: ['server-initialize', 'logging-set-level', 'ping', 'tools-list', 'dns-rebinding-protection'],
  },
  {
    requirements: '2026-07-28',
    expected: join(HERE, 'conformance-http-expected-failures-2026-07-28.yaml'),
    mustPass: ['tools-list', 'dns-rebinding-protection', 'http-header-validation', 'server-sse-multiple-streams', 'input-required-result-unsupported-methods', 'input-required-result-validate-input'],
  },
];

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

for (const era of ERAS) {
  describe(`conformance ${era.requirements} against msg91-mcp http`, () => {
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
        [CONFORMANCE, 'server', '--url', server.url, '--requirements', era.requirements, '--expected-failures', era.expected, '-o', outDir],
        { env: serverEnv(), cwd: HERE, timeoutMs: 300000 },
      );
      const out = stripAnsi(r.stdout + r.stderr);
      assert.equal(r.code, 0, `exit ${r.code}${r.timedOut ? ' (timed out)' : ''}\n${out}\nserver:\n${server.stderr()}`);
      assert.doesNotMatch(out, /Unexpected failures|Stale baseline/, out);
      for (const scenario of era.mustPass) {
        const dir = readdirSync(outDir).find((d) => d.startsWith(`server-${scenario}-2`));
        assert.ok(dir, `no results for ${scenario}`);
        const checks = JSON.parse(readFileSync(join(outDir, dir, 'checks.json'), 'utf8'));
        assert.ok(checks.length > 0, scenario);
        for (const c of checks) assert.ok(['SUCCESS', 'INFO'].includes(c.status), `${scenario}: ${JSON.stringify(c)}`);
      }
    });
  });
}
