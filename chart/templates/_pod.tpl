{{/*
Environment of every shopsys container: settings from the ConfigMap, credentials from Secrets.
Web (and the Kafka admin step) never talk to MongoDB and get no MongoDB credentials; the
consumer and the init Job use the least-privileged application user. Each role authenticates
to the bundled Kafka as its own user. Call with (dict "ctx" $ "role"
"web"|"consumer"|"init"|"admin").
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
  {{- if has .role (list "web" "admin") }}
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
        name: {{ include "shopping-system.kafka.saslSecretName" . }}
        key: {{ include "shopping-system.kafka.saslUsernameKey" . }}
  - name: SHOPSYS_KAFKA_SASL_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ include "shopping-system.kafka.saslSecretName" . }}
        key: {{ include "shopping-system.kafka.saslPasswordKey" . }}
  {{- end }}
  {{- if and (eq .role "consumer") $ctx.Values.management.auth.enabled }}
  - name: SHOPSYS_MANAGEMENT_TOKEN
    valueFrom:
      secretKeyRef:
        name: {{ default (include "shopping-system.fullname" $ctx) $ctx.Values.management.auth.existingSecret }}
        key: {{ if $ctx.Values.management.auth.existingSecret }}{{ $ctx.Values.management.auth.existingSecretKey }}{{ else }}management-token{{ end }}
  {{- end }}
{{- include "shopping-system.tracing.envEntries" . }}
{{- end }}

{{/* Volumes shared by the shopsys pods: a writable /tmp and the Kafka TLS material. */}}
{{- define "shopping-system.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if include "shopping-system.kafka.tlsSecret" . }}
- name: kafka-tls
  secret:
    secretName: {{ include "shopping-system.kafka.tlsSecretName" . }}
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

{{/*
The ServiceAccount token, CA and namespace, as the kubelet would automount them, for the
consumer only and only when the operations page may read replica counts: every other pod keeps
automountServiceAccountToken false and no token.
*/}}
{{- define "shopping-system.kubeApiAccessVolume" -}}
- name: kube-api-access
  projected:
    defaultMode: 0444
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 3607
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
      - downwardAPI:
          items:
            - path: namespace
              fieldRef:
                fieldPath: metadata.namespace
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
The pod template of a shopsys role, shared by the web and consumer Deployments: one image and
security context, the role's command, probes on its one port, volumes and scheduling. Call
with (dict "ctx" $ "role" "web"|"consumer" "values" <the role's values> "port" <number>
"portName" <name> "readinessFailureThreshold" <n> "preStopSleepSeconds" <n or nil>).
terminationGracePeriodSeconds: the consumer's exceeds its drain bound
(SHOPSYS_CONSUMER_SHUTDOWN_TIMEOUT_SECONDS), so the last batch is written and committed before
the kubelet's SIGKILL; web's covers its preStop sleep and the requests in flight.
*/}}
{{- define "shopping-system.rolePodTemplate" -}}
{{- $ctx := .ctx }}
{{- $values := .values -}}
{{- $kubeApi := and (eq .role "consumer") (include "shopping-system.opsPage.kubernetesReplicas" $ctx) -}}
metadata:
  labels:
    {{- include "shopping-system.podLabels" (dict "ctx" $ctx "component" .role) | nindent 4 }}
  annotations:
    checksum/config: {{ include (print $ctx.Template.BasePath "/configmap.yaml") $ctx | sha256sum }}
    {{- with $values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- include "shopping-system.podCommon" $ctx | nindent 2 }}
  terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
  containers:
    - name: {{ .role }}
      image: {{ include "shopping-system.image" $ctx | quote }}
      imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
      args: [{{ printf "serve-%s" .role | quote }}]
      ports:
        - name: {{ .portName }}
          containerPort: {{ .port }}
          protocol: TCP
      {{- include "shopping-system.env" (dict "ctx" $ctx "role" .role) | nindent 6 }}
      startupProbe:
        httpGet:
          path: /healthz
          port: {{ .portName }}
        periodSeconds: 2
        timeoutSeconds: 2
        failureThreshold: 30
      livenessProbe:
        httpGet:
          path: /healthz
          port: {{ .portName }}
        periodSeconds: 10
        timeoutSeconds: 3
        failureThreshold: 3
      readinessProbe:
        httpGet:
          path: /readyz
          port: {{ .portName }}
        periodSeconds: 5
        timeoutSeconds: 3
        failureThreshold: {{ .readinessFailureThreshold }}
      {{- with .preStopSleepSeconds }}
      lifecycle:
        preStop:
          sleep:
            seconds: {{ . }}
      {{- end }}
      resources:
        {{- toYaml $values.resources | nindent 8 }}
      securityContext:
        {{- toYaml $ctx.Values.containerSecurityContext | nindent 8 }}
      volumeMounts:
        {{- include "shopping-system.volumeMounts" $ctx | nindent 8 }}
        {{- if $kubeApi }}
        - name: kube-api-access
          mountPath: /var/run/secrets/kubernetes.io/serviceaccount
          readOnly: true
        {{- end }}
  volumes:
    {{- include "shopping-system.volumes" $ctx | nindent 4 }}
    {{- if $kubeApi }}
    {{- include "shopping-system.kubeApiAccessVolume" . | nindent 4 }}
    {{- end }}
  {{- with $values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
