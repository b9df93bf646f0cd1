import type { LogRecord } from '../model/log-record.ts';
import type { StateStore } from '../state/store.ts';
import { log } from '../logger.ts';
import { metrics } from '../metrics.ts';
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
  let warned = false;
  const assign = (r: LogRecord) => {
    try {
      r.template = miner.ref(r.message ?? r.line);
    } catch (err) {
      // Mining is an enrichment: a line it cannot handle keeps flowing without a template.
      metrics.dropped.inc({ component: 'miner', reason: 'error' });
      if (!warned) {
        warned = true;
        log.warn({ err }, 'template miner failed on a line; continuing without a template for such lines');
      }
    }
  };
  return { assign, clusters: () => miner.stats().clusters, miner };
}
