/**
 * The peers' share of the default rule set: one RE2 pattern per emitting signature rule of
 * pipelines/default.ts (16 rules), so the OpenTelemetry Collector runs a regex per rule on every line as
 * robot-sre-detector does. Translation: the rules' main alternatives, joined with `|`; JS-only
 * syntax (look-behind/ahead) dropped; `(?i)` where the JS pattern has /i. The `exclude` (healthy)
 * patterns, the level-selector rule, rate/spike, new-pattern, correlations and template mining have
 * no peer equivalent: they are robot-sre-detector's extra work in this comparison.
 */
export interface PeerRule {
  id: string;
  /** RE2 (Go regexp) syntax; also valid JavaScript (checked by run.ts before a run). */
  re2: string;
}

export const PEER_RULES: readonly PeerRule[] = [
  { id: 'image_pull_rate_limited', re2: String.raw`(?i)toomanyrequests|pull rate limit|(?:pull|image|registry|manifest)[^\n]{0,300}(?:\b429\b|too many requests|rate[ -]?limit|rate exceeded)` },
  { id: 'image_pull_unauthorized', re2: String.raw`(?i)pull access denied|no (?:basic auth )?credentials|(?:pull|image|registry|manifest)[^\n]{0,300}(?:unauthori[sz]ed|authentication required|access (?:is )?denied|insufficient_scope)` },
  { id: 'image_pull_not_found', re2: String.raw`(?i)manifest unknown|manifest for \S+ not found|not known to registry|InvalidImageName|invalid reference format|(?:pull(?:ing)? image|failed to pull|ErrImagePull)[^\n]{0,300}(?:\bnot found\b|NotFound|name unknown|does not exist)` },
  { id: 'crash_loop', re2: String.raw`(?i)CrashLoopBackOff|back-?off restarting failed container` },
  { id: 'oom_killed', re2: String.raw`(?i)OOM[ -]?Kill|\boom[-_ ]kill(?:er|ed|ing)?\b|out of memory|OutOfMemory|Killed process \d+|\bMemoryError\b|std::bad_alloc|cannot allocate memory|exit ?code[=: ]+137\b` },
  { id: 'probe_failed', re2: String.raw`(?i)(?:liveness|readiness|startup) probe (?:failed|errored|error)|failed (?:liveness|readiness|startup) probe|\bprobe (?:failed|errored)\b` },
  { id: 'scheduling_failed', re2: String.raw`(?i)FailedScheduling|\d+/\d+ nodes are available|no nodes available to schedule|Insufficient (?:cpu|memory|pods|ephemeral-storage)|untolerated taint|(?:failed|unable) to schedule pod` },
  { id: 'volume_mount_failed', re2: String.raw`(?i)FailedMount|FailedAttachVolume|(?:MountVolume|AttachVolume|MapVolume|UnmountVolume)\.\w+ failed|Unable to (?:attach or )?mount volumes|Multi-Attach error|(?:mount(?:ing)?|attach(?:ing)?) (?:volume |of volume )?failed|failed to (?:mount|attach) (?:volume|device|/)` },
  { id: 'disk_pressure', re2: String.raw`(?i)DiskPressure|disk-pressure|no space left on device|\bENOSPC\b|disk quota exceeded|FreeDiskSpaceFailed|ImageGCFailed|(?:disk|filesystem|file system|partition|volume) (?:is )?(?:almost |nearly )?full\b` },
  { id: 'tls_cert_error', re2: String.raw`(?i)\bx509: |certificate (?:has )?expired|expired certificate|certificate verify failed|self[- ]signed certificate|TLS handshake (?:error|failed|failure)|certificate signed by unknown authority|unable to get local issuer certificate|SSLHandshakeException|PKIX path (?:building|validation) failed` },
  { id: 'ldap_unreachable', re2: String.raw`(?i)(?:ldap|active directory)[^\n]{0,200}(?:timed out|i/o timeout|read timeout|unreachable|refused|can'?t contact|unable to (?:connect|contact|reach|bind)|failed to (?:connect|bind|contact|reach)|connection (?:error|failed|reset|closed|lost|timed)|server (?:is )?down|deadline exceeded)` },
  { id: 'nats_unavailable', re2: String.raw`(?i)\bnats: (?:no servers|connection closed|timeout|no responders|stale connection|disconnected|connection lost|error)|\bnats\b[^\n]{0,200}(?:no servers available|timed? ?out|timeout|connection (?:refused|closed|lost|reset|error|failed)|disconnected|unavailable|no responders)|NatsError|NoServersError` },
  { id: 'db_connection_error', re2: String.raw`(?i)could not connect to (?:server|database)|password authentication failed for user|too many (?:clients|connections)|Can'?t connect to (?:local )?MySQL server|Communications link failure|MongoNetworkError|MongoServerSelectionError|(?:failed|unable|could not|cannot|can'?t|error) (?:to )?(?:connect|connecting|establish (?:a )?connection) (?:to )?(?:the )?(?:database|db\b|postgres|postgresql|mysql|mariadb|mongo(?:db)?|redis)|(?:database|\bdb\b|postgres(?:ql)?|mysql|mariadb|mongo(?:db)?|redis)[^\n]{0,120}(?:connection (?:refused|failed|error|reset|lost|closed|timed? ?out|timeout)|ECONNREFUSED|ETIMEDOUT|i/o timeout|dial tcp)` },
  { id: 'panic_fatal', re2: String.raw`(?:^|\s)panic: |goroutine \d+ \[running\]|(?i:\bfatal error: )|Traceback \(most recent call last\)|Exception in thread "[^"]*"|thread '[^']*' panicked at|runtime error: (?:invalid memory address|index out of range)|\bPANIC\b|\bFATAL\b|\[(?:FATAL|CRITICAL|EMERG|ALERT)\]|\bCRITICAL\b` },
  { id: 'dependency_refused', re2: String.raw`(?i)connection refused|ECONNREFUSED|actively refused|ConnectException|no healthy upstream|no route to host|network is unreachable|host is unreachable` },
  { id: 'dependency_timeout', re2: String.raw`(?i)\btimed[ -]?out\b|\bi/o timeout\b|deadline exceeded|\bE(?:SOCKET)?TIMEDOUT\b|Timeout(?:Exception|Error)\b|\btimeout (?:exceeded|expired|occurred|reached|error|while|after|waiting)\b|Gateway Time-?out` },
];

