/**
 * The second stage, loaded with the default rule set: a warning-or-worse line that no default rule
 * matched is typed by a naive Bayes classifier trained on the dev half of the incident corpus
 * (scripts/train-classifier.ts, shipped in ./second-stage-model.ts). One rule per incident type the
 * model knows, all sharing one classifier; findings say `second-stage classifier` in their details,
 * with confidence 0.4 (below every other kind's) and severity warning whatever the type's usual one.
 *
 * Thresholds from `npm run eval:classifier`, chosen without the test half: 5-fold cross-validation on
 * dev (false positives ≤ 1 %) and the distinct warning-or-worse lines of the ten Loghub systems as
 * traffic nobody tuned for (≤ 0.1 % typed). On 2026-12-03 (second freeze of the corpus) that gave
 * posterior ≥ 0.95 and margin ≥ 14 nats: test macro recall 0.944 → 0.951 (+4 of 504 samples), false
 * positives unchanged (1 of 199), none of the 5,054 Loghub problem lines typed. Looser thresholds
 * gained more on the corpus but typed a quarter of the Loghub lines.
 *
 * 2026-12-07 (seventh freeze): retrained on the grown dev half, the model typed 2 of the 5,054 Loghub problem lines
 * (BGL's `ciod: Error reading message prefix on CioStream socket …, Connection timed out`, as ldap_unreachable at
 * margin 14.7); the margin floor went from 14 to 15 nats, the smallest whole value that types none of them (the next
 * Loghub margin is 13.6). Chosen on Loghub alone, before the test half was measured with the new model.
 *
 * 2026-12-08 (eighth freeze): retrained on the grown dev half, the model typed the same 2 BGL `ciod` lines (as
 * ldap_unreachable, margin 15.5); the margin floor went from 15 to 16 nats, the smallest whole value that types none of
 * them (the next Loghub margin is 13.0). Chosen on Loghub alone, before the test half was measured with the new model.
 *
 * 2026-12-08 (ninth freeze): retrained on the grown dev half, the model typed 4 of the 5,054 Loghub problem lines as
 * ldap_unreachable (the same 2 BGL `ciod` lines at margin 16.25, and 2 Hadoop `NoRouteToHostException … failed on socket
 * timeout exception` lines at 16.37); the margin floor went from 16 to 17 nats, the smallest whole value that types none
 * of them (the next Loghub margin is 13.4). Chosen on Loghub alone, before the test half was measured with the new model.
 */
import { classify, ruleSet } from '../src/detect/builders.ts';
import { ORDINARY_CLASS } from '../src/detect/classifier.ts';
import { SecondStage } from '../src/detect/second-stage.ts';
import type { Domain } from '../src/model/finding.ts';
import { SECOND_STAGE_MODEL } from './second-stage-model.ts';

/** As the default rules of the same type (runtime otherwise). */
const DOMAIN: Readonly<Record<string, Domain>> = {
  disk_pressure: 'infrastructure',
  scheduling_failed: 'infrastructure',
  volume_mount_failed: 'infrastructure',
  image_pull_not_found: 'release',
  image_pull_rate_limited: 'release',
  image_pull_unauthorized: 'release',
  release_reconcile_failed: 'release',
  ldap_unreachable: 'identity',
  tls_cert_error: 'security',
  panic_fatal: 'application',
};

export const SECOND_STAGE_THRESHOLDS = { minPosterior: 0.95, minMargin: 18 } as const;

const classifier = new SecondStage({ model: SECOND_STAGE_MODEL, ...SECOND_STAGE_THRESHOLDS });

export default ruleSet(
  'second-stage',
  SECOND_STAGE_MODEL.classes
    .filter((c) => c !== ORDINARY_CLASS)
    .map((type) =>
      classify({
        id: `second-stage-${type.replaceAll('_', '-')}`,
        incident_type: type,
        domain: DOMAIN[type] ?? 'runtime',
        severity: 'warning',
        title: `${type.replaceAll('_', ' ')} (typed by the second stage)`,
        scope: 'workload',
        classifier,
      }),
    ),
);
