/**
 * TLS-ALPN-01 (RFC 8737) needs the challenge certificate chosen by the client's ALPN offer (`acme-tls/1` alone),
 * but node picks a handshake's certificate in SNICallback, before ALPN is negotiated and without showing the
 * offer. So the TLS listener (tls/listener.ts, which reads every ClientHello off the TCP socket anyway to choose
 * between its SNI and no-SNI servers) marks the socket when it offers only `acme-tls/1` (`markAcmeTlsOnly`), puts
 * the bytes back and lets node:tls handshake as usual; SNICallback then asks `offersOnlyAcmeTls(tlsSocket)`.
 *
 * The parser reads one TLS record (RFC 8446 §5.1) holding the ClientHello (§4.1.2) and its server_name
 * (RFC 6066 §3) and application_layer_protocol_negotiation (RFC 7301 §3.1) extensions.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export const ACME_TLS_ALPN = 'acme-tls/1';

export interface ClientHelloInfo {
  servername: string;
  alpn: string[];
}

/** The largest TLS record (2^14 plus expansion): a ClientHello longer than its first record is not looked into. */
const MAX_RECORD = 5 + 16_384 + 256;
/**
 * The ClientHello's SNI name and ALPN offer; `incomplete` when `buf` does not hold the whole first record yet;
 * null when it is not a ClientHello the parser understands (the handshake goes on without a look).
 */
export function parseClientHello(buf: Buffer): ClientHelloInfo | 'incomplete' | null {
  if (buf.length < 5) return 'incomplete';
  if (buf[0] !== 0x16) return null; // not a handshake record
  const recordEnd = 5 + buf.readUInt16BE(3);
  if (buf.length < recordEnd) return recordEnd > MAX_RECORD ? null : 'incomplete';
  let pos = 5;
  if (buf[pos] !== 0x01) return null; // not a ClientHello
  const helloEnd = Math.min(recordEnd, pos + 4 + buf.readUIntBE(pos + 1, 3));
  pos += 4 + 2 + 32; // handshake header, legacy_version, random
  if (pos >= helloEnd) return null;
  pos += 1 + buf[pos]!; // legacy_session_id
  if (pos + 2 > helloEnd) return null;
  pos += 2 + buf.readUInt16BE(pos); // cipher_suites
  if (pos + 1 > helloEnd) return null;
  pos += 1 + buf[pos]!; // legacy_compression_methods
  const info: ClientHelloInfo = { servername: '', alpn: [] };
  if (pos + 2 > helloEnd) return info; // no extensions
  const extensionsEnd = Math.min(helloEnd, pos + 2 + buf.readUInt16BE(pos));
  pos += 2;
  while (pos + 4 <= extensionsEnd) {
    const type = buf.readUInt16BE(pos);
    const end = pos + 4 + buf.readUInt16BE(pos + 2);
    if (end > extensionsEnd) return null;
    if (type === 0x0000 && pos + 9 <= end) {
      // server_name_list: the first entry, host_name (0)
      if (buf[pos + 6] === 0)
        info.servername = buf.toString('latin1', pos + 9, Math.min(end, pos + 9 + buf.readUInt16BE(pos + 7)));
    } else if (type === 0x0010 && pos + 6 <= end) {
      let at = pos + 6;
      while (at < end) {
        const length = buf[at]!;
        if (at + 1 + length > end) return null;
        info.alpn.push(buf.toString('latin1', at + 1, at + 1 + length));
        at += 1 + length;
      }
    }
    pos = end;
  }
  return info;
}

const kAcmeOnly = Symbol('nodix.acmeTlsOnly');

/** The ClientHello offers `acme-tls/1` and nothing else: a TLS-ALPN-01 validation (RFC 8737 §3). */
export function offersAcmeTlsAlone(hello: ClientHelloInfo): boolean {
  return hello.alpn.length === 1 && hello.alpn[0] === ACME_TLS_ALPN;
}

/** Marks the TCP socket whose ClientHello offered only `acme-tls/1`, for `offersOnlyAcmeTls`. */
export function markAcmeTlsOnly(socket: Socket): void {
  (socket as Socket & { [kAcmeOnly]?: boolean })[kAcmeOnly] = true;
}

/** The TLS socket's ClientHello offered only `acme-tls/1` (marked by `markAcmeTlsOnly`). */
export function offersOnlyAcmeTls(socket: TLSSocket): boolean {
  const raw = (socket as TLSSocket & { _parent?: Socket | null })._parent;
  return raw != null && (raw as Socket & { [kAcmeOnly]?: boolean })[kAcmeOnly] === true;
}
