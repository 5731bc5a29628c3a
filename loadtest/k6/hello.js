// scenario hello: GET / on the lb: which replica answered (X-Served-By).
import http from 'k6/http';
import { check } from 'k6';
import { options as opts, target } from './lib/common.js';

export const options = opts();

export default function () {
  const res = http.get(`${target}/`, { tags: { step: 'hello' } });
  check(res, { 'status 200': (r) => r.status === 200, 'names its replica': (r) => !!r.headers['X-Served-By'] });
}
