/**
 * Preloaded (`node --import`) into the `nodix deploy` processes the deploy scenario times: counts every connection
 * and every HTTP request the coordinator makes, by destination, through Node's own diagnostics channels (nothing
 * in the deployer is patched or wrapped), and writes the counts as JSON to the file named by
 * NODIX_BENCH_CONTACTS_FILE when the process exits. That is how the harness knows which agents (and services) a
 * deploy contacted: a redeploy with nothing changed must show none.
 *
 * Keys: `tcp <address>:<port>` for TCP, `local <path>` for Unix sockets (tsx, which loads the TypeScript models,
 * tries the IPC pipe of a parent tsx process); failed attempts count too (`failed ...`). Requests are keyed by
 * their Host header. Plain JavaScript so no TypeScript loader runs for it; subscribing costs microseconds.
 */
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';

const file = process.env.NODIX_BENCH_CONTACTS_FILE;
/** @type {{ connections: Record<string, number>, requests: Record<string, number> }} */
const contacts = { connections: {}, requests: {} };
const count = (counts, key) => {
  counts[key] = (counts[key] ?? 0) + 1;
};

if (file) {
  subscribe('net.client.socket', ({ socket }) => {
    socket.once('connect', () => {
      count(
        contacts.connections,
        socket.remotePort === undefined ? 'local socket' : `tcp ${socket.remoteAddress}:${socket.remotePort}`,
      );
    });
    socket.once('error', (error) => {
      if (socket.remotePort !== undefined) return; // connected first: already counted
      const { address, port, code } = /** @type {{ address?: string, port?: number, code?: string }} */ (
        error
      );
      const where = port === undefined ? `local ${address ?? 'socket'}` : `tcp ${address}:${port}`;
      count(contacts.connections, `failed ${where} (${code ?? 'error'})`);
    });
  });
  // Every request, also those sent over a kept-alive connection.
  subscribe('http.client.request.start', ({ request }) => {
    count(contacts.requests, String(request.getHeader('host') ?? request.host));
  });
  process.once('exit', () => {
    writeFileSync(file, `${JSON.stringify(contacts)}\n`);
  });
}
