// Package http implements HTTP faults: a port's TCP traffic in the target's network
// namespace is steered (TPROXY for requests into the target, NAT redirect for requests it
// makes) to a transparent HTTP/1.1 proxy the agent serves inside that namespace, which
// aborts, delays, replaces or patches matching requests and relays everything else byte
// for byte; TLS connections are delayed or reset by their ClientHello's server name,
// without decrypting. Validate and Describe are portable; the agent side is *_linux.go.
package http

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Limits.
const (
	MaxDelay   = time.Minute
	MaxBody    = 64 << 10
	MaxHeaders = 32
	MinCode    = 100
	MaxCode    = 599
)

func init() {
	catalog.Register(catalog.Kind[*plan.HTTP]{
		Name:     plan.KindHTTP,
		Validate: Validate,
		Describe: Describe,
		Scope:    "created in each target pod's network namespace",
	})
}

// Validate checks an HTTP fault spec; errors name the CLI flag and the accepted range.
func Validate(h *plan.HTTP) error {
	if h == nil {
		return fmt.Errorf("http fault without a spec")
	}
	switch h.Action {
	case plan.HTTPAbort, plan.HTTPDelay, plan.HTTPReplace, plan.HTTPPatch:
	default:
		return fmt.Errorf("http action %q: want abort, delay, replace or patch", h.Action)
	}
	switch h.Direction {
	case "", plan.HTTPIngress, plan.HTTPEgress:
	default:
		return fmt.Errorf("--direction must be ingress or egress, got %q", h.Direction)
	}
	if h.Port == 0 {
		return fmt.Errorf("--port is required: the server's TCP port, 1-65535")
	}
	if h.IncludeProbes && h.Dir() == plan.HTTPEgress {
		return fmt.Errorf("--include-probes applies to --direction ingress (kubelet probes come into the pod)")
	}
	if h.Percent < 0 || h.Percent > 100 {
		return fmt.Errorf("--percent must be in (0, 100], got %g", h.Percent)
	}
	if err := validateDelay(h); err != nil {
		return err
	}
	if h.TLS {
		return validateTLS(h)
	}
	if len(h.SNI) > 0 {
		return fmt.Errorf("--sni needs --tls")
	}
	if err := validateRequest(h); err != nil {
		return err
	}
	return validateResponse(h)
}

func validateDelay(h *plan.HTTP) error {
	if h.Action == plan.HTTPDelay {
		if h.Delay <= 0 || h.Delay.D() > MaxDelay {
			return fmt.Errorf("--delay must be in (0, %s], got %s", MaxDelay, h.Delay.D())
		}
	} else if h.Delay != 0 {
		return fmt.Errorf("--delay applies to http delay only")
	}
	return nil
}

func validateTLS(h *plan.HTTP) error {
	if h.Action != plan.HTTPAbort && h.Action != plan.HTTPDelay {
		return fmt.Errorf("--tls works with abort (reset) and delay only: the proxy does not decrypt")
	}
	if h.Path != "" || h.Method != "" || h.Code != 0 || h.Body != nil || len(h.Headers) > 0 {
		return fmt.Errorf("--tls matches connections by --sni only: --path, --method, --code, --body and --header need plain HTTP")
	}
	_, err := redirect.ParseNames("--sni", h.SNI)
	return err
}

func validateRequest(h *plan.HTTP) error {
	if m := h.Method; m != "" {
		if len(m) > 20 || strings.Trim(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			return fmt.Errorf("--method %q: want an upper-case HTTP method such as GET or POST", m)
		}
	}
	if p := h.Path; p != "" {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("--path %q must start with '/'", p)
		}
		if _, err := path.Match(strings.TrimSuffix(p, "/**"), "/"); err != nil {
			return fmt.Errorf("--path %q: %w (globs: '*' within a segment, '?', [a-z], a trailing /** for anything below)", p, err)
		}
	}
	return nil
}

func validateResponse(h *plan.HTTP) error {
	if h.Code != 0 && (h.Code < MinCode || h.Code > MaxCode) {
		return fmt.Errorf("--code must be in [%d, %d], got %d", MinCode, MaxCode, h.Code)
	}
	if h.Body != nil && len(*h.Body) > MaxBody {
		return fmt.Errorf("--body is %d bytes, at most %d", len(*h.Body), MaxBody)
	}
	if len(h.Headers) > MaxHeaders {
		return fmt.Errorf("--header: at most %d headers, got %d", MaxHeaders, len(h.Headers))
	}
	for _, hd := range h.Headers {
		if hd.Name == "" || strings.ContainsAny(hd.Name, " \t\r\n:()<>@,;\\\"/[]?={}") {
			return fmt.Errorf("--header %q: the name must be an HTTP token (letters, digits, -)", hd.Name)
		}
		if strings.ContainsAny(hd.Value, "\r\n\x00") {
			return fmt.Errorf("--header %s: the value may not contain CR, LF or NUL", hd.Name)
		}
	}
	switch h.Action {
	case plan.HTTPAbort:
		if h.Code == 0 && (h.Body != nil || len(h.Headers) > 0) {
			return fmt.Errorf("--body and --header of abort need --code (without it the connection is reset)")
		}
	case plan.HTTPDelay:
		if h.Code != 0 || h.Body != nil || len(h.Headers) > 0 {
			return fmt.Errorf("delay takes no --code, --body or --header: use replace or patch to change the response")
		}
	case plan.HTTPReplace:
		if h.Code == 0 && h.Body == nil && len(h.Headers) == 0 {
			return fmt.Errorf("replace needs --code, --body or --header: what to put in the response")
		}
	case plan.HTTPPatch:
		if h.Code != 0 {
			return fmt.Errorf("patch takes no --code: use replace")
		}
		if h.Body == nil && len(h.Headers) == 0 {
			return fmt.Errorf("patch needs --header (added) or --body (a JSON merge patch)")
		}
		if h.Body != nil {
			var v any
			if err := json.Unmarshal([]byte(*h.Body), &v); err != nil {
				return fmt.Errorf("--body of patch must be JSON (a merge patch, RFC 7386): %v", err)
			}
		}
	}
	return nil
}

// Layout is the redirect an HTTP fault installs; the agent fills in the table, mark,
// port and node addresses.
func Layout(h *plan.HTTP, table string, mark uint32, listen uint16, node []string) redirect.Layout {
	l := redirect.Layout{Table: table, Mark: mark, Listen: listen, Protos: []string{"tcp"}, Port: h.Port,
		Serves: "transparent HTTP/1.1 proxy (" + h.Summary() + ")"}
	if h.TLS {
		l.Serves = "TLS ClientHello inspector (" + h.Summary() + "; nothing is decrypted)"
	}
	if h.Dir() == plan.HTTPIngress {
		l.TProxy = true
		if !h.IncludeProbes {
			l.Exempt = node
		}
	} else {
		l.SkipLoopback = true
	}
	return l
}

// Describe lists what the fault creates, for --dry-run.
func Describe(h *plan.HTTP) []plan.Object {
	return Layout(h, "kubectl_chaos_http_<experiment>_<hash>", redirect.MarkUnknown, redirect.PortUnknown,
		[]string{redirect.NodeAddresses}).Objects()
}
