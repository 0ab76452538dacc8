import t from 'tap';
import { buildCorpus, mulberry32 } from '../lib/corpus.js';
import { buildRouteTable } from '../lib/route-table.js';
import { scenarios } from '../scenarios/index.js';
import type { HttpScenario } from '../scenarios/types.js';

const mixed = scenarios.find((s): s is HttpScenario => s.name === 'proxy-mixed');
const options = mixed?.load.corpus;

t.test(
  'proxy-mixed replays a corpus with wrk over 50 connections, every setup on the 10 000-host table',
  async (t) => {
    t.ok(mixed && options, 'proxy-mixed is in the scenario table with a corpus');
    if (!mixed || !options) return;
    t.equal(mixed.load.generator, 'wrk');
    t.equal(mixed.load.connections, 50);
    t.same(
      mixed.setups.map((s) => [s.name, s.routeHosts]),
      [
        ['direct', 10_000],
        ['nodix-proxy', 10_000],
        ['nginx', 10_000],
      ],
    );
    t.equal(options.tableHosts, 10_000);
    t.ok(options.heads >= 10_000, 'at least 10 000 heads');
    t.equal(options.hosts, 1_000);
  },
);

t.test(
  'the scenario corpus: distinct GET heads over 1 000 hosts of the table, 8-15 header lines',
  async (t) => {
    if (!options) return t.fail('no corpus options');
    const heads = buildCorpus(options);
    t.equal(heads.length, options.heads);
    t.equal(new Set(heads).size, heads.length, 'every head distinct');
    const table = buildRouteTable(options.tableHosts, ['http://127.0.0.1:1']);
    const hosts = new Set<string>();
    const agents = new Set<string>();
    const paths = new Set<string>();
    let bad = 0;
    let cookies = 0;
    const problem = (message: string) => {
      // One failure per kind is enough to read; the count says how many.
      if (bad++ < 5) t.fail(message);
    };
    for (const head of heads) {
      if (!head.endsWith('\r\n\r\n') || head.indexOf('\r\n\r\n') !== head.length - 4)
        problem(`a head must end at its only CRLF CRLF (wrk splits the file there): ${JSON.stringify(head)}`);
      const [requestLine, ...lines] = head.slice(0, -4).split('\r\n');
      const request = /^GET (\/\S*) HTTP\/1\.1$/.exec(requestLine ?? '');
      if (!request) problem(`not a GET request line: ${requestLine}`);
      else paths.add(request[1]!);
      if (lines.length < 8 || lines.length > 15)
        problem(`${lines.length} header lines: ${JSON.stringify(head)}`);
      const hostLines = lines.filter((l) => l.startsWith('Host: '));
      if (hostLines.length !== 1) problem(`${hostLines.length} Host lines`);
      for (const line of lines) {
        if (!/^[A-Za-z][A-Za-z0-9-]*: [\x21-\x7e][\x20-\x7e]*$/.test(line))
          problem(`malformed header line ${line}`);
      }
      const host = hostLines[0]?.slice('Host: '.length) ?? '';
      if (!(host in table.hosts)) problem(`host ${host} is not in the route table`);
      hosts.add(host);
      agents.add(lines.find((l) => l.startsWith('User-Agent: ')) ?? '');
      if (lines.some((l) => l.startsWith('Cookie: '))) cookies++;
    }
    t.equal(bad, 0, 'every head well formed');
    t.equal(hosts.size, options.hosts, 'exactly the drawn number of distinct hosts');
    t.ok(agents.size >= 15, `${agents.size} user agents`);
    t.ok(paths.size > heads.length / 2, `${paths.size} distinct targets: paths and queries vary`);
    t.ok(cookies > heads.length / 3 && cookies < heads.length, `${cookies} heads with cookies, not all`);
  },
);

t.test('deterministic for a seed, different across seeds', async (t) => {
  const small = { heads: 300, hosts: 20, tableHosts: 500 };
  const a = buildCorpus({ seed: 42, ...small });
  t.same(buildCorpus({ seed: 42, ...small }), a, 'same seed, same heads in the same order');
  t.notSame(buildCorpus({ seed: 43, ...small }), a);
  const rnd = mulberry32(7);
  const first = [rnd(), rnd(), rnd()];
  const again = mulberry32(7);
  t.same([again(), again(), again()], first);
  t.ok(
    first.every((x) => x >= 0 && x < 1),
    'floats in [0, 1)',
  );
});

t.test('impossible options are errors, not a smaller corpus', async (t) => {
  t.throws(() => buildCorpus({ seed: 1, heads: 10, hosts: 20, tableHosts: 100 }), /cannot cover/);
  t.throws(() => buildCorpus({ seed: 1, heads: 100, hosts: 20, tableHosts: 10 }), /cannot come from/);
  t.throws(
    () => buildCorpus({ seed: 1, heads: 100, hosts: 2, tableHosts: 10, host: '127.0.0.1' }),
    /one host \(127\.0\.0\.1\) cannot be 2 hosts/,
  );
});
