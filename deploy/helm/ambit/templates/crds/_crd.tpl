{{/*
ambit's own CustomResourceDefinitions of the Istio and Gateway API kinds it reads. They are
templates (not the chart's crds/ directory) so that crds.install=false leaves them out.

Schema policy: the fields ambit reads are typed, so the API server rejects a wrong type at
`kubectl apply`; every object also keeps unknown fields (x-kubernetes-preserve-unknown-fields),
because pruning a field ambit does not know yet would silently change what a resource means
(an ALLOW rule losing a source restriction allows more). ambit's own validation then reports
such a field on the object (a Kubernetes Event) instead of ignoring it.

ambit.crd takes a dict:
  root        the chart context ($)
  group kind plural        names of the resource
  scope       Namespaced (default) or Cluster
  shortNames categories    lists for kubectl
  versions    served versions, the first is the storage version (identical schemas: no
              conversion needed)
  approval    api-approved.kubernetes.io value (groups under *.k8s.io must carry one)
  status      true: a status subresource
  columns     additionalPrinterColumns (YAML)
  spec        the spec schema (YAML)
  statusSchema  the status schema (YAML); default: any object
*/}}
{{- define "ambit.crd" -}}
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {{ .plural }}.{{ .group }}
  labels:
    {{- include "ambit.labels" (dict "root" .root "component" "crds") | nindent 4 }}
  {{- $annotations := include "ambit.crdAnnotations" .root | trim }}
  {{- if or $annotations .approval }}
  annotations:
    {{- with $annotations }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- with .approval }}
    api-approved.kubernetes.io: {{ . | quote }}
    {{- end }}
  {{- end }}
spec:
  group: {{ .group }}
  scope: {{ .scope | default "Namespaced" }}
  names:
    kind: {{ .kind }}
    listKind: {{ .kind }}List
    plural: {{ .plural }}
    singular: {{ lower .kind }}
    {{- with .shortNames }}
    shortNames: {{ toJson . }}
    {{- end }}
    categories: {{ toJson .categories }}
  versions:
    {{- range $i, $version := .versions }}
    - name: {{ $version }}
      served: true
      storage: {{ eq $i 0 }}
      {{- if $.status }}
      subresources:
        status: {}
      {{- end }}
      {{- with $.columns }}
      additionalPrinterColumns:
        {{- . | trim | nindent 8 }}
      {{- end }}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              {{- $.spec | trim | nindent 14 }}
            status:
              {{- $.statusSchema | default "type: object\nx-kubernetes-preserve-unknown-fields: true" | trim | nindent 14 }}
    {{- end }}
{{- end -}}

{{/* Schema snippets shared by the kinds. */}}

{{- define "ambit.crd.strings" -}}
type: array
items:
  type: string
{{- end -}}

{{- define "ambit.crd.stringMap" -}}
type: object
additionalProperties:
  type: string
{{- end -}}

{{- define "ambit.crd.selector" -}}
description: Workloads (pods) the resource applies to, by labels.
type: object
properties:
  matchLabels:
    {{- include "ambit.crd.stringMap" . | nindent 4 }}
{{- end -}}

{{- define "ambit.crd.targetRef" -}}
description: A Service, Gateway, GatewayClass or ServiceEntry the resource is attached to.
type: object
required: [kind, name]
properties:
  group:
    type: string
  kind:
    type: string
  name:
    type: string
  namespace:
    type: string
{{- end -}}

{{- define "ambit.crd.port" -}}
type: integer
format: int32
minimum: 1
maximum: 65535
{{- end -}}

{{/* An Istio StringMatch: exactly one of exact, prefix, regex. */}}
{{- define "ambit.crd.stringMatch" -}}
type: object
maxProperties: 1
properties:
  exact:
    type: string
  prefix:
    type: string
  regex:
    type: string
{{- end -}}

{{/* A metav1.Condition, as Gateway API status reports them. */}}
{{- define "ambit.crd.conditions" -}}
type: array
items:
  type: object
  required: [type, status]
  properties:
    type:
      type: string
    status:
      type: string
      enum: ["True", "False", "Unknown"]
    reason:
      type: string
    message:
      type: string
    observedGeneration:
      type: integer
      format: int64
    lastTransitionTime:
      type: string
      format: date-time
{{- end -}}
