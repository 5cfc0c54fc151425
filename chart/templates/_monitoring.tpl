{{/*
"true" when the Prometheus Operator's API (monitoring.coreos.com/v1) is installed: the
ServiceMonitors and the PrometheusRule are rendered only then, so enabling them on a cluster
without the operator installs the rest of the chart (NOTES.txt says what was left out).
*/}}
{{- define "shopping-system.monitoring.operatorPresent" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}true{{ end }}
{{- end }}

{{/*
The Prometheus `job` label of each role. A ServiceMonitor without jobLabel names the job after
the Service it selects, so the rules and the dashboard select the same series Prometheus stores.
*/}}
{{- define "shopping-system.monitoring.webJob" -}}
{{- include "shopping-system.web.fullname" . }}
{{- end }}

{{- define "shopping-system.monitoring.consumerJob" -}}
{{- include "shopping-system.management.fullname" . }}
{{- end }}

{{/*
The most consumers the release can run: consumer.autoscaling.maxReplicas when KEDA scales it,
else the fixed consumer.replicaCount. More consumers than partitions would idle, so never more
than kafka.topic.partitions.
*/}}
{{- define "shopping-system.monitoring.consumerCeiling" -}}
{{- $ceiling := int .Values.consumer.replicaCount }}
{{- if include "shopping-system.keda.consumerScaled" . }}
{{- $ceiling = int (include "shopping-system.consumer.autoscaling" . | fromYaml).maxReplicas }}
{{- end }}
{{- min $ceiling (int .Values.kafka.topic.partitions) }}
{{- end }}

{{/*
One ServiceMonitor: (dict "ctx" $ "component" "web" "port" "http").
*/}}
{{- define "shopping-system.monitoring.serviceMonitor" -}}
{{- $sm := .ctx.Values.monitoring.serviceMonitor }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ printf "%s-%s" (include "shopping-system.fullname" .ctx) .component }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "shopping-system.componentLabels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
    {{- with $sm.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "shopping-system.componentSelectorLabels" (dict "ctx" .ctx "component" .component) | nindent 6 }}
  namespaceSelector:
    matchNames:
      - {{ .ctx.Release.Namespace }}
  endpoints:
    - port: {{ .port }}
      path: /metrics
      scheme: http
      interval: {{ $sm.interval }}
      scrapeTimeout: {{ $sm.scrapeTimeout }}
      honorLabels: false
      {{- with $sm.relabelings }}
      relabelings:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $sm.metricRelabelings }}
      metricRelabelings:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
