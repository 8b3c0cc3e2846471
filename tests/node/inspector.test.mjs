// The MCP Inspector CLI (non-interactive) against the server over stdio:
// tools/list with the --strict schema-portability lint, and tools/call
// against a sandbox-backed server, checking the documented exit codes
// (0 ok, 5 tool isError or tool not found, 6 --strict error).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, HERE, TOOLS, serverEnv, run, startSandbox, sandboxOtp } from './lib.mjs';

const INSPECTOR = realpathSync(join(HERE, 'node_modules', '.bin', 'mcp-inspector'));
const MOBILE = '+919876543210';

function inspector(args, { timeoutMs = 30000 } = {}) {
  return run(process.execPath, [INSPECTOR, '--cli', ...args], { env: serverEnv(), cwd: HERE, timeoutMs });
}

// The Inspector passes the server's stderr through; those lines start with
// "msg91-mcp: ". Everything else on stderr is the Inspector's own output.
function inspectorStderr(stderr) {
  return stderr
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('msg91-mcp: '))
    .join('\n');
}

function describeRun(r) {
  return `exit ${r.code}${r.timedOut ? ' (timed out)' : ''}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

describe('Inspector CLI: tools/list', () => {
  it('--strict: exit 0, the eight tools, no portability findings, no warnings', async () => {
    const r = await inspector([BIN, '--method', 'tools/list', '--strict']);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(inspectorStderr(r.stderr), '', describeRun(r));
    const { tools } = JSON.parse(r.stdout);
    assert.deepEqual(tools.map((t) => t.name), TOOLS.map((t) => t.name));
  });

  it('--strict --format json: no schemaFindings in the envelope', async () => {
    const r = await inspector([BIN, '--method', 'tools/list', '--strict', '--format', 'json']);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(inspectorStderr(r.stderr), '', describeRun(r));
    const envelope = JSON.parse(r.stdout);
    assert.equal(envelope.schemaFindings, undefined, JSON.stringify(envelope.schemaFindings, null, 2));
    assert.equal(envelope.result.tools.length, 8);
  });

  it('without --strict: no "Schema portability" summary', async () => {
    const r = await inspector([BIN, '--method', 'tools/list', '--format', 'json']);
    assert.equal(r.code, 0, describeRun(r));
    assert.doesNotMatch(r.stderr, /Schema portability/);
  });
});

describe('Inspector CLI: tools/call against a sandbox-backed server', () => {
  let sandbox;
  let serverArgs;
  before(async () => {
    sandbox = await startSandbox();
    // The Inspector passes HOME on, so the default store would be the
    // user's own SQLite file, whose per-number counts outlive this run.
    serverArgs = ['-e', `MSG91_BASE_URL=${sandbox.url}`, '-e', 'MSG91_AUTH_KEY=test-key',
      '-e', 'MSG91_STORE=memory', BIN];
  });
  after(async () => {
    await sandbox?.stop();
  });

  it('send_otp then verify_otp with the code from the sandbox: exit 0, verified true', async () => {
    const sent = await inspector([
      ...serverArgs,
      '--method', 'tools/call', '--tool-name', 'send_otp',
      '--tool-arg', `mobile=${MOBILE}`, 'template_id=tmpl_1',
    ]);
    assert.equal(sent.code, 0, describeRun(sent));
    const s = JSON.parse(sent.stdout);
    assert.match(s.structuredContent.request_id, /^[0-9a-f]{24}$/);

    const otp = await sandboxOtp(sandbox.url, MOBILE.slice(1));
    // --tool-arg JSON-parses values, so the code is quoted to stay a string.
    const verified = await inspector([
      ...serverArgs,
      '--method', 'tools/call', '--tool-name', 'verify_otp',
      '--tool-arg', `mobile=${MOBILE}`, `otp="${otp}"`,
    ]);
    assert.equal(verified.code, 0, describeRun(verified));
    const v = JSON.parse(verified.stdout);
    assert.equal(v.isError, undefined);
    assert.equal(v.structuredContent.verified, true);
    assert.doesNotMatch(sent.stderr + verified.stderr, /test-key/);
  });

  it('invalid arguments: exit 5 (tool_is_error) with the violation', async () => {
    const r = await inspector([
      ...serverArgs,
      '--method', 'tools/call', '--tool-name', 'verify_otp',
      '--tool-arg', `mobile=${MOBILE}`, 'otp=12',
    ]);
    assert.equal(r.code, 5, describeRun(r));
    const result = JSON.parse(r.stdout);
    assert.equal(result.isError, true);
    assert.match(result.content[0].text, /\/otp: must be string, not integer/);
    assert.match(r.stderr, /"code":"tool_is_error"/);
  });

  it('an unknown tool: exit 5 (tool_not_found)', async () => {
    const r = await inspector([...serverArgs, '--method', 'tools/call', '--tool-name', 'no_such_tool']);
    assert.equal(r.code, 5, describeRun(r));
    assert.match(r.stderr, /"code":"tool_not_found"/);
  });
});
