/**
 * The default rule set: Kubernetes incident signatures for container logs (plain, JSON, logfmt,
 * klog, any language) and Kubernetes event messages, an error-volume spike per workload, a
 * new-error-pattern rule on mined templates, and correlations.
 *
 * All line rules share the group "incident": for one line only the first matching rule in this
 * file's order signals, so "Liveness probe failed: … connection refused" is probe_failed and not
 * also dependency_refused. Conditions with `emit: false` feed correlations only.
 */
import { correlate, newPattern, ruleSet, signature, spike } from '../src/detect/builders.ts';
import type { Rule } from '../src/detect/types.ts';

const G = 'incident';
let p = 0;
const next = () => (p += 10);

// Near misses that must never signal: successful pulls and probes, health checks, config dumps.
const HEALTHY = [
  /\bSuccessfully (?:pulled|assigned|mounted)\b/i,
  /\bprobe succeeded\b/i,
  /"?GET \/(?:healthz|readyz|livez|health|ready|metrics)[^"]*"? (?:HTTP\/[\d.]+"? )?200\b/i,
];

const rules: Rule[] = [
  // ── release ────────────────────────────────────────────────────────────────────────────
  signature({
    id: 'image-pull-rate-limited', incident_type: 'image_pull_rate_limited', domain: 'release', severity: 'error',
    title: 'image pull rate limited', group: G, priority: next(),
    match: [
      /toomanyrequests/i,
      /pull rate limit/i,
      /(?:pull|image|registry|manifest|blob|docker\.io|ecr|gcr\.io|quay\.io|ghcr\.io)[^\n]{0,300}(?:\b429\b|too many requests|rate[ -]?limit|rate exceeded)/i,
      /(?:\b429\b|too many requests|rate[ -]?limit(?:ed)?|rate exceeded)[^\n]{0,300}(?:pull|image|registry|manifest)/i,
    ],
    exclude: HEALTHY,
  }),
  signature({
    id: 'image-pull-unauthorized', incident_type: 'image_pull_unauthorized', domain: 'release', severity: 'error',
    title: 'image pull unauthorized', group: G, priority: next(),
    match: [
      /pull access denied/i,
      /no (?:basic auth )?credentials/i,
      /(?:pull|image|registry|manifest|docker\.io|ecr|gcr\.io|quay\.io|ghcr\.io)[^\n]{0,300}(?:unauthori[sz]ed|authentication required|access (?:is )?denied|access to the resource is denied|\b40[13](?![0-9])|\bforbidden\b|denied: |insufficient_scope|authorization failed|invalid username\/password|requested access to the resource is denied)/i,
      /(?:unauthori[sz]ed|authentication required|403 Forbidden|\bStatus 40[13]\b)[^\n]{0,200}(?:pull|image|registry|manifest)/i,
    ],
    exclude: HEALTHY,
  }),
  signature({
    id: 'image-pull-not-found', incident_type: 'image_pull_not_found', domain: 'release', severity: 'error',
    title: 'image not found', group: G, priority: next(),
    match: [
      /manifest unknown/i,
      /manifest for \S+ not found/i,
      /not known to registry/i,
      /InvalidImageName|couldn't parse image reference|invalid reference format/i,
      /(?:pull(?:ing)? image|resolve reference|failed to pull|ErrImagePull|image)[^\n]{0,300}(?:\bnot found\b|NotFound|name unknown|does not exist|no such image|unknown tag)/i,
      /repository[^\n]{0,80}(?:not found|does not exist)/i,
    ],
    exclude: HEALTHY,
  }),
  // ── runtime: pod lifecycle ────────────────────────────────────────────────────────────
  signature({
    id: 'crash-loop', incident_type: 'crash_loop', domain: 'runtime', severity: 'critical',
    title: 'crash loop', group: G, priority: next(),
    match: [/CrashLoopBackOff/i, /back-?off restarting failed container/i, /restarting failed container/i],
    // A state, not lines: open while the pod status says the container waits in CrashLoopBackOff
    // (each restart re-asserts it, at most ~5 min apart), ended by the status saying it stopped.
    exclude: [/no longer waiting/],
    clearedBy: [/no longer waiting: CrashLoopBackOff/],
    quietFor: '15m',
  }),
  signature({
    id: 'oom-killed', incident_type: 'oom_killed', domain: 'runtime', severity: 'error',
    title: 'out of memory', group: G, priority: next(),
    match: [
      /OOM[ -]?Kill/i,
      /\boom[-_ ]kill(?:er|ed|ing)?\b/i,
      /out of memory/i,
      /(?<!-XX:[+-]?\w{0,20})OutOfMemory/,
      /\bOOM encountered\b/,
      /exited with 'signal 9 \(SIGKILL\)'|WorkerLostError[^\n]{0,80}SIGKILL|was sent SIGKILL/,
      /Memory cgroup out of memory/i,
      /Killed process \d+/i,
      /\bMemoryError\b/,
      /std::bad_alloc/,
      /(?:killed|terminated) (?:due to|because of) (?:memory|oom)|oom_reaper|cannot allocate memory/i,
      /Allowed memory size of \d+ bytes exhausted/i,
      /(?:exceeded|over) (?:its |the )?memory limit|memory limit (?:exceeded|reached)/i,
      /heap (?:out of memory|limit (?:reached|exceeded))/i,
      /reason=OOMKilled|exit ?code[=: ]+137\b/i,
    ],
  }),
  signature({
    id: 'probe-failed', incident_type: 'probe_failed', domain: 'runtime', severity: 'warning',
    title: 'probe failures', group: G, priority: next(),
    match: [/(?:liveness|readiness|startup) probe (?:failed|errored|error)/i, /failed (?:liveness|readiness|startup) probe/i, /(?:liveness|readiness|startup) probe for \"[^\"]*\" (?:failed|errored)/i, /\bprobe (?:failed|errored)\b/i, /reason=Unhealthy\b/],
    exclude: HEALTHY,
  }),
  // ── infrastructure ────────────────────────────────────────────────────────────────────
  signature({
    id: 'scheduling-failed', incident_type: 'scheduling_failed', domain: 'infrastructure', severity: 'warning',
    title: 'pods cannot be scheduled', group: G, priority: next(),
    match: [
      /FailedScheduling/,
      /\d+\/\d+ nodes are available/i,
      /no nodes available to schedule/i,
      /didn'?t match (?:Pod's )?node (?:affinity|selector)/i,
      /Insufficient (?:cpu|memory|pods|ephemeral-storage|nvidia\.com|hugepages)/i,
      /untolerated taint/i,
      /unbound immediate PersistentVolumeClaims/i,
      /(?:failed|unable) to schedule pod/i,
      /pod didn'?t trigger scale-up/i,
      /\bnode\(s\) (?:didn'?t|did not|had|were|exceed)/i,
      /preemption:? [^\n]{0,40}(?:not helpful|no preemption victims)/i,
      /\bUnschedulable\b/,
    ],
  }),
  signature({
    id: 'volume-mount-failed', incident_type: 'volume_mount_failed', domain: 'infrastructure', severity: 'error',
    title: 'volume mount failures', group: G, priority: next(),
    match: [
      /FailedMount|FailedAttachVolume|FailedMapVolume/,
      /(?:MountVolume|AttachVolume|MapVolume|UnmountVolume)\.\w+ failed/i,
      /Unable to (?:attach or )?mount volumes/i,
      /Multi-Attach error/i,
      /persistentvolumeclaim "[^"]+" not found/i,
      /format of disk [^\n]{0,200} failed/i,
      /not found in the list of registered CSI drivers|Couldn't get (?:configMap|secret) [^\n]{0,120}not found/i,
      /(?:mount(?:ing)?|attach(?:ing)?) (?:volume |of volume )?failed|failed to (?:mount|attach) (?:volume|device|\/)/i,
      /mount: [^\n]{0,120}(?:wrong fs type|bad option|permission denied|does not exist|no such file)/i,
      /volume[^\n]{0,120}(?:timed out waiting for the condition|not attached|already (?:exclusively )?attached)/i,
    ],
  }),
  signature({
    id: 'disk-pressure', incident_type: 'disk_pressure', domain: 'infrastructure', severity: 'critical',
    title: 'disk pressure', group: G, priority: next(), scope: 'node',
    // The node condition is a state: the kubelet reports it once when it starts and once when it ends.
    clearedBy: [/NodeHasNoDiskPressure/],
    quietFor: '30m',
    match: [
      /(?<!No)DiskPressure|disk-pressure/i,
      /Attempting to reclaim (?:ephemeral-storage|nodefs|imagefs)/i,
      /low on resource: (?:ephemeral-storage|nodefs|imagefs)/i,
      /no space left on device|\bENOSPC\b/i,
      /disk quota exceeded/i,
      /FreeDiskSpaceFailed|ImageGCFailed/,
      /failed to garbage collect required amount of images/i,
      /ephemeral local storage usage exceeds|Usage of EmptyDir volume [^\n]{0,80}exceeds/i,
      /eviction manager: (?!observations)[^\n]{0,200}(?:ephemeral-storage|nodefs|imagefs)/i,
      /(?:disk|filesystem|file system|partition|volume) (?:is )?(?:almost |nearly )?full\b/i,
      /(?:disk|filesystem) usage (?:is )?(?:above|over|exceeds?) /i,
    ],
  }),
  // ── security / identity / dependencies ────────────────────────────────────────────────
  signature({
    id: 'tls-cert-error', incident_type: 'tls_cert_error', domain: 'security', severity: 'error',
    title: 'TLS certificate errors', group: G, priority: next(),
    match: [
      /\bx509: /i,
      /certificate (?:has )?expired|expired certificate|certificate is not (?:yet )?valid|certificate (?:has )?not yet valid/i,
      /certificate verify failed|CERTIFICATE_VERIFY_FAILED|SSLCertVerificationError/i,
      /CERT_HAS_EXPIRED|UNABLE_TO_VERIFY_LEAF_SIGNATURE|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT|ERR_TLS_CERT_ALTNAME_INVALID|ERR_CERT_/,
      /unable to verify the first certificate/i,
      /self[- ]signed certificate/i,
      /SSLHandshakeException|SSLPeerUnverifiedException|PKIX path (?:building|validation) failed|CertPathValidatorException|unable to find valid certification path/i,
      /tls: (?:bad certificate|failed to verify|unknown certificate|handshake failure|certificate required|expired certificate|no certificates|private key does not match)/i,
      /TLS handshake (?:error|failed|failure)/i,
      /SSL routines|SSL_ERROR_|ssl\.SSLError|SSL handshake failed|sslv3 alert/i,
      /No subject alternative (?:names?|DNS name)|certificate signed by unknown authority|SSL certificate problem|unable to get local issuer certificate/i,
      /doesn'?t match any of the subject alternative names|certificate is (?:valid|not valid) for|hostname mismatch|Hostname\/IP does not match certificate/i,
      /(?:invalid|bad|untrusted|revoked) (?:server |client |peer )?certificate/i,
    ],
  }),
  signature({
    id: 'ldap-unreachable', incident_type: 'ldap_unreachable', domain: 'identity', severity: 'error',
    title: 'LDAP unreachable', group: G, priority: next(),
    match: [
      /(?:ldap|active directory)[^\n]{0,200}(?:timed out|time out|i\/o timeout|read timeout|connect(?:ion)? timeout(?![=:_ ]*\d)|\btimeout (?:exceeded|expired|occurred|error|while)|unreachable|refused|can'?t contact|cannot contact|could not contact|unable to (?:connect|contact|reach|bind)|failed to (?:connect|bind|contact|reach)|connection (?:error|failed|reset|closed|lost|timed)|server (?:is )?down|SERVER_DOWN|unavailable|no route|deadline exceeded|CommunicationException|network error|error code (?:52|81|91)|result code (?:52|81|91)|connect error|not reachable)/i,
      /(?:timed out|unreachable|refused|can'?t contact|cannot contact|unable to (?:connect|contact|reach)|failed to (?:connect|bind|contact)|CommunicationException|connection (?:error|failed|reset))[^\n]{0,200}ldap/i,
    ],
  }),
  signature({
    id: 'nats-unavailable', incident_type: 'nats_unavailable', domain: 'runtime', severity: 'error',
    title: 'NATS unavailable', group: G, priority: next(),
    match: [
      /\bnats: (?:no servers|connection closed|timeout|no responders|stale connection|jetstream (?:not enabled|system temporarily unavailable)|disconnected|connection lost|error|authorization violation|maximum connections)/i,
      /\bnats\b[^\n]{0,200}(?:no servers available|timed? ?out|timeout|connection (?:refused|closed|lost|reset|error|failed)|disconnected|unavailable|no responders|stale connection|(?:could not|couldn'?t|unable to|failed to|cannot) connect|error connecting|deadline exceeded|refused|not ready)/i,
      /(?:no servers available|(?:could not|unable to|failed to|cannot) connect|connection refused|timed? ?out|disconnected)[^\n]{0,200}\bnats\b/i,
      /NatsError|NoServersError|\bnats\.(?:aio\.)?errors\.\w+|No Responders Available|\bstan: \w[^\n]{0,40}(?:timeout|failed|closed)|io\.nats\.client[^\n]{0,200}(?:Exception|timeout|refused)|CONNECTION_REFUSED[^\n]{0,80}4222/i,
      /:4222\b[^\n]{0,100}(?:refused|timed? ?out|timeout|unreachable|reset|exception)|(?:refused|timed? ?out|timeout|Connect call failed)[^\n]{0,100}[:'\", ]4222\b/i,
    ],
  }),
  signature({
    id: 'db-connection-error', incident_type: 'db_connection_error', domain: 'runtime', severity: 'error',
    title: 'database connection errors', group: G, priority: next(),
    match: [
      /postmaster is accepting TCP\/IP connections|The driver has not received any packets from the server|Exception in monitor thread while connecting to server|could not connect to (?:server|database)|connection to server (?:at|on) [^\n]{0,120}failed/i,
      /password authentication failed for user|role "[^"]+" does not exist|database "[^"]+" does not exist/i,
      /too many (?:clients|connections)|remaining connection slots are reserved|ER_CON_COUNT_ERROR/i,
      /the database system is (?:starting up|shutting down|in recovery mode)|terminating connection due to administrator command|server closed the connection unexpectedly/i,
      /Can'?t connect to (?:local )?MySQL server|Communications link failure|MySQL server has gone away|Lost connection to MySQL server|Access denied for user '[^']*'@/i,
      /SQLSTATE\[(?:HY000|08\w{3})\]|SQLSTATE 08\w{3}|\bPSQLException\b|psycopg2?\.OperationalError|sqlalchemy\.exc\.(?:Operational|Interface)Error|Sequelize\w*Connection\w*Error|PrismaClientInitializationError|P1001/i,
      /MongoNetworkError|MongoServerSelectionError|MongoTimeoutError|MongoSocket\w*Exception|server selection timed? ?out|No suitable servers found/i,
      /HikariPool-\d+ - (?:Connection is not available|Exception during pool initialization)|Unable to acquire JDBC Connection|Could not (?:open|get) JDBC Connection|CannotGetJdbcConnectionException|JDBCConnectionException|Cannot create PoolableConnectionFactory|connection pool (?:exhausted|timeout)/i,
      /redis(?:\.exceptions)?\.ConnectionError|Redis connection (?:to [^\n]{0,80})?(?:failed|lost|error)|(?:could not|unable to|cannot|failed to) connect to redis|READONLY You can't write/i,
      /(?:failed|unable|could not|cannot|can'?t|error) (?:to )?(?:connect|connecting|establish (?:a )?connection) (?:to )?(?:the )?(?:database|db\b|postgres|postgresql|mysql|mariadb|mongo(?:db)?|redis|sql ?server|mssql|cassandra|oracle)/i,
      /(?:database|\bdb\b|postgres(?:ql)?|mysql|mariadb|mongo(?:db)?|redis|mssql|sql ?server|cassandra)[^\n]{0,120}(?:connection (?:refused|failed|error|reset|lost|closed|timed? ?out|timeout)|connect(?:ion)? (?:refused|timed? ?out)|ECONNREFUSED|ETIMEDOUT|i\/o timeout|dial tcp)/i,
      /:(?:5432|3306|27017|6379|1433|9042|1521)\b[^\n]{0,100}\b(?:refused|timed? ?out|timeout|reset|unreachable)\b|(?:refused|ECONNREFUSED|timed? ?out|timeout)[^\n]{0,100}:(?:5432|3306|27017|6379|1433|9042|1521)\b/i,
      /\bpq: (?:password|SSL|the database|too many|sorry|could not|terminating)|\bdial tcp [^\n]{0,80}:5432/i,
      /ORA-\d{5}: TNS|ORA-(?:12541|12514|12170|03113|03114)\b/,
    ],
  }),
  // ── application ───────────────────────────────────────────────────────────────────────
  signature({
    id: 'panic-fatal', incident_type: 'panic_fatal', domain: 'application', severity: 'critical',
    title: 'panics and fatal errors', group: G, priority: next(),
    match: [
      /(?:^|\s)panic: /,
      /goroutine \d+ \[running\]/,
      /\bfatal error: /i,
      /Traceback \(most recent call last\)/,
      /\bUncaught (?:\w*Error|exception)|terminate called after throwing/i,
      /\bUnhandled(?:PromiseRejection| exception| rejection)|uncaught exception|UncaughtException/i,
      /\bSIGSEGV\b|\bSIGABRT\b|segmentation fault|core dumped/i,
      /Exception in thread "[^"]*"/,
      /thread '[^']*' panicked at/,
      /called `(?:Option|Result)::(?:unwrap|expect)\(\)` on an? `?(?:None|Err)|run with `RUST_BACKTRACE=1`/,
      /runtime error: (?:invalid memory address|index out of range|slice bounds out of range|integer divide by zero)/,
      /\bPANIC\b|\bFATAL\b|Fatal Python error/,
      /"(?:level|severity|lvl)"\s*:\s*"(?:fatal|panic|critical|emerg|alert)"|\b(?:level|lvl|severity)=(?:fatal|panic|critical|emerg)\b/i,
      /\[(?:FATAL|CRITICAL|EMERG|ALERT)\]|\bCRITICAL\b/,
    ],
  }),
  // Any line whose own level is fatal (klog F-lines, "level":"fatal", [FATAL] …) is a fatal error.
  signature({
    id: 'fatal-level', incident_type: 'panic_fatal', domain: 'application', severity: 'critical',
    title: 'fatal errors', group: G, priority: next(), selector: { level: ['fatal'] },
    match: [{ regex: '.' }],
  }),
  signature({
    id: 'dependency-refused', incident_type: 'dependency_refused', domain: 'runtime', severity: 'error',
    title: 'connections refused', group: G, priority: next(), threshold: 3, window: '5m',
    match: [
      /connection refused|ECONNREFUSED|actively refused|ConnectException/i,
      /upstream connect error(?![^\n]*reset reason: (?:connection )?timeout)|no healthy upstream/i,
      /connection to (?:the server )?\S+ (?:was )?refused/i,
      /no route to host|network is unreachable|host is unreachable|EHOSTUNREACH|ENETUNREACH/i,
    ],
    exclude: HEALTHY,
  }),
  signature({
    id: 'dependency-timeout', incident_type: 'dependency_timeout', domain: 'runtime', severity: 'warning',
    title: 'dependency timeouts', group: G, priority: next(), threshold: 3, window: '5m',
    escalate: [{ count: 50, severity: 'error' }],
    match: [
      /\btimed[ -]?out\b/i,
      /\bi\/o timeout\b|deadline exceeded|DEADLINE_EXCEEDED/i,
      /\bE(?:SOCKET)?TIMEDOUT\b/,
      /\b(?:connect(?:ion)?|read|write|request|socket|upstream|gateway|response|dial|query|operation|call|rpc|http|receive|send|handshake|idle|lock)[ _-]?timeout\b(?!\s*[=:]?\s*["']?\d)/i,
      /Timeout(?:Exception|Error)\b|\bReadTimeout\b|\bConnectTimeout\b/,
      /\btimeout (?:exceeded|expired|occurred|reached|error|while|after|waiting|of \d+|on)\b/i,
      /Gateway Time-?out|\b504 Gateway\b|took too long to respond/i,
      /\"(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) [^\"]*\" 504 /,
    ],
    exclude: HEALTHY,
  }),

  // ── conditions for correlations (no findings of their own) ───────────────────────────
  signature({
    id: 'image-pull-backoff', incident_type: 'image_pull_backoff', domain: 'release', severity: 'warning', emit: false,
    match: [/Back-?off pulling image|ImagePullBackOff|ErrImagePull|Failed to pull image/i],
    scope: 'node',
  }),
  signature({
    id: 'pod-evicted', incident_type: 'pod_evicted', domain: 'infrastructure', severity: 'warning', emit: false,
    match: [/\bEvicted\b|The node was low on resource|reason=Evicted/i],
    scope: 'node',
  }),
  signature({
    id: 'nats-pod-not-ready', incident_type: 'nats_pod_not_ready', domain: 'runtime', severity: 'warning', emit: false,
    selector: { pod: /nats/i },
    match: [/(?:readiness|liveness|startup) probe failed|CrashLoopBackOff|Back-?off restarting|not ready|Unhealthy|OOMKilled|reason=Error/i],
  }),

  // ── volume and novelty ─────────────────────────────────────────────────────────────────
  spike({
    id: 'error-spike', incident_type: 'error_spike', domain: 'application', severity: 'warning',
    title: 'error-level volume spike', selector: { source: 'logs', level: ['error', 'fatal'] },
    bucket: '1m', minCount: 20, factor: 3, zScore: 4, warmupBuckets: 10, quietFor: '10m',
    escalate: [{ count: 500, severity: 'error' }],
  }),
  newPattern({
    id: 'new-error-pattern', incident_type: 'new_error_pattern', domain: 'application', severity: 'warning',
    title: 'new error pattern', warmup: '15m', confidence: 0.5, selector: { source: 'logs' },
  }),

  // ── correlations ───────────────────────────────────────────────────────────────────────
  correlate({
    id: 'nats-outage', incident_type: 'nats_outage', domain: 'runtime', severity: 'critical',
    title: 'NATS outage', on: 'cluster', window: '5m',
    conditions: [{ incident: 'nats_unavailable' }, { rule: 'nats-pod-not-ready' }],
  }),
  correlate({
    id: 'node-disk-exhaustion', incident_type: 'node_disk_exhaustion', domain: 'infrastructure', severity: 'critical',
    title: 'node disk exhaustion', on: 'node', window: '15m',
    conditions: [{ incident: 'disk_pressure' }, { rule: 'image-pull-backoff' }, { rule: 'pod-evicted' }],
  }),
  correlate({
    id: 'identity-provider-unreachable', incident_type: 'identity_provider_unreachable', domain: 'identity', severity: 'critical',
    title: 'identity provider unreachable', on: 'cluster', window: '10m',
    conditions: [{ incident: 'ldap_unreachable', minCount: 5 }],
  }),
];

export default ruleSet('default', rules);
