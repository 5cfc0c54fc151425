{{/*
Validation of values that the schema cannot express.
*/}}
{{- define "shopping-system.validate" -}}
{{- $c := include "shopping-system.consumer.autoscaling" . | fromYaml }}
{{- if and $c.enabled (gt (int $c.maxReplicas) (int .Values.kafka.topic.partitions)) }}
{{- fail (printf "consumer.autoscaling.maxReplicas (%d) must not exceed kafka.topic.partitions (%d): a consumer beyond the partition count gets no partition and idles" (int $c.maxReplicas) (int .Values.kafka.topic.partitions)) }}
{{- end }}
{{- if lt (int $c.minReplicas) 1 }}
{{- fail (printf "consumer.autoscaling.minReplicas (%d) must be at least 1: the consumer also serves the management API" (int $c.minReplicas)) }}
{{- end }}
{{- if gt (int $c.minReplicas) (int $c.maxReplicas) }}
{{- fail (printf "consumer.autoscaling.minReplicas (%d) must not exceed consumer.autoscaling.maxReplicas (%d)" (int $c.minReplicas) (int $c.maxReplicas)) }}
{{- end }}
{{- if gt (int .Values.consumer.replicaCount) (int .Values.kafka.topic.partitions) }}
{{- fail (printf "consumer.replicaCount (%d) must not exceed kafka.topic.partitions (%d)" (int .Values.consumer.replicaCount) (int .Values.kafka.topic.partitions)) }}
{{- end }}
{{- if le (int .Values.consumer.terminationGracePeriodSeconds) (int .Values.consumer.shutdownTimeoutSeconds) }}
{{- fail (printf "consumer.terminationGracePeriodSeconds (%d) must exceed consumer.shutdownTimeoutSeconds (%d), or the kubelet kills the consumer mid-drain" (int .Values.consumer.terminationGracePeriodSeconds) (int .Values.consumer.shutdownTimeoutSeconds)) }}
{{- end }}
{{- if le (int .Values.web.terminationGracePeriodSeconds) (int .Values.web.preStopSleepSeconds) }}
{{- fail (printf "web.terminationGracePeriodSeconds (%d) must exceed web.preStopSleepSeconds (%d)" (int .Values.web.terminationGracePeriodSeconds) (int .Values.web.preStopSleepSeconds)) }}
{{- end }}
{{- if gt (int .Values.web.autoscaling.minReplicas) (int .Values.web.autoscaling.maxReplicas) }}
{{- fail (printf "web.autoscaling.minReplicas (%d) must not exceed web.autoscaling.maxReplicas (%d)" (int .Values.web.autoscaling.minReplicas) (int .Values.web.autoscaling.maxReplicas)) }}
{{- end }}
{{- if and .Values.networkPolicy.enabled (include "shopping-system.opsPage.kubernetesReplicas" .) (not .Values.networkPolicy.kubernetesApiCIDRs) }}
{{- fail "networkPolicy.kubernetesApiCIDRs is required when consumer.opsPage.kubernetesReplicas.enabled and networkPolicy.enabled are both true: the API server's addresses, e.g. [10.0.0.10/32] (kubectl get endpointslices -l kubernetes.io/service-name=kubernetes)" }}
{{- end }}
{{- if hasKey .Values.monitoring.prometheusRule.alertLabels "severity" }}
{{- fail "monitoring.prometheusRule.alertLabels may not set severity: each alert sets its own (warning or critical)" }}
{{- end }}
{{- if and .Values.tracing.enabled (not .Values.tracing.otlpEndpoint) }}
{{- fail "tracing.otlpEndpoint is required when tracing.enabled is true (the collector's OTLP/HTTP base URL, e.g. http://otel-collector.observability.svc:4318)" }}
{{- end }}
{{- if not .Values.mongodb.bundled.enabled }}
{{- if not (or .Values.mongodb.external.uri .Values.mongodb.external.existingSecret) }}
{{- fail "mongodb.external.uri or mongodb.external.existingSecret is required when mongodb.bundled.enabled is false" }}
{{- end }}
{{- end }}
{{- if and (not .Values.kafka.bundled.enabled) (include "shopping-system.kafka.tlsSecret" .) }}
{{- if ne (empty .Values.kafka.external.tls.certKey) (empty .Values.kafka.external.tls.keyKey) }}
{{- fail "kafka.external.tls.certKey and kafka.external.tls.keyKey go together (mutual TLS needs both)" }}
{{- end }}
{{- end }}
{{- if and (not .Values.kafka.bundled.enabled) (include "shopping-system.kafka.sasl" .) }}
{{- if not (or .Values.kafka.external.sasl.existingSecret (and .Values.kafka.external.sasl.username .Values.kafka.external.sasl.password)) }}
{{- fail (printf "kafka.external.securityProtocol %s needs kafka.external.sasl.existingSecret or kafka.external.sasl.username and password" .Values.kafka.external.securityProtocol) }}
{{- end }}
{{- end }}
{{- $rf := int (include "shopping-system.kafka.replicationFactor" .) }}
{{- if gt (int (include "shopping-system.kafka.minInsyncReplicas" .)) $rf }}
{{- fail (printf "kafka.topic.minInsyncReplicas must not exceed the replication factor (%d): no write could ever be acknowledged" $rf) }}
{{- end }}
{{- if and .Values.kafka.bundled.enabled (gt $rf (int .Values.kafka.bundled.replicas)) }}
{{- fail (printf "kafka.topic.replicationFactor %d needs at least as many Kafka nodes (kafka.bundled.replicas is %d)" $rf (int .Values.kafka.bundled.replicas)) }}
{{- end }}
{{- end }}
