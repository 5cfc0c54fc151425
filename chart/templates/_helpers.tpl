{{/*
Names
*/}}
{{- define "shopping-system.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, truncated so that suffixed names ("-mongodb-headless") stay valid.
*/}}
{{- define "shopping-system.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "shopping-system.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels, layered: selectorLabels (immutable, used by selectors) < labels (every resource)
< componentLabels (one role or dependency). Call the component variants with
(dict "ctx" $ "component" "web").
*/}}
{{- define "shopping-system.selectorLabels" -}}
app.kubernetes.io/name: {{ include "shopping-system.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "shopping-system.labels" -}}
helm.sh/chart: {{ include "shopping-system.chart" . }}
{{ include "shopping-system.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "shopping-system.name" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "shopping-system.componentSelectorLabels" -}}
{{ include "shopping-system.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Pod template labels: only what stays the same across chart versions (no helm.sh/chart, no
app.kubernetes.io/version), so a chart upgrade alone restarts no pod.
*/}}
{{- define "shopping-system.podLabels" -}}
{{ include "shopping-system.componentSelectorLabels" . }}
app.kubernetes.io/part-of: {{ include "shopping-system.name" .ctx }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "shopping-system.componentLabels" -}}
{{ include "shopping-system.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Resource names
*/}}
{{- define "shopping-system.web.fullname" -}}
{{- printf "%s-web" (include "shopping-system.fullname" .) }}
{{- end }}

{{- define "shopping-system.consumer.fullname" -}}
{{- printf "%s-consumer" (include "shopping-system.fullname" .) }}
{{- end }}

{{- define "shopping-system.management.fullname" -}}
{{- printf "%s-management" (include "shopping-system.fullname" .) }}
{{- end }}

{{- define "shopping-system.kafka.fullname" -}}
{{- printf "%s-kafka" (include "shopping-system.fullname" .) }}
{{- end }}

{{- define "shopping-system.mongodb.fullname" -}}
{{- printf "%s-mongodb" (include "shopping-system.fullname" .) }}
{{- end }}

{{- define "shopping-system.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "shopping-system.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The one image of every shopsys role.
*/}}
{{- define "shopping-system.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}

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

{{/*
Validation of values that the schema cannot express.
*/}}
{{- define "shopping-system.validate" -}}
{{- if and .Values.keda.consumer.enabled (gt (int .Values.keda.consumer.maxReplicaCount) (int .Values.kafka.topic.partitions)) }}
{{- fail (printf "keda.consumer.maxReplicaCount (%d) must not exceed kafka.topic.partitions (%d): a consumer beyond the partition count gets no partition and idles" (int .Values.keda.consumer.maxReplicaCount) (int .Values.kafka.topic.partitions)) }}
{{- end }}
{{- if gt (int .Values.keda.consumer.minReplicaCount) (int .Values.keda.consumer.maxReplicaCount) }}
{{- fail (printf "keda.consumer.minReplicaCount (%d) must not exceed keda.consumer.maxReplicaCount (%d)" (int .Values.keda.consumer.minReplicaCount) (int .Values.keda.consumer.maxReplicaCount)) }}
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
{{- if and .Values.kafka.bundled.enabled (gt (int .Values.kafka.topic.replicationFactor) 1) }}
{{- fail (printf "kafka.topic.replicationFactor (%d) cannot exceed 1 with the bundled single-node Kafka" (int .Values.kafka.topic.replicationFactor)) }}
{{- end }}
{{- if not .Values.mongodb.bundled.enabled }}
{{- if not (or .Values.mongodb.external.uri .Values.mongodb.external.existingSecret) }}
{{- fail "mongodb.external.uri or mongodb.external.existingSecret is required when mongodb.bundled.enabled is false" }}
{{- end }}
{{- end }}
{{- if include "shopping-system.kafka.tlsSecret" . }}
{{- if ne (empty .Values.kafka.external.tls.certKey) (empty .Values.kafka.external.tls.keyKey) }}
{{- fail "kafka.external.tls.certKey and kafka.external.tls.keyKey go together (mutual TLS needs both)" }}
{{- end }}
{{- end }}
{{- if include "shopping-system.kafka.sasl" . }}
{{- if not (or .Values.kafka.external.sasl.existingSecret (and .Values.kafka.external.sasl.username .Values.kafka.external.sasl.password)) }}
{{- fail (printf "kafka.external.securityProtocol %s needs kafka.external.sasl.existingSecret or kafka.external.sasl.username and password" .Values.kafka.external.securityProtocol) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Environment of every shopsys container: settings from the ConfigMap, credentials from Secrets.
Web never talks to MongoDB and gets no MongoDB credentials; the consumer and the init Job use
the least-privileged application user. Call with (dict "ctx" $ "role" "web"|"consumer"|"init").
*/}}
{{- define "shopping-system.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "shopping-system.fullname" .ctx }}
{{- $entries := include "shopping-system.envEntries" . }}
{{- if trim $entries }}
env:
{{- $entries }}
{{- end }}
{{- end }}

{{- define "shopping-system.envEntries" -}}
{{- $ctx := .ctx }}
{{- $db := $ctx.Values.config.mongodbDatabase }}
  {{- if eq .role "web" }}
  {{- else if $ctx.Values.mongodb.bundled.enabled }}
  - name: MONGODB_USERNAME
    value: {{ $ctx.Values.mongodb.bundled.auth.appUsername | quote }}
  - name: MONGODB_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ include "shopping-system.mongodb.authSecretName" $ctx }}
        key: {{ include "shopping-system.mongodb.appPasswordKey" $ctx }}
  - name: SHOPSYS_MONGODB_URI
    value: {{ printf "mongodb://$(MONGODB_USERNAME):$(MONGODB_PASSWORD)@%s.%s.svc.%s:27017/%s?authSource=%s" (include "shopping-system.mongodb.fullname" $ctx) $ctx.Release.Namespace $ctx.Values.clusterDomain $db $db | quote }}
  {{- else }}
  - name: SHOPSYS_MONGODB_URI
    valueFrom:
      secretKeyRef:
        name: {{ include "shopping-system.mongodb.uriSecretName" $ctx }}
        key: {{ include "shopping-system.mongodb.uriSecretKey" $ctx }}
  {{- end }}
  {{- if include "shopping-system.kafka.sasl" $ctx }}
  - name: SHOPSYS_KAFKA_SASL_USERNAME
    valueFrom:
      secretKeyRef:
        name: {{ include "shopping-system.kafka.saslSecretName" $ctx }}
        key: {{ include "shopping-system.kafka.saslUsernameKey" $ctx }}
  - name: SHOPSYS_KAFKA_SASL_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ include "shopping-system.kafka.saslSecretName" $ctx }}
        key: {{ include "shopping-system.kafka.saslPasswordKey" $ctx }}
  {{- end }}
  {{- if and (eq .role "consumer") $ctx.Values.management.auth.enabled }}
  - name: SHOPSYS_MANAGEMENT_TOKEN
    valueFrom:
      secretKeyRef:
        name: {{ default (include "shopping-system.fullname" $ctx) $ctx.Values.management.auth.existingSecret }}
        key: {{ if $ctx.Values.management.auth.existingSecret }}{{ $ctx.Values.management.auth.existingSecretKey }}{{ else }}management-token{{ end }}
  {{- end }}
{{- end }}

{{/* Volumes shared by the shopsys pods: a writable /tmp and the Kafka TLS material. */}}
{{- define "shopping-system.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if include "shopping-system.kafka.tlsSecret" . }}
- name: kafka-tls
  secret:
    secretName: {{ .Values.kafka.external.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{- define "shopping-system.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if include "shopping-system.kafka.tlsSecret" . }}
- name: kafka-tls
  mountPath: {{ include "shopping-system.kafka.tlsMountPath" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/* Pod-level settings shared by the shopsys pods. */}}
{{- define "shopping-system.podCommon" -}}
serviceAccountName: {{ include "shopping-system.serviceAccountName" . }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{/*
NetworkPolicy egress rules to Kafka and MongoDB: the bundled pods, or the external CIDRs.
*/}}
{{- define "shopping-system.networkPolicy.kafkaEgress" -}}
{{- if .Values.kafka.bundled.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "shopping-system.componentSelectorLabels" (dict "ctx" . "component" "kafka") | nindent 10 }}
  ports:
    - port: 9092
      protocol: TCP
{{- else }}
- to:
    {{- range .Values.networkPolicy.externalEgressCIDRs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range .Values.networkPolicy.externalKafkaPorts }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end }}
{{- end }}

{{- define "shopping-system.networkPolicy.mongodbEgress" -}}
{{- if .Values.mongodb.bundled.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "shopping-system.componentSelectorLabels" (dict "ctx" . "component" "mongodb") | nindent 10 }}
  ports:
    - port: 27017
      protocol: TCP
{{- else }}
- to:
    {{- range .Values.networkPolicy.externalEgressCIDRs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range .Values.networkPolicy.externalMongodbPorts }}
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

{{/*
The spec of a component's PodDisruptionBudget: minAvailable or maxUnavailable, exactly one.
*/}}
{{- define "shopping-system.pdbSpec" -}}
{{- $pdb := .pdb }}
{{- $hasMin := not (kindIs "invalid" $pdb.minAvailable) }}
{{- $hasMax := not (kindIs "invalid" $pdb.maxUnavailable) }}
{{- if eq $hasMin $hasMax }}
{{- fail (printf "%s.pdb: set exactly one of minAvailable and maxUnavailable" .component) }}
{{- end }}
{{- if $hasMin }}
minAvailable: {{ $pdb.minAvailable }}
{{- else }}
maxUnavailable: {{ $pdb.maxUnavailable }}
{{- end }}
selector:
  matchLabels:
    {{- include "shopping-system.componentSelectorLabels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
{{- end }}
