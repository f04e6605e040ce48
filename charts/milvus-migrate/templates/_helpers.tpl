{{/* Labels every object of the release carries; the first two are the ones deploy/ uses too. */}}
{{- define "milvus-migrate.labels" -}}
app.kubernetes.io/name: milvus-migrate
app.kubernetes.io/component: controller
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The Deployment's selector: never change it (selectors are immutable). */}}
{{- define "milvus-migrate.selectorLabels" -}}
app.kubernetes.io/name: milvus-migrate
app.kubernetes.io/component: controller
{{- end -}}

{{/* The controller image, which is also the copy Jobs' image (MM_IMAGE). */}}
{{- define "milvus-migrate.image" -}}
{{ printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end -}}
