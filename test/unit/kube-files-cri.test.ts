import { describe, expect, it } from 'vitest';
import { kubeletTs, parseCri, parsePodLogPath } from '../../src/sources/kube-files/cri.ts';

describe('CRI log lines', () => {
  it('parses timestamp, stream, tag and message', () => {
    expect(parseCri('2026-12-03T07:00:00.123456789Z stdout F hello world')).toMatchObject({
      ts: { raw: '2026-12-03T07:00:00.123456789Z', key: '2026-12-03T07:00:00.123456789Z', ms: Date.parse('2026-12-03T07:00:00.123Z') },
      stream: 'stdout',
      partial: false,
      message: 'hello world',
    });
    expect(parseCri('2026-12-03T07:00:00.1Z stderr P part one ')).toMatchObject({ stream: 'stderr', partial: true, message: 'part one ' });
    // More tags after the partial flag (P:…), an empty message, spaces kept.
    expect(parseCri('2026-12-03T07:00:00Z stdout F:x')).toMatchObject({ partial: false, message: '' });
    expect(parseCri('2026-12-03T07:00:00Z stdout F ')).toMatchObject({ message: '' });
    expect(parseCri('2026-12-03T07:00:00Z stdout F   indented')).toMatchObject({ message: '  indented' });
  });

  it('rejects lines that are not CRI records', () => {
    for (const l of ['hello', '2026-12-03T07:00:00Z stdin F x', '2026-12-03T07:00:00Z stdout X x', 'notatime stdout F x', '']) expect(parseCri(l)).toBeNull();
  });

  it('formats timestamps as the kubelet log API does: fixed 9 digits, zero offset as Z, other offsets kept', () => {
    expect(kubeletTs('2026-12-03T07:00:00.123Z')!.raw).toBe('2026-12-03T07:00:00.123000000Z');
    expect(kubeletTs('2026-12-03T07:00:00Z')!.raw).toBe('2026-12-03T07:00:00.000000000Z');
    expect(kubeletTs('2026-12-03T07:00:00.5+00:00')!.raw).toBe('2026-12-03T07:00:00.500000000Z');
    const crio = kubeletTs('2026-12-03T08:00:00.123456+01:00')!;
    expect(crio.raw).toBe('2026-12-03T08:00:00.123456000+01:00');
    expect(crio.key).toBe('2026-12-03T07:00:00.123456000Z');
    expect(kubeletTs('yesterday')).toBeNull();
  });
});

describe('pod log paths', () => {
  const root = '/var/log/pods';
  it('reads namespace, pod, uid, container and the restart number', () => {
    expect(parsePodLogPath(root, '/var/log/pods/shop_web-0_6f1c2d3e-aaaa-bbbb-cccc-000000000001/app/3.log')).toEqual({
      namespace: 'shop',
      pod: 'web-0',
      uid: '6f1c2d3e-aaaa-bbbb-cccc-000000000001',
      container: 'app',
      restart: 3,
      instance: '6f1c2d3e-aaaa-bbbb-cccc-000000000001/app/3',
    });
    // A rotated file is the same instance.
    expect(parsePodLogPath(`${root}/`, '/var/log/pods/shop_web-0_u1/app/0.log.20261203-070000')).toMatchObject({ restart: 0, instance: 'u1/app/0' });
  });

  it('rejects other paths', () => {
    for (const p of ['/var/log/pods/shop_web-0/app/0.log', '/var/log/pods/shop_web-0_u1/app/x.log', '/var/log/pods/shop_web-0_u1/0.log', '/var/log/other/shop_web-0_u1/app/0.log', '/var/log/pods/a_b_c_d/app/0.log']) {
      expect(parsePodLogPath(root, p)).toBeNull();
    }
  });
});
