// scenario read: GET /users/{id}: the cache and the shards (X-Cache, X-Shard).
import http from 'k6/http';
import { check } from 'k6';
import { keys, options as opts, target } from './lib/common.js';

export const options = opts();
const nextID = keys('1-10000');

export default function () {
  const res = http.get(`${target}/users/${nextID()}`, { tags: { step: 'read', name: 'GET /users/{id}' } });
  check(res, { 'status 200': (r) => r.status === 200, 'has X-Cache': (r) => !!r.headers['X-Cache'] });
}
