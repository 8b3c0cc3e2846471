// Helpers of the scale-out tests (scale-out-http.test.mjs,
// scale-out-stdio.test.mjs): a real redis-server and nginx on free loopback
// ports, each started in a mktemp directory as a child of the test and
// stopped by its PID; MCP clients; and the rules of safe sends as the
// contract states them (tool-contract "Safe sends"), checked exactly.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { BIN, serverEnv, freePort, exited, killTree, sleep, sandboxControl } from './lib.mjs';

export const TIMEOUT = { timeout: 30000 };
const REDIS_SERVER = process.env.REDIS_SERVER || '/usr/bin/redis-server';
const NGINX = process.env.NGINX || '/usr/sbin/nginx';

// Polls cond (sync or async) until it holds; throws, naming what (a string
// or a function giving one), if a process the test depends on died
// meanwhile (dead() returns a reason) or after a generous limit that only
// a hung child reaches.
export async function waitFor(cond, { what = 'a condition', dead = () => null, limitMs = 60000 } = {}) {
  const start = Date.now();
  const label = () => (typeof what === 'function' ? what() : what);
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    if (await cond()) return;
    const why = dead();
    if (why) throw new Error(`waiting for ${label()}: ${why}`);
    if (Date.now() - start > limitMs) throw new Error(`waiting for ${label()}: still not true after ${limitMs} ms`);
    await sleep(delay);
  }
}

export function tempDir(tag) {
  return mkdtempSync(join(tmpdir(), `msg91-${tag}-`));
}

// ---------------------------------------------------------------- redis

// One RESP command on a fresh connection: resolves with the first reply
// line, or null when nothing listens.
function redisCommand(port, line) {
  return new Promise((resolveReply) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (v) => {
      sock.destroy();
      resolveReply(v);
    };
    sock.setTimeout(2000, () => done(null));
    sock.on('error', () => done(null));
    sock.on('connect', () => sock.write(line + '\r\n'));
    sock.setEncoding('utf8').on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\r\n');
      if (nl >= 0) done(buf.slice(0, nl));
    });
  });
}

// Starts redis-server on a free loopback port, no persistence, in dir,
// with requirepass when a password is given; resolves once it answers PING
// (with a password, once it asks for one). stop() ends it and waits for its
// exit; start() (again) brings it back on the same port.
export async function startRedis(dir, { password } = {}) {
  if (!existsSync(REDIS_SERVER)) throw new Error(`${REDIS_SERVER} is missing (scripts/deps --test installs redis-server)`);
  const port = await freePort();
  const auth = password ? ['--requirepass', password] : [];
  const up = (reply) => reply === '+PONG' || (password && /^-NOAUTH/.test(reply || ''));
  const r = {
    port,
    url: `redis://${password ? `:${password}@` : ''}127.0.0.1:${port}/0`,
    child: null,
    log: () => (existsSync(join(dir, 'redis.log')) ? readFileSync(join(dir, 'redis.log'), 'utf8') : ''),
    async start() {
      const child = spawn(
        REDIS_SERVER,
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', 'redis.log', '--daemonize', 'no', ...auth],
        { stdio: 'ignore' },
      );
      this.child = child;
      await waitFor(async () => up(await redisCommand(port, 'PING')), {
        what: `redis-server on port ${port} to answer PING`,
        dead: () => (child.exitCode !== null ? `redis-server exited (${child.exitCode}); its log:\n${r.log()}` : null),
      });
    },
    async stop() {
      const child = this.child;
      if (!child) return;
      this.child = null;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => killTree(child.pid, { graceMs: 0 }), 10000);
      await exited(child);
      clearTimeout(t);
    },
    command: (line) => redisCommand(port, line),
  };
  await r.start();
  return r;
}

// ---------------------------------------------------------------- nginx

