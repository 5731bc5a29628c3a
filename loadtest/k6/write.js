// scenario write: PUT /users/{id}: write latency under the cache strategy.
import http from 'k6/http';
import { check } from 'k6';
import { jsonParams, keys, options as opts, target, userBody } from './lib/common.js';

export const options = opts();
const nextID = keys('1-10000');

export default function () {
  const id = nextID();
  const res = http.put(`${target}/users/${id}`, userBody(id), Object.assign({}, jsonParams, { tags: { step: 'write', name: 'PUT /users/{id}' } }));
  check(res, { 'write 2xx': (r) => r.status === 200 || r.status === 201 });
}
