package http

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	nethttp "net/http"
	"path"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// maxPatchBody bounds a response body that patch buffers to merge JSON into; a larger
// one passes unchanged (counted as skipped).
const maxPatchBody = 8 << 20

// Rule is a compiled HTTP spec: which requests (or TLS connections) it hits and what it
// does to them.
type Rule struct {
	spec plan.HTTP
	sni  *redirect.Names
	// patch is the JSON merge patch of a patch rule's --body.
	patch any
}

// Counters of one fault, reported as events.
type Counters struct {
	Conns     atomic.Int64 // connections accepted
	Requests  atomic.Int64 // HTTP requests seen
	Matched   atomic.Int64 // requests (TLS connections) the filters matched
	Altered   atomic.Int64 // of those, the ones the fault hit (after --percent)
	TLS       atomic.Int64 // TLS connections seen
	Passed    atomic.Int64 // connections passed through as they are (h2c, TLS without --tls, not HTTP)
	Skipped   atomic.Int64 // patches not applied (body not JSON or too large)
	Errors    atomic.Int64 // connections that ended on an error
	Upstreams atomic.Int64 // upstream connections dialed
}

// String is the counters in words, for an event.
func (c *Counters) String() string {
	return fmt.Sprintf("connections %d (TLS %d, passed through %d), requests %d, matched %d, altered %d, patches skipped %d, upstream dials %d, errors %d",
		c.Conns.Load(), c.TLS.Load(), c.Passed.Load(), c.Requests.Load(), c.Matched.Load(), c.Altered.Load(),
		c.Skipped.Load(), c.Upstreams.Load(), c.Errors.Load())
}

// Values are the counters as numbers (redirect.Values), for the live view: "http
// matched" (requests, or TLS connections with --tls, the filters selected) is the
// traffic the fault selects, so a fault nothing matched is flagged; "http altered" is
// what the fault did to them (after --percent).
func (c *Counters) Values() []plan.Counter {
	return []plan.Counter{
		{Name: "http connections", Value: uint64(c.Conns.Load()), Unit: "connections"},
		{Name: "http requests", Value: uint64(c.Requests.Load()), Unit: "requests"},
		{Name: "http matched", Value: uint64(c.Matched.Load()), Unit: "requests", Traffic: true},
		{Name: "http altered", Value: uint64(c.Altered.Load()), Unit: "requests"},
		{Name: "http passed through", Value: uint64(c.Passed.Load()), Unit: "connections"},
		{Name: "http errors", Value: uint64(c.Errors.Load()), Unit: "connections"},
	}
}

// NewRule compiles a validated spec.
func NewRule(h plan.HTTP) (*Rule, error) {
	if err := Validate(&h); err != nil {
		return nil, err
	}
	r := &Rule{spec: h}
	if h.TLS {
		var err error
		if r.sni, err = redirect.ParseNames("--sni", h.SNI); err != nil {
			return nil, err
		}
	}
	if h.Action == plan.HTTPPatch && h.Body != nil {
		if err := json.Unmarshal([]byte(*h.Body), &r.patch); err != nil {
			return nil, fmt.Errorf("--body: a patch body must be JSON: %w", err)
		}
	}
	return r, nil
}

// Matches reports whether a request hits the filters (method, path).
func (r *Rule) Matches(method, target string) bool {
	if r.spec.Method != "" && !strings.EqualFold(r.spec.Method, method) {
		return false
	}
	if r.spec.Path == "" {
		return true
	}
	p := target
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if strings.HasPrefix(p, "http://") { // absolute form
		if i := strings.IndexByte(p[len("http://"):], '/'); i >= 0 {
			p = p[len("http://")+i:]
		} else {
			p = "/"
		}
	}
	return PathMatch(r.spec.Path, p)
}

// Hit draws --percent.
func (r *Rule) Hit() bool {
	pc := r.spec.Percent
	return pc <= 0 || pc >= 100 || rand.Float64()*100 < pc
}

// PathMatch matches a request path against a glob: path.Match per segment ('*' within a
// segment), and a pattern ending in "/**" matches the prefix and anything below it.
func PathMatch(pattern, p string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "/**"); ok {
		if ok, _ := path.Match(prefix, p); ok {
			return true
		}
		segs := strings.Count(prefix, "/")
		parts := strings.SplitAfterN(p, "/", segs+2)
		if len(parts) <= segs+1 {
			return false
		}
		head := strings.TrimSuffix(strings.Join(parts[:segs+1], ""), "/")
		ok, _ := path.Match(prefix, head)
		return ok
	}
	ok, _ := path.Match(pattern, p)
	return ok
}

// synthetic is the response an abort with --code sends, without asking the server.
func (r *Rule) synthetic() []byte {
	h := &head{start: [3]string{"HTTP/1.1", strconv.Itoa(r.spec.Code), nethttp.StatusText(r.spec.Code)}}
	body := ""
	if r.spec.Body != nil {
		body = *r.spec.Body
	}
	for _, hd := range r.spec.Headers {
		h.set(hd.Name, hd.Value)
	}
	h.set("Content-Length", strconv.Itoa(len(body)))
	if h.get("Content-Type") == "" && body != "" {
		h.set("Content-Type", "text/plain; charset=utf-8")
	}
	return append(h.encode(), body...)
}

// needsBody says whether the rule reads the upstream response body into memory.
func (r *Rule) needsBody() bool {
	return r.spec.Body != nil && (r.spec.Action == plan.HTTPReplace || r.spec.Action == plan.HTTPPatch)
}

// transform changes a response head (and, for replace/patch with a body, its body);
// body is nil when the rule does not touch the body. It returns the body to send (nil:
// relay the upstream body as it is) and whether the change was made.
func (r *Rule) transform(h *head, body []byte) ([]byte, bool) {
	s := r.spec
	switch s.Action {
	case plan.HTTPReplace:
		if s.Code != 0 {
			h.start[1], h.start[2] = strconv.Itoa(s.Code), nethttp.StatusText(s.Code)
		}
		for _, hd := range s.Headers {
			h.set(hd.Name, hd.Value)
		}
		if s.Body != nil {
			return fixLength(h, []byte(*s.Body)), true
		}
		return nil, true
	case plan.HTTPPatch:
		for _, hd := range s.Headers {
			h.fields = append(h.fields, field{hd.Name, hd.Value})
		}
		if s.Body == nil {
			return nil, true
		}
		var doc any
		if h.get("Content-Encoding") != "" || json.Unmarshal(body, &doc) != nil {
			return fixLength(h, body), false
		}
		out, err := json.Marshal(mergePatch(doc, r.patch))
		if err != nil {
			return fixLength(h, body), false
		}
		return fixLength(h, out), true
	}
	return nil, false
}

// fixLength frames body with a Content-Length (it replaces chunked framing).
func fixLength(h *head, body []byte) []byte {
	h.set("Transfer-Encoding", "")
	h.set("Content-Length", strconv.Itoa(len(body)))
	return body
}

// mergePatch applies an RFC 7386 JSON merge patch.
func mergePatch(doc, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	d, ok := doc.(map[string]any)
	if !ok {
		d = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(d, k)
			continue
		}
		d[k] = mergePatch(d[k], v)
	}
	return d
}
