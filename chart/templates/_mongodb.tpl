{{/*
MongoDB
*/}}
{{- define "shopping-system.mongodb.authSecretName" -}}
{{- default (include "shopping-system.fullname" .) .Values.mongodb.bundled.auth.existingSecret }}
{{- end }}

{{- define "shopping-system.mongodb.authSecretKey" -}}
{{- if .Values.mongodb.bundled.auth.existingSecret }}{{ .Values.mongodb.bundled.auth.existingSecretPasswordKey }}{{ else }}mongodb-root-password{{ end }}
{{- end }}

{{- define "shopping-system.mongodb.appPasswordKey" -}}
{{- if .Values.mongodb.bundled.auth.existingSecret }}{{ .Values.mongodb.bundled.auth.existingSecretAppPasswordKey }}{{ else }}mongodb-app-password{{ end }}
{{- end }}

{{- define "shopping-system.mongodb.uriSecretName" -}}
{{- default (include "shopping-system.fullname" .) .Values.mongodb.external.existingSecret }}
{{- end }}

{{- define "shopping-system.mongodb.uriSecretKey" -}}
{{- if .Values.mongodb.external.existingSecret }}{{ .Values.mongodb.external.existingSecretUriKey }}{{ else }}mongodb-uri{{ end }}
{{- end }}

{{/*
WiredTiger cache in GB: the explicit value, or what mongod would pick on a host with the
container's memory limit: max(0.25, (limit - 1 GiB) / 2).
*/}}
{{- define "shopping-system.mongodb.wiredTigerCacheSizeGB" -}}
{{- $b := .Values.mongodb.bundled }}
{{- if $b.wiredTigerCacheSizeGB }}
{{- $b.wiredTigerCacheSizeGB | toString }}
{{- else }}
{{- $mem := toString (required "mongodb.bundled.resources.limits.memory is required to size the WiredTiger cache (or set mongodb.bundled.wiredTigerCacheSizeGB)" (dig "limits" "memory" "" $b.resources)) }}
{{- $mib := 0.0 }}
{{- if hasSuffix "Gi" $mem }}
{{- $mib = mulf (trimSuffix "Gi" $mem | float64) 1024 }}
{{- else if hasSuffix "Mi" $mem }}
{{- $mib = trimSuffix "Mi" $mem | float64 }}
{{- else if hasSuffix "G" $mem }}
{{- $mib = divf (mulf (trimSuffix "G" $mem | float64) 1000000000) 1048576 }}
{{- else if hasSuffix "M" $mem }}
{{- $mib = divf (mulf (trimSuffix "M" $mem | float64) 1000000) 1048576 }}
{{- else }}
{{- fail (printf "mongodb.bundled.resources.limits.memory %q: use a Mi, Gi, M or G quantity (or set mongodb.bundled.wiredTigerCacheSizeGB)" $mem) }}
{{- end }}
{{- maxf 0.25 (divf (subf $mib 1024) 2048) | printf "%.2f" }}
{{- end }}
{{- end }}
