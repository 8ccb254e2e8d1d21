{{/* The release's full name, used for every object. */}}
{{- define "podplug.fullname" -}}
{{- if contains "podplug" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-podplug" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "podplug.labels" -}}
app.kubernetes.io/name: podplug
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "podplug.selectorLabels" -}}
app.kubernetes.io/name: podplug
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "podplug.serviceAccountName" -}}
{{- default (include "podplug.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "podplug.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
