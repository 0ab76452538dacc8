/**
 * nginx.conf for the nginx baseline, generated from the same route table the Node proxies read. Pure: text in,
 * text out; `nginx.ts` writes and runs it.
 *
 * Choices, each so that nginx is measured as a tuned production proxy rather than a default install:
 * - 1 worker (the brief compares one core against one core), `master_process on` as in production; the harness
 *   counts the CPU and memory of the whole tree, master and worker.
 * - upstream `keepalive` with HTTP/1.1 and an empty Connection header: without it nginx opens one backend
 *   connection per request, which no one runs in production.
 * - `keepalive_requests` raised on both sides: nginx's default (1000) closes the client connection every 1000
 *   requests and autocannon's reconnect then shows up as latency that has nothing to do with proxying.
 * - `client_body_buffer_size` above the 64 KB POST body so bodies stay in memory instead of temp files.
 * - every path (pid, logs, temp dirs) inside the harness's temp dir: no root path is read or written.
 * - the upstream gets the headers nodix-proxy sends it: Host, X-Forwarded-For/-Proto/-Host, and an X-Request-Id
 *   per request (`$request_id`), which nodix-proxy always adds (src/observe/request-id.ts). Without it nginx did
 *   less work per request than the proxy it is compared with (an A/B on proxy-tls's load: 8% of nginx's CPU per
 *   request); test/nginx-config.test.ts checks the two header sets against each other.
 * - HTTPS (issue 11's scenarios): the proxy's own protocols, ciphers and curves (TLS_SETTINGS, imported, so the
 *   two cannot drift apart), the same certificate, and no session resumption (`ssl_session_cache off`,
 *   `ssl_session_tickets off`; the proxy runs with `--tls-session-resumption false`).
 */
import { type RouteTableConfig, TLS_SETTINGS } from '@nodix/proxy';

export interface NginxConfigOptions {
  /** Temp dir used as nginx's prefix: pid file, error log and body temp dirs live here. */
  dir: string;
  listenPort: number;
  routes: RouteTableConfig;
  /** Idle upstream connections kept per upstream group. */
  upstreamKeepalive?: number;
  /**
   * Connections (client and upstream) the worker may hold; raises `worker_connections` (default 4096) and sets
   * `worker_rlimit_nofile` to match. Only the idle-connection scenario needs more: nginx allocates its
   * connection table at start, so a larger one would change every other scenario's memory figures.
   */
  maxConnections?: number;
  /** Listen with TLS (TLS 1.2 and 1.3, as nodix-proxy's listener), serving this certificate for every name. */
  tls?: { cert: string; key: string };
  /** With `tls`: HTTP/2 and HTTP/1.1 by ALPN (`listen ... ssl http2`, nginx 1.22's spelling of `http2 on`). */
  http2?: boolean;
}

/** The http-level TLS directives matching nodix-proxy's settings. */
function sslDirectives(tls: { cert: string; key: string }): string {
  const protocols = TLS_SETTINGS.minVersion === 'TLSv1.2' ? 'TLSv1.2 TLSv1.3' : 'TLSv1.3';
  return `  ssl_certificate ${tls.cert};
  ssl_certificate_key ${tls.key};
  ssl_protocols ${protocols};
  ssl_ciphers ${TLS_SETTINGS.ciphers};
  ssl_prefer_server_ciphers ${TLS_SETTINGS.honorCipherOrder ? 'on' : 'off'};
  ssl_ecdh_curve ${TLS_SETTINGS.ecdhCurve};
  ssl_session_cache off;
  ssl_session_tickets off;
`;
}

/** `http://127.0.0.1:3001` → `127.0.0.1:3001`; nginx's `server` directive wants host:port. */
function upstreamAddress(origin: string): string {
  const url = new URL(origin);
  if (url.protocol !== 'http:')
    throw new Error(`nginx baseline: only http upstreams are supported, got ${origin}`);
  return `${url.hostname}:${url.port || '80'}`;
}

/** One upstream block per distinct upstream list, so 10 000 hosts over 2 backends make 2 blocks, not 10 000. */
function upstreamName(index: number): string {
  return `nodix_up_${index}`;
}

export function buildNginxConfig(options: NginxConfigOptions): string {
  const { dir, listenPort, routes } = options;
  const listen = `127.0.0.1:${listenPort}${options.tls ? (options.http2 ? ' ssl http2' : ' ssl') : ''}`;
  const keepalive = options.upstreamKeepalive ?? 128;
  const workerConnections = Math.max(4096, options.maxConnections ?? 0);
  const rlimit = options.maxConnections ? `worker_rlimit_nofile ${workerConnections};\n` : '';
  const groups = new Map<string, number>();
  const serverBlocks: string[] = [];
  for (const [host, vhost] of Object.entries(routes.hosts)) {
    if (vhost.upstreams.length === 0) throw new Error(`nginx baseline: host ${host} has no upstreams`);
    const key = vhost.upstreams.map(upstreamAddress).join(' ');
    let group = groups.get(key);
    if (group === undefined) {
      group = groups.size;
      groups.set(key, group);
    }
    serverBlocks.push(
      `  server { listen ${listen}; server_name ${host}; location / { proxy_pass http://${upstreamName(group)}; } }`,
    );
  }
  const upstreamBlocks = [...groups].map(
    ([key, group]) =>
      `  upstream ${upstreamName(group)} {\n${key
        .split(' ')
        .map((address) => `    server ${address};`)
        .join(
          '\n',
        )}\n    keepalive ${keepalive};\n    keepalive_requests 1000000;\n    keepalive_timeout 60s;\n  }`,
  );
  return `# Generated by bench/lib/nginx-config.ts for one benchmark run; deleted with its temp dir.
daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
${rlimit}
events {
  worker_connections ${workerConnections};
}

http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

  keepalive_timeout 65s;
  keepalive_requests 1000000;
  client_max_body_size 1m;
  client_body_buffer_size 128k;
  server_names_hash_max_size 65536;
  server_names_hash_bucket_size 128;

  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Host $host;
  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
  proxy_set_header X-Forwarded-Proto $scheme;
  proxy_set_header X-Forwarded-Host $host;
  proxy_set_header X-Request-Id $request_id;
${options.tls ? sslDirectives(options.tls) : ''}
${upstreamBlocks.join('\n')}

  # Unknown host: 404, as nodix-proxy answers.
  server { listen ${listen} default_server; return 404; }
${serverBlocks.join('\n')}
}
`;
}
