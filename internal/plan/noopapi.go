package plan

// KindNoopAPI is the hidden API-only fault that proves the path without a helper pod.
const KindNoopAPI = "noopapi"

// NoopAPI puts one annotation on each target pod (AnnotationNoopAPI = Value) and takes
// it away again: a change anyone can see with kubectl, made and undone through the API
// alone, so the engine's API path, stop and gc can be tested end to end.
type NoopAPI struct {
	// Value of the annotation while the fault is active.
	Value string `json:"value"`
}

// AnnotationNoopAPI is the annotation the noopapi fault sets on its targets.
const AnnotationNoopAPI = "kubectl-chaos/noop-api"

// Summary is "annotation kubectl-chaos/noop-api=VALUE".
func (n *NoopAPI) Summary() string { return "annotation " + AnnotationNoopAPI + "=" + n.Value }
