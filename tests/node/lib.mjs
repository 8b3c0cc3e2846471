// Shared helpers for the Node end-to-end tests: where the binary and the
// vendored MCP schemas (tests/data/mcp-schema) are, a line-oriented raw stdio session, the standalone
// sandbox, schema validators built from the official MCP schemas, and
// process-tree cleanup by PID.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import net from 'node:net';

const require = createRequire(import.meta.url);
const Ajv = require('ajv').default;
const Ajv2020 = require('ajv/dist/2020').default;
const addFormats = require('ajv-formats').default;

export const HERE = dirname(fileURLToPath(import.meta.url));
export const BIN = process.env.MSG91_MCP_BIN || resolve(HERE, '..', '..', 'build', 'msg91-mcp');
// The official MCP wire schemas, vendored with their licence.
export const MCP_SCHEMA_DIR = resolve(HERE, '..', 'data', 'mcp-schema');
// The tests run under the pinned Node 22 that scripts/node-runtime installs
// (tests/node/run.sh starts them with it), so child Node processes use the
// same binary.
export const NODE22 = process.execPath;

export const VERSIONS = ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25'];

// The eight tools, in the order and with the properties of the contract
// (the README's "The tools" and doc/tools.md).
export const TOOLS = [
  { name: 'send_otp', title: 'Send OTP', readOnly: false, destructive: false, idempotent: false },
  { name: 'resend_otp', title: 'Resend OTP', readOnly: false, destructive: false, idempotent: false },
  { name: 'verify_otp', title: 'Verify OTP', readOnly: false, destructive: false, idempotent: false },
  { name: 'send_sms_flow', title: 'Send SMS via Flow (V5)', readOnly: false, destructive: false, idempotent: false },
  { name: 'create_user_events', title: 'Create User Events', readOnly: false, destructive: false, idempotent: false },
  { name: 'get_event_types', title: 'Get Event Types', readOnly: true, destructive: false, idempotent: true },
  { name: 'get_failed_events', title: 'Get Failed Events', readOnly: true, destructive: false, idempotent: true },
  { name: 'list_campaigns', title: 'List Campaigns', readOnly: true, destructive: false, idempotent: true },
];

// An environment for the server without any MSG91 setting inherited from
// whoever runs the tests, plus the given extras. The state store is the
// process's own memory unless the extras name one (MSG91_STORE: '' asks for
// the default SQLite file): the default file would be the user's own, under
// HOME, shared by every server of the run and by the next runs, and its
// duplicate guard and per-number limit would refuse the identical sends
// the tests repeat on purpose.
export function serverEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('MSG91_')) env[k] = v;
  return { ...env, MSG91_STORE: 'memory', ...extra };
}

// ---------------------------------------------------------------- processes

function readPpidMap() {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid ...; comm may contain spaces and parentheses.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(rest[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(name));
  }
  return children;
}

