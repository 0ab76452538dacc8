/**
 * Differential conformance, request side: every case of request-cases.ts through the nodix fast path, the nodix
 * node:http path and nginx, each in front of a raw upstream that records what it receives (see compare.ts for
 * what is compared, nginx-differences.ts and pending-defects.ts for the two lists).
 */
import t from 'tap';
import { type CaseRun, judge, runTable } from './compare.js';
import { echoResponse } from './harness.js';
import { NGINX_DIFFERENCES } from './nginx-differences.js';
import { pendingDefects } from './pending-defects.js';
import { REQUEST_CASES } from './request-cases.js';

const runs: CaseRun[] = REQUEST_CASES.map((c) => ({
  name: c.name,
  plan: {
    chunks: c.chunks,
    methods: c.methods ?? [c.chunks.join('').split(' ')[0]!],
    ...(c.gapMs === undefined ? {} : { gapMs: c.gapMs }),
  },
  ...(c.respond === undefined ? {} : { script: (req) => ({ ...echoResponse(req), ...c.respond }) }),
}));

t.test('request table: fast path = node:http path, and each = nginx or an allowed difference', async (t) => {
  const names = new Set(runs.map((r) => r.name));
  t.equal(names.size, runs.length, 'case names are unique');
  const observed = await runTable(t, runs);
  judge(t, 'request', observed, { pending: pendingDefects, allowed: NGINX_DIFFERENCES });
});
