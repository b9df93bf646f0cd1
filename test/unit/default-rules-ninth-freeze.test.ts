/**
 * Rule tests for the generalization pass after the ninth freeze of the incident corpus (test/fixtures/incident-corpus/
 * SPLIT.md, "Ninth freeze"): the broad, cause-keyed patterns added to pipelines/default.ts. Same runner and format as
 * pipelines/default.test.yaml; every line is a dev sample or a dev ordinary line of the corpus, with its public source
 * in the corpus file.
 */
import { describeRuleCases, type RuleCase } from '../helpers/rule-cases.ts';

/** [case name, line, type it must be, type it must not be] */
const CASES: RuleCase[] = [
  ["FreeBSD's kernel kills a process for want of swap", "Jan 24 01:46:15 sense4.example.com kernel: pid 41663 (sliod), uid 0, was killed: out of swap space", "oom_killed", null],
  ["MySQL cannot create a thread: errno 12 is ENOMEM, not a refused connection", "SQLSTATE[HY000] [1135] Can't create a new thread (errno 12); if you are not out of available memory, you can consult the manual for a possible OS-dependent bug", "oom_killed", "db_connection_error"],
  ["Node cannot spawn a child: spawn ENOMEM", "Error: spawn ENOMEM", "oom_killed", null],
  ["pm2 cannot launch an application: spawn ENOMEM", "[PM2][ERROR] Error while launching application Error: spawn ENOMEM", "oom_killed", null],
  ["an uncaught spawn ENOMEM is an OOM, not a generic fatal", "MASTER server received uncaughtException, will shutdown. Error: spawn ENOMEM", "oom_killed", "panic_fatal"],
  ["LuaJIT in OpenResty: a bare 'no memory'", "2016/07/15 11:19:51 [error] 4188#0: *267 lua entry thread aborted: runtime error: /data/test.lua:9: no memory", "oom_killed", null],
  ["iOS jetsam terminating a process over its memory limit", "The process was terminated for exceeding jetsam memory limits", "oom_killed", null],
  ["MySQL failing to allocate N bytes for a buffer (hyphenated out-of-memory)", "2022-11-22T13:20:26.004784Z 0 [Warning] [MY-011041] [Server] Failed to allocate 4147200 bytes for buffer 'memory/performance_schema/memory_summary_by_host_by_event_name' due to out-of-memory.", "oom_killed", null],
  ["InnoDB sizing its buffer pool is not an OOM", "2016-09-12T16:55:09.276233Z 0 [Note] InnoDB: Initializing buffer pool, total size = 128M, instances = 1, chunk size = 128M", null, "oom_killed"],
  ["systemd starting the userspace OOM killer is not an OOM", "mars 01 10:28:39 systemd[1]: Started Userspace Out-Of-Memory (OOM) Killer.", null, "oom_killed"],
  ["keepalived: a real server's check failing after its retries", "Check on service [127.0.0.1]:8000 failed after 3 retry.", "dependency_health_failed", null],
  ["keepalived: a real server removed from its virtual server", "Removing service [127.0.0.1]:8000 from VS [172.16.207.249]:80", "dependency_health_failed", null],
  ["keepalived: a MISC_CHECK script failing", "Sep 29 10:51:51 ipvs-lan-102 Keepalived_healthcheckers[26495]: Misc check to [10.1.18.2] for [/etc/keepalived/HC/HC-DB-master 10.1.18.21] failed.", "dependency_health_failed", null],
  ["keepalived: a virtual server losing its quorum", "Sep 29 10:51:51 ipvs-lan-102 Keepalived_healthcheckers[26495]: Lost quorum 1-0=1 > 0 for VS [10.9.200.55]:3306", "dependency_health_failed", null],
  ["Nagios: a service check CRITICAL on a refused connection is a health failure, not a refusal", "[1336039822] SERVICE ALERT: ces;SV-SE-Linux-SWAP;CRITICAL;HARD;1;Connection refused or timed out", "dependency_health_failed", "dependency_refused"],
  ["Nagios: NRPE socket timeout in a CRITICAL service alert is a health failure, not a timeout", "[2021-03-16 04:01:49] SERVICE ALERT: backup7.example.com;System configuration;CRITICAL;SOFT;1;CHECK_NRPE: Socket timeout after 10 seconds.", "dependency_health_failed", "dependency_timeout"],
  ["Nagios: a host alert DOWN", "[1667502498] HOST ALERT: localhost;DOWN;SOFT;1;PING DOWN", "dependency_health_failed", null],
  ["Nagios: a CRITICAL service alert is not a fatal marker", "[1667502500] SERVICE ALERT: localhost;PING;CRITICAL;HARD;1;PING DOWN", "dependency_health_failed", "panic_fatal"],
  ["keepalived: a MISC_CHECK succeeding is not a failure", "Sep 29 10:51:58 ipvs-lan-102 Keepalived_healthcheckers[26495]: Misc check to [10.1.18.2] for [/etc/keepalived/HC/HC-DB-replica 10.1.18.21] success.", null, "dependency_health_failed"],
  ["keepalived: activating a health checker is not a failure", "Oct 12 14:39:41 10-10-40-200 Keepalived_healthcheckers[33]: Activating healthchecker for service [10.10.40.240]:8066", null, "dependency_health_failed"],
  ["Nagios: a host alert UP is not a failure", "[1667502567] HOST ALERT: localhost;UP;SOFT;1;PING UP", null, "dependency_health_failed"],
  ["Nagios: a service alert OK is not a failure", "[1667502588] SERVICE ALERT: localhost;Current Users;OK;HARD;1;USERS situation is OK", null, "dependency_health_failed"],
  ["Mesos/Marathon docs on health checks failing are prose, not a failure", "Health checks perform periodic checks on the containers distributed across a cluster to make sure they’re up and responding. If health checks fail for any reason, Mesos will report the task as unhealthy so that status-aware load-balancers can stop sending traffic to the container. Additionally, after the configured maximum consecutive failures, Marathon will kill the task and restart it.", null, "dependency_health_failed"],
  ["Flux running its health checks with a timeout is not a failure", "flux-system   somekustomization           111d   Unknown   running health checks with a timeout of 15m0s", null, "dependency_health_failed"],
  ["Kong checking unhealthy targets with nothing to do is not a failure", "kong_1            | 2021/05/31 17:52:24 [debug] 44#0: *38 [lua] healthcheck.lua:1127: log(): [healthcheck] (bdd6a8cd-50a2-4650-aba2-2e2cf172dc85:mock) checking unhealthy targets: nothing to do", null, "dependency_health_failed"],
  ["Apache Directory LDAP API: cannot connect, connection refused (mxisd)", "\"status\":500,\"error\":\"Internal Server Error\",\"exception\":\"org.apache.directory.ldap.client.api.exception.InvalidConnectionException\",\"message\":\"Cannot connect to the server: Connection refused\",\"path\":\"/_matrix/identity/api/v1/lookup\"}", "ldap_unreachable", null],
  ["JNDI: NamingException for an LDAP read timing out", "Caused by: javax.naming.NamingException: LDAP response read timed out, timeout used:-1ms.; remaining name 'DC=example,DC=com'", "ldap_unreachable", null],
  ["Zend zfcuser-ldap: 0x51 Can't contact LDAP server", "2013-10-07T20:44:50+02:00 NOTICE (5): 0x51 (Can't contact LDAP server): ldap://s0.foo2.net", "ldap_unreachable", null],
  ["PacketFence: binding with Can't contact LDAP server", "Jul 11 11:27:19 pf1 packetfence: WARN pfperl-api(3457): binding:'Can't contact LDAP server' (pf::LDAP::log_error_msg)", "ldap_unreachable", null],
  ["ldapjs client being created for an ldap:// URL is not a failure", "{\"name\":\"ActiveDirectory\",\"hostname\":\"91-D0S094186\",\"pid\":13396,\"level\":20,\"msg\":\"Creating ldapjs client for ldap://domain.co.uk. Opts: {\\\"maxConnections\\\":20}\",\"time\":\"2015-07-24T14:49:42.401Z\",\"v\":0}", null, "ldap_unreachable"],
  ["a client connecting to an LDAP server is not a failure", "INFO: Connecting to LDAP server: winterfell.north.sevenkingdoms.local", null, "ldap_unreachable"],
  ["PacketFence testing its LDAP connection is not a failure", "Jul 11 11:27:19 pf1 packetfence: INFO pfperl-api(3457): LDAP testing connection (pf::LDAP::expire_if)", null, "ldap_unreachable"],
  ["Zammad: the directory answered No Such Object (32), so it is reachable", "[2017-10-26T11:49:39.749468 #715] ERROR -- : Can't connect to '10.250.4.55' on port '389', Can't bind to '10.250.4.55', 32, No Such Object (Exceptions::UnprocessableEntity)", null, "ldap_unreachable"],
  ["slapd replication: a bind answered (13, confidentiality required) is not unreachable", "slapd[7521]: slap_client_connect: URI=ldap://xxxxxxxxx DN=\"cn=admin,dc=xxxx,dc=xxxx,dc=cloudapp,dc=azure,dc=com\" ldap_sasl_bind_s failed (13)", null, "ldap_unreachable"],
  ["SSSD docs naming its LDAP timeout options are not a timeout", "see 'man sssd-ldap': `ldap_search_timeout`, `ldap_network_timeout`, `ldap_opt_timeout` and 'man sssd-krb5': `krb5_auth_timeout`", null, "ldap_unreachable"],
  ["Helm: manifest kinds without their CRDs (resource mapping not found)", "Error: UPGRADE FAILED: resource mapping not found for name: \"kai-config\" namespace: \"kai-scheduler\" from \"\": no matches for kind \"Config\" in version \"kai.scheduler/v1\"", "release_reconcile_failed", null],
  ["kubectl apply: resource mapping not found for a Plan without its CRD", "resource mapping not found for name: \"server-plan\" namespace: \"system-upgrade\" from \"system-upgrade-plan.yaml\": no matches for kind \"Plan\" in version \"upgrade.cattle.io/v1\"", "release_reconcile_failed", null],
  ["kapp-controller: Reconcile failed", "  Friendly Description:  Reconcile failed: Templating dir: exit status 1", "release_reconcile_failed", null],
  ["Flux CLI: HelmRelease reconciliation failed", "✗ HelmRelease reconciliation failed", "release_reconcile_failed", null],
  ["Flux CLI waiting for a HelmRelease reconciliation is not a failure", "◎ waiting for HelmRelease reconciliation", null, "release_reconcile_failed"],
  ["Argo Rollouts finishing a reconciliation is not a failure", "time=\"2022-03-09T17:57:57Z\" level=info msg=\"Reconciliation completed\" generation=2 namespace=testns resourceVersion=4389784599 rollout=app time_ms=4599.406142999999", null, "release_reconcile_failed"],
  ["an Argo CD retry limit comment is configuration, not a failed sync", "      limit: 5 # number of failed sync attempt retries; unlimited number of attempts if less than 0", null, "release_reconcile_failed"],
];

describeRuleCases('default rules: generalization pass of the ninth freeze (dev lines)', CASES);
