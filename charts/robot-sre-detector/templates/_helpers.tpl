{{/*
Object name: fullnameOverride or robot-sre-detector (the fixed name of manifests/base).
*/}}
{{- define "rsd.fullname" -}}
{{- default "robot-sre-detector" .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "rsd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rsd.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Labels every object carries: part-of (as manifests/base's `labels:`), plus Helm's chart, managed-by
and version. Never on pod templates or in selectors.
*/}}
{{- define "rsd.commonLabels" -}}
app.kubernetes.io/part-of: robot-sre-detector
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ include "rsd.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
{{- end -}}

{{/*
The labels that select the detector pods (Service, workload selector, monitors). app.kubernetes.io/name
also makes the detector skip its own logs.
*/}}
{{- define "rsd.selectorLabels" -}}
app.kubernetes.io/name: robot-sre-detector
app.kubernetes.io/component: detector
{{- end -}}

{{- define "rsd.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{- define "rsd.validate" -}}
{{- if not (has .Values.mode (list "deployment" "sharded" "node-local")) -}}
{{- fail (printf "mode must be deployment, sharded or node-local (got %q)" .Values.mode) -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled .Values.podMonitor.enabled -}}
{{- fail "enable serviceMonitor or podMonitor, not both: every target would be scraped twice" -}}
{{- end -}}
{{- if and (eq .Values.mode "sharded") (lt (int .Values.sharded.replicas) 1) -}}
{{- fail "sharded.replicas must be at least 1" -}}
{{- end -}}
{{- if and .Values.bundles.enabled (ne .Values.mode "deployment") -}}
{{- fail "bundles.enabled needs mode deployment: bundles live in one process, and behind a Service of several replicas an agent's status or download could reach one that does not have its bundle" -}}
{{- end -}}
{{- end -}}

{{/* Where the bundles emptyDir is mounted (config bundles.dir). */}}
{{- define "rsd.bundlesDir" -}}
/var/cache/robot-sre-detector/bundles
{{- end -}}

{{- define "rsd.serverPort" -}}
{{- (.Values.config.server | default dict).port | default 8080 -}}
{{- end -}}

{{/*
config.yaml: .Values.config with kubernetes.mode from `mode`, loki.url, nats.servers and
alertmanager.urls from their values (their sections left out when the URL is empty), state.store
of the sharded mode, and the bundles section when bundles.enabled (bundles.config plus enabled,
port, jwtSecretEnv and dir, which the pod template depends on).
*/}}
{{- define "rsd.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- $kube := deepCopy (get $cfg "kubernetes" | default dict) -}}
{{- $_ := set $kube "mode" (get (dict "deployment" "cluster" "sharded" "sharded" "node-local" "node-local") .Values.mode) -}}
{{- $_ := set $cfg "kubernetes" $kube -}}
{{- if .Values.loki.url -}}
{{- $loki := deepCopy (get $cfg "loki" | default dict) -}}
{{- $_ := set $loki "url" .Values.loki.url -}}
{{- $_ := set $cfg "loki" $loki -}}
{{- else -}}
{{- $_ := unset $cfg "loki" -}}
{{- end -}}
{{- if .Values.nats.url -}}
{{- $nats := deepCopy (get $cfg "nats" | default dict) -}}
{{- $_ := set $nats "servers" (list .Values.nats.url) -}}
{{- $_ := set $cfg "nats" $nats -}}
{{- else -}}
{{- $_ := unset $cfg "nats" -}}
{{- end -}}
{{- if .Values.alertmanager.urls -}}
{{- $am := deepCopy (get $cfg "alertmanager" | default dict) -}}
{{- $_ := set $am "urls" .Values.alertmanager.urls -}}
{{- $_ := set $cfg "alertmanager" $am -}}
{{- end -}}
{{- if eq .Values.mode "sharded" -}}
{{- $state := deepCopy (get $cfg "state" | default dict) -}}
{{- $_ := set $state "store" .Values.sharded.stateStore -}}
{{- $_ := set $cfg "state" $state -}}
{{- end -}}
{{- if .Values.bundles.enabled -}}
{{- $b := deepCopy (.Values.bundles.config | default dict) -}}
{{- $_ := set $b "enabled" true -}}
{{- $_ := set $b "port" (int .Values.bundles.port) -}}
{{- $_ := set $b "jwtSecretEnv" "RSD_BUNDLES_JWT_SECRET" -}}
{{- $_ := set $b "dir" (include "rsd.bundlesDir" .) -}}
{{- $_ := set $cfg "bundles" $b -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* Per-mode settings block (.Values.deployment, .sharded or .nodeLocal). */}}
{{- define "rsd.modeValues" -}}
{{- $m := get (dict "deployment" .Values.deployment "sharded" .Values.sharded "node-local" .Values.nodeLocal) .Values.mode -}}
{{- toYaml $m -}}
{{- end -}}

{{/* TCP port list of a NetworkPolicy rule. */}}
{{- define "rsd.tcpPorts" -}}
{{- $ports := list -}}
{{- range . -}}
{{- $ports = append $ports (dict "port" . "protocol" "TCP") -}}
{{- end -}}
{{- toYaml $ports -}}
{{- end -}}
