// scenario assets: GET /logo.png?v={id} on an edge: one cached object per id
// (X-Cache, Age). Point TARGET at an edge, e.g. http://edge-sydney:8080.
import http from 'k6/http';
import { check } from 'k6';
import { keys, options as opts, target } from './lib/common.js';

export const options = opts();
const nextID = keys('1-1000');

export default function () {
  const res = http.get(`${target}/logo.png?v=${nextID()}`, { tags: { step: 'asset', name: 'GET /logo.png?v={id}' } });
  check(res, { 'status 200': (r) => r.status === 200, 'has X-Cache': (r) => !!r.headers['X-Cache'] });
}
