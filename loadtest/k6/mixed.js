// scenario mixed: 90% GET /users/{id}, 10% PUT /users/{id}: reads with
// invalidating writes (9 reads, then a write, per virtual user, as loadgen's
// exact 9:1 mix).
import http from 'k6/http';
import { check } from 'k6';
import { jsonParams, keys, options as opts, target, userBody } from './lib/common.js';

export const options = opts();
const nextID = keys('1-10000');

export default function () {
  const id = nextID();
  if (__ITER % 10 === 9) {
    const res = http.put(`${target}/users/${id}`, userBody(id), Object.assign({}, jsonParams, { tags: { step: 'write', name: 'PUT /users/{id}' } }));
    check(res, { 'write 2xx': (r) => r.status === 200 || r.status === 201 });
    return;
  }
  const res = http.get(`${target}/users/${id}`, { tags: { step: 'read', name: 'GET /users/{id}' } });
  check(res, { 'read 200': (r) => r.status === 200 });
}
