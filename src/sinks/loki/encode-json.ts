import type { StreamBatch } from './group.ts';
import { toNanoString } from './timestamp.ts';

/**
 * The JSON push body: {"streams":[{"stream":{…},"values":[["<ns>","<line>",{metadata}]]}]}.
 * Timestamps are strings (a JSON number is a 400). The label object is rebuilt from the selector
 * string we formatted ourselves, so the parse only has to undo our own quoting.
 */
export function encodeJsonBody(streams: readonly StreamBatch[]): Buffer {
  const out = {
    streams: streams.map((s) => ({
      stream: parseSelector(s.labels),
      values: s.entries.map((e) => {
        const ts = toNanoString(e.time);
        if (e.metadata.length === 0) return [ts, e.line];
        const md: Record<string, string> = {};
        for (const [k, v] of e.metadata) md[k] = v;
        return [ts, e.line, md];
      }),
    })),
  };
  return Buffer.from(JSON.stringify(out), 'utf8');
}

const selectorCache = new Map<string, Record<string, string>>();

/** Inverse of formatLabels (names are [a-zA-Z_][a-zA-Z0-9_]*, values escaped by quoteLabelValue). */
export function parseSelector(sel: string): Record<string, string> {
  const hit = selectorCache.get(sel);
  if (hit) return hit;
  const out: Record<string, string> = {};
  let i = 1;
  while (i < sel.length - 1) {
    const eq = sel.indexOf('=', i);
    const name = sel.slice(i, eq);
    i = eq + 2; // skip ="
    let v = '';
    while (i < sel.length && sel[i] !== '"') {
      if (sel[i] === '\\') {
        const c = sel[i + 1];
        if (c === 'n') v += '\n';
        else if (c === 'r') v += '\r';
        else if (c === 't') v += '\t';
        else if (c === 'x') {
          v += String.fromCharCode(parseInt(sel.slice(i + 2, i + 4), 16));
          i += 2;
        } else v += c ?? '';
        i += 2;
      } else {
        v += sel[i];
        i++;
      }
    }
    out[name] = v;
    i += 2; // skip ", or "}
  }
  if (selectorCache.size > 10_000) selectorCache.clear();
  selectorCache.set(sel, out);
  return out;
}
