/**
 * Rule tests for the patterns added to the default rule set (pipelines/default.ts) from the dev half of the
 * eighth freeze of the incident corpus (test/fixtures/incident-corpus/SPLIT.md). Same runner and format as
 * pipelines/default.test.yaml; every line is a dev sample or a dev ordinary line of the corpus, with its
 * public source in the corpus file.
 */
import { describeRuleCases, type RuleCase } from '../helpers/rule-cases.ts';

/** [case name, line, type it must be, type it must not be] */
const CASES: RuleCase[] = [
  ["Helm: the chart's kubeVersion constraint is not met by the cluster", "Error: chart requires kubeVersion: >=1.19 which is incompatible with Kubernetes v1.22.0-rc.0+894a78b", "release_reconcile_failed", null],
  ["Helm: kubeVersion incompatibility without the Error prefix", "chart requires kubeVersion: >=1.17.0 which is incompatible with Kubernetes v1.17.9-gke.6300", "release_reconcile_failed", null],
  ["Crossplane cannot compose a composite resource's resources", "2023-12-19T14:10:35Z    DEBUG    crossplane    Event(v1.ObjectReference{Kind:\"XBootstrap\", Namespace:\"\", Name:\"admin\", UID:\"\", APIVersion:\"platform.crossplane.airnity.net/v1alpha1\", ResourceVersion:\"\", FieldPath:\"\"}): type: 'Warning' reason: 'ComposeResources' cannot compose resources: cannot apply composite resource status: XBootstrap.platform.crossplane.airnity.net \"admin\" is invalid: result.prefixList: Invalid value: \"null\": result.prefixList in body must be of type object: \"null\"", "release_reconcile_failed", null],
  ["Flux helm-controller finishing a reconciliation is not a failure", "{\"level\":\"info\",\"ts\":\"2020-11-19T15:41:11.273Z\",\"logger\":\"controllers.HelmRelease\",\"msg\":\"reconcilation finished in 50.12655ms, next run in 9m0s\",\"controller\":\"helmrelease\",\"request\":\"traefik/traefik\"}", null, "release_reconcile_failed"],
  [".NET SOS: a managed OOM after a GC", "Managed OOM occurred after GC #2420 (Requested to allocate 4194360 bytes)", "oom_killed", null],
  [".NET SOS: the LOH segment that could not be allocated", "Reason: Didn't have enough memory to allocate an LOH segment", "oom_killed", null],
  ["R cannot allocate a vector", "Error: cannot allocate vector of size 4.5 Gb", "oom_killed", null],
  ["GHC's RTS: heap exhausted", "Dec 06 17:08:16 pursuit pursuit[1133]: pursuit: Heap exhausted;", "oom_killed", null],
  ["GHC's RTS: the heap limit it hit", "Dec 06 17:08:16 pursuit pursuit[1133]: pursuit: Current maximum heap size is 1610612736 bytes (1536 MB).", "oom_killed", null],
  ["Oracle's shared pool cannot allocate (ORA-04031)", "ORA-04031: unable to allocate 41520 bytes of shared memory (\"shared pool\",\"unknown object\",\"sga heap(1,0)\",\"KGLHD\")", "oom_killed", null],
  ["ClickHouse's server-wide memory tracker refuses an allocation", "DB::Exception: Memory limit (total) exceeded: would use 56.02 GiB (attempt to allocate chunk of 4219316 bytes), maximum: 56.02 GiB. Stack trace:", "oom_killed", null],
  ["GHC's RTS statistics are not an OOM", "            2097 MB total memory in use (0 MB lost due to fragmentation)", null, "oom_killed"],
  ["systemd's memory accounting line is not an OOM", "     Memory: 516.0K (max: 10.0M swap max: 0B available: 9.4M peak: 10.0M)", null, "oom_killed"],
  ["Oracle DBCA's shared-pool size warning is not an OOM", "[WARNING] [DBT-11205] Specified shared pool size does not meet the recommended minimum size requirement. This might cause database creation to fail.", null, "oom_killed"],
  ["Kibana's status service turns red: Elasticsearch unreachable", "{\"type\":\"log\",\"@timestamp\":\"2019-11-27T02:16:32Z\",\"tags\":[\"status\",\"plugin:xpack_main@7.4.0\",\"error\"],\"pid\":247,\"state\":\"red\",\"message\":\"Status changed from yellow to red - No Living connections\",\"prevState\":\"yellow\",\"prevMsg\":\"Waiting for Elasticsearch\"}", "dependency_health_failed", null],
  ["etcdctl: cluster may be unhealthy", "cluster may be unhealthy: failed to list members", "dependency_health_failed", null],
  ["GKE ingress annotation with an UNHEALTHY backend", "  ingress.kubernetes.io/backends:               {\"k8s-be-30167--01177f64ec764488\":\"HEALTHY\",\"k8s-be-32416--01177f64ec764488\":\"UNHEALTHY\"}", "dependency_health_failed", null],
  ["monit: protocol test of a health endpoint failed", "[PDT Aug 23 14:03:20] warning  : 'app' failed protocol test [HTTP] at [localhost]:8888/v1/healthcheck/status [TCP/IP] -- HTTP error: Server returned status 503", "dependency_health_failed", null],
  ["Uptime Kuma: a monitor failing", "Failing: timeout of 48000ms exceeded | Interval: 60 seconds | Type: http", "dependency_health_failed", null],
  ["Cassandra gossip marks a peer DOWN", "INFO [GossipStage:1] 2020-03-16 16:39:12,368 Gossiper.java:1198 - InetAddress 127.0.0.2:7000 is now DOWN", "dependency_health_failed", null],
  ["Caddy's active health checker: status out of tolerances", "    http.handlers.reverse_proxy.health_checker.active\tstatus code out of tolerances\t{\"status_code\": 404, \"host\": \"localhost:2020\"}", "dependency_health_failed", null],
  ["dockerd: a container's health check erroring is a health failure, not a dependency timeout", "dockerd[663]: time=\"2018-10-06T22:13:02.836190692+02:00\" level=warning msg=\"Health check for container 105a28172561cf5963995cf346d7597b16c36736f2ebe39fc92a94d183199717 error: context deadline exceeded\"", "dependency_health_failed", "dependency_timeout"],
  ["API aggregator: an aggregated API's service has no endpoints", "    Message:               endpoints for service/metrics-server in \"kube-system\" have no addresses with port name \"https\"", "dependency_health_failed", null],
  ["API aggregator: an aggregated API's OpenAPI answers 503", "E0905 14:47:55.129404       1 controller.go:116] loading OpenAPI spec for \"v1beta1.metrics.k8s.io\" failed with: failed to retrieve openAPI spec, http error: ResponseCode: 503, Body: service unavailable", "dependency_health_failed", null],
  ["etcd endpoint healthy is not a failure", "127.0.0.1:2383 is healthy: successfully committed proposal: took = 14.5208ms", null, "dependency_health_failed"],
  ["Elasticsearch's own cluster state recovering is not a dependency failure", "message: \"Cluster health status changed from [RED] to [YELLOW] (reason: [shards started [[.ds-ilm-history-5-2023.06.28-000001][0]]]).\"", null, "dependency_health_failed"],
  ["monit restarting a service is not a failed check", "[PDT Aug 23 14:03:40] info     : 'app' trying to restart", null, "dependency_health_failed"],
  ["dovecot cannot connect to its LDAP server", "dovecot: auth: Error: LDAP: Can't connect to server: ldaps://example.org:636", "ldap_unreachable", null],
  ["openvpn-auth-ldap: LDAP connect failed", "Dec 18 10:19:25 openvpn[1356]: LDAP connect failed.", "ldap_unreachable", null],
  ["Active Directory's PowerShell module: ADServerDownException", "Microsoft.ActiveDirectory.Management.ADServerDownException: Unable to contact the server. This may be because this server does not exist, it is currently down, or it does not have the Active Directory Web Services running. ---> System.ServiceModel.EndpointNotFoundException: No DNS entries exist for host north.sevenkingdoms.local.", "ldap_unreachable", null],
  ["Active Directory Web Services not reachable on any domain controller", "Unable to find current loggedon user in AD Unable to find a default server with Active Directory Web Services running", "ldap_unreachable", null],
  ["FreeRADIUS rlm_ldap without a working connection", "    Mon Mar 20 10:26:40 2017 : Error: rlm_ldap (ldap): Failed to reconnect (0), no free connections are available", "ldap_unreachable", null],
  ["FreeRADIUS rlm_ldap binding successfully is not a failure", "rlm_ldap (ldap): Bind successful", null, "ldap_unreachable"],
  ["FreeRADIUS rlm_ldap connecting to ldaps://…:636 is not a failure", "rlm_ldap (ldap): Connecting to ldaps://ldapserver.mydomain.com:636", null, "ldap_unreachable"],
  ["dovecot binding with invalid credentials is not an unreachable directory", "Aug 12 17:43:45 auth: Error: ldap(ldaps://<url>:636): binding failed (dn XXX): Invalid credentials", null, "ldap_unreachable"],
  ["SSSD's failover reporting a server's initial 'name not resolved' state is not a failure", "   *  (2022-10-10 10:10:42): [be[default]] [get_server_status] (0x1000): Status of server 'ldap1.example.com' is 'name not resolved'", null, "ldap_unreachable"],
];

describeRuleCases('default rules: patterns of the eighth freeze (dev lines)', CASES);
