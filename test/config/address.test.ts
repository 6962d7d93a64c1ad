import t from 'tap';
import { formatAddress, parseListen } from '../../src/config/address.js';
import { ErrorCodes } from '../../src/errors.js';

t.test('parses host:port, bracketed IPv6 and port 0', async (t) => {
  t.same(parseListen('127.0.0.1:7760'), { host: '127.0.0.1', port: 7760 });
  t.same(parseListen('localhost:0'), { host: 'localhost', port: 0 });
  t.same(parseListen('[::1]:9000'), { host: '::1', port: 9000 });
  t.equal(formatAddress('::1', 9000), '[::1]:9000');
  t.equal(formatAddress('10.1.2.3', 1), '10.1.2.3:1');
});

t.test('rejects what is not HOST:PORT, naming the key', async (t) => {
  for (const bad of ['7760', 'host', 'host:', 'host:65536', ':80', '[nothex]:80', 'a:b:c', 'host:-1']) {
    t.throws(() => parseListen(bad, 'listen'), { code: ErrorCodes.CONFIG_INVALID, message: /^listen: / }, bad);
  }
});
