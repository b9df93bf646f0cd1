import { log } from '../../logger.ts';
import { stateKey, type StateStore } from '../../state/store.ts';
import { TemplateMiner, type MinerOptions } from './miner.ts';

/**
 * Miner state through the project's StateStore, one key per scope (e.g. per workload), so known
 * templates survive a restart and "new pattern" findings do not re-fire after every deploy.
 */
export function minerKey(scope: string): string {
  return stateKey('miner', scope);
}

export async function saveMiner(store: StateStore, scope: string, m: TemplateMiner): Promise<void> {
  await store.put(minerKey(scope), m.snapshot());
}

/** A missing snapshot gives a fresh miner; an unreadable one is logged and replaced by a fresh miner. */
export async function loadMiner(store: StateStore, scope: string, opts?: MinerOptions): Promise<TemplateMiner> {
  const bytes = await store.get(minerKey(scope));
  if (!bytes) return new TemplateMiner(opts);
  try {
    return TemplateMiner.restore(bytes, opts);
  } catch (err) {
    log.warn({ scope, err: (err as Error).message }, 'miner snapshot unreadable, starting with no templates');
    return new TemplateMiner(opts);
  }
}
