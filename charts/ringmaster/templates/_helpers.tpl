{{/*
Names, labels and the operator's command line, shared by the templates.
*/}}

{{- define "ringmaster.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release-derived object name: "ringmaster" for a release named ringmaster, else RELEASE-ringmaster. */}}
{{- define "ringmaster.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ringmaster.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ringmaster.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ringmaster.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ringmaster.labels" -}}
helm.sh/chart: {{ include "ringmaster.chart" . }}
{{ include "ringmaster.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ringmaster
{{- end }}

{{- define "ringmaster.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ringmaster.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ringmaster.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret names of the shared contract (mounted as files, never read through the API). */}}
{{- define "ringmaster.signingKeySecretName" -}}
{{- default "ringmaster-signing-key" .Values.signingKey.existingSecret }}
{{- end }}

{{- define "ringmaster.tokensSecretName" -}}
{{- default "ringmaster-tokens" .Values.tokens.existingSecret }}
{{- end }}

{{/* The audit database lives on a claim: the chart's own, or an existing one. */}}
{{- define "ringmaster.auditClaimName" -}}
{{- default (printf "%s-audit" (include "ringmaster.fullname" .)) .Values.audit.persistence.existingClaim }}
{{- end }}

{{/* Port of prometheusUrl for the NetworkPolicy: the override, the URL's explicit port, or its scheme's default. */}}
{{- define "ringmaster.prometheusPort" -}}
{{- $p := .Values.networkPolicy.egress.prometheus.port | int }}
{{- if gt $p 0 }}
{{- $p }}
{{- else }}
{{- $u := urlParse .Values.prometheusUrl }}
{{- $hostport := splitList ":" $u.host }}
{{- if gt (len $hostport) 1 }}
{{- last $hostport }}
{{- else if eq $u.scheme "https" }}
{{- 443 }}
{{- else }}
{{- 80 }}
{{- end }}
{{- end }}
{{- end }}

{{/* `ringmaster operator ...` arguments, one per list item (contract.md: the operator's command). */}}
{{- define "ringmaster.args" -}}
- operator
- --namespace
- {{ .Release.Namespace | quote }}
- --listen
- "0.0.0.0:8080"
- --signing-key
- /etc/ringmaster/signing/signing.key
- --tokens
- /etc/ringmaster/tokens/tokens.yaml
{{- with .Values.watchNamespaces }}
- --watch-namespaces
- {{ join "," . | quote }}
{{- end }}
{{- with .Values.prometheusUrl }}
- --prometheus-url
- {{ . | quote }}
{{- end }}
{{- with .Values.leaderElection.leaseDuration }}
- --lease-duration
- {{ . | quote }}
{{- end }}
{{- with .Values.leaderElection.renewPeriod }}
- --renew-period
- {{ . | quote }}
{{- end }}
{{- if .Values.audit.persistence.enabled }}
- --audit-db
{{- /* One SQLite file per replica (Kubernetes expands $(POD_NAME)): two pods never write the same file. */}}
- /var/lib/ringmaster/audit-$(POD_NAME).db
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* Chart-level checks that a JSON Schema cannot express; each fails with one line naming the value. */}}
{{- define "ringmaster.validate" -}}
{{- $p := .Values.audit.persistence }}
{{- if and $p.enabled (gt (int .Values.replicaCount) 1) (not (has "ReadWriteMany" $p.accessModes)) }}
{{- fail (printf "audit.persistence: replicaCount is %d but accessModes %v has no ReadWriteMany; every replica opens the same audit database, so use ReadWriteMany storage or replicaCount: 1" (int .Values.replicaCount) $p.accessModes) }}
{{- end }}
{{- $pdb := .Values.podDisruptionBudget }}
{{- if and $pdb.enabled (not (kindIs "string" $pdb.minAvailable)) (ge (int $pdb.minAvailable) (int .Values.replicaCount)) }}
{{- fail (printf "podDisruptionBudget.minAvailable (%d) must be below replicaCount (%d), or no node could ever be drained" (int $pdb.minAvailable) (int .Values.replicaCount)) }}
{{- end }}
{{- $seen := dict }}
{{- range $i, $t := .Values.tokens.entries }}
{{- if hasKey $seen $t.name }}
{{- fail (printf "tokens.entries[%d].name: duplicate name %q (also tokens.entries[%v])" $i $t.name (get $seen $t.name)) }}
{{- end }}
{{- $_ := set $seen $t.name $i }}
{{- end }}
{{- $digests := dict }}
{{- range $i, $t := .Values.tokens.entries }}
{{- $d := lower $t.sha256 }}
{{- if hasKey $digests $d }}
{{- fail (printf "tokens.entries[%d].sha256: the same token as tokens.entries[%v] (each token must be unique)" $i (get $digests $d)) }}
{{- end }}
{{- $_ := set $digests $d $i }}
{{- end }}
{{- end }}

{{/* The rules in every watched namespace (or cluster-wide): Rollouts, their status, Events. */}}
{{- define "ringmaster.watchedRules" -}}
- apiGroups: [ringmaster.dev]
  resources: [rollouts]
  verbs: [get, list, watch, create, patch]
- apiGroups: [ringmaster.dev]
  resources: [rollouts/status]
  verbs: [patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}
