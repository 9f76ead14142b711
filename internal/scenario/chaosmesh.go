package scenario

const chaosMeshGroup = "chaos-mesh.org"

func (d *decoder) chaosMesh(root *obj, apiVersion, kind string, set map[string]string, verbs *Verbs) (*Scenario, error) {
	d.fail(root.line("kind"), "kind", "Chaos Mesh import is not written yet")
	return nil, d.err
}
