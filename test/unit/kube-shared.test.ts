import { afterEach, describe, expect, it, vi } from 'vitest';
import { log } from '../../src/logger.ts';
import { KubeApiError, type KubeApi } from '../../src/sources/kube/api.ts';
import { resolveKubeOptions } from '../../src/sources/kube/options.ts';
import { KubeShared, RESTART_GRACE_MS } from '../../src/sources/kube/shared.ts';

const err = (status: number) => new KubeApiError({ status, verb: 'list', resource: 'pods', message: status === 403 ? 'pods is forbidden' : 'kube API unreachable' });

describe('KubeShared error reports', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  it('a 403 right after the API server was unreachable is a warning (authorizer starting); one that persists is the RBAC error', () => {
    vi.useFakeTimers({ now: Date.parse('2026-11-22T00:00:00Z') });
    const warn = vi.spyOn(log, 'warn').mockImplementation(() => undefined);
    const error = vi.spyOn(log, 'error').mockImplementation(() => undefined);
    // The API client is never called here: the informer only starts with acquire().
    const shared = new KubeShared(resolveKubeOptions({}), {} as KubeApi);
    shared.reportError(err(0));
    expect(error).toHaveBeenCalledTimes(1); // unreachable
    shared.reportError(err(403));
    shared.reportError(err(403));
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![1])).toContain('authorizer may still be starting');
    expect(error).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(RESTART_GRACE_MS + 1);
    shared.reportError(err(403));
    expect(error).toHaveBeenCalledTimes(2);
    expect(error.mock.calls[1]![0]).toMatchObject({ verb: 'list', resource: 'pods', manifest: 'manifests/base/rbac.yaml' });
  });

  it('a 403 with no outage before it is the RBAC error at once', () => {
    const error = vi.spyOn(log, 'error').mockImplementation(() => undefined);
    const shared = new KubeShared(resolveKubeOptions({}), {} as KubeApi);
    shared.reportError(err(403));
    expect(error).toHaveBeenCalledTimes(1);
    expect(error.mock.calls[0]![0]).toMatchObject({ manifest: 'manifests/base/rbac.yaml' });
  });
});
