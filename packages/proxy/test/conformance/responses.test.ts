/**
 * Differential conformance, response side: every raw upstream response of response-cases.ts answering a plain
 * request, through the nodix fast path, the nodix node:http path and nginx (see compare.ts).
 */
import t from 'tap';
import { type CaseRun, judge, runTable } from './compare.js';
import { NGINX_DIFFERENCES } from './nginx-differences.js';
import { pendingDefects } from './pending-defects.js';
import { RESPONSE_CASES } from './response-cases.js';

const runs: CaseRun[] = RESPONSE_CASES.map((c) => {
  const method = c.method ?? 'GET';
  return {
    name: c.name,
    plan: { chunks: [`${method} /r HTTP/1.1\r\nHost: a.test\r\n\r\n`], methods: [method] },
    script: () => c,
  };
});

t.test('response table: fast path = node:http path, and each = nginx or an allowed difference', async (t) => {
  const names = new Set(runs.map((r) => r.name));
  t.equal(names.size, runs.length, 'case names are unique');
  const observed = await runTable(t, runs);
  judge(t, 'response', observed, { pending: pendingDefects, allowed: NGINX_DIFFERENCES });
});
