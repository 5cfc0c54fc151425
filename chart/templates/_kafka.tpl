{{/*
Kafka client settings, bundled or external.
*/}}
{{- define "shopping-system.kafka.bootstrapServers" -}}
{{- if .Values.kafka.bundled.enabled }}
{{- printf "%s.%s.svc.%s:9092" (include "shopping-system.kafka.fullname" .) .Release.Namespace .Values.clusterDomain }}
{{- else }}
{{- required "kafka.external.bootstrapServers is required when kafka.bundled.enabled is false" .Values.kafka.external.bootstrapServers }}
{{- end }}
{{- end }}

{{- define "shopping-system.kafka.securityProtocol" -}}
{{- if .Values.kafka.bundled.enabled }}PLAINTEXT{{ else }}{{ .Values.kafka.external.securityProtocol }}{{ end }}
{{- end }}

{{- define "shopping-system.kafka.sasl" -}}
{{- if hasPrefix "SASL_" (include "shopping-system.kafka.securityProtocol" .) }}true{{ end }}
{{- end }}

{{- define "shopping-system.kafka.tls" -}}
{{- if hasSuffix "SSL" (include "shopping-system.kafka.securityProtocol" .) }}true{{ end }}
{{- end }}

{{- define "shopping-system.kafka.tlsSecret" -}}
{{- if and (include "shopping-system.kafka.tls" .) .Values.kafka.external.tls.existingSecret }}true{{ end }}
{{- end }}

{{- define "shopping-system.kafka.saslSecretName" -}}
{{- default (include "shopping-system.fullname" .) .Values.kafka.external.sasl.existingSecret }}
{{- end }}

{{- define "shopping-system.kafka.saslUsernameKey" -}}
{{- if .Values.kafka.external.sasl.existingSecret }}{{ .Values.kafka.external.sasl.usernameKey }}{{ else }}kafka-sasl-username{{ end }}
{{- end }}

{{- define "shopping-system.kafka.saslPasswordKey" -}}
{{- if .Values.kafka.external.sasl.existingSecret }}{{ .Values.kafka.external.sasl.passwordKey }}{{ else }}kafka-sasl-password{{ end }}
{{- end }}

{{/* KEDA's spelling of the SASL mechanism. */}}
{{- define "shopping-system.kafka.kedaSasl" -}}
{{- $m := .Values.kafka.external.sasl.mechanism }}
{{- if eq $m "PLAIN" }}plaintext{{ else if eq $m "SCRAM-SHA-256" }}scram_sha256{{ else }}scram_sha512{{ end }}
{{- end }}

{{- define "shopping-system.kafka.tlsMountPath" -}}
/etc/shopsys/kafka-tls
{{- end }}

{{/* "true" when KEDA needs a TriggerAuthentication for the Kafka trigger. */}}
{{- define "shopping-system.kafka.triggerAuth" -}}
{{- if or (include "shopping-system.kafka.sasl" .) (include "shopping-system.kafka.tlsSecret" .) }}true{{ end }}
{{- end }}
