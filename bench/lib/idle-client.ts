/**
 * The client of the idle-connection scenario, run as its own process pinned to the load generator's core
 * (`idle-memory-scenario.ts` starts it and drives it with signals). Options as JSON in argv:
 * `{ port, connections, concurrency, hosts }`.
 *
 * 1. Warm-up: `concurrency` connections at once, one GET each, twice, then closed. Prints `idle client warm`.
 * 2. SIGUSR1: opens `connections` connections (at most `concurrency` in flight), sends one GET on each, reads
 *    its answer (200 with Content-Length) and leaves the connection open and idle. Prints `idle client open N`.
 * 3. SIGUSR2: ends every connection, waits until each is closed, prints `RESULT {json}` and exits 0.
 * Any failure prints `idle client failed: ...` and exits 1 (the kernel closes whatever is still open).
 */
import { connect, type Socket } from 'node:net';

export interface IdleClientOptions {
  port: number;
  connections: number;
  concurrency: number;
  /** Host headers, used in turn. */
  hosts: string[];
}

export interface IdleClientResult {
  opened: number;
  /** Connections the server closed while they should have stayed idle (a keep-alive timeout, a crash). */
  closedByServer: number;
  openSeconds: number;
  closeSeconds: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as IdleClientOptions;

function fail(message: string): never {
  process.stdout.write(`idle client failed: ${message}\n`);
  process.exit(1);
}

/** Connect, send one GET, resolve with the socket once the whole 200 answer has arrived. */
function oneRequest(host: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: options.port });
    let received = '';
    const onError = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    const onClose = () =>
      reject(new Error(`connection closed before the answer (got ${received.length} bytes)`));
    socket.setEncoding('latin1');
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.on('data', (chunk: string) => {
      received += chunk;
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = received.slice(0, end);
      const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
      if (!length) return onError(new Error(`answer without Content-Length: ${head.split('\r\n')[0]}`));
      if (received.length < end + 4 + Number(length[1])) return;
      if (!head.startsWith('HTTP/1.1 200 '))
        return onError(new Error(`answer ${head.split('\r\n')[0]} for Host ${host}`));
      socket.removeAllListeners('data');
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      resolve(socket);
    });
    socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: nodix-bench-idle\r\nAccept: */*\r\n\r\n`);
  });
}

/** `count` requests, each on its own new connection, at most `concurrency` at once. */
async function openMany(count: number, keep: (socket: Socket) => void): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      keep(await oneRequest(options.hosts[i % options.hosts.length]!));
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, count) }, lane));
}

function closeAll(sockets: readonly Socket[]): Promise<void> {
  return Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.destroyed) return resolve();
          socket.once('close', () => resolve());
          socket.end();
        }),
    ),
  ).then(() => {});
}

const idle: Socket[] = [];
let closing = false;
let closedByServer = 0;
let openSeconds = 0;

async function warmUp(): Promise<void> {
  for (let pass = 0; pass < 2; pass++) {
    const sockets: Socket[] = [];
    await openMany(options.concurrency, (socket) => sockets.push(socket));
    await closeAll(sockets);
  }
  process.stdout.write('idle client warm\n');
}

async function openIdle(): Promise<void> {
  const started = performance.now();
  await openMany(options.connections, (socket) => {
    idle.push(socket);
    socket.on('error', () => {});
    socket.once('close', () => {
      if (!closing) closedByServer++;
    });
  });
  openSeconds = (performance.now() - started) / 1000;
  process.stdout.write(`idle client open ${idle.length}\n`);
}

async function finish(): Promise<void> {
  closing = true;
  const started = performance.now();
  await closeAll(idle);
  const result: IdleClientResult = {
    opened: idle.length,
    closedByServer,
    openSeconds,
    closeSeconds: (performance.now() - started) / 1000,
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}

process.once('SIGUSR1', () => {
  openIdle().catch((error: Error) => fail(`opening connection ${idle.length + 1}: ${error.message}`));
});
process.once('SIGUSR2', () => {
  finish().catch((error: Error) => fail(`closing: ${error.message}`));
});
// Keeps the process alive between the signals (no socket is open after the warm-up), and bounds its life should
// the harness vanish without stopping it.
setTimeout(() => fail('no SIGUSR2 within 10 minutes'), 600_000);
warmUp().catch((error: Error) => fail(`warm-up: ${error.message}`));
