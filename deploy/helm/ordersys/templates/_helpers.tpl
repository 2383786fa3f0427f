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

{{/* The services this release runs (orderService.enabled,
txlogService.enabled): values key, container port, binary. A release runs
both, the order service alone (delivering to the log at
orderService.txlog.url), or the transaction log alone; never neither. */}}
{{- define "ordersys.components" -}}
{{- if not (or .Values.orderService.enabled .Values.txlogService.enabled) }}
{{- fail "orderService.enabled and txlogService.enabled are both false: a release runs the order service, the transaction log, or both (docs/OPERATIONS.md, \"Past one log: several logs\")" }}
{{- end }}
{{- if .Values.orderService.enabled }}
order-service:
  key: orderService
  prefix: ORDERS
  port: 8080
  binary: /usr/local/bin/order-service
{{- end }}
{{- if .Values.txlogService.enabled }}
txlog-service:
  key: txlogService
  prefix: TXLOG
  port: 8081
  binary: /usr/local/bin/txlog-service
{{- end }}
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

{{/* Security contexts (values podSecurityContext / containerSecurityContext;
the schema keeps them non-root, read-only, without privilege escalation). */}}
{{- define "ordersys.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{- define "ordersys.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext }}
{{- end }}

{{/* Name of an object that exists only around a hook (helm test, setup):
dict "root" $ "suffix" "order-service-test". The release part is cut to 40
characters so that the suffix always survives. */}}
{{- define "ordersys.hookName" -}}
{{- printf "%s-%s" (include "ordersys.fullname" .root | trunc 40 | trimSuffix "-") .suffix | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Graceful stop: the grace period must cover the preStop sleep, the
shutdown delay and the 30 s drain. Renders nothing; fails when it does not. */}}
{{- define "ordersys.checkGracePeriod" -}}
{{- $need := add (int .Values.preStopSleepSeconds) (int .Values.shutdownDelaySeconds) 30 }}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $need) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds + shutdownDelaySeconds + 30 s of drain = %d: the kubelet would kill the pods while they still drain" (int .Values.terminationGracePeriodSeconds) (int $need)) }}
{{- end }}
{{- end }}

{{/* TLS of a component's listener: where its Secret is mounted, and the
scheme of its API port (values of the component: https when tls.existingSecret). */}}
{{- define "ordersys.tlsDir" -}}
/run/secrets/tls
{{- end }}

{{- define "ordersys.scheme" -}}
{{- if .tls.existingSecret }}https{{ else }}http{{ end }}
{{- end }}

{{/* The CA bundle (caBundle.configMap or .secret), mounted for SSL_CERT_FILE. */}}
{{- define "ordersys.caBundleDir" -}}
/etc/ordersys/ca
{{- end }}

{{- define "ordersys.caBundleFile" -}}
{{- printf "%s/ca-bundle.crt" (include "ordersys.caBundleDir" .) }}
{{- end }}

{{- define "ordersys.caBundleEnabled" -}}
{{- if and .Values.caBundle.configMap .Values.caBundle.secret }}
{{- fail "caBundle: set configMap or secret, not both" }}
{{- end }}
{{- if or .Values.caBundle.configMap .Values.caBundle.secret }}true{{ end }}
{{- end }}

{{/* The CA bundle volume: one file, ca-bundle.crt. */}}
{{- define "ordersys.caBundleVolume" -}}
- name: ca-bundle
  {{- if .Values.caBundle.configMap }}
  configMap:
    name: {{ .Values.caBundle.configMap }}
  {{- else }}
  secret:
    secretName: {{ .Values.caBundle.secret }}
  {{- end }}
    defaultMode: 0444
    items:
      - key: {{ .Values.caBundle.key }}
        path: ca-bundle.crt
{{- end }}

{{/* In-cluster URL of this release's own transaction log Service. */}}
{{- define "ordersys.ownTxlogUrl" -}}
{{- printf "%s://%s.%s.svc:8081" (include "ordersys.scheme" .Values.txlogService) (include "ordersys.componentName" (dict "root" . "component" "txlog-service")) .Release.Namespace }}
{{- end }}

{{/* URL the order service delivers to: orderService.txlog.url, else this
release's own transaction log. Without a log of its own (txlogService.enabled
false) the URL is required. */}}
{{- define "ordersys.txlogUrl" -}}
{{- if .Values.orderService.txlog.url }}
{{- .Values.orderService.txlog.url }}
{{- else if .Values.txlogService.enabled }}
{{- include "ordersys.ownTxlogUrl" . }}
{{- else }}
{{- fail "orderService.txlog.url is required when txlogService.enabled is false: this release runs no transaction log, so set the URL of the log its order service delivers to, e.g. http://<txlog-service Service of the log release>.<namespace>.svc:8081, as that release's NOTES print it (docs/OPERATIONS.md, \"Past one log: several logs\")" }}
{{- end }}
{{- end }}

{{/* Whether the order service delivers to a log outside this release (its
own log disabled, or orderService.txlog.url set): then its network policy
allows egress to networkPolicy.egress.txlog instead of this release's log pods. */}}
{{- define "ordersys.externalTxlog" -}}
{{- if or .Values.orderService.txlog.url (not .Values.txlogService.enabled) }}true{{ end }}
{{- end }}

