import { describe, expect, it } from 'vitest';
import { MetricsAddressError, formatMetricsAddress, parseMetricsAddress } from '../../../src/net/metrics-address.ts';

describe('metrics_listen ADDRESS:PORT', () => {
  it('accepts IPv4, bracketed IPv6 and localhost', () => {
    expect(parseMetricsAddress('127.0.0.1:9650')).toEqual({ host: '127.0.0.1', port: 9650 });
    expect(parseMetricsAddress('[::1]:9150')).toEqual({ host: '::1', port: 9150 });
    expect(parseMetricsAddress('localhost:1')).toEqual({ host: 'localhost', port: 1 });
    expect(parseMetricsAddress('0.0.0.0:65535').port).toBe(65535);
    expect(formatMetricsAddress({ host: '::1', port: 9 })).toBe('[::1]:9');
  });

  it.each([
    ['9650', /ADDRESS:PORT/],
    ['127.0.0.1', /ADDRESS:PORT/],
    ['127.0.0.1:', /ADDRESS:PORT/],
    [':9650', /ADDRESS:PORT/],
    ['127.0.0.1:0', /port 0 is out of range/],
    ['127.0.0.1:70000', /port 70000 is out of range/],
    ['127.0.0.1:123456', /ADDRESS:PORT/],
    ['::1:9650', /ADDRESS:PORT/],
    ['[127.0.0.1]:9650', /not an IP address/],
    ['example.com:9650', /'example.com' is not an IP address/],
    ['300.1.1.1:9650', /not an IP address/],
  ])('refuses %s', (text, message) => {
    expect(() => parseMetricsAddress(text)).toThrow(MetricsAddressError);
    expect(() => parseMetricsAddress(text)).toThrow(message);
  });
});
