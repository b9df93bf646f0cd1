import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { LogRecord } from '../../model/log-record.ts';

/** One spooled batch: a file of NDJSON LogRecords, so acks (record.position) still work after a restart. */
export interface SpoolSegment {
  readonly seq: number;
  readonly file: string;
  readonly bytes: number;
  readonly lines: number;
  /** Oldest entry time (epoch ms) in the segment, from its name; NaN when unknown. */
  readonly minTsMs: number;
}

const SEGMENT = /^seg-(\d{12})-(\d+)(?:-(-?\d+))?\.ndjson$/;

/**
 * A directory of immutable segment files, oldest = lowest sequence number. Files are written to a
 * temporary name and renamed, so a crash never leaves a half segment under a real name. The size
 * bound is enforced by the sink (it knows which segment is in flight).
 */
export class Spool {
  readonly dir: string;
  private nextSeq = 1;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates the directory, removes leftovers of interrupted writes, and lists segments oldest first. */
  async open(): Promise<SpoolSegment[]> {
    await mkdir(this.dir, { recursive: true });
    const names = await readdir(this.dir);
    const segs: SpoolSegment[] = [];
    for (const name of names) {
      const file = path.join(this.dir, name);
      if (name.endsWith('.tmp')) {
        await rm(file, { force: true });
        continue;
      }
      const m = SEGMENT.exec(name);
      if (!m) continue;
      const st = await stat(file);
      segs.push({ seq: Number(m[1]), file, bytes: st.size, lines: Number(m[2]), minTsMs: m[3] === undefined ? Number.NaN : Number(m[3]) });
    }
    segs.sort((a, b) => a.seq - b.seq);
    const last = segs.at(-1);
    if (last) this.nextSeq = last.seq + 1;
    return segs;
  }

  async append(records: readonly LogRecord[], minTsMs: number): Promise<SpoolSegment> {
    const seq = this.nextSeq++;
    const ts = Number.isFinite(minTsMs) ? `-${Math.floor(minTsMs)}` : '';
    const file = path.join(this.dir, `seg-${String(seq).padStart(12, '0')}-${records.length}${ts}.ndjson`);
    let body = '';
    for (const r of records) body += `${JSON.stringify(r)}\n`;
    const data = Buffer.from(body, 'utf8');
    await writeFile(`${file}.tmp`, data);
    await rename(`${file}.tmp`, file);
    return { seq, file, bytes: data.length, lines: records.length, minTsMs: Number.isFinite(minTsMs) ? Math.floor(minTsMs) : Number.NaN };
  }

  /** Records of a segment; lines that do not parse (disk damage) are skipped and counted. */
  async read(seg: SpoolSegment): Promise<{ records: LogRecord[]; corrupt: number }> {
    const text = await readFile(seg.file, 'utf8');
    const records: LogRecord[] = [];
    let corrupt = 0;
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const r = JSON.parse(line) as LogRecord;
        if (typeof r.line === 'string' && typeof r.ts === 'string' && r.target) records.push(r);
        else corrupt++;
      } catch {
        corrupt++;
      }
    }
    return { records, corrupt };
  }

  async remove(seg: SpoolSegment): Promise<void> {
    await rm(seg.file, { force: true });
  }
}