export function descendants(pid) {
  const map = readPpidMap();
  const out = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    for (const c of map.get(p) || []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// Kills pid and everything below it, each by its PID, children first
// found before the parent dies (they would be reparented afterwards).
export async function killTree(pid, { graceMs = 2000 } = {}) {
  if (!pid) return;
  const all = [...descendants(pid), pid];
  for (const p of all) {
    try {
      process.kill(p, 'SIGTERM');
    } catch {}
  }
  const deadline = Date.now() + graceMs;
  while (all.some(alive) && Date.now() < deadline) await sleep(25);
  for (const p of all) {
    if (alive(p)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {}
    }
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
}

// Runs a command to completion with a hard time limit; resolves with its
// exit code and output.
export function run(cmd, args, { env, cwd, timeoutMs = 30000, input } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { env: env || process.env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    const timer = setTimeout(() => {
      timedOut = true;
      killTree(child.pid, { graceMs: 500 });
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr, timedOut });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

// ---------------------------------------------------------------- raw stdio

// A server spoken to line by line. Every stdout line is kept verbatim.
export class RawSession {
  constructor(args = [], env = serverEnv()) {
    this.child = spawn(BIN, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.lines = [];
    this.waiters = [];
    this.stderr = '';
    this.all = []; // every line ever read, for the "nothing but JSON" check
    let buf = '';
    this.child.stdout.setEncoding('utf8').on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.all.push(line);
        this.lines.push(line);
        this.wake();
      }
    });
    this.child.stderr.setEncoding('utf8').on('data', (d) => (this.stderr += d));
    this.child.on('exit', () => this.wake());
    this.child.stdin.on('error', () => {});
  }

  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(text) {
    if (typeof text !== 'string') text = JSON.stringify(text);
    this.child.stdin.write(text + '\n');
  }

  async nextLine(timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(`server exited (${this.child.exitCode ?? this.child.signalCode}) while a line was awaited; stderr:\n${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no line from the server within ${timeoutMs} ms; stderr:\n${this.stderr}`);
      await new Promise((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.lines.shift();
  }

  // Reads lines until one that is not a notification (a response or a
  // batch array); returns { line, notifications: [lines] }.
  async response(timeoutMs = 5000) {
    const notifications = [];
    for (;;) {
      const line = await this.nextLine(timeoutMs);
      let v;
      try {
        v = JSON.parse(line);
      } catch {
        return { line, notifications };
      }
      if (v && !Array.isArray(v) && typeof v === 'object' && 'method' in v && !('id' in v)) {
        notifications.push(line);
        continue;
      }
      return { line, notifications };
    }
  }

  // Nothing more arrives within ms.
  async quiet(ms = 200) {
    await sleep(ms);
    return this.lines.splice(0);
  }

  async close() {
    this.child.stdin.end();
    const done = exited(this.child);
    const t = await Promise.race([done, sleep(3000).then(() => null)]);
    if (!t) {
      await killTree(this.child.pid, { graceMs: 500 });
      return { code: null, signal: 'killed after stdin EOF timeout' };
    }
    return t;
  }
}

// The raw text of a top-level member of a JSON object text (e.g. the id
// exactly as the server wrote it), or undefined.
export function topLevelRaw(text, key) {
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n && ' \t\r\n'.includes(text[i])) i++;
  };
  const skipString = () => {
    const start = i;
    i++; // opening quote
    while (i < n && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return text.slice(start, i);
  };
  const skipValue = () => {
    ws();
    const start = i;
    if (text[i] === '"') {
      skipString();
    } else if (text[i] === '{' || text[i] === '[') {
      let depth = 0;
      do {
        if (text[i] === '"') {
          skipString();
          continue;
        }
        if (text[i] === '{' || text[i] === '[') depth++;
        else if (text[i] === '}' || text[i] === ']') depth--;
        i++;
      } while (i < n && depth > 0);
    } else {
      while (i < n && !',}] \t\r\n'.includes(text[i])) i++;
    }
    return text.slice(start, i);
  };
  ws();
  if (text[i] !== '{') return undefined;
  i++;
  for (;;) {
    ws();
    if (text[i] !== '"') return undefined;
    const k = JSON.parse(skipString());
    ws();
    if (text[i] !== ':') return undefined;
    i++;
    const raw = skipValue();
    if (k === key) return raw;
    ws();
    if (text[i] === ',') {
      i++;
      continue;
    }
    return undefined;
  }
}

// ---------------------------------------------------------------- schemas

// Validators for the official MCP schema of one protocol version.
export class McpSchema {
  constructor(version) {
    this.version = version;
    const path = join(MCP_SCHEMA_DIR, version, 'schema.json');
    if (!existsSync(path)) {
      throw new Error(`the official MCP schema of ${version} is missing: ${path} (tests/data/mcp-schema/ is part of the repository)`);
    }
    this.doc = JSON.parse(readFileSync(path, 'utf8'));
    this.is2020 = String(this.doc.$schema || '').includes('2020-12');
    this.defsKey = this.doc.$defs ? '$defs' : 'definitions';
    this.defs = this.doc[this.defsKey];
    this.ajv = this.is2020 ? new Ajv2020({ strict: false, allErrors: true }) : new Ajv({ strict: false, allErrors: true });
    addFormats(this.ajv);
    this.ajv.addSchema(this.doc, 'mcp');
    this.cache = new Map();
    // Names that changed between versions.
    this.errorDef = this.defs.JSONRPCErrorResponse ? 'JSONRPCErrorResponse' : 'JSONRPCError';
    this.resultDef = this.defs.JSONRPCResultResponse ? 'JSONRPCResultResponse' : 'JSONRPCResponse';
  }

  has(name) {
    return Object.hasOwn(this.defs, name);
  }

  validator(name) {
    if (!this.has(name)) throw new Error(`${this.version}: the schema has no definition ${name}`);
    if (!this.cache.has(name)) this.cache.set(name, this.ajv.compile({ $ref: `mcp#/${this.defsKey}/${name}` }));
    return this.cache.get(name);
  }

  // null when value is a valid `name`, else a readable list of violations.
  errors(name, value) {
    const v = this.validator(name);
    if (v(value)) return null;
    return this.ajv.errorsText(v.errors, { separator: '\n  ', dataVar: '' });
  }
}

// A fresh Ajv for tool schemas (JSON Schema 2020-12, as MCP says tool
// schemas default to).
export function toolSchemaAjv({ strict = false } = {}) {
  const ajv = new Ajv2020({ strict, allErrors: true });
  addFormats(ajv);
  return ajv;
}

// ---------------------------------------------------------------- sandbox

// Starts `msg91-mcp sandbox --port 0`; resolves with { url, pid, stop }.
export async function startSandbox() {
  const child = spawn(BIN, ['sandbox', '--port', '0'], { env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`sandbox printed no URL within 5 s; stderr:\n${err}`)), 5000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sandbox exited (${code}) before printing its URL; stderr:\n${err}`));
    });
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolveUrl(out.slice(0, nl).trim());
      }
    });
  });
  return {
    url,
    pid: child.pid,
    stderr: () => err,
    async stop() {
      await killTree(child.pid, { graceMs: 1000 });
    },
  };
}

// One call to the sandbox's control API (/_sandbox/PATH): the parsed JSON
// answer, or a thrown error naming the route and status when it is not 2xx.
export async function sandboxControl(url, path, { method = 'GET', body } = {}) {
  const r = await fetch(`${url}/_sandbox/${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} /_sandbox/${path} answered ${r.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

export async function sandboxOtp(url, mobileDigits) {
  const r = await fetch(`${url}/_sandbox/otp?mobile=${encodeURIComponent(mobileDigits)}`, { signal: AbortSignal.timeout(5000) });
  if (r.status !== 200) throw new Error(`GET /_sandbox/otp answered ${r.status}: ${await r.text()}`);
  return (await r.json()).otp;
}

// A code of the same length as otp that is not otp.
export function wrongCode(otp) {
  return [...otp].map((c) => String((Number(c) + 1) % 10)).join('');
}

// ---------------------------------------------------------------- network

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

// Listening TCP sockets on port, as "address:port" hex pairs from
// /proc/net/tcp and tcp6 (e.g. 0100007F = 127.0.0.1).
export function listeners(port) {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const found = [];
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4) continue;
      const [addr, p] = cols[1].split(':');
      if (p === hexPort && cols[3] === '0A') found.push(addr);
    }
  }
  return found;
}
