/**
 * A site pipeline, mounted from the robot-sre-detector-pipelines ConfigMap at
 * /etc/robot-sre-detector/pipelines and loaded at start: no image rebuild. Add files next to it in
 * manifests/base/kustomization.yaml (configMapGenerator) or in your overlay.
 *
 * Mounted files may import 'robot-sre-detector/pipeline' (the builders) and node: built-ins only:
 * there is no node_modules next to them.
 */
import { ruleSet, signature } from 'robot-sre-detector/pipeline';

export default ruleSet('site', [
  signature({
    id: 'site-certificate-renewal-failed',
    incident_type: 'certificate_renewal_failed',
    domain: 'security',
    severity: 'warning',
    title: 'certificate renewal failed',
    match: [/\b(?:failed to renew|renewal failed)\b[^\n]{0,200}certificate/i, /certificate[^\n]{0,200}\b(?:failed to renew|renewal failed)\b/i],
  }),
]);
