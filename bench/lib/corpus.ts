/**
 * The request corpus of `proxy-mixed` (issue 10): front-door traffic that varies from request to request, so a
 * proxy cannot lean on having seen the same head before. Pure and seeded: the same options give the same heads,
 * byte for byte, on every machine, so runs compare.
 *
 * Every head is a GET to one of `hosts` names drawn from a `tableHosts`-host route table (`route-table.ts`), with
 * a path and query string of its own kind (pages, API calls, assets, search, crawler files) and the header set of
 * its client: browsers navigating, browsers fetching assets or JSON, crawlers and monitors. 8 to 15 header lines,
 * cookies from none to about 1.5 KB. Hosts are popular in a long tail (rank r weighs 1/r), as on a real shared
 * front door, and every one of the `hosts` names occurs at least once. Heads end in CRLF CRLF; the file written
 * for the load generator is the heads concatenated.
 */
import { writeFile } from 'node:fs/promises';
import { hostName } from './route-table.js';

export interface CorpusOptions {
  seed: number;
  /** Distinct request heads. */
  heads: number;
  /** Distinct Host names used, each drawn from the table. */
  hosts: number;
  /** Size of the route table the names come from (`webapp1.local` .. `webapp<tableHosts>.local`). */
  tableHosts: number;
  /**
   * Every head names this host instead (then `hosts` must be 1): an HTTPS load, where a connection's requests
   * name the host its SNI named, and wrk gives every connection the same one (proxy-tls: `127.0.0.1`).
   */
  host?: string;
}

/** mulberry32: a 32-bit seeded PRNG, enough for test data; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;

const int = (rnd: Random, min: number, max: number) => min + Math.floor(rnd() * (max - min + 1));
const pick = <T>(rnd: Random, list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
const chance = (rnd: Random, p: number) => rnd() < p;
const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const token = (rnd: Random, length: number, alphabet = ALNUM) => {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(rnd() * alphabet.length)];
  return out;
};
const hex = (rnd: Random, length: number) => token(rnd, length, '0123456789abcdef');

const CHROME = '(KHTML, like Gecko) Chrome/120.0.0.0';
const BROWSERS = [
  `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 ${CHROME} Safari/537.36`,
  `Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 ${CHROME} Safari/537.36`,
  `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 ${CHROME} Safari/537.36`,
  `Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 ${CHROME} Mobile Safari/537.36`,
  `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 ${CHROME} Safari/537.36 Edg/120.0.2210.91`,
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0',
  'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36',
];
const BOTS = [
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
  'Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)',
  'DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)',
  'Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)',
  'facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)',
  'Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)',
];
const LANGUAGES = [
  'en-US,en;q=0.9',
  'en-GB,en;q=0.9,en-US;q=0.8',
  'de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7',
  'nl-NL,nl;q=0.9,en-US;q=0.8,en;q=0.7',
  'fr-FR,fr;q=0.9',
  'es-ES,es;q=0.9,en;q=0.8',
  'ja,en-US;q=0.9,en;q=0.8',
  'pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7',
];
const ACCEPT_HTML =
  'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8';
const ACCEPT_IMAGE = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8';
const WORDS = [
  'red',
  'shoes',
  'winter',
  'jacket',
  'coffee',
  'grinder',
  'usb-c',
  'cable',
  'garden',
  'chair',
  'laptop',
  'stand',
  'running',
  'socks',
  'desk',
  'lamp',
  'kids',
  'bike',
  'helmet',
  'tea',
];
const SECTIONS = ['products', 'category', 'blog', 'help', 'account', 'stores', 'deals', 'news'];

function slug(rnd: Random): string {
  const words: string[] = [];
  for (let i = int(rnd, 1, 4); i > 0; i--) words.push(pick(rnd, WORDS));
  return words.join('-');
}

function utm(rnd: Random): string {
  const source = pick(rnd, ['newsletter', 'google', 'facebook', 'partner']);
  return `utm_source=${source}&utm_medium=${pick(rnd, ['email', 'cpc', 'social'])}&utm_campaign=${slug(rnd)}`;
}

function pagePath(rnd: Random): string {
  const kind = int(rnd, 0, 5);
  const query = chance(rnd, 0.25) ? `?${utm(rnd)}` : '';
  switch (kind) {
    case 0:
      return `/${query}`;
    case 1:
      return `/${pick(rnd, SECTIONS)}/${slug(rnd)}-${int(rnd, 1, 999_999)}${query}`;
    case 2:
      return `/blog/${int(rnd, 2015, 2026)}/${String(int(rnd, 1, 12)).padStart(2, '0')}/${slug(rnd)}${query}`;
    case 3: {
      const terms = [slug(rnd), pick(rnd, WORDS)].join('%20');
      return `/search?q=${terms}&page=${int(rnd, 1, 40)}${chance(rnd, 0.3) ? `&sort=${pick(rnd, ['price', 'new', 'rating'])}` : ''}`;
    }
    case 4:
      return `/${pick(rnd, SECTIONS)}?page=${int(rnd, 1, 200)}&per_page=${pick(rnd, [12, 24, 48])}`;
    default:
      return `/${pick(rnd, ['en', 'de', 'nl', 'fr'])}/${pick(rnd, SECTIONS)}/${slug(rnd)}${query}`;
  }
}

function apiPath(rnd: Random): string {
  const id = int(rnd, 1, 9_999_999);
  switch (int(rnd, 0, 3)) {
    case 0:
      return `/api/v1/users/${id}/orders?page=${int(rnd, 1, 50)}&limit=${pick(rnd, [10, 20, 50])}`;
    case 1:
      return `/api/v2/products/${id}?fields=${pick(rnd, ['price,stock', 'name,price,images', 'reviews'])}`;
    case 2:
      return `/api/v1/cart?ts=${1_700_000_000_000 + int(rnd, 0, 99_999_999)}`;
    default:
      return `/graphql?operationName=${pick(rnd, ['GetProduct', 'ListOrders', 'Recommendations'])}&variables=%7B%22id%22%3A${id}%7D`;
  }
}

function assetPath(rnd: Random): { path: string; accept: string; dest: string } {
  switch (int(rnd, 0, 3)) {
    case 0:
      return { path: `/static/js/${slug(rnd)}.${hex(rnd, 8)}.js`, accept: '*/*', dest: 'script' };
    case 1:
      return { path: `/static/css/main.${hex(rnd, 8)}.css`, accept: 'text/css,*/*;q=0.1', dest: 'style' };
    case 2:
      return {
        path: `/images/${slug(rnd)}-${pick(rnd, [320, 640, 1280])}x${pick(rnd, [240, 480, 960])}.webp`,
        accept: ACCEPT_IMAGE,
        dest: 'image',
      };
    default:
      return {
        path: `/media/${hex(rnd, 2)}/${hex(rnd, 2)}/${hex(rnd, 16)}.jpg?w=${pick(rnd, [200, 400, 800])}`,
        accept: ACCEPT_IMAGE,
        dest: 'image',
      };
  }
}

