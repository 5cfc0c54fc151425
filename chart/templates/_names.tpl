{{/*
Names
*/}}
{{- define "shopping-system.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, truncated so that suffixed names ("-mongodb-headless") stay valid.
*/}}
{{- define "shopping-system.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "shopping-system.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels, layered: selectorLabels (immutable, used by selectors) < labels (every resource)
< componentLabels (one role or dependency). Call the component variants with
(dict "ctx" $ "component" "web").
*/}}
{{- define "shopping-system.selectorLabels" -}}
app.kubernetes.io/name: {{ include "shopping-system.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "shopping-system.labels" -}}
helm.sh/chart: {{ include "shopping-system.chart" . }}
{{ include "shopping-system.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "shopping-system.name" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "shopping-system.componentSelectorLabels" -}}
{{ include "shopping-system.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Pod template labels: only what stays the same across chart versions (no helm.sh/chart, no
app.kubernetes.io/version), so a chart upgrade alone restarts no pod.
*/}}
{{- define "shopping-system.podLabels" -}}
{{ include "shopping-system.componentSelectorLabels" . }}
app.kubernetes.io/part-of: {{ include "shopping-system.name" .ctx }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "shopping-system.componentLabels" -}}
{{ include "shopping-system.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Resource names
*/}}
{{- define "shopping-system.web.fullname" -}}
{{- printf "%s-web" (include "shopping-system.fullname" .) }}
{{- end }}

{{- define "shopping-system.consumer.fullname" -}}
{{- printf "%s-consumer" (include "shopping-system.fullname" .) }}
{{- end }}

{{- define "shopping-system.management.fullname" -}}
{{- printf "%s-management" (include "shopping-system.fullname" .) }}
{{- end }}

{{- define "shopping-system.kafka.fullname" -}}
{{- printf "%s-kafka" (include "shopping-system.fullname" .) }}
{{- end }}

{{- define "shopping-system.mongodb.fullname" -}}
{{- printf "%s-mongodb" (include "shopping-system.fullname" .) }}
{{- end }}

{{- define "shopping-system.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "shopping-system.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The one image of every shopsys role.
*/}}
{{- define "shopping-system.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
