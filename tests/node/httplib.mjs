// Starting `msg91-mcp http` for the Node tests: the binary on 127.0.0.1
// port 0, its URL read back from its first stdout line.
import { spawn } from 'node:child_process';
import { BIN, serverEnv, killTree } from './lib.mjs';

// Resolves with { url, child, stderr(), stop() }.
export async function startHttpServer({ args = [], env = {} } = {}) {
  const child = spawn(BIN, ['http', '--listen', '127.0.0.1:0', ...args], {
    env: serverEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const url = await new Promise((resolveUrl, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`msg91-mcp http exited (${code}) before printing its URL; stderr:\n${err}`)));
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolveUrl(out.slice(0, nl).trim());
    });
  });
  const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return {
    url,
    child,
    exited,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => killTree(child.pid, { graceMs: 0 }), 10000);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}
