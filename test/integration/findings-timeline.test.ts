/**
 * `findings timeline` against a real nats-server: the findings of a recorded run (the engine's own,
 * replayed from the bundled incident sample) are published through the JetStream sink as `run`
 * does, then read back by the CLI into a post-incident timeline.
 */
import { Writable } from 'node:stream';
import { lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as findingsRun } from '../../src/commands/findings.ts';
import { run as streamsRun } from '../../src/commands/streams.ts';
import { loadRules } from '../../src/detect/rulesets.ts';
import { createTemplateAssigner } from '../../src/detect/templates.ts';
import type { Timeline } from '../../src/findings/timeline.ts';
import type { Finding } from '../../src/model/finding.ts';
import { connectNats } from '../../src/nats/connection.ts';
import { findings$, detectionEngine } from '../../src/pipeline.ts';
import { JetStreamFindingSink } from '../../src/sinks/jetstream.ts';
import { ReplaySource } from '../../src/sources/replay.ts';
import { natsUnavailableSkip, startNats, type NatsServerHandle } from '../env/nats.ts';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

describe.skipIf(natsUnavailableSkip())('findings timeline (real nats-server, a recorded run)', () => {
  let server: NatsServerHandle;
  let recorded: Finding[];
  let since: string;
  const env = (): NodeJS.ProcessEnv => ({ NATS_URL: server.url });
  const timeline = async (...args: string[]) => {
    const out = new Capture();
    const err = new Capture();
    const code = await findingsRun(['timeline', '--since', since, ...args], { stdout: out, stderr: err, env: env() });
    return { code, out: out.text, err: err.text };
  };

  beforeAll(async () => {
    server = await startNats();
    expect(await streamsRun(['apply'], { stdout: new Capture(), stderr: new Capture(), env: env() })).toBe(0);
    const templates = await createTemplateAssigner();
    const engine = detectionEngine({ rules: await loadRules({ defaults: true, pipelines: [], rules: [] }), assignTemplate: templates.assign });
    recorded = await lastValueFrom(findings$({ sources: [new ReplaySource({ files: ['samples/incident.ndjson'] })], engine }).pipe(toArray()));
    engine.close();
    since = new Date(Date.now() - 1000).toISOString();
    const nc = await connectNats({ servers: server.url });
    const sink = new JetStreamFindingSink({ connection: nc });
    for (const f of recorded) sink.publish(f);
    // A second replica publishing the same run: deduplicated by Nats-Msg-Id, so nothing changes.
    for (const f of recorded) sink.publish(f);
    await sink.close(10_000);
    await nc.close();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('JSON: every episode of the run once, each step in event-time order, recoveries after their first sighting', async () => {
    const r = await timeline('--output', 'json');
    expect(r.code).toBe(0);
    const t = JSON.parse(r.out) as Timeline;
    expect(t.findings).toBe(recorded.length);
    const observedKeys = new Set(recorded.filter((f) => f.status === 'observed').map((f) => `${f.dedupe_key}/${f.first_seen}`));
    expect(t.episodes).toHaveLength(observedKeys.size);
    const times = t.events.map((e) => Date.parse(e.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(t.events.filter((e) => e.kind === 'recovered')).toHaveLength(recorded.filter((f) => f.status === 'recovered').length);
    for (const ep of t.episodes) {
      if (ep.recovered_at) expect(Date.parse(ep.recovered_at)).toBeGreaterThanOrEqual(Date.parse(ep.first_seen));
      expect(ep.logql.query).toMatch(/^\{.+\}/);
    }
    // The sample's cascade is correlated: at least one correlation names what it grouped.
    const correlated = t.events.filter((e) => e.kind === 'correlated');
    expect(correlated.length).toBeGreaterThan(0);
    expect(correlated[0]!.grouped).toMatch(/\d+× /);
  });

  it('Markdown: a table in time order and one section per episode with evidence and the LogQL', async () => {
    const r = await timeline();
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^# Incident timeline /);
    expect(r.out).toContain('| Time (UTC) | Event | Severity | Type | Scope | Summary |');
    const rows = r.out.split('\n').filter((l) => /^\| \d{4}-/.test(l));
    expect(rows.length).toBeGreaterThan(3);
    const first = recorded.filter((f) => f.status === 'observed').sort((a, b) => Date.parse(a.first_seen) - Date.parse(b.first_seen))[0]!;
    expect(rows[0]).toContain(first.incident_type);
    expect(r.out).toContain('## Episodes');
    expect(r.out).toContain('- evidence (redacted):');
    expect(r.out).toContain(first.evidence.loki.query);
  });

  it('--max bounds what is read, and says so', async () => {
    const r = await timeline('--max', '3', '--output', 'json');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as Timeline).findings).toBe(3);
    expect(r.err).toContain('stopped at --max 3; the range holds more findings');
    expect((await timeline('--max', '0')).code).toBe(2);
  });

  it('filters by type and namespace; bad arguments exit 2 with the reason', async () => {
    const type = recorded[0]!.incident_type;
    const t = JSON.parse((await timeline('--type', type, '--output', 'json')).out) as Timeline;
    expect(t.episodes.length).toBeGreaterThan(0);
    expect(t.episodes.every((e) => e.incident_type === type)).toBe(true);
    const none = JSON.parse((await timeline('--namespace', 'no-such-namespace', '--output', 'json')).out) as Timeline;
    expect(none.episodes).toEqual([]);
    const noSince = await findingsRun(['timeline'], { stdout: new Capture(), stderr: new Capture(), env: env() });
    expect(noSince).toBe(2);
    expect((await timeline('--output', 'pdf')).code).toBe(2);
  });
});
