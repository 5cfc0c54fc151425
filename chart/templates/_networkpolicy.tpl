{{/*
NetworkPolicy egress rules to Kafka or MongoDB: the bundled pods on their port, or the
external CIDRs on the external ports. Call with (dict "ctx" $ "to" "kafka"|"mongodb").
*/}}
{{- define "shopping-system.networkPolicy.egressTo" -}}
{{- $ctx := .ctx }}
{{- $server := index $ctx.Values .to }}
{{- $bundled := dict "kafka" 9092 "mongodb" 27017 }}
{{- $external := dict "kafka" $ctx.Values.networkPolicy.externalKafkaPorts "mongodb" $ctx.Values.networkPolicy.externalMongodbPorts }}
{{- if $server.bundled.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "shopping-system.componentSelectorLabels" (dict "ctx" $ctx "component" .to) | nindent 10 }}
  ports:
    - port: {{ index $bundled .to }}
      protocol: TCP
{{- else }}
- to:
    {{- range $ctx.Values.networkPolicy.externalEgressCIDRs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range index $external .to }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end }}
{{- end }}

{{- define "shopping-system.networkPolicy.podsOf" -}}
- podSelector:
    matchLabels:
      {{- include "shopping-system.componentSelectorLabels" . | nindent 6 }}
{{- end }}

{{/* NetworkPolicy egress of a role to the collector (include it when tracing is on). */}}
{{- define "shopping-system.networkPolicy.egressToCollector" -}}
{{- $policy := .Values.tracing.networkPolicy -}}
# Spans go to the OpenTelemetry Collector.
- ports:
    {{- range $policy.ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
  {{- with $policy.egressTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
