{{/* Names ----------------------------------------------------------------- */}}
{{- define "ordersys.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ordersys.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The two services: values key, container port, binary. */}}
{{- define "ordersys.components" -}}
order-service:
  key: orderService
  port: 8080
  binary: /usr/local/bin/order-service
txlog-service:
  key: txlogService
  port: 8081
  binary: /usr/local/bin/txlog-service
{{- end }}

{{/* Object name of a component: dict "root" $ "component" "order-service" */}}
{{- define "ordersys.componentName" -}}
{{- printf "%s-%s" (include "ordersys.fullname" .root | trunc 49 | trimSuffix "-") .component }}
{{- end }}

{{- define "ordersys.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ordersys.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Labels ---------------------------------------------------------------- */}}
{{- define "ordersys.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "ordersys.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ordersys
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* dict "root" $ "component" "order-service" */}}
{{- define "ordersys.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ordersys.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "ordersys.componentLabels" -}}
{{ include "ordersys.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Image ----------------------------------------------------------------- */}}
{{- define "ordersys.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Security contexts (fixed: not overridable by values) ------------------- */}}
{{- define "ordersys.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "ordersys.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
privileged: false
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* URL the order service delivers to. */}}
{{- define "ordersys.txlogUrl" -}}
{{- if .Values.orderService.txlog.url }}
{{- .Values.orderService.txlog.url }}
{{- else }}
{{- printf "http://%s.%s.svc:8081" (include "ordersys.componentName" (dict "root" . "component" "txlog-service")) .Release.Namespace }}
{{- end }}
{{- end }}

{{/* The transaction log's checkpoint signing key (SPEC section 10): a file
in a read-only Secret volume. The path is configuration, the key is not. */}}
{{- define "ordersys.signingKeyDir" -}}
/run/secrets/txlog-signing-key
{{- end }}

{{- define "ordersys.signingKeyFile" -}}
{{- printf "%s/signing-key" (include "ordersys.signingKeyDir" .) }}
{{- end }}

{{/* Name of the Secret holding the signing key; rendering fails without it,
because the transaction log would not start. */}}
{{- define "ordersys.signingKeySecret" -}}
{{- required "txlogService.signingKey.existingSecret is required: the transaction log refuses to start without its Ed25519 checkpoint signing key. Create one with `txlog-service keygen --name <log origin>`, store the private key (stdout) in a Secret under the key txlogService.signingKey.key (default signing-key), and set txlogService.signingKey.existingSecret to that Secret's name (docs/OPERATIONS.md, \"The log's signing key\")." .Values.txlogService.signingKey.existingSecret }}
{{- end }}

{{/* Non-secret environment of a component (ConfigMap data). */}}
{{- define "ordersys.config" -}}
{{- $root := .root }}
{{- $v := .values }}
{{- if eq .component "order-service" }}
ORDERS_LISTEN: "0.0.0.0:8080"
ORDERS_TXLOG_URL: {{ include "ordersys.txlogUrl" $root | quote }}
ORDERS_TXLOG_TOKEN_URL: {{ required "orderService.txlog.tokenUrl is required" $v.txlog.tokenUrl | quote }}
{{- with $v.txlog.scope }}
ORDERS_TXLOG_SCOPE: {{ . | quote }}
{{- end }}
{{- with $root.Values.auth.issuer }}
ORDERS_AUTH_ISSUER: {{ . | quote }}
{{- end }}
{{- with $root.Values.auth.jwksUrl }}
ORDERS_AUTH_JWKS_URL: {{ . | quote }}
{{- end }}
ORDERS_AUTH_AUDIENCE: {{ $v.audience | quote }}
{{- else }}
TXLOG_LISTEN: "0.0.0.0:8081"
{{- with $root.Values.auth.issuer }}
TXLOG_AUTH_ISSUER: {{ . | quote }}
{{- end }}
{{- with $root.Values.auth.jwksUrl }}
TXLOG_AUTH_JWKS_URL: {{ . | quote }}
{{- end }}
TXLOG_AUTH_AUDIENCE: {{ $v.audience | quote }}
TXLOG_SIGNING_KEY_FILE: {{ include "ordersys.signingKeyFile" $root | quote }}
TXLOG_LOG_ORIGIN: {{ $v.logOrigin | quote }}
TXLOG_CHECKPOINT_INTERVAL_MS: {{ $v.checkpointIntervalMs | int64 | toString | quote }}
{{- end }}
LOG_FORMAT: {{ $root.Values.logging.format | quote }}
RUST_LOG: {{ $root.Values.logging.level | quote }}
{{- with $root.Values.otel.endpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ . | quote }}
OTEL_EXPORTER_OTLP_PROTOCOL: {{ $root.Values.otel.protocol | quote }}
{{- end }}
{{- with $root.Values.otel.resourceAttributes }}
OTEL_RESOURCE_ATTRIBUTES: {{ . | quote }}
{{- end }}
{{- range $k, $val := $v.extraEnv }}
{{ $k }}: {{ $val | toString | quote }}
{{- end }}
{{- end }}

{{/* Secret environment of a component: secretKeyRef only, never values. */}}
{{- define "ordersys.secretEnv" -}}
{{- $v := .values }}
{{- if eq .component "order-service" }}
- name: ORDERS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.database.existingSecret }}
      key: {{ $v.database.urlKey }}
- name: ORDERS_TXLOG_CLIENT_ID
  valueFrom:
    secretKeyRef:
      name: {{ $v.txlog.existingSecret }}
      key: {{ $v.txlog.clientIdKey }}
- name: ORDERS_TXLOG_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $v.txlog.existingSecret }}
      key: {{ $v.txlog.clientSecretKey }}
{{- else }}
- name: TXLOG_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.database.existingSecret }}
      key: {{ $v.database.urlKey }}
{{- end }}
{{- end }}

{{/* One egress rule: dict "to" [...] "ports" [...] */}}
{{- define "ordersys.egressRule" -}}
- to:
    {{- toYaml .to | nindent 4 }}
  ports:
    {{- range .ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
{{- end }}

{{/* DNS egress rule for the given peers. */}}
{{- define "ordersys.dnsEgress" -}}
- to:
    {{- toYaml . | nindent 4 }}
  ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
{{- end }}
