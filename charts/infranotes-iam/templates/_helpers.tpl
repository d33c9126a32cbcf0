{{/* Chart name, truncated to the DNS label limit. */}}
{{- define "iam.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified release name. */}}
{{- define "iam.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "iam.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "iam.selectorLabels" -}}
app.kubernetes.io/name: {{ include "iam.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Server pods only: the migration Job's pod must never match the Service or the PDB. */}}
{{- define "iam.serverSelectorLabels" -}}
{{ include "iam.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "iam.labels" -}}
helm.sh/chart: {{ include "iam.chart" . }}
{{ include "iam.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: infranotes
{{- end -}}

{{- define "iam.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "iam.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "iam.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: always longer than preStop + server.shutdown_timeout_ms. */}}
{{- define "iam.terminationGracePeriodSeconds" -}}
{{- $shutdownS := div (add (int .Values.server.shutdownTimeoutMs) 999) 1000 -}}
{{- add (int .Values.lifecycle.preStopSleepSeconds) $shutdownS (int .Values.lifecycle.terminationGraceExtraSeconds) -}}
{{- end -}}

{{/* The existing Secret with IAM_KEYS_KEK, IAM_DATABASE_URL, IAM_REDIS_URL, IAM_MAIL_SMTP_URL. */}}
{{- define "iam.secretName" -}}
{{- default (printf "%s-secrets" (include "iam.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* Secret-backed env, shared by the server and the migration Job. The Job cannot use the
     ConfigMap (as a pre-install hook it runs before the ConfigMap exists), so it renders
     iam.configData inline; the ConfigMap is the server's copy and drives its rollout checksum. */}}
{{- define "iam.env" -}}
{{- $secret := include "iam.secretName" . -}}
{{- range $name, $key := .Values.secrets.keys }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
{{- end }}
{{- end -}}

{{/* Non-secret IAM_* values, with the chart-managed ones last so they win. */}}
{{- define "iam.configData" -}}
{{- range $name, $value := .Values.config }}
{{- if not (has $name (list "IAM_SERVER_HTTP_PORT" "IAM_SERVER_SHUTDOWN_TIMEOUT_MS" "IAM_DATABASE_MIGRATE_ON_START")) }}
{{ $name }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}
IAM_SERVER_HTTP_PORT: {{ .Values.server.port | int | toString | quote }}
IAM_SERVER_SHUTDOWN_TIMEOUT_MS: {{ .Values.server.shutdownTimeoutMs | int | toString | quote }}
IAM_DATABASE_MIGRATE_ON_START: {{ (not .Values.migrations.enabled) | toString | quote }}
{{- end -}}
