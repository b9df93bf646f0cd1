import type { Entry } from './entry.ts';
import { compareTime } from './timestamp.ts';

export interface StreamBatch {
  readonly labels: string;
  readonly entries: Entry[];
}

/** Groups a batch by stream, each stream's entries in timestamp order (stable for equal timestamps). */
export function groupByStream(entries: readonly Entry[]): StreamBatch[] {
  const byStream = new Map<string, Entry[]>();
  for (const e of entries) {
    const list = byStream.get(e.stream);
    if (list) list.push(e);
    else byStream.set(e.stream, [e]);
  }
  const out: StreamBatch[] = [];
  for (const [labels, list] of byStream) {
    let sorted = true;
    for (let i = 1; i < list.length && sorted; i++) sorted = compareTime(list[i - 1]!.time, list[i]!.time) <= 0;
    if (!sorted) list.sort((a, b) => compareTime(a.time, b.time)); // Array.prototype.sort is stable
    out.push({ labels, entries: list });
  }
  return out;
}
