import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileLogFormat } from '../../parse/log-format.ts';
import { TemplateMiner, type MinerOptions } from './miner.ts';

/**
 * Accuracy measurement against the Loghub ground truth (used by scripts/eval-patterns.ts and the
 * accuracy regression tests). Header formats are the benchmark's own, per system; the miner never
 * sees them.
 */
export const LOGHUB_FORMATS: Record<string, string> = {
  HDFS: '<Date> <Time> <Pid> <Level> <Component>: <Content>',
  Hadoop: '<Date> <Time> <Level> \\[<Process>\\] <Component>: <Content>',
  Spark: '<Date> <Time> <Level> <Component>: <Content>',
  Zookeeper: '<Date> <Time> - <Level>  \\[<Node>:<Component>@<Id>\\] - <Content>',
  BGL: '<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>',
  HPC: '<LogId> <Node> <Component> <State> <Time> <Flag> <Content>',
  Thunderbird: '<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> <Component>(\\[<PID>\\])?: <Content>',
  Windows: '<Date> <Time>, <Level>                  <Component>    <Content>',
  Linux: '<Month> <Date> <Time> <Level> <Component>(\\[<PID>\\])?: <Content>',
  Android: '<Date> <Time>  <Pid>  <Tid> <Level> <Component>: <Content>',
  HealthApp: '<Time>\\|<Component>\\|<Pid>\\|<Content>',
  Apache: '\\[<Time>\\] \\[<Level>\\] <Content>',
  Proxifier: '\\[<Time>\\] <Program> - <Content>',
  OpenSSH: '<Date> <Day> <Time> <Component> sshd\\[<Pid>\\]: <Content>',
  OpenStack: '<Logrecord> <Date> <Time> <Pid> <Level> <Component> \\[<ADDR>\\] <Content>',
  Mac: '<Month>  <Date> <Time> <User> <Component>\\[<PID>\\]( \\(<Address>\\))?: <Content>',
};

/** RFC 4180 CSV: quoted fields, doubled quotes, newlines inside quotes. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += c;
      i++;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
    i++;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/**
 * Grouping accuracy (logparser's definition): a line is correct when the set of lines in its
 * predicted cluster equals the set of lines sharing its ground-truth event.
 */
export function groupingAccuracy(truth: readonly string[], predicted: readonly string[]): number {
  if (truth.length !== predicted.length) throw new Error('groupingAccuracy: length mismatch');
  const byTruth = new Map<string, number[]>();
  const predSize = new Map<string, number>();
  truth.forEach((t, i) => {
    const l = byTruth.get(t);
    if (l) l.push(i);
    else byTruth.set(t, [i]);
    const p = predicted[i]!;
    predSize.set(p, (predSize.get(p) ?? 0) + 1);
  });
  let correct = 0;
  for (const lines of byTruth.values()) {
    const p = predicted[lines[0]!]!;
    if (lines.every((i) => predicted[i] === p) && predSize.get(p) === lines.length) correct += lines.length;
  }
  return truth.length === 0 ? 1 : correct / truth.length;
}

export interface LoghubSystem {
  name: string;
  contents: string[];
  eventIds: string[];
  templates: string[];
  /** Lines whose extracted Content differs from the CSV's (format mismatch); reported, not hidden. */
  contentMismatches: number;
}

export function loadLoghubSystem(dir: string, name: string): LoghubSystem {
  const format = LOGHUB_FORMATS[name];
  const logText = readFileSync(join(dir, name, `${name}_2k.log`), 'utf8');
  const rows = parseCsv(readFileSync(join(dir, name, `${name}_2k.log_structured.csv`), 'utf8'));
  const header = rows[0] ?? [];
  const iContent = header.indexOf('Content');
  const iEvent = header.indexOf('EventId');
  const iTemplate = header.indexOf('EventTemplate');
  const truthRows = rows.slice(1).filter((r) => r.length === header.length);
  const lines = logText.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  const fmt = format ? compileLogFormat(format) : null;
  const contents: string[] = [];
  let contentMismatches = 0;
  truthRows.forEach((r, i) => {
    const line = (lines[i] ?? '').trim();
    const extracted = fmt ? fmt.content(line) : line;
    const content = extracted ?? line;
    if (content !== r[iContent]) contentMismatches++;
    contents.push(content);
  });
  return {
    name,
    contents,
    eventIds: truthRows.map((r) => r[iEvent] ?? ''),
    templates: truthRows.map((r) => r[iTemplate] ?? ''),
    contentMismatches,
  };
}

export interface SystemScore {
  lines: number;
  ga: number;
  /** GA of the ids as they were emitted line by line, before later merges (streaming view). */
  ga_streaming: number;
  template_accuracy: number;
  clusters: number;
  truth_events: number;
  content_mismatches: number;
}

export function scoreSystem(sys: LoghubSystem, opts?: MinerOptions): SystemScore {
  const miner = new TemplateMiner(opts);
  const emitted = sys.contents.map((c) => miner.add(c).clusterId);
  const finalIds = emitted.map((id) => miner.canonicalId(id) ?? id);
  let templateHits = 0;
  finalIds.forEach((id, i) => {
    if (normalizeTemplate(miner.templateOf(id) ?? '') === normalizeTemplate(sys.templates[i] ?? '')) templateHits++;
  });
  return {
    lines: sys.contents.length,
    ga: groupingAccuracy(sys.eventIds, finalIds),
    ga_streaming: groupingAccuracy(sys.eventIds, emitted),
    template_accuracy: sys.contents.length ? templateHits / sys.contents.length : 1,
    clusters: miner.stats().clusters,
    truth_events: new Set(sys.eventIds).size,
    content_mismatches: sys.contentMismatches,
  };
}

/** The miner emits single-space-separated tokens; compare templates modulo whitespace runs. */
export function normalizeTemplate(t: string): string {
  return t.trim().split(/\s+/).join(' ');
}
