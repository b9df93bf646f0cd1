/**
 * Rule tests for the second generalization pass after the tenth freeze of the incident corpus (test/fixtures/
 * incident-corpus/SPLIT.md, "Tenth freeze"): the broad, cause-keyed patterns added to pipelines/default.ts for
 * dependency_health_failed, oom_killed, ldap_unreachable and release_reconcile_failed. Same runner and format as
 * pipelines/default.test.yaml; every line is a dev sample or a dev ordinary line of the corpus, with its public source
 * in the corpus file.
 */
import { describeRuleCases, type RuleCase } from '../helpers/rule-cases.ts';

/** [case name, line, type it must be, type it must not be] */
const CASES: RuleCase[] = [
  ["Rook: Ceph's health HEALTH_ERR seen by a controller is a health failure, not a failed reconcile", "2023-07-10 06:05:43.064295 I | ceph-spec: ceph-file-controller: CephCluster \"rook-ceph\" found but skipping reconcile since ceph health is &{Health:HEALTH_ERR Details:map[error:{Severity:Urgent Message:failed to get status. . timed out: exit status 1}] LastChecked:2023-07-10T06:05:26Z LastChanged:2023-07-10T05:56:30Z PreviousHealth:HEALTH_OK Capacity:{TotalBytes:0 UsedBytes:0 AvailableBytes:0 LastUpdated:} Versions:<nil> FSID:}", "dependency_health_failed", "release_reconcile_failed"],
  ["Zabbix: a problem naming an agent not available", "Problem name: Zabbix agent is not available (for 3m)", "dependency_health_failed", null],
  ["MySQL Router: a route's /health endpoint answering 500 in the access log", "[10/May/2023:09:14:37 +0000] localhost 127.0.0.1 \"GET /api/20190715/routes/bootstrap_ro/health HTTP/1.1\" 500 - \"-\" \"Go-http-client/1.1\" \"-\" \"-\" \"-\" \"127.0.0.1:8443\" 500 0.052 197 195 0.052", "dependency_health_failed", null],
  ["MinIO: a peer's disk marked temporary offline is a health failure, not a timeout", "Oct 04 13:18:45 s3-app01.localdomain minio[14427]: Error: Marking https://s3-app02.localdomain:9000/minio/storage/u01/v47 temporary offline; caused by Post \"https://s3-app02.localdomain:9000/minio/storage/u01/v47/readxl?disk-id=63d8a144-21fb-4b9a-b241-4217c376e4d2&file-path=content%!F(MISSING)vol-19%!F(MISSING)chap-35%!F(MISSING)de688457-348d-4bdf-a89f-692bb5bb97a0.properties&read-data=false&volume=nexus-apt-blob-store\": lookup s3-app02.localdomain: i/o timeout (*fmt.wrapError)", "dependency_health_failed", "dependency_timeout"],
  ["Alertmanager: a TargetDown alert is a health failure, not a fatal marker", "[ALERT] alertname:TargetDown job:node-exporter prometheus:kube-prometheus-stack/kube-prometheus-stack-prometheus severity:warning", "dependency_health_failed", "panic_fatal"],
  ["Dart VM: Exhausted heap space", "E/DartVM  ( 6389): Exhausted heap space, trying to allocate 48 bytes.", "oom_killed", null],
  ["Dart VM: Exhausted heap space, bare", "Exhausted heap space, trying to allocate 12648 bytes.", "oom_killed", null],
  ["JVM: cannot reserve enough space for the object heap", "Could not reserve enough space for object heap", "oom_killed", null],
  ["SQL Server error 701: insufficient system memory in a resource pool", "    b\"There is insufficient system memory in resource pool 'default' to run this query.\"", "oom_killed", null],
  ["Argo Rollouts: the rollout sync handler erroring", "time=\"2020-12-02T10:04:48Z\" level=error msg=\"rollout syncHandler error: args.container was not resolved\" namespace=warpspeed rollout=dxia-test", "release_reconcile_failed", null],
  ["Argo Rollouts: reconcile err in the rollout context", "ERRO[2022-01-31T23:58:28-05:00] roCtx.reconcile err two Measurement Retention metric rules have the same name '.*'  generation=4 namespace=default resourceVersion=60252 rollout=rollouts-demo", "release_reconcile_failed", null],
  ["kapp: its own error on a wait timing out is a failed deploy, not a dependency timeout", "kapp: Error: Timed out waiting after 5m", "release_reconcile_failed", "dependency_timeout"],
  ["a rollout degraded with ProgressDeadlineExceeded", "2021-05-27 14:33:51 EDT Error: The rollout is in a degraded state with message: ProgressDeadlineExceeded: ReplicaSet \"public-satellite-pools-managed-satellite-envoy-v2-6f9df7c4bf\" has timed out progressing.", "release_reconcile_failed", null],
  ["werf: marking a resource as failed for no progress", "ERROR: marking resource as failed because no progress for 1m30", "release_reconcile_failed", null],
  ["Spinnaker: a deploy stage's exception", "Exception ( Resolve Deploy Source Manifest ) 404", "release_reconcile_failed", null],
  ["Jenkins X: a promotion failing to pull its environment repository", "error: pulling environment repo https://github.com/daemin9527/environment-gamblertabby-production.git into /root/.jx/environments: git output: usage: git stash list [<options>]", "release_reconcile_failed", null],
  ["UnboundID LDAP SDK: an error establishing a connection to the directory", "Caused by: com.unboundid.ldap.sdk.LDAPException: An error occurred while attempting to establish a connection to server gluu3-ubuntu.workgroup.com/192.168.157.143:1636:", "ldap_unreachable", null],
  ["Windows: a domain that could not be contacted on join is an unreachable directory, not a fatal marker", "fatal: [srv03]: FAILED! => {\"changed\": true, \"msg\": \"failed to join domain: Computer 'braavos' failed to join domain 'essos.local' from its current workgroup 'WORKGROUP' with following error message: The specified domain either does not exist or could not be contacted.\", \"reboot_required\": false}", "ldap_unreachable", "panic_fatal"],
  ["pgAdmin: a bind refused for a missing password is not an unreachable directory", "[Thu Jul 08 13:00:13.635465 2021] [wsgi:error] [pid 2261:tid 140003578107648] [remote 172.24.66.26:54041] 2021-07-08 13:00:13,632: ERROR\\tpgadmin:\\tError connecting to the LDAP server: password is mandatory in simple bind", null, "ldap_unreachable"],
  ["SSSD marking a server as name resolved is not a failure", "   *  (2024-01-20  9:04:32): [be[LDAP]] [set_server_common_status] (0x0100): [RID#13] Marking server 'lldapLdap.service.consul' as 'name resolved'", null, "dependency_health_failed"],
  ["a MySQL Router route health metric is not a failure", "mysqlrouter_route_health{name=\"bootstrap_rw\",router_hostname=\"mysql11.luis.local\"} 1", null, "dependency_health_failed"],
  ["Argo Rollouts: reconciliation completed is not a failure", "INFO[2022-01-31T23:58:28-05:00] Reconciliation completed                      generation=4 namespace=default resourceVersion=60252 rollout=rollouts-demo time_ms=1.484618", null, "release_reconcile_failed"],
  ["wasmCloud: reconciling after an error policy retry is not a failed reconcile", "2025-09-15T08:18:33.596730Z  INFO reconciling object{object.ref=WasmCloudHostConfig.v1alpha1.k8s.wasmcloud.dev/my-wasmcloud-cluster.default object.reason=error policy requested retry}: controller::controller: Reconciling WasmCloudHostConfig \"my-wasmcloud-cluster\" in default", null, "release_reconcile_failed"],
  ["G1: a to-space exhausted collection is not an OOM", "[7217.351s][info][gc] GC(134) To-space exhausted", null, "oom_killed"],
  ["Galera: a node reported healthy is not a failure", "mysqld.sh: Node at 10.0.0.148 is healthy!", null, "dependency_health_failed"],
  ["a Terraform helm release still modifying is not a failed release", "helm_release.node0: Still modifying... [id=node81-bde8-41, 10s elapsed]", null, "release_reconcile_failed"],
  ["an LDAP connection opened is not a failure", "2021-03-24 16:36:28.654033: ldap.connection: FINE: open: ldaps://10.1.1.120:636", null, "ldap_unreachable"],
];

describeRuleCases('default rules: second generalization pass of the tenth freeze (dev lines)', CASES);
