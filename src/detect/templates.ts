import type { LogRecord } from '../model/log-record.ts';
import type { StateStore } from '../state/store.ts';
import { TemplateMiner, type MinerOptions } from './miner/miner.ts';

export interface TemplateAssigner {
  /** Sets record.template from the miner (the message of structured lines, else the line). */
  assign: (r: LogRecord) => void;
  clusters(): number;
  readonly miner: TemplateMiner;
}

/**
 * The template-mining stage. One miner for the process: template ids are shared by all
 * workloads, so "the same error in two services" is the same template in both findings.
 */
export async function createTemplateAssigner(opts: { minerOptions?: MinerOptions; store?: StateStore; scope?: string } = {}): Promise<TemplateAssigner> {
  let miner: TemplateMiner;
  if (opts.store) {
    const { loadMiner } = await import('./miner/persist.ts');
    miner = await loadMiner(opts.store, opts.scope ?? 'global', opts.minerOptions);
  } else {
    miner = new TemplateMiner(opts.minerOptions ?? {});
  }
  const assign = (r: LogRecord) => {
    const m = miner.add(r.message ?? r.line);
    r.template = { id: m.clusterId, text: m.template };
  };
  return { assign, clusters: () => miner.stats().clusters, miner };
}
