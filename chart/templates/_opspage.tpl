{{/*
The operations page's replica reads: the Role, its RoleBinding, and the consumer's token.
*/}}
{{- define "shopping-system.opsPage.fullname" -}}
{{- printf "%s-ops-page" (include "shopping-system.fullname" .) }}
{{- end }}

{{- define "shopping-system.opsPage.kubernetesReplicas" -}}
{{- if .Values.consumer.opsPage.kubernetesReplicas.enabled }}true{{ end }}
{{- end }}
