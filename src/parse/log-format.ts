/**
 * logparser-benchmark `--log-format` strings (e.g. `<Date> <Time> <Level> <Component>: <Content>`):
 * `<Name>` is a field, the text between fields is a regular-expression fragment in which a run of
 * spaces matches `\s+`, and the whole line must match. Same semantics as logparser's
 * `generate_logformat_regex`, so the Loghub headers work unchanged.
 */
export interface LogFormat {
  readonly fields: readonly string[];
  /** Named fields of the line, or null when the line does not match the format. */
  parse(line: string): Record<string, string> | null;
  /** The `<Content>` field (or the last field when there is none), or null on no match. */
  content(line: string): string | null;
}

const FIELD = /<([^<>]+)>/g;
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function compileLogFormat(format: string): LogFormat {
  const fields: string[] = [];
  let source = '^';
  let last = 0;
  for (const m of format.matchAll(FIELD)) {
    source += literal(format.slice(last, m.index));
    const name = m[1] ?? '';
    if (!FIELD_NAME.test(name)) throw new Error(`log format: field name <${name}> is not an identifier`);
    if (fields.includes(name)) throw new Error(`log format: field <${name}> appears twice`);
    fields.push(name);
    source += `(?<${name}>.*?)`;
    last = m.index + m[0].length;
  }
  source += literal(format.slice(last)) + '$';
  if (fields.length === 0) throw new Error('log format: no <Field> in format');
  // 's' so a field may hold characters like \r; the header fragments come from the operator, and
  // the lazy groups anchored at both ends keep matching linear for the benchmark-style formats.
  const re = new RegExp(source, 's');
  const contentField = fields.includes('Content') ? 'Content' : fields[fields.length - 1]!;
  return {
    fields,
    parse(line) {
      const m = re.exec(line);
      return m?.groups ? { ...m.groups } : null;
    },
    content(line) {
      const m = re.exec(line);
      // Optional groups such as `(\[<PID>\])?` can be undefined; Content itself always participates.
      return m?.groups ? (m.groups[contentField] ?? '') : null;
    },
  };
}

function literal(fragment: string): string {
  return fragment.replace(/ +/g, '\\s+');
}
