package scenario

import (
	"encoding/base64"
	"go.yaml.in/yaml/v3"
	"sort"
	"strings"
)

// httpRefused are HTTPChaos fields with no counterpart, and why.
var httpRefused = map[string]string{
	"code":             "matching requests by their response's status code is not supported (--path, --method and --port select)",
	"request_headers":  "matching requests by header is not supported (--path, --method and --port select)",
	"response_headers": "matching responses by header is not supported (--path, --method and --port select)",
	"tls":              "Chaos Mesh decrypts with the server's certificate; here --tls acts on TLS connections by server name without decrypting (kubectl chaos http abort|delay --tls --sni)",
}

// http maps an HTTPChaos onto one http verb: abort, delay, replace (code, body,
// headers of the response) or patch (a JSON body merge and headers of the response),
// on the requests the target serves on port (direction ingress). Each field with no
// counterpart is refused by name.
func (c *cm) http(o *obj, fs *FaultStep) []string {
	accepted := []string{"target", "port", "path", "method", "abort", "delay", "replace", "patch"}
	var refused []string
	for k := range httpRefused {
		refused = append(refused, k)
	}
	sort.Strings(refused)
	for _, k := range refused {
		if o.has(k) {
			o.node(k)
			c.fail(o.line(k), o.at(k), "%s", httpRefused[k])
		}
		accepted = append(accepted, k)
	}
	target := o.str("target", true)
	if target != "" && target != "Request" && target != "Response" {
		c.fail(o.line("target"), o.at("target"), "must be Request or Response, got %q", target)
	}
	c.field(o, fs, "port", "port")
	if !o.has("port") {
		c.fail(o.line("port"), o.at("port"), "is required (the port the target serves HTTP on)")
	}
	c.set(o, fs, "target", "direction", "ingress")
	c.field(o, fs, "path", "path")
	c.field(o, fs, "method", "method")
	var actions []string
	for _, a := range []string{"abort", "delay", "replace", "patch"} {
		if o.has(a) {
			actions = append(actions, a)
		}
	}
	switch {
	case len(actions) == 0:
		c.fail(o.line(""), o.path, "one of abort, delay, replace or patch is required")
		return accepted
	case len(actions) > 1:
		c.fail(o.line(actions[1]), o.at(actions[1]), "one action per experiment here (abort, delay, replace or patch), got %s", strings.Join(actions, " and "))
		return accepted
	}
	switch actions[0] {
	case "abort":
		if !o.boolean("abort") {
			c.fail(o.line("abort"), o.at("abort"), "abort: false asks for nothing")
		}
		fs.Verb = "http abort"
	case "delay":
		fs.Verb = "http delay"
		c.field(o, fs, "delay", "delay")
	case "replace", "patch":
		if target == "Request" {
			c.fail(o.line("target"), o.at("target"), "%s of the request is not supported: http %s changes the response (target: Response)", actions[0], actions[0])
		}
		if actions[0] == "replace" {
			c.httpReplace(c.obj(o.node("replace"), o.at("replace")), fs)
		} else {
			c.httpPatch(c.obj(o.node("patch"), o.at("patch")), fs)
		}
	}
	return accepted
}

func (c *cm) httpReplace(o *obj, fs *FaultStep) {
	fs.Verb = "http replace"
	for _, k := range []string{"path", "method", "queries"} {
		if o.has(k) {
			o.node(k)
			c.fail(o.line(k), o.at(k), "replacing the request's %s is not supported: http replace changes the response (code, body, headers)", k)
		}
	}
	c.field(o, fs, "code", "code")
	if o.has("body") {
		c.set(o, fs, "body", "body", c.base64(o, "body"))
	}
	if h := c.pairs(o, "headers", "="); len(h) > 0 {
		fs.Fields = append(fs.Fields, FieldValue{Name: "header", Values: h, Line: o.line("headers"), Field: o.at("headers")})
	}
	o.done("code", "body", "headers", "path", "method", "queries")
}

func (c *cm) httpPatch(o *obj, fs *FaultStep) {
	fs.Verb = "http patch"
	if o.has("queries") {
		o.node("queries")
		c.fail(o.line("queries"), o.at("queries"), "patching the request's query is not supported: http patch changes the response (a JSON body merge, headers)")
	}
	if o.has("body") {
		b := c.obj(o.node("body"), o.at("body"))
		if typ := b.str("type", true); typ != "" && typ != "JSON" {
			c.fail(b.line("type"), b.at("type"), "only JSON (a merge patch of the body), got %q", typ)
		}
		c.set(b, fs, "value", "body", b.str("value", true))
		b.done("type", "value")
	}
	if o.has("headers") {
		rows, _ := o.seq("headers")
		var hs []string
		for _, r := range rows {
			if r.Kind != yaml.SequenceNode || len(r.Content) != 2 {
				c.fail(r.Line, o.at("headers"), "each header is a pair [NAME, VALUE]")
				continue
			}
			hs = append(hs, r.Content[0].Value+"="+r.Content[1].Value)
		}
		fs.Fields = append(fs.Fields, FieldValue{Name: "header", Values: hs, Line: o.line("headers"), Field: o.at("headers")})
	}
	o.done("body", "headers", "queries")
}

// base64 decodes key's value: a Go []byte in Chaos Mesh's API is base64 in YAML.
func (c *cm) base64(o *obj, key string) string {
	s := o.str(key, false)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		c.fail(o.line(key), o.at(key), "must be base64 (Chaos Mesh's body is bytes): %v", err)
		return ""
	}
	return string(b)
}
