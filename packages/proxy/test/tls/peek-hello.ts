/**
 * For the ACME tests' own node:tls servers (the proxy's TLS listener reads every ClientHello itself): reads the
 * first TLS record off each connection, marks it when it offers only `acme-tls/1`, puts the bytes back and hands
 * the socket to the server's own (node:tls) 'connection' listener, while `pending()` says a challenge waits.
 */
import type { Socket } from 'node:net';
import type { Server } from 'node:tls';
import { markAcmeTlsOnly, offersAcmeTlsAlone, parseClientHello } from '../../src/tls/acme/client-hello.js';

export function peekWhilePending(server: Server, pending: () => boolean): void {
  const tlsListeners = server.listeners('connection') as ((socket: Socket) => void)[];
  for (const listener of tlsListeners) server.off('connection', listener);
  const handOn = (socket: Socket) => {
    for (const listener of tlsListeners) listener.call(server, socket);
  };
  server.on('connection', (socket: Socket) => {
    if (!pending()) {
      handOn(socket);
      return;
    }
    let buffered: Buffer | null = null;
    const onData = (chunk: Buffer) => {
      buffered = buffered === null ? chunk : Buffer.concat([buffered, chunk]);
      const hello = parseClientHello(buffered);
      if (hello === 'incomplete') return;
      if (hello !== null && offersAcmeTlsAlone(hello)) markAcmeTlsOnly(socket);
      socket.off('data', onData);
      socket.pause();
      socket.unshift(buffered);
      handOn(socket);
    };
    socket.on('data', onData);
  });
}
