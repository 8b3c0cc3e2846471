// Personas over stdio with the official SDK client (tool contract,
// "Personas"): a server started as one persona of a personas file lists
// only that persona's tools, refuses the others as unknown tools, sends that
// persona's key upstream and nobody else's (the sandbox records the authkey
// header of every request), names the persona in the audit log, and picks
// up a new file on SIGHUP without a restart.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { BIN, serverEnv, startSandbox, sandboxControl, run } from './lib.mjs';

const KEY_A = 'alice-' + randomBytes(12).toString('hex');
const KEY_B = 'bob-' + randomBytes(12).toString('hex');
const KEY_SERVER = 'server-' + randomBytes(12).toString('hex');
const sha256 = (text) => createHash('sha256').update(text).digest('hex');
const TIMEOUT = { timeout: 10000 };

let sandbox;
let tmp;

// Written through a rename, so a reload never reads half a file.
function writeAtomic(path, text) {
  writeFileSync(path + '.tmp', text);
  renameSync(path + '.tmp', path);
}

function personasFile(alice) {
  return JSON.stringify({
    personas: [
      { name: 'alice', token_sha256: sha256('token-a'), auth_key_file: join(tmp, 'key-a'), ...alice },
      { name: 'bob', token_sha256: sha256('token-b'), tools: ['list_campaigns'], auth_key_file: join(tmp, 'key-b') },
    ],
  });
}

async function connect(persona) {
  const transport = new StdioClientTransport({
    command: BIN,
    args: [],
    env: serverEnv({
      MSG91_BASE_URL: sandbox.url,
      MSG91_AUTH_KEY: KEY_SERVER,
      MSG91_PERSONAS: join(tmp, 'personas.json'),
      MSG91_PERSONA: persona,
      MSG91_AUDIT_LOG: join(tmp, 'audit.log'),
    }),
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr.setEncoding('utf8');
  transport.stderr.on('data', (d) => (stderr += d));
  const client = new Client({ name: 'personas-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport, stderr: () => stderr };
}

const toolNames = async (client) => (await client.listTools(undefined, TIMEOUT)).tools.map((t) => t.name);

// The authkey of every request the sandbox recorded since the last look.
async function keysSeen() {
  const { requests } = await sandboxControl(sandbox.url, 'requests');
  await sandboxControl(sandbox.url, 'requests', { method: 'DELETE' });
  return requests.map((r) => r.headers.authkey);
}

// Polls until the server's output shows the state; the test's own timeout
// turns a hang into a failure.
async function waitFor(predicate) {
  while (!predicate()) await new Promise((r) => setTimeout(r, 20));
}

describe('personas over stdio', () => {
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'msg91-personas-'));
    writeFileSync(join(tmp, 'key-a'), KEY_A + '\n');
    writeFileSync(join(tmp, 'key-b'), KEY_B + '\n');
    writeAtomic(join(tmp, 'personas.json'), personasFile({ tools: ['send_otp', 'verify_otp'], otp_template_id: 'TPL_A' }));
    sandbox = await startSandbox();
  });

  after(async () => {
    await sandbox?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('shows, allows and keys only the persona\'s own tools', async () => {
    await sandboxControl(sandbox.url, 'requests', { method: 'DELETE' });
    const { client, stderr } = await connect('alice');
    try {
      assert.deepEqual(await toolNames(client), ['send_otp', 'verify_otp']);
      const sent = await client.callTool({ name: 'send_otp', arguments: { mobile: '+919876543210' } }, undefined, TIMEOUT);
      assert.equal(sent.isError, undefined, JSON.stringify(sent));
      assert.match(sent.structuredContent.request_id, /./);
      await assert.rejects(
        client.callTool({ name: 'list_campaigns', arguments: {} }, undefined, TIMEOUT),
        (e) => e.code === -32602 && /Unknown tool: list_campaigns/.test(e.message),
      );
      const { requests } = await sandboxControl(sandbox.url, 'requests');
      assert.equal(requests.length, 1);
      assert.match(requests[0].query, /template_id=TPL_A/);
      assert.deepEqual(await keysSeen(), [KEY_A]);
    } finally {
      await client.close();
    }
    for (const secret of [KEY_A, KEY_B, KEY_SERVER, sha256('token-a'), sha256('token-b')])
      assert.ok(!stderr().includes(secret), 'stderr holds a secret');
    const audit = readFileSync(join(tmp, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(
      audit.map((l) => [l.persona, l.tool, l.outcome]),
      [
        ['alice', 'send_otp', 'ok'],
        ['alice', 'list_campaigns', 'refused'],
      ],
    );
  });

  it('another persona of the same file gets its own tools and key', async () => {
    const { client } = await connect('bob');
    try {
      assert.deepEqual(await toolNames(client), ['list_campaigns']);
      const r = await client.callTool({ name: 'list_campaigns', arguments: { limit: 1 } }, undefined, TIMEOUT);
      assert.equal(r.isError, undefined, JSON.stringify(r));
      assert.deepEqual(await keysSeen(), [KEY_B]);
    } finally {
      await client.close();
    }
  });

  it('SIGHUP applies a new file and keeps the old one when the new one is bad', async () => {
    const { client, transport, stderr } = await connect('alice');
    try {
      writeAtomic(join(tmp, 'personas.json'), personasFile({ tools: ['get_event_types'] }));
      process.kill(transport.pid, 'SIGHUP');
      await waitFor(() => stderr().includes('reloaded the personas file'));
      assert.deepEqual(await toolNames(client), ['get_event_types']);
      const r = await client.callTool({ name: 'get_event_types', arguments: {} }, undefined, TIMEOUT);
      assert.equal(r.isError, undefined, JSON.stringify(r));
      assert.deepEqual(await keysSeen(), [KEY_A]);

      writeAtomic(join(tmp, 'personas.json'), '{"personas": [{"name": "alice"}]}');
      process.kill(transport.pid, 'SIGHUP');
      await waitFor(() => stderr().includes('cannot reload the personas'));
      assert.match(stderr(), /persona "alice": has no "token_sha256".*the 2 persona\(s\) loaded before stay in force/);
      assert.deepEqual(await toolNames(client), ['get_event_types']);
    } finally {
      await client.close();
    }
  });

  it('an unknown persona is a startup error', async () => {
    writeAtomic(join(tmp, 'personas.json'), personasFile({}));
    const r = await run(BIN, [], {
      env: serverEnv({ MSG91_PERSONAS: join(tmp, 'personas.json'), MSG91_PERSONA: 'carol' }),
      input: '',
    });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /MSG91_PERSONA is "carol", but the personas file .* defines no persona of that name/);
  });

  it('`token` prints a token and the digest the file takes', async () => {
    const r = await run(BIN, ['token', '--json'], { env: serverEnv() });
    assert.equal(r.code, 0);
    const { token, token_sha256 } = JSON.parse(r.stdout);
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(token_sha256, sha256(token));
  });
});
