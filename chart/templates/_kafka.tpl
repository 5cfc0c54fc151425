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
{{- if .Values.kafka.bundled.enabled }}{{ .Values.kafka.bundled.security }}{{ else }}{{ .Values.kafka.external.securityProtocol }}{{ end }}
{{- end }}

{{/* "true" when the bundled Kafka runs with SASL_SSL: its users, ACLs and certificates. */}}
{{- define "shopping-system.kafka.bundledSecure" -}}
{{- if and .Values.kafka.bundled.enabled (eq .Values.kafka.bundled.security "SASL_SSL") }}true{{ end }}
{{- end }}

{{- define "shopping-system.kafka.saslMechanism" -}}
{{- if .Values.kafka.bundled.enabled }}SCRAM-SHA-512{{ else }}{{ .Values.kafka.external.sasl.mechanism }}{{ end }}
{{- end }}

{{/* The topics' replication factor: as set, else the bundled node count up to 3, else 3. */}}
{{- define "shopping-system.kafka.replicationFactor" -}}
{{- $set := .Values.kafka.topic.replicationFactor }}
{{- if not (kindIs "invalid" $set) }}{{ int $set }}
{{- else if .Values.kafka.bundled.enabled }}{{ min 3 (int .Values.kafka.bundled.replicas) }}
{{- else }}3{{ end }}
{{- end }}

{{/* min.insync.replicas: as set, else 2 from a replication factor of 3 on, else 1. */}}
{{- define "shopping-system.kafka.minInsyncReplicas" -}}
{{- $set := .Values.kafka.topic.minInsyncReplicas }}
{{- if not (kindIs "invalid" $set) }}{{ int $set }}
{{- else if ge (int (include "shopping-system.kafka.replicationFactor" .)) 3 }}2
{{- else }}1{{ end }}
{{- end }}

{{/* The bundled nodes' headless domain: <pod>.<this> is a node's stable name. */}}
{{- define "shopping-system.kafka.headlessDomain" -}}
{{- printf "%s-headless.%s.svc.%s" (include "shopping-system.kafka.fullname" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}

{{/* The static KRaft voters: node <ordinal> on its controller port. */}}
{{- define "shopping-system.kafka.voters" -}}
{{- $name := include "shopping-system.kafka.fullname" . }}
{{- $domain := include "shopping-system.kafka.headlessDomain" . }}
{{- $voters := list }}
{{- range $i := until (int .Values.kafka.bundled.replicas) }}
{{- $voters = append $voters (printf "%d@%s-%d.%s:9093" $i $name $i $domain) }}
{{- end }}
{{- join "," $voters }}
{{- end }}

{{- define "shopping-system.kafka.usersSecretName" -}}
{{- default (printf "%s-users" (include "shopping-system.kafka.fullname" .)) .Values.kafka.bundled.users.existingSecret }}
{{- end }}

{{/* Where the bundled Kafka's TLS material is: tls.crt, tls.key and ca.crt. */}}
{{- define "shopping-system.kafka.bundledTlsSecretName" -}}
{{- default (printf "%s-tls" (include "shopping-system.kafka.fullname" .)) .Values.kafka.bundled.tls.existingSecret }}
{{- end }}

{{- define "shopping-system.kafka.sasl" -}}
{{- if hasPrefix "SASL_" (include "shopping-system.kafka.securityProtocol" .) }}true{{ end }}
{{- end }}

{{- define "shopping-system.kafka.tls" -}}
{{- if hasSuffix "SSL" (include "shopping-system.kafka.securityProtocol" .) }}true{{ end }}
{{- end }}

{{/* "true" when the pods mount a Secret with the Kafka TLS material. */}}
{{- define "shopping-system.kafka.tlsSecret" -}}
{{- if include "shopping-system.kafka.bundledSecure" . }}true
{{- else if and (not .Values.kafka.bundled.enabled) (include "shopping-system.kafka.tls" .) .Values.kafka.external.tls.existingSecret }}true{{ end }}
{{- end }}

{{- define "shopping-system.kafka.tlsSecretName" -}}
{{- if .Values.kafka.bundled.enabled }}{{ include "shopping-system.kafka.bundledTlsSecretName" . }}{{ else }}{{ .Values.kafka.external.tls.existingSecret }}{{ end }}
{{- end }}

{{/* The keys of the mounted TLS Secret: the clients of the bundled Kafka need its CA only. */}}
{{- define "shopping-system.kafka.tlsKeys" -}}
{{- if .Values.kafka.bundled.enabled }}{{ dict "caKey" "ca.crt" "certKey" "" "keyKey" "" | toJson }}
{{- else }}{{ pick .Values.kafka.external.tls "caKey" "certKey" "keyKey" | toJson }}{{ end }}
{{- end }}

{{/*
Where a role's SASL credentials are: (dict "ctx" $ "role" "web"|"consumer"|"keda"|"init"|"admin").
The bundled Kafka has a user per role; an external one the single user of kafka.external.sasl.
*/}}
{{- define "shopping-system.kafka.saslSecretName" -}}
{{- if .ctx.Values.kafka.bundled.enabled }}{{ include "shopping-system.kafka.usersSecretName" .ctx }}
{{- else }}{{ default (include "shopping-system.fullname" .ctx) .ctx.Values.kafka.external.sasl.existingSecret }}{{ end }}
{{- end }}

{{- define "shopping-system.kafka.saslUsernameKey" -}}
{{- $sasl := .ctx.Values.kafka.external.sasl }}
{{- if .ctx.Values.kafka.bundled.enabled }}{{ .role }}-username
{{- else if $sasl.existingSecret }}{{ $sasl.usernameKey }}{{ else }}kafka-sasl-username{{ end }}
{{- end }}

{{- define "shopping-system.kafka.saslPasswordKey" -}}
{{- $sasl := .ctx.Values.kafka.external.sasl }}
{{- if .ctx.Values.kafka.bundled.enabled }}{{ .role }}-password
{{- else if $sasl.existingSecret }}{{ $sasl.passwordKey }}{{ else }}kafka-sasl-password{{ end }}
{{- end }}

{{/* KEDA's spelling of the SASL mechanism. */}}
{{- define "shopping-system.kafka.kedaSasl" -}}
{{- $m := include "shopping-system.kafka.saslMechanism" . }}
{{- if eq $m "PLAIN" }}plaintext{{ else if eq $m "SCRAM-SHA-256" }}scram_sha256{{ else }}scram_sha512{{ end }}
{{- end }}

{{- define "shopping-system.kafka.tlsMountPath" -}}
/etc/shopsys/kafka-tls
{{- end }}

{{/* "true" when KEDA needs a TriggerAuthentication for the Kafka trigger. */}}
{{- define "shopping-system.kafka.triggerAuth" -}}
{{- if or (include "shopping-system.kafka.sasl" .) (include "shopping-system.kafka.tlsSecret" .) }}true{{ end }}
{{- end }}