{{/* TCP ports of the order service's egress to a log outside the release:
networkPolicy.egress.txlog.ports, else the port of orderService.txlog.url
(443 for https, 80 for http when the URL names none). One per line. */}}
{{- define "ordersys.externalTxlogPorts" -}}
{{- $ports := .Values.networkPolicy.egress.txlog.ports }}
{{- if not $ports }}
{{- $u := urlParse (include "ordersys.txlogUrl" .) }}
{{- $port := regexFind ":[0-9]+$" (get $u "host") | trimPrefix ":" }}
{{- if $port }}
{{- $ports = list ($port | int) }}
{{- else }}
{{- $ports = list (ternary 443 80 (eq (get $u "scheme") "https")) }}
{{- end }}
{{- end }}
{{- toYaml $ports }}
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
{{- $p := ternary "ORDERS" "TXLOG" (eq .component "order-service") }}
{{- if eq .component "order-service" }}
ORDERS_LISTEN: "0.0.0.0:8080"
ORDERS_TXLOG_URL: {{ include "ordersys.txlogUrl" $root | quote }}
ORDERS_TXLOG_TOKEN_URL: {{ required "orderService.txlog.tokenUrl is required" $v.txlog.tokenUrl | quote }}
{{- with $v.txlog.scope }}
ORDERS_TXLOG_SCOPE: {{ . | quote }}
{{- end }}
{{- with $v.rateLimit.perCaller }}
ORDERS_RATE_LIMIT: {{ . | quote }}
{{- end }}
{{- with $v.rateLimit.anonymous }}
ORDERS_RATE_LIMIT_ANONYMOUS: {{ . | quote }}
{{- end }}
{{- with $v.databaseStatementTimeout }}
ORDERS_DATABASE_STATEMENT_TIMEOUT: {{ . | quote }}
{{- end }}
{{- else }}
TXLOG_LISTEN: "0.0.0.0:8081"
TXLOG_SIGNING_KEY_FILE: {{ include "ordersys.signingKeyFile" $root | quote }}
TXLOG_LOG_ORIGIN: {{ $v.logOrigin | quote }}
TXLOG_CHECKPOINT_INTERVAL_MS: {{ $v.checkpointIntervalMs | int64 | toString | quote }}
{{- with $v.witnesses }}
{{- $entries := list }}
{{- range . }}
{{- $entries = append $entries (printf "%s %s" .url .key) }}
{{- end }}
TXLOG_WITNESSES: {{ join ", " $entries | quote }}
{{- if gt (int $v.witnessQuorum) (len $entries) }}
{{- fail (printf "txlogService.witnessQuorum is %d but only %d witnesses are listed" (int $v.witnessQuorum) (len $entries)) }}
{{- end }}
{{- if gt (int $v.witnessQuorum) 0 }}
TXLOG_WITNESS_QUORUM: {{ $v.witnessQuorum | int64 | toString | quote }}
{{- end }}
{{- else }}
{{- if gt (int $v.witnessQuorum) 0 }}
{{- fail "txlogService.witnessQuorum is set but txlogService.witnesses lists none" }}
{{- end }}
{{- end }}
{{- with $v.console.oidcClientId }}
{{- if not $root.Values.auth.issuer }}
{{- fail "txlogService.console.oidcClientId needs auth.issuer: the console signs in at that identity provider" }}
{{- end }}
TXLOG_CONSOLE_OIDC_CLIENT_ID: {{ . | quote }}
{{- end }}
{{- with $v.console.verifierKey }}
TXLOG_CONSOLE_VERIFIER_KEY: {{ . | quote }}
{{- end }}
{{- end }}
{{- with $root.Values.auth.issuer }}
{{ $p }}_AUTH_ISSUER: {{ . | quote }}
{{- end }}
{{- with $root.Values.auth.jwksUrl }}
{{ $p }}_AUTH_JWKS_URL: {{ . | quote }}
{{- end }}
{{ $p }}_AUTH_AUDIENCE: {{ required (printf "%s.audience is required (%s_AUTH_AUDIENCE)" (ternary "orderService" "txlogService" (eq .component "order-service")) $p) $v.audience | quote }}
{{ $p }}_METRICS_LISTEN: {{ printf "0.0.0.0:%d" (int $root.Values.metrics.port) | quote }}
{{ $p }}_SHUTDOWN_DELAY: {{ printf "%ds" (int $root.Values.shutdownDelaySeconds) | quote }}
{{- with $root.Values.trustedProxies }}
{{ $p }}_TRUSTED_PROXIES: {{ join "," . | quote }}
{{- end }}
{{- if $v.tls.existingSecret }}
{{ $p }}_TLS_CERT_FILE: {{ printf "%s/tls.crt" (include "ordersys.tlsDir" $root) | quote }}
{{ $p }}_TLS_KEY_FILE: {{ printf "%s/tls.key" (include "ordersys.tlsDir" $root) | quote }}
{{- end }}
{{- if include "ordersys.caBundleEnabled" $root }}
SSL_CERT_FILE: {{ include "ordersys.caBundleFile" $root | quote }}
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