// nginx in front of the given `msg91-mcp http` URLs (http://127.0.0.1:P/mcp):
// /mcp and /healthz are balanced round-robin over all of them; /i0/mcp,
// /i1/mcp, ... reach one instance each, still through nginx, so a test can
// say which instance a call goes to.
function nginxConf(prefix, port, urls) {
  const hosts = urls.map((u) => new URL(u).host);
  const user = process.getuid && process.getuid() === 0 ? 'user root;' : '';
  return `${user}
daemon off;
master_process on;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log error;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  upstream msg91_mcp {
${hosts.map((h) => `    server ${h};`).join('\n')}
    keepalive 16;
  }
  server {
    listen 127.0.0.1:${port};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_buffering off;
    proxy_read_timeout 300s;
    location = /mcp { proxy_pass http://msg91_mcp; }
    location = /healthz { proxy_pass http://msg91_mcp; }
${hosts.map((h, i) => `    location = /i${i}/mcp { proxy_pass http://${h}/mcp; }`).join('\n')}
  }
}
`;
}

// Starts nginx (not as a daemon, a child of this process) on a free
// loopback port; resolves once /healthz answers 200 through it. A port
// taken between choosing and binding is tried again with another.
export async function startNginx(prefix, urls) {
  if (!existsSync(NGINX)) throw new Error(`${NGINX} is missing (scripts/deps --test installs nginx-light)`);
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    writeFileSync(join(prefix, 'nginx.conf'), nginxConf(prefix, port, urls));
    const child = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'error.log')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const log = () => stderr + (existsSync(join(prefix, 'error.log')) ? readFileSync(join(prefix, 'error.log'), 'utf8') : '');
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitFor(
        async () => {
          try {
            const r = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2000) });
            return r.status === 200;
          } catch {
            return false;
          }
        },
        { what: `nginx on port ${port}`, dead: () => (child.exitCode !== null ? `nginx exited (${child.exitCode}): ${log()}` : null) },
      );
    } catch (e) {
      if (child.exitCode === null) await killTree(child.pid, { graceMs: 1000 });
      if (attempt < 5 && /Address already in use/.test(log())) continue;
      throw e;
    }
    return {
      base,
      url: `${base}/mcp`,
      instanceUrl: (i) => `${base}/i${i}/mcp`,
      log,
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGQUIT'); // graceful: the master takes its worker with it
        const t = setTimeout(() => killTree(child.pid, { graceMs: 0 }), 10000);
        await exited(child);
        clearTimeout(t);
      },
    };
  }
}

// ---------------------------------------------------------------- clients

export async function connectHttp(url) {
  const client = new Client({ name: 'msg91-mcp-scale-out', version: '1.0.0' });
  client.onerror = () => {}; // the SDK's GET probe for a stream is answered 405
  await client.connect(new StreamableHTTPClientTransport(new URL(url)), TIMEOUT);
  return client;
}

// A stdio server the SDK spawns; { client, pid, stderr() }.
export async function connectStdio(env) {
  const transport = new StdioClientTransport({ command: BIN, args: [], env: serverEnv(env), stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (d) => (stderr += d));
  const client = new Client({ name: 'msg91-mcp-scale-out', version: '1.0.0' });
  await client.connect(transport, TIMEOUT);
  return { client, pid: transport.pid, stderr: () => stderr };
}

// Whether the server offers safe sends (send_otp takes idempotency_key).
export async function hasSafeSends(client) {
  const { tools: list } = await client.listTools(undefined, TIMEOUT);
  const t = list.find((x) => x.name === 'send_otp');
  return Boolean(t && t.inputSchema?.properties?.idempotency_key);
}

// ---------------------------------------------------------------- results

export const text = (r) => (r.content || []).map((c) => c.text || '').join('\n');
export const isReplay = (r) => r._meta?.['msg91/replayed'] === true;
export const isInProgress = (r) => r.isError === true && /in progress/i.test(text(r));

// Calls until the answer is not "in progress" (the contract's answer to the
// same key while the first call runs); returns { result, inProgress }: the
// settled result and how many "in progress" answers came first.
export async function callSettled(client, params) {
  let inProgress = 0;
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    const result = await client.callTool(params, undefined, TIMEOUT);
    if (!isInProgress(result)) return { result, inProgress };
    inProgress++;
    if (inProgress > 2000) throw new Error(`still "in progress" after ${inProgress} answers: ${text(result)}`);
    await sleep(delay);
  }
}

export const stats = (sandboxUrl) => sandboxControl(sandboxUrl, 'stats');

const SENDING = new Set(['send_otp', 'resend_otp', 'send_sms_flow', 'create_user_events']);

// How many requests of the four sending tools MSG91 (the sandbox) received.
export async function sendsReceived(sandboxUrl) {
  const { requests } = await sandboxControl(sandboxUrl, 'requests');
  return requests.filter((r) => SENDING.has(r.tool)).length;
}

// The answers one idempotency key got from several callers at once, as the
// contract implies: exactly one ran (a success, not marked replayed); every
// other caller, once past "in progress", got that same result marked
// `_meta["msg91/replayed"]: true`. Returns the index of the original.
export function checkOneOriginal(assert, settled) {
  const originals = settled.filter(({ result }) => !isReplay(result));
  assert.equal(originals.length, 1, `exactly one original answer, not ${originals.length}: ${JSON.stringify(settled)}`);
  const original = originals[0].result;
  assert.notEqual(original.isError, true, `the original failed: ${text(original)}`);
  for (const { result } of settled) {
    assert.equal(result.isError, original.isError, JSON.stringify(result));
    assert.deepEqual(result.structuredContent, original.structuredContent);
    assert.deepEqual(result.content, original.content);
  }
  return settled.findIndex(({ result }) => result === original);
}

export function auditLines(path) {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

// The environment of server i of a scale-out test: key, the sandbox as
// MSG91, the shared store, the OTP limit per recipient, warnings only, and
// an audit log of its own in dir (read back with instanceAudit).
export function instanceEnv({ key, sandboxUrl, store, otpLimit, dir, i }) {
  return {
    MSG91_AUTH_KEY: key,
    MSG91_BASE_URL: sandboxUrl,
    MSG91_STORE: store,
    MSG91_OTP_PER_RECIPIENT_PER_HOUR: String(otpLimit),
    MSG91_AUDIT_LOG: join(dir, `audit-${i}.log`),
    MSG91_LOG_LEVEL: 'warning',
  };
}

// The audit lines server i (started with instanceEnv) wrote so far.
export const instanceAudit = (dir, i) => auditLines(join(dir, `audit-${i}.log`));

export function removeDir(dir) {
  if (dir) rmSync(dir, { recursive: true, force: true });
}