/** Cookies from a short session id to a heavy tracking-and-preferences jar (about 1.5 KB at most). */
function cookie(rnd: Random): string {
  const jar = [`session=${hex(rnd, 32)}`];
  if (chance(rnd, 0.6))
    jar.push(`_ga=GA1.2.${int(rnd, 100_000_000, 999_999_999)}.${int(rnd, 1_600_000_000, 1_700_000_000)}`);
  if (chance(rnd, 0.4)) jar.push(`_gid=GA1.2.${int(rnd, 100_000_000, 999_999_999)}.${int(rnd, 1, 9)}`);
  if (chance(rnd, 0.3)) jar.push(`consent=${pick(rnd, ['all', 'necessary', 'stats,marketing'])}`);
  if (chance(rnd, 0.35)) jar.push(`prefs=${token(rnd, int(rnd, 16, 600), B64)}`);
  if (chance(rnd, 0.15)) jar.push(`cart=${token(rnd, int(rnd, 100, 800), B64)}`);
  if (chance(rnd, 0.2)) jar.push(`ab_test=${pick(rnd, ['a', 'b', 'c'])}${int(rnd, 1, 40)}`);
  return jar.join('; ');
}

function fetchHeaders(site: string, mode: string, dest: string, user = false): string[] {
  const lines = [`Sec-Fetch-Site: ${site}`, `Sec-Fetch-Mode: ${mode}`];
  if (user) lines.push('Sec-Fetch-User: ?1');
  lines.push(`Sec-Fetch-Dest: ${dest}`);
  return lines;
}

