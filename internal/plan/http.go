package plan

import (
	"fmt"
	"strings"
)

// KindHTTP is the HTTP fault family: a port's TCP traffic is redirected to a transparent
// HTTP/1.1 proxy the agent serves inside the target's network namespace.
const KindHTTP = "http"

// HTTP actions.
const (
	HTTPAbort   = "abort"   // reset the connection, or answer Code without asking the server
	HTTPDelay   = "delay"   // hold the request for Delay, then forward it
	HTTPReplace = "replace" // forward, then replace the response's code, body, headers
	HTTPPatch   = "patch"   // forward, then add headers and merge a JSON body into the response's
)

// HTTP directions.
const (
	HTTPIngress = "ingress" // requests the target serves (server side)
	HTTPEgress  = "egress"  // requests the target makes
)

// HTTP is an HTTP (or, with TLS, a TLS connection) fault on one TCP port.
type HTTP struct {
	Action string `json:"action"`
	// Direction is ingress (default) or egress.
	Direction string `json:"direction,omitempty"`
	// Port is the server's TCP port: the target's own for ingress, the remote one for egress.
	Port uint16 `json:"port"`
	// Path is a glob on the request path ('*' within a segment, a trailing "/*" or "**"
	// any rest); empty matches every path.
	Path string `json:"path,omitempty"`
	// Method matches the request method; empty matches every method.
	Method string `json:"method,omitempty"`
	// Code is the status to answer (abort) or to put into the response (replace).
	Code int `json:"code,omitempty"`
	// Delay holds matching requests (or TLS connections) this long.
	Delay Duration `json:"delay,omitempty"`
	// Body is the body to answer (abort, replace) or the JSON merge patch (patch).
	Body *string `json:"body,omitempty"`
	// Headers are set (abort, replace) or added (patch) on the response.
	Headers []Header `json:"headers,omitempty"`
	// Percent of matching requests (or connections) hit; 0 means 100.
	Percent float64 `json:"percent,omitempty"`
	// IncludeProbes also faults traffic from the node's own addresses (kubelet probes).
	IncludeProbes bool `json:"includeProbes,omitempty"`
	// TLS faults TLS connections by the server name of their ClientHello (SNI), without
	// decrypting: abort resets them, delay holds them.
	TLS bool `json:"tls,omitempty"`
	// SNI are name patterns for TLS, as DNS patterns.
	SNI []string `json:"sni,omitempty"`
}

// Header is one response header.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Dir is the direction with its default.
func (h *HTTP) Dir() string {
	if h.Direction == "" {
		return HTTPIngress
	}
	return h.Direction
}

// Summary is e.g. "abort 503 :8080 GET /api/* 50%".
func (h *HTTP) Summary() string {
	w := []string{h.Action}
	switch {
	case h.Action == HTTPDelay:
		w = append(w, h.Delay.D().String())
	case h.Code != 0:
		w = append(w, fmt.Sprint(h.Code))
	case h.Action == HTTPAbort:
		w = append(w, "reset")
	}
	w = append(w, fmt.Sprintf(":%d", h.Port))
	if h.TLS {
		w = append(w, "tls sni "+strings.Join(h.SNI, ","))
	}
	if h.Method != "" {
		w = append(w, h.Method)
	}
	if h.Path != "" {
		w = append(w, h.Path)
	}
	if h.Percent > 0 && h.Percent < 100 {
		w = append(w, fmt.Sprintf("%g%%", h.Percent))
	}
	if h.Dir() == HTTPEgress {
		w = append(w, "egress")
	}
	return strings.Join(w, " ")
}
