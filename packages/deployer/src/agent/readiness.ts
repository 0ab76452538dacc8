import { createConnection, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Where a service is probed: a wildcard listen address is reached through loopback. */
export function probeHost(listenHost: string): string {
  if (listenHost === '0.0.0.0' || listenHost === '') return '127.0.0.1';
  if (listenHost === '::' || listenHost === '[::]') return '::1';
  return listenHost.replace(/^\[(.*)\]$/, '$1');
}

/** `host:port` as command lines take it, with IPv6 literals in brackets. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Whether `host:port` can be bound right now. Checked before a service starts, because a probe that connects
 * would otherwise be answered by whoever already holds the port, and a service that cannot bind would look ready.
 */
export function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE' || error.code === 'EACCES') resolve(false);
      else reject(error);
    });
    server.listen({ host: host.replace(/^\[(.*)\]$/, '$1'), port, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/** A free TCP port on `host`, chosen by the kernel. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

function tryConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const timer = setTimeout(() => done(false), timeoutMs);
    function done(ok: boolean): void {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    }
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface WaitOptions {
  host: string;
  port: number;
  timeoutMs: number;
  /** Checked between attempts: a service that exited will never become ready, so stop waiting at once. */
  isAlive: () => boolean | Promise<boolean>;
}

export type WaitResult = 'ready' | 'exited' | 'timeout';

/** Polls until `host:port` accepts a connection, the process exits, or the time is up. */
export async function waitUntilAccepting(options: WaitOptions): Promise<WaitResult> {
  const deadline = Date.now() + options.timeoutMs;
  // Start fast (a node process is ready in ~50-100 ms) and slow down, so a slow service costs few probes.
  let delay = 10;
  for (;;) {
    if (!(await options.isAlive())) return 'exited';
    const left = deadline - Date.now();
    if (left <= 0) return 'timeout';
    if (await tryConnect(options.host, options.port, Math.min(left, 1000))) {
      // The connection may have been accepted just before the process died of something else: check once more.
      return (await options.isAlive()) ? 'ready' : 'exited';
    }
    await sleep(Math.min(delay, Math.max(deadline - Date.now(), 0)));
    delay = Math.min(delay * 2, 100);
  }
}
