import { describe, expect, it } from 'vitest';

import { createLogger } from '../src/logger.js';
import { CapturedLogs } from './support/logs.js';

describe('createLogger', () => {
  it('writes JSON lines with the level name, service and stack', () => {
    const logs = new CapturedLogs();
    createLogger({ logLevel: 'info', appEnv: 'staging' }, logs).info({ orderId: 7 }, 'order placed');
    expect(logs.lines).toHaveLength(1);
    expect(logs.lines[0]).toMatchObject({
      level: 'info',
      service: 'erp-api',
      env: 'staging',
      orderId: 7,
      msg: 'order placed',
    });
    expect(typeof logs.lines[0]?.time).toBe('string');
  });

  it('drops lines below the configured level', () => {
    const logs = new CapturedLogs();
    const logger = createLogger({ logLevel: 'warn', appEnv: 'dev' }, logs);
    logger.info('hidden');
    logger.warn('shown');
    expect(logs.lines.map((line) => line.msg)).toEqual(['shown']);
  });

  it('redacts authorization headers, cookies and password, secret and token fields', () => {
    const logs = new CapturedLogs();
    createLogger({ logLevel: 'info', appEnv: 'dev' }, logs).info(
      {
        req: { headers: { authorization: 'Bearer eyJ-secret-jwt', cookie: 'sid=cookie-value', accept: 'text/html' } },
        res: { headers: { 'set-cookie': 'sid=new-cookie' } },
        password: 'top-level-password',
        user: { name: 'ada', password: 'nested-password', token: 'nested-token' },
        integration: { credentials: { secret: 'deep-secret' } },
      },
      'login',
    );
    const raw = logs.raw.join('');
    for (const leaked of [
      'eyJ-secret-jwt',
      'cookie-value',
      'new-cookie',
      'top-level-password',
      'nested-password',
      'nested-token',
      'deep-secret',
    ]) {
      expect(raw).not.toContain(leaked);
    }
    expect(raw).toContain('[redacted]');
    expect(logs.lines[0]).toMatchObject({ req: { headers: { accept: 'text/html' } }, user: { name: 'ada' } });
  });
});
