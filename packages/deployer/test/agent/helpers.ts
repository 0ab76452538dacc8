import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceInstance } from '../../src/plan/types.js';

/** Helpers of the agent tests: temporary state directories, raw API calls, hand-made service instances. */

export interface Test {
  teardown(fn: () => unknown): void;
}

export async function tempDir(t: Test, prefix = 'nodix-agent-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export function newToken(): string {
  return randomBytes(24).toString('hex');
}

export interface ApiAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: answers are inspected field by field, as the API documents them
  body: any;
}

/** One raw request to an agent; `token` undefined sends no Authorization header. */
export function api(
  url: string,
  method: string,
  path: string,
  options: {
    token?: string;
    body?: unknown;
    rawBody?: string | Buffer;
    headers?: Record<string, string>;
  } = {},
): Promise<ApiAnswer> {
  const { hostname, port } = new URL(url);
  const payload =
    options.rawBody ?? (options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body)));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: hostname.replace(/^\[(.*)\]$/, '$1'),
        port,
        method,
        path,
        headers: {
          ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** GET http://127.0.0.1:port/ and return the body, or undefined when nothing answers. */
export function httpGet(
  port: number,
  host = '127.0.0.1',
  headers: Record<string, string> = {},
): Promise<string | undefined> {
  return new Promise((resolve) => {
    // One connection per request, closed after it: no idle pooled connection outlives the check. (Connections left
    // closing on a stopped service's side do not keep its replacement from binding: node listens with SO_REUSEADDR.)
    const req = request(
      { host, port, path: '/', headers: { connection: 'close', ...headers }, agent: false, timeout: 2000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve(text));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** A small HTTP server as a `process` service: answers with its service name. */
export function processService(
  name: string,
  port: number,
  extra: Record<string, unknown> = {},
): ServiceInstance {
  const script =
    "require('http').createServer((q,s)=>s.end(process.env.NODIX_SERVICE+(process.env.GREETING||''))).listen(+process.env.PORT,process.env.HOST)";
  return {
    name,
    type: 'process',
    target: 'test1',
    hash: `h-${name}-${port}-${JSON.stringify(extra)}`,
    config: { command: [process.execPath, '-e', script], port, ...extra },
    dependsOn: [],
    connectsTo: [],
  };
}

export function webappService(name: string, port: number, hashSuffix = ''): ServiceInstance {
  return {
    name,
    type: 'webapp',
    target: 'test1',
    hash: `h-${name}-${port}${hashSuffix}`,
    config: { dnsName: `${name}.local`, port, host: '127.0.0.1' },
    dependsOn: [],
    connectsTo: [],
  };
}

/** Polls `check` every 50 ms until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kills a service process group we started (by PID), for teardown after a failed test. */
export function killGroup(pid: number | null | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

const handedOut = new Set<number>();

/**
 * A free port for a service, below the kernel's ephemeral range (32768+): a port from that range that is free now
 * may become the local port of any outgoing connection a moment later, and then the service cannot bind it.
 */
export async function servicePort(): Promise<number> {
  const { isPortFree } = await import('../../src/agent/readiness.js');
  for (let attempt = 0; attempt < 200; attempt += 1) {
    // A slice of the range per test process, so that test files running side by side do not pick the same ports.
    const port = 20_000 + (process.pid % 12) * 1000 + Math.floor(Math.random() * 1000);
    if (handedOut.has(port)) continue;
    if ((await isPortFree('0.0.0.0', port)) && (await isPortFree('127.0.0.1', port))) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free service port found');
}

/**
 * A Python script that listens on `$HOST:$PORT` and, on SIGTERM, ends its main thread alone (the raw exit syscall,
 * not exit_group) while another thread keeps the process, and so its listening socket, for `lingerMs` more: what a
 * multi-threaded server such as node looks like while it exits. /proc/<pid>/stat says Z meanwhile.
 * Argv for `python3 -c`, or undefined when this machine cannot run it (no python3, no known syscall number).
 */
export function mainThreadExitsFirst(lingerMs: number): string[] {
  const script = `
import ctypes, os, signal, socket, threading, time
nr = {'x86_64': 60, 'aarch64': 93}[os.uname().machine]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((os.environ.get('HOST', '127.0.0.1'), int(os.environ.get('PORT', '0'))))
s.listen(16)
def linger():
    time.sleep(${lingerMs / 1000})
    os._exit(0)
def term(*_):
    threading.Thread(target=linger).start()
    ctypes.CDLL(None).syscall(nr, 0)
signal.signal(signal.SIGTERM, term)
print(s.getsockname()[1], flush=True)
while True:
    time.sleep(1)
`;
  const probe = spawnSync('python3', [
    '-c',
    'import ctypes, os; {"x86_64": 60, "aarch64": 93}[os.uname().machine]',
  ]);
  if (probe.status !== 0) {
    // Failing, not skipping: these tests guard the port-release bug, and a silent skip would hide it coming back.
    throw new Error(
      'this test needs python3 on x86_64 or aarch64 (.ci/run installs python3) to make a process whose main thread exits first',
    );
  }
  return ['python3', '-c', script];
}
