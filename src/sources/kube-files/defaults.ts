import type { KubeFilesSourceOptions } from './source.ts';

/**
 * The files profile's reading defaults, in a module of their own so that what only needs the values
 * (bench/lib/files-child.ts) does not load the Kubernetes client.
 */
export const FILES_DEFAULTS: Omit<KubeFilesSourceOptions, 'root'> = {
  podWaitMs: 5000,
  maxOpenFiles: 1024,
  maxLineBytes: 256 * 1024,
  pollIntervalMs: 1000,
  scanIntervalMs: 10_000,
  closeIdleMs: 5 * 60_000,
  rotateWaitMs: 5000,
  // As the API source's cursors (cursorFlushMs): one store write per file per flush.
  positionsFlushMs: 10_000,
  watch: true,
};
