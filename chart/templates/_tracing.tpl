{{/*
OpenTelemetry tracing of the web and consumer roles: the standard OTEL_* variables, as env
entries of their containers (OTEL_RESOURCE_ATTRIBUTES refers to the pod's name through the
downward API, which a ConfigMap cannot). Call with (dict "ctx" $ "role" "web"|"consumer").
*/}}
{{- define "shopping-system.tracing.envEntries" -}}
{{- $ctx := .ctx }}
{{- $tracing := $ctx.Values.tracing }}
{{- if and $tracing.enabled (has .role (list "web" "consumer")) }}
{{- $deployment := include (printf "shopping-system.%s.fullname" .role) $ctx }}
{{- $attributes := list (printf "k8s.namespace.name=%s" $ctx.Release.Namespace) (printf "k8s.deployment.name=%s" $deployment) "k8s.pod.name=$(OTEL_K8S_POD_NAME)" }}
{{- range $name, $value := $tracing.resourceAttributes }}
{{- $attributes = append $attributes (printf "%s=%s" $name $value) }}
{{- end }}
  - name: OTEL_K8S_POD_NAME
    valueFrom:
      fieldRef:
        fieldPath: metadata.name
  - name: OTEL_EXPORTER_OTLP_ENDPOINT
    value: {{ $tracing.otlpEndpoint | quote }}
  - name: OTEL_EXPORTER_OTLP_PROTOCOL
    value: {{ $tracing.protocol | quote }}
  - name: OTEL_TRACES_SAMPLER
    value: {{ $tracing.sampler | quote }}
  {{- if $tracing.samplerArg }}
  - name: OTEL_TRACES_SAMPLER_ARG
    value: {{ $tracing.samplerArg | quote }}
  {{- end }}
  - name: OTEL_RESOURCE_ATTRIBUTES
    value: {{ join "," $attributes | quote }}
  {{- range $name, $value := $tracing.extraEnv }}
  - name: {{ $name }}
    value: {{ $value | toString | quote }}
  {{- end }}
{{- end }}
{{- end }}