/** One request head; `host` is its Host header. */
function requestHead(rnd: Random, host: string): string {
  const roll = rnd();
  const ua = pick(rnd, BROWSERS);
  const language = `Accept-Language: ${pick(rnd, LANGUAGES)}`;
  const encoding = `Accept-Encoding: ${pick(rnd, ['gzip, deflate, br', 'gzip, deflate', 'gzip, deflate, br, zstd'])}`;
  const referer = () => `Referer: https://${host}${pagePath(rnd)}`;
  let target: string;
  let headers: string[];
  if (roll < 0.4) {
    // A browser navigating to a page.
    target = pagePath(rnd);
    const from = chance(rnd, 0.5) ? [referer()] : [];
    headers = [
      `Host: ${host}`,
      'Connection: keep-alive',
      ...(chance(rnd, 0.2) ? ['Cache-Control: max-age=0'] : []),
      'Upgrade-Insecure-Requests: 1',
      `User-Agent: ${ua}`,
      `Accept: ${ACCEPT_HTML}`,
      ...fetchHeaders(from.length > 0 ? 'same-origin' : 'none', 'navigate', 'document', true),
      ...from,
      encoding,
      language,
      ...(chance(rnd, 0.75) ? [`Cookie: ${cookie(rnd)}`] : []),
    ];
  } else if (roll < 0.6) {
    // A page's script calling its API.
    target = apiPath(rnd);
    headers = [
      `Host: ${host}`,
      'Connection: keep-alive',
      `User-Agent: ${ua}`,
      `Accept: ${pick(rnd, ['application/json', 'application/json, text/plain, */*'])}`,
      ...(chance(rnd, 0.4) ? ['X-Requested-With: XMLHttpRequest'] : []),
      ...fetchHeaders('same-origin', 'cors', 'empty'),
      referer(),
      encoding,
      language,
      ...(chance(rnd, 0.9) ? [`Cookie: ${cookie(rnd)}`] : []),
    ];
  } else if (roll < 0.88) {
    // A page's assets.
    const asset = assetPath(rnd);
    target = asset.path;
    headers = [
      `Host: ${host}`,
      'Connection: keep-alive',
      `User-Agent: ${ua}`,
      `Accept: ${asset.accept}`,
      ...fetchHeaders('same-origin', asset.dest === 'image' ? 'no-cors' : 'cors', asset.dest),
      referer(),
      encoding,
      language,
      ...(chance(rnd, 0.5) ? [`Cookie: ${cookie(rnd)}`] : []),
      ...(chance(rnd, 0.3) ? [`If-None-Match: "${hex(rnd, 16)}"`] : []),
    ];
  } else {
    // Crawlers and monitors: fewer headers, no cookies.
    target = chance(rnd, 0.15) ? pick(rnd, ['/robots.txt', '/sitemap.xml', '/favicon.ico']) : pagePath(rnd);
    headers = [
      `Host: ${host}`,
      'Connection: keep-alive',
      `User-Agent: ${pick(rnd, BOTS)}`,
      `Accept: ${pick(rnd, [ACCEPT_HTML, 'text/html,application/xhtml+xml', '*/*'])}`,
      encoding,
      `From: ${pick(rnd, ['googlebot(at)googlebot.com', 'bingbot(at)microsoft.com', 'crawler@example.net'])}`,
      'Cache-Control: no-cache',
      'Pragma: no-cache',
      ...(chance(rnd, 0.5) ? [language] : []),
      ...(chance(rnd, 0.3)
        ? [`If-Modified-Since: ${new Date(Date.UTC(2026, 0, int(rnd, 1, 300))).toUTCString()}`]
        : []),
    ];
  }
  return `GET ${target} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`;
}

/** `count` distinct host indices out of 1..tableHosts (a partial Fisher-Yates shuffle). */
function drawHostIndices(rnd: Random, count: number, tableHosts: number): number[] {
  if (count > tableHosts)
    throw new Error(`corpus: ${count} hosts cannot come from a ${tableHosts}-host table`);
  const all = Array.from({ length: tableHosts }, (_, i) => i + 1);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(rnd() * (tableHosts - i));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, count);
}

export function buildCorpus(options: CorpusOptions): string[] {
  const { seed, heads, hosts, tableHosts, host } = options;
  if (heads < hosts) throw new Error(`corpus: ${heads} heads cannot cover ${hosts} hosts`);
  if (host !== undefined && hosts !== 1)
    throw new Error(`corpus: one host (${host}) cannot be ${hosts} hosts`);
  const rnd = mulberry32(seed);
  // Drawn either way, so a fixed host changes only the Host lines, not the rest of the sequence.
  const drawn = drawHostIndices(rnd, hosts, tableHosts).map(hostName);
  const names = host === undefined ? drawn : [host];
  // Popularity 1/rank (a long tail), as a cumulative table for drawing.
  const cumulative: number[] = [];
  let total = 0;
  for (let rank = 1; rank <= hosts; rank++) {
    total += 1 / rank;
    cumulative.push(total);
  }
  const popularHost = () => {
    const x = rnd() * total;
    let lo = 0;
    let hi = hosts - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return names[lo]!;
  };
  const seen = new Set<string>();
  const out: string[] = [];
  // Every host once first, then by popularity; a repeated head (rare) is drawn again so all are distinct.
  while (out.length < heads) {
    const head = requestHead(rnd, out.length < hosts ? names[out.length]! : popularHost());
    if (seen.has(head)) continue;
    seen.add(head);
    out.push(head);
  }
  // Shuffled, so the replay does not visit every host in a row before the popular ones repeat.
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The load generator's file: the heads concatenated (each ends in CRLF CRLF, which is where wrk splits them). */
export async function writeCorpusFile(file: string, heads: readonly string[]): Promise<void> {
  await writeFile(file, heads.join(''));
}
