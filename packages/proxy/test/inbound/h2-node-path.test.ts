/**
 * h2.test.ts again, on node:http2's path (inbound/h2.ts, `fastPath: false`): both HTTP/2 paths answer the same
 * clients the same way.
 */
process.env.NODIX_TEST_H2_PATH = 'node';
await import('./h2.test.js');
