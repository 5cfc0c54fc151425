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

{{- define "shopping-system.keda.consumerScaled" -}}
{{- if and (include "shopping-system.keda.enabled" .) .Values.keda.consumer.enabled }}true{{ end }}
{{- end }}
