import { type ExecutionContext, UnauthorizedException } from '@nestjs/common';
import { ApiKeyGuard } from './api-key.guard';

const request = (headers: Record<string, string | string[] | undefined>) =>
  ({ switchToHttp: () => ({ getRequest: () => ({ headers }) }) }) as unknown as ExecutionContext;

describe('ApiKeyGuard', () => {
  it('lets everything through when no key is configured', () => {
    const guard = new ApiKeyGuard([]);
    expect(guard.enabled).toBe(false);
    expect(guard.canActivate(request({}))).toBe(true);
  });

  it('accepts any configured key and refuses a missing, wrong, prefixed or repeated one', () => {
    const guard = new ApiKeyGuard(['key-one', 'key-two']);
    expect(guard.canActivate(request({ 'x-api-key': 'key-one' }))).toBe(true);
    expect(guard.canActivate(request({ 'x-api-key': 'key-two' }))).toBe(true);
    for (const headers of [
      {},
      { 'x-api-key': '' },
      { 'x-api-key': 'key-on' },
      { 'x-api-key': 'key-one ' },
      { 'x-api-key': ['key-one', 'key-one'] },
    ])
      expect(() => guard.canActivate(request(headers))).toThrow(UnauthorizedException);
  });
});
