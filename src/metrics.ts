import { Counter, Gauge, Histogram, Registry, registerProcessMetrics } from './prometheus.ts';

/**
 * One registry per process. Every module declares its metrics here so names stay unique
 * and /metrics documents the whole detector in one place.
 */
export const registry = new Registry();
registerProcessMetrics(registry, 'rsd_');

const mk = {
  counter: (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name: `rsd_${name}`, help, labelNames, registers: [registry] }),
  gauge: (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({ name: `rsd_${name}`, help, labelNames, registers: [registry] }),
  histogram: (name: string, help: string, labelNames: string[] = [], buckets?: number[]) =>
    new Histogram({ name: `rsd_${name}`, help, labelNames, registers: [registry], ...(buckets ? { buckets } : {}) }),
};

export const metrics = {
  linesIn: mk.counter('lines_in_total', 'Log records read, by source kind', ['source']),
  bytesIn: mk.counter('bytes_in_total', 'Bytes of log lines read, by source kind', ['source']),
  malformed: mk.counter('malformed_lines_total', 'Lines that could not be parsed cleanly but were passed through', ['reason']),
  dropped: mk.counter('dropped_total', 'Records or findings dropped, by component and reason', ['component', 'reason']),
  findings: mk.counter('findings_total', 'Findings emitted, by incident type and status', ['incident_type', 'status']),
  detectorStateEvictions: mk.counter('detector_state_evictions_total', 'Per-key detector state evicted by the LRU bound', ['rule']),
  minerClusters: mk.gauge('miner_clusters', 'Template clusters held by the miner'),
  minerEvictions: mk.counter('miner_evicted_clusters_total', 'Template clusters evicted by the miner bound'),
  watermarkLag: mk.gauge('watermark_lag_seconds', 'Wall clock minus the event-time watermark'),
  linesOut: mk.counter('lines_out_total', 'Lines acknowledged by a sink', ['sink']),
  bytesOut: mk.counter('bytes_out_total', 'Bytes acknowledged by a sink', ['sink']),
  sinkRequests: mk.counter('sink_requests_total', 'Sink requests by sink and HTTP status / outcome', ['sink', 'status']),
  sinkLatency: mk.histogram('sink_request_seconds', 'Sink request latency', ['sink'], [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
  sinkQueueBytes: mk.gauge('sink_queue_bytes', 'Bytes waiting in a sink queue (memory + spool)', ['sink', 'tier']),
  sinkAcksHeldBytes: mk.gauge('sink_acks_held_bytes', 'Bytes of delivered batches whose acknowledgement waits for an older batch', ['sink']),
  sinkAcksDiscarded: mk.counter('sink_acks_discarded_total', 'Delivered records never acknowledged to their source (too many waited for older batches): re-read after a restart, not lost', ['sink']),
  followedContainers: mk.gauge('followed_containers', 'Containers whose logs are being followed'),
  skippedContainers: mk.gauge('skipped_containers', 'Containers not followed because of the cap'),
  watchRestarts: mk.counter('watch_restarts_total', 'Kubernetes watch restarts, by resource and reason', ['resource', 'reason']),
  apiRequests: mk.counter('kube_api_requests_total', 'Kubernetes API requests, by verb, resource and code', ['verb', 'resource', 'code']),
  secondsSinceEvent: mk.gauge('events_watch_idle_seconds', 'Seconds since the last event or bookmark on the events watch'),
  linesLostToRotation: mk.counter('lines_possibly_lost_rotation_total', 'Follow stalls after log rotation that may have lost lines'),
  natsPublish: mk.counter('nats_publish_total', 'JetStream publishes by outcome (stored, duplicate, error)', ['outcome']),
  eventLoopLag: mk.gauge('event_loop_lag_seconds', 'Event-loop lag (p99 over the last interval)'),
  configReloads: mk.counter('config_reload_total', 'Rule and config reloads by outcome (applied, unchanged, failed, needs_restart)', ['outcome']),
  configLastReload: mk.gauge('config_last_reload_timestamp_seconds', 'Unix time of the last reload that did not fail'),
  tapClients: mk.gauge('tap_clients', 'Connected tap clients'),
  tapDropped: mk.counter('tap_dropped_total', 'Tap messages not sent (sampled, over the rate) and clients dropped for not reading (slow_client)', ['reason']),
  alertmanagerAlertsSent: mk.counter('alertmanager_alerts_sent_total', 'Alerts accepted by an Alertmanager (2xx), by Alertmanager', ['url']),
  alertmanagerQueue: mk.gauge('alertmanager_queue_alerts', 'Distinct alerts waiting to be posted, by Alertmanager', ['url']),
  alertmanagerAlerts: mk.gauge('alertmanager_alerts', 'Episodes the Alertmanager sink keeps re-posting, by state (firing, resolved within retention)', ['state']),
  stateSaves: mk.counter('state_saves_total', 'Writes of detector state to the state store, by what and outcome (saved, failed, restore_failed)', ['what', 'outcome']),
  lifecycleStateBytes: mk.gauge('lifecycle_state_bytes', 'Size of the last saved findings lifecycle (open episodes)'),
  secondStageEvictions: mk.counter('second_stage_evicted_templates_total', 'Template verdicts of the second-stage classifier evicted by its bound (recomputed when the template returns)'),
  configHash: mk.gauge('config_hash', 'SHA-256 of the rule sources in force (label), value 1', ['sha256']),
  filesOpen: mk.gauge('files_open', 'Files the file source holds open (bounded by files.maxOpenFiles)'),
  filesQueued: mk.gauge('files_queued', 'Files waiting for an open-file slot (files.maxOpenFiles reached)'),
  filesQueuedTotal: mk.counter('files_queued_total', 'Times a file had to wait for an open-file slot'),
  filesTracked: mk.gauge('files_tracked', 'Files the file source follows (matched by files.include, or rotated away and still drained)'),
  filesRotations: mk.counter('files_rotations_total', 'File changes the file source followed, by kind (renamed, truncated, replaced, deleted, copy)', ['kind']),
  filesMultiline: mk.counter('files_multiline_records_total', 'Records joined from two or more lines, by why the group ended (next, timeout, max_lines, max_bytes, end)', ['reason']),
  filesPaused: mk.gauge('files_paused', 'Files not read right now because the log sink is under pressure or acknowledgements lag'),
  filesPositionErrors: mk.counter('files_position_write_errors_total', 'File positions that could not be written to the state store (retried)'),
  journaldUp: mk.gauge('journald_up', '1 while the journald source has journalctl running and reading, else 0 (see /readyz for why)'),
  journaldRestarts: mk.counter('journald_restarts_total', 'journalctl (re)starts after it ended, by reason (exit, not_found, denied, no_journal, error)', ['reason']),
  journaldPaused: mk.gauge('journald_paused', '1 while the journald source does not read because the log sink is under pressure or acknowledgements lag'),
  journaldUnacked: mk.gauge('journald_unacked_entries', 'Journal entries read and not yet acknowledged by the log sink'),
  journaldSkipped: mk.counter('journald_entries_skipped_total', 'Journal entries read and not sent, by reason (no_message, oversized, invalid_json)', ['reason']),
  journaldCursorErrors: mk.counter('journald_cursor_write_errors_total', 'journald cursors that could not be written to the state store (retried)'),
  kubeFilesLines: mk.counter('kube_files_lines_total', 'Pod log lines read from the kubelet files (kubernetesFiles), by where their labels came from (informer, path: a pod the informer did not know)', ['labels']),
  kubeFilesDropped: mk.counter('kube_files_dropped_total', 'Pod log file lines not shipped, by reason (too_old: before the lookback or maxResumeAge; not_owned: the own pod; not_selected: outside labelSelector; not_cri: unparseable, skipped as the kubelet does; not_pod_log)', ['reason']),
  bundlesRequests: mk.counter('bundles_requests_total', 'Requests to the bundle server, by route and HTTP status', ['route', 'code']),
  bundlesBuilt: mk.counter('bundles_built_total', 'Bundles finished, by outcome (done, failed)', ['outcome']),
  bundlesStored: mk.gauge('bundles_stored', 'Bundles the bundle server holds (building or finished, before their TTL)'),
  bundlesDiskBytes: mk.gauge('bundles_disk_bytes', 'Compressed bytes of the bundles on disk'),
  lokiInsecureTls: mk.counter('loki_insecure_tls_total', 'Loki sinks started with TLS verification disabled (insecureSkipVerify)'),
  lokiTruncatedLines: mk.counter('loki_truncated_lines_total', 'Lines longer than maxLineBytes, truncated with a marker before the push'),
  lokiLabelsDemoted: mk.counter('loki_labels_demoted_total', 'Label values moved to structured metadata (cardinality cap, invalid or too long value), by label name and reason', ['label', 'reason']),
  kubeResumeDuplicatesDropped: mk.counter('kube_resume_duplicates_dropped_total', 'Replayed log lines dropped after a reconnect because they had already been taken (cursor dedupe)'),
  kubeLogStreamsPaused: mk.gauge('kube_log_streams_paused', 'Pod log streams not read right now because the downstream (sink) is under pressure'),
  kubeLogReconnects: mk.counter('kube_log_reconnects_total', 'Pod log stream reconnects, by reason (eof, stalled, error, superseded)', ['reason']),
  kubeForbidden: mk.gauge('kube_forbidden', '1 while RBAC forbids a verb on a resource the detector needs (see the logs and manifests/base/rbac.yaml)', ['verb', 'resource']),
  findingPublishSeconds: mk.histogram('finding_publish_seconds', 'Time from publish() to a JetStream PubAck, queueing included', [], [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120]),
};
