import { EMPTY, interval, map, merge, mergeMap, from, Observable, share, tap } from 'rxjs';
import type { Finding } from './model/finding.ts';
import type { LogRecord } from './model/log-record.ts';
import { parseRecord } from './parse/record.ts';
import { DetectionEngine, type EngineOptions } from './detect/engine.ts';
import { FindingsLifecycle, type LifecycleOptions, type LifecycleState } from './findings/lifecycle.ts';
import type { Source } from './sources/types.ts';
import type { LogSink } from './sinks/types.ts';
import { acknowledge } from './delivery/acks.ts';

/** The engine with the findings lifecycle: what every command, test and benchmark runs. */
export type Detection = DetectionEngine<LifecycleState>;

/**
 * Composes detection with the findings lifecycle. They meet here, not inside the engine, so
 * `detect/` (rules, detectors, the engine) does not depend on `findings/` (episodes, evidence,
 * ids): the engine raises conditions, the lifecycle turns them into observed/recovered findings.
 */
export function detectionEngine(opts: Omit<EngineOptions, 'episodes'> & { lifecycle?: LifecycleOptions }): Detection {
  const { lifecycle, ...engine } = opts;
  return new DetectionEngine<LifecycleState>({ ...engine, episodes: new FindingsLifecycle(lifecycle) });
}

export interface PipelineOptions {
  sources: Source[];
  engine: Detection;
  /** Loki (or none): every record is written here before detection sees it. */
  logSink?: LogSink;
  /** Live mode: a wall-clock tick advances the watermark of idle streams. */
  live?: boolean;
  tickMs?: number;
  now?: () => number;
}

/**
 * One direction: sources → parse → Loki sink + detectors → findings. Sources never see sinks:
 * acknowledgements travel with the records (record.ack, the emitting source's handle), and the sink
 * hands each record back to its own handle once stored. Without a sink a batch counts as delivered
 * as soon as it is written. Back-pressure is the sink's `pressure` value, which sources read.
 */
export function findings$(opts: PipelineOptions): Observable<Finding> {
  const { engine, logSink } = opts;
  if (logSink) logSink.register(opts.sources.flatMap((s) => (s.acks ? [s.acks] : [])));
  const parsed$ = merge(...opts.sources.map((s) => s.records$)).pipe(
    map((batch: LogRecord[]) => {
      for (const r of batch) parseRecord(r);
      return batch;
    }),
    tap((batch) => {
      if (logSink) logSink.write(batch);
      else acknowledge(batch);
    }),
    share(),
  );
  const fromRecords$ = parsed$.pipe(mergeMap((batch) => from(engine.process(batch))));
  const now = opts.now ?? Date.now;
  const ticks$ = opts.live ? interval(opts.tickMs ?? 1000).pipe(mergeMap(() => from(engine.tick(now())))) : EMPTY;
  return opts.live ? merge(fromRecords$, ticks$) : fromRecords$;
}