/**
 * Go's regexp compiles a bounded repetition such as `[^\n]{0,300}` into that many copies of the
 * sub-program and then runs its NFA over them: correct, but very slow on every line. A Go-collector
 * user would write the gap unbounded (`.*`, the same match on single-line entries except for
 * the distance cap), so that is the default for the peers ("gap"); "literal" keeps the bounds;
 * "none" runs the peers without any rule stage (their baseline: tail, parse timestamp, push);
 * "plain" keeps the 16 match stages but each filters on one case-sensitive literal, which
 * separates the cost of the stages from the cost of the regular expressions.
 */
export type PeerRegexVariant = 'gap' | 'literal' | 'none' | 'plain';

export function peerRules(variant: PeerRegexVariant): PeerRule[] {
  if (variant === 'none') return [];
  if (variant === 'plain') return PEER_RULES.map((r) => ({ id: r.id, re2: 'CrashLoopBackOff' }));
  if (variant === 'literal') return [...PEER_RULES];
  return PEER_RULES.map((r) => ({ id: r.id, re2: r.re2.replace(/\[\^\\n\]\{0,\d+\}/g, '.*') }));
}

/**
 * The same pattern as a JavaScript RegExp, to count the expected matches per rule on the input
 * (checks that the peers' counters are plausible). Go's `(?i)` prefix becomes the `i` flag; the one
 * scoped group `(?i:…)` is expanded by hand.
 */
export function toJsRegExp(re2: string): RegExp {
  let src = re2;
  let flags = '';
  if (src.startsWith('(?i)')) {
    src = src.slice(4);
    flags = 'i';
  }
  src = src.replace(String.raw`(?i:\bfatal error: )`, String.raw`\b[Ff][Aa][Tt][Aa][Ll] [Ee][Rr][Rr][Oo][Rr]: `);
  return new RegExp(src, flags);
}
