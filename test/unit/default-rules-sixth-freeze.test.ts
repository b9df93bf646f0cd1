/**
 * Rule tests for the patterns added to the default rule set (pipelines/default.ts) from the dev half of the
 * sixth freeze of the incident corpus (test/fixtures/incident-corpus/SPLIT.md). Same runner and format as
 * pipelines/default.test.yaml; every line is a dev sample or a dev ordinary line of the corpus, with its
 * public source in the corpus file.
 */
import { describeRuleCases, type RuleCase } from '../helpers/rule-cases.ts';

/** [case name, line, type it must be, type it must not be] */
const CASES: RuleCase[] = [
  ['Erlang VM heap allocator gives up', 'eheap_alloc: Cannot allocate 441485240 bytes of memory (of type "heap").', 'oom_killed', null],
  ['Cloud Run instance over its memory limit', 'Memory limit of 5120 MiB exceeded with 5261 MiB used.', 'oom_killed', null],
  ['Heroku R15 memory quota vastly exceeded', '2022-01-10T10:58:37.192749+00:00 heroku[worker.1]: Error R15 (Memory quota vastly exceeded)', 'oom_killed', null],
  ['AWS Lambda runtime killed by the sandbox', 'Error Runtime exited with error: signal: killed', 'oom_killed', null],
  ['Redis Sentinel: master subjectively down', '[16184] 14 Apr 10:58:57.464 # +sdown master master1 192.168.200.54 6371', 'dependency_health_failed', null],
  ['Redis Sentinel: master objectively down', '18:X 30 Sep 2025 15:06:46.900 # +odown master mscp_sentinel 172.28.203.166 8379 #quorum 3/2', 'dependency_health_failed', null],
  ['Redis Sentinel: a replica back up is not a failure', '18:X 30 Sep 2025 15:06:52.390 # -sdown slave 172.28.203.167:8379 172.28.203.167 8379 @ mscp_sentinel 172.28.203.165 8379', null, 'dependency_health_failed'],
  ['MaxScale: server state changed to Down', '2024-06-14 04:19:20   notice : Server changed state: example-hu-db-1[example-hu-db-1.example-hu-db-internal.example-hu.svc.k8s.example.hu:3306]: slave_down. [Slave, Running] -> [Down]', 'dependency_health_failed', null],
  ['MaxScale: server state back up is not a failure', '2024-06-14 04:19:22   notice : Server changed state: example-hu-db-1[example-hu-db-1.example-hu-db-internal.example-hu.svc.k8s.example.hu:3306]: slave_up. [Down] -> [Slave, Running]', null, 'dependency_health_failed'],
  ['pgpool-II degenerates a backend after its health check', '2025-06-04 07:50:45.492: health_check0 pid 9927: LOG:  received degenerate backend request for node_id: 0 from pid [9927]', 'dependency_health_failed', null],
  ['pgpool-II shuts a backend down', '2024-03-13 11:32:32.018: main pid 3937628: LOG:  === Starting degeneration. shutdown host server03(5432) ===', 'dependency_health_failed', null],
  ['pgpool-II health check still failing on a retry round', '2023-12-01 11:44:53.692: health_check2 pid 180: LOG:  health check retrying on DB node: 2 (round:4)', 'dependency_health_failed', null],
  ['pgpool-II health check retry that succeeded is not a failure', '2022-06-07 03:11:39.396: health_check1 pid 166: LOG:  health check retrying on DB node: 1 succeeded', null, 'dependency_health_failed'],
  ['Flux cannot clone its Git source', "unable to clone 'ssh://git@github.com/amithapa/k8-deployments', error: Certificate", 'release_reconcile_failed', null],
];

describeRuleCases('default rules: patterns of the sixth freeze (dev lines)', CASES);
