/**
 * Rule tests for the patterns added to the default rule set (pipelines/default.ts) from the dev half of the
 * seventh freeze of the incident corpus (test/fixtures/incident-corpus/SPLIT.md). Same runner and format as
 * pipelines/default.test.yaml; every line is a dev sample or a dev ordinary line of the corpus, with its
 * public source in the corpus file.
 */
import { describeRuleCases, type RuleCase } from '../helpers/rule-cases.ts';

/** [case name, line, type it must be, type it must not be] */
const CASES: RuleCase[] = [
  ["Helm: post-upgrade hooks failed (debug line)", "helm.go:88: [debug] post-upgrade hooks failed: job failed: BackoffLimitExceeded", "release_reconcile_failed", null],
  ["Helm: post-upgrade hook timed out is the release's failure, not a dependency timeout", "post-upgrade hooks failed: timed out waiting for the condition", "release_reconcile_failed", "dependency_timeout"],
  ["Helm v2: the hook job hit its backoff limit", "Error: Job failed: BackoffLimitExceeded", "release_reconcile_failed", null],
  ["Argo CD API: another operation is already in progress", "LOG: 2022/08/10 14:52:37.139839 /home/developer/app/internal/argocd/argocd.go:58: another operation is already in progress", "release_reconcile_failed", null],
  ["Helm hook job completing is not a failure", "  Normal  Completed  22m   job-controller  Job completed", null, "release_reconcile_failed"],
  ["Flux waiting on an install is not a failure", "cluster-config   nginx   5m42s   Unknown   Running 'install' action with timeout of 5m0s", null, "release_reconcile_failed"],
  ["orchestrator: DeadMaster recovery", "2019-03-01 15:09:02 INFO topology_recovery: will handle DeadMaster event on superma-60-62:3306", "dependency_health_failed", null],
  ["orchestrator: recover-dead-master audit", "2019-03-01 15:09:02 INFO auditType:recover-dead-master instance:superma-60-62:3306 cluster:superma-60-62:3306 message:problem found; will recover", "dependency_health_failed", null],
  ["orchestrator: UnreachableMaster", "2019-02-18 18:40:40 INFO auditType:emergently-read-topology-instance instance:xx.xx.3.145:3307 cluster:xx.xx.3.145:3307 message:UnreachableMaster", "dependency_health_failed", null],
  ["orchestrator raft bookkeeping is not a failure", "2020-04-19 00:02:18 DEBUG orchestrator/raft: applying command 5919897: write-recovery-step", null, "dependency_health_failed"],
  ["repmgr: primary registered but unreachable", "  - node \"bos1-vcloud-static-161-47\" (ID: 18346) is registered as an active primary but is unreachable", "dependency_health_failed", null],
  ["MongoDB replica set heartbeat gives up on a member", "{\"t\":{\"$date\":\"2023-07-27T17:49:57.849+00:00\"},\"s\":\"I\",  \"c\":\"REPL_HB\",  \"id\":23974,   \"ctx\":\"ReplCoord-25\",\"msg\":\"Heartbeat failed after max retries\",\"attr\":{\"target\":\"mongodb-0.mongodb-headless.default.svc.cluster.local:27017\",\"maxHeartbeatRetries\":2,\"error\":{\"code\":6,\"codeName\":\"HostUnreachable\",\"errmsg\":\"Error connecting to mongodb-0.mongodb-headless.default.svc.cluster.local:27017 (100.96.5.193:27017) :: caused by :: Connection refused\"}}}", "dependency_health_failed", "db_connection_error"],
  ["memberlist suspects a Consul server failed", "2025-06-17T12:12:47.511Z [INFO]  agent.server.memberlist.lan: memberlist: Suspect consul-server-1 has failed, no acks received", "dependency_health_failed", null],
  ["Consul raft verifier OK is not a failure", "2025-06-17T12:13:16.666Z [INFO]  agent.server.raft.logstore.verifier: verification checksum OK: elapsed=1.451736ms leaderChecksum=ab2dcb608d92d5ac rangeEnd=6822974 rangeStart=6822853 readChecksum=ab2dcb608d92d5ac", null, "dependency_health_failed"],
  ["Docker swarm task killed as an unhealthy container", "            \"Err\": \"task: non-zero exit (137): dockerexec: unhealthy container\",", "dependency_health_failed", null],
  ["Varnish backend list: probe window sick", "vcl-1e99292c-0408-4871-9e73-97cbdc3bf187.mw101     probe    3/5    sick     Mon, 25 Jul 2022 21:37:54 GMT", "dependency_health_failed", null],
  ["kubectl cannot list an aggregated API", "E0519 18:10:32.151229   67689 memcache.go:287] couldn't get resource list for metrics.k8s.io/v1beta1: the server is currently unable to handle the request", "dependency_health_failed", null],
  ["Galera node synced is not a failure", "Feb 13 23:17:22 DB_1 mysql-start[20324]: 2025-02-13 23:17:22 0 [Note] WSREP: Shifting JOINED -> SYNCED (TO: 679300)", null, "dependency_health_failed"],
  ["Ruby net-ldap socket error", "Net::LDAP::LdapError (No such address or other socket error.):", "ldap_unreachable", null],
  ["Keycloak LDAP sync: LDAP Query failed", "2023-11-29 11:31:46,277 ERROR [org.keycloak.storage.managers.UserStorageSyncManager] (Timer-0) Error occurred during sync of changed users: org.keycloak.models.ModelException: LDAP Query failed", "ldap_unreachable", null],
  ["SSSD back end offline", "   *  (2024-01-20  9:04:32): [be[LDAP]] [be_ptask_offline_cb] (0x0400): [RID#13] Back end is offline", "ldap_unreachable", null],
  ["OpenGrok: LDAP server not responding", "13-Aug-2024 09:17:00.168 WARNING [Catalina-utility-1] opengrok.auth.plugin.ldap.LdapServer.connect LDAP server ldaps://ldap.example.com is not responding", "ldap_unreachable", null],
  ["LDAP host name does not resolve (Node getaddrinfo ENOTFOUND on :389)", "Error: getaddrinfo ENOTFOUND **** ****:389", "ldap_unreachable", null],
  ["FreeIPA client cannot verify its server", "2020-11-17T07:00:06Z ERROR Failed to verify that master1.ipa.test is an IPA Server.", "ldap_unreachable", null],
  ["Keycloak: JNDI connection closed by the directory", "ERROR [org.keycloak.storage.ldap.idm.store.ldap.LDAPOperationManager] (executor-thread-47417) Could not query server using DN [ou=users,dc=XXX,dc=YYY] and filter [(&(|(createTimestamp>=20221114074444.0Z)(modifyTimestamp>=20221114074444.0Z))(objectclass=inetOrgPerson)(objectclass=organizationalPerson))]: javax.naming.CommunicationException: connection closed [Root exception is java.io.IOException: connection closed]; remaining name 'ou=users,dc=XXX,dc=YYY'", "ldap_unreachable", null],
  ["a WordPress LDAP plugin connecting is not a failure", "[23-Jan-2016 21:38:02 UTC] [AuthLDAP] connect to LDAP server", null, "ldap_unreachable"],
  ["MRBS got its LDAP connection (logged at error level) is not a failure", "[Tue Jun 05 17:03:44.152185 2018] [:error] [pid 1904] [client 172.16.40.202:51193] authLdapAction: Got LDAP connection, referer: http://172.16.11.16/mrbs/web/admin.php", null, "ldap_unreachable"],
];

describeRuleCases('default rules: patterns of the seventh freeze (dev lines)', CASES);
