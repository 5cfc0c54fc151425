{{/*
"true" when ScaledObjects are rendered: keda.enabled true, or "auto" and the KEDA CRDs exist.
*/}}
{{- define "shopping-system.keda.enabled" -}}
{{- $mode := toString .Values.keda.enabled }}
{{- if eq $mode "auto" }}
{{- if .Capabilities.APIVersions.Has "keda.sh/v1alpha1" }}true{{ end }}
{{- else if eq $mode "true" }}true
{{- end }}
{{- end }}

{{/*
consumer.autoscaling as YAML (use with fromYaml), with what the deprecated keda.consumer still
sets laid over it, its minReplicaCount and maxReplicaCount renamed.
*/}}
{{- define "shopping-system.consumer.autoscaling" -}}
{{- $merged := deepCopy .Values.consumer.autoscaling }}
{{- with .Values.keda.consumer }}
{{- $old := deepCopy . }}
{{- range $from, $to := dict "minReplicaCount" "minReplicas" "maxReplicaCount" "maxReplicas" }}
{{- if hasKey $old $from }}
{{- $_ := set $old $to (get $old $from) }}
{{- $_ := unset $old $from }}
{{- end }}
{{- end }}
{{- $merged = mergeOverwrite $merged $old }}
{{- end }}
{{- toYaml $merged }}
{{- end }}

{{- define "shopping-system.keda.consumerScaled" -}}
{{- $c := include "shopping-system.consumer.autoscaling" . | fromYaml }}
{{- if and (include "shopping-system.keda.enabled" .) $c.enabled }}true{{ end }}
{{- end }}
