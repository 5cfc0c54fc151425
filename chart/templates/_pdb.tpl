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
