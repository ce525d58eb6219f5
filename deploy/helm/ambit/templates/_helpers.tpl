{{/*
Shared names and snippets. Object names are fixed by the binaries' contract
(ambit-control, ambit-node, ambit-ca, ambit-ca-root-cert), not derived from the release name.
*/}}

{{/* Image reference of one binary: ambit.image (dict "root" $ "name" "ambit-agent"). */}}
{{- define "ambit.image" -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .root.Values.image.registry) .name $tag -}}
{{- end -}}

{{/* Image of the waypoints ambit-control creates. */}}
{{- define "ambit.waypointImage" -}}
{{- .Values.waypoint.image | default (include "ambit.image" (dict "root" . "name" "ambit-waypoint")) -}}
{{- end -}}

{{/* Labels of every object: ambit.labels (dict "root" $ "component" "control"). */}}
{{- define "ambit.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: ambit
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{/* Selector labels of a workload: ambit.selectorLabels "ambit-control". Its pods carry them
as app.kubernetes.io/name plus ambit.labels (which holds part-of). */}}
{{- define "ambit.selectorLabels" -}}
app.kubernetes.io/name: {{ . }}
app.kubernetes.io/part-of: ambit
{{- end -}}

{{/* Address of ambit-control's gRPC port (discovery + certificates) for in-cluster clients. */}}
{{- define "ambit.controlAddress" -}}
{{- printf "ambit-control.%s.svc:15012" .Release.Namespace -}}
{{- end -}}

{{/* DNS names in ambit-control's serving certificate, comma separated. */}}
{{- define "ambit.controlServerNames" -}}
{{- $ns := .Release.Namespace -}}
{{- $names := list (printf "ambit-control.%s.svc" $ns)
      (printf "ambit-control.%s.svc.%s" $ns .Values.clusterDomain)
      (printf "ambit-control.%s" $ns) -}}
{{- join "," $names -}}
{{- end -}}

{{/* Prometheus scrape annotations for one port: ambit.scrapeAnnotations 15014. */}}
{{- define "ambit.scrapeAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ . | quote }}
prometheus.io/path: /metrics
{{- end -}}

{{/* Annotations of every CRD. */}}
{{- define "ambit.crdAnnotations" -}}
{{- if .Values.crds.keep }}
helm.sh/resource-policy: keep
{{- end }}
{{- end -}}
