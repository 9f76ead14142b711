package http

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Dial opens the connection to the real server for one client connection.
type Dial func(ctx context.Context) (net.Conn, error)

// h2Preface starts every HTTP/2 cleartext (prior knowledge) connection.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// Proxy serves redirected connections with one rule.
type Proxy struct {
	Rule *Rule
	C    *Counters
	// sleep waits d or until ctx ends (tests may replace it).
	sleep func(ctx context.Context, d time.Duration) error
}

// NewProxy returns a proxy for rule.
func NewProxy(rule *Rule) *Proxy {
	return &Proxy{Rule: rule, C: &Counters{}, sleep: redirect.Sleep}
}

// Serve handles one client connection until it ends or ctx is done. It closes client.
func (p *Proxy) Serve(ctx context.Context, client net.Conn, dial Dial) {
	p.C.Conns.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &session{p: p, ctx: ctx, client: client, br: bufio.NewReaderSize(client, 32<<10), dial: dial}
	go func() { <-ctx.Done(); s.closeAll() }()
	if err := s.run(); err != nil && !errors.Is(err, io.EOF) && ctx.Err() == nil {
		p.C.Errors.Add(1)
	}
	s.closeAll()
}

type session struct {
	p      *Proxy
	ctx    context.Context
	client net.Conn
	br     *bufio.Reader
	dial   Dial

	mu   sync.Mutex
	up   net.Conn
	upbr *bufio.Reader
}

func (s *session) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.client.Close()
	if s.up != nil {
		s.up.Close()
	}
}

func (s *session) run() error {
	first, err := s.br.Peek(1)
	if err != nil {
		return err
	}
	switch {
	case first[0] == 0x16: // a TLS record: handshake
		s.p.C.TLS.Add(1)
		return s.tls()
	case s.isH2():
		s.p.C.Passed.Add(1)
		return s.splice()
	case first[0] < 'A' || first[0] > 'Z':
		s.p.C.Passed.Add(1) // not an HTTP/1 request line
		return s.splice()
	}
	for {
		more, err := s.request()
		if err != nil || !more {
			return err
		}
	}
}

// isH2 says whether the connection starts with the HTTP/2 preface. It reads no more
// than it needs to tell: a short request that starts with 'P' (a 19-byte "POST /
// HTTP/1.0") must not wait for 24 bytes that never come.
func (s *session) isH2() bool {
	for n := max(1, s.br.Buffered()); ; n = min(len(h2Preface), max(n+1, s.br.Buffered())) {
		b, err := s.br.Peek(min(n, len(h2Preface)))
		if !strings.HasPrefix(h2Preface, string(b)) {
			return false
		}
		if len(b) == len(h2Preface) {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// upstream returns the server connection, dialing it on first use.
func (s *session) upstream() (net.Conn, *bufio.Reader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.up != nil {
		return s.up, s.upbr, nil
	}
	c, err := s.dial(s.ctx)
	if err != nil {
		return nil, nil, err
	}
	s.p.C.Upstreams.Add(1)
	s.up, s.upbr = c, bufio.NewReaderSize(c, 32<<10)
	return s.up, s.upbr, nil
}

// dropUpstream forgets a server connection that cannot carry another request.
func (s *session) dropUpstream() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.up != nil {
		s.up.Close()
		s.up, s.upbr = nil, nil
	}
}

// splice relays both directions as bytes until either side closes.
func (s *session) splice() error {
	up, upbr, err := s.upstream()
	if err != nil {
		return err
	}
	errc := make(chan error, 2)
	go func() {
		_, err := io.Copy(up, s.br)
		closeWrite(up)
		errc <- err
	}()
	go func() {
		_, err := io.Copy(s.client, upbr)
		closeWrite(s.client)
		errc <- err
	}()
	err = <-errc
	if err2 := <-errc; err == nil {
		err = err2
	}
	return err
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// request relays (or faults) one request and its response; more says the connection
// can carry another.
func (s *session) request() (more bool, err error) {
	req, err := readHead(s.br)
	if err != nil {
		return false, err
	}
	s.p.C.Requests.Add(1)
	rf, err := requestFraming(req)
	if err != nil {
		return false, err
	}
	method := req.start[0]
	rule := s.p.Rule
	hit := false
	if rule.Matches(method, req.start[1]) {
		s.p.C.Matched.Add(1)
		hit = rule.Hit()
	}
	if hit {
		s.p.C.Altered.Add(1)
		switch rule.spec.Action {
		case plan.HTTPAbort:
			if rule.spec.Code == 0 {
				reset(s.client)
				return false, nil
			}
			// Read the request body first: closing with unread data would reset.
			if err := copyBody(io.Discard, s.br, rf); err != nil {
				return false, err
			}
			if _, err := s.client.Write(rule.synthetic()); err != nil {
				return false, err
			}
			return keepAlive(req), nil
		case plan.HTTPDelay:
			if err := s.p.sleep(s.ctx, rule.spec.Delay.D()); err != nil {
				return false, err
			}
		case plan.HTTPReplace, plan.HTTPPatch:
			if rule.needsBody() && req.get("Accept-Encoding") != "" {
				req.set("Accept-Encoding", "") // a body we change must come unencoded
				req.raw = req.encode()
			}
		}
	}
	return s.exchange(req, rf, method, hit && (rule.spec.Action == plan.HTTPReplace || rule.spec.Action == plan.HTTPPatch))
}

// exchange forwards a request and relays its response(s), changing the final response
// when change is set.
func (s *session) exchange(req *head, rf framing, method string, change bool) (bool, error) {
	up, upbr, err := s.upstream()
	if err != nil {
		reset(s.client)
		return false, err
	}
	if _, err := up.Write(req.raw); err != nil {
		return false, err
	}
	// The request body flows while responses are read: a server may answer 100
	// Continue first, or answer early.
	bodyErr := make(chan error, 1)
	go func() { bodyErr <- copyBody(up, s.br, rf) }()
	for {
		resp, err := readHead(upbr)
		if err != nil {
			return false, err
		}
		code := resp.start[1]
		if strings.HasPrefix(code, "1") && code != "101" { // interim: relay and read on
			if _, err := s.client.Write(resp.raw); err != nil {
				return false, err
			}
			continue
		}
		if err := s.response(resp, method, change, upbr); err != nil {
			return false, err
		}
		if berr := <-bodyErr; berr != nil {
			return false, berr
		}
		switch {
		case code == "101", method == "CONNECT" && strings.HasPrefix(code, "2"):
			return false, s.splice() // upgraded (WebSocket, h2c): bytes from now on
		}
		if !keepAlive(req) || !keepAlive(resp) {
			return false, nil
		}
		if f, _ := responseFraming(resp, method); f.kind == bodyClose {
			return false, nil
		}
		return true, nil
	}
}

// response relays one final response, changed by the rule when change is set.
func (s *session) response(resp *head, method string, change bool, upbr *bufio.Reader) error {
	rf, err := responseFraming(resp, method)
	if err != nil {
		return err
	}
	if !change {
		if _, err := s.client.Write(resp.raw); err != nil {
			return err
		}
		return copyBody(s.client, upbr, rf)
	}
	rule := s.p.Rule
	var body []byte
	if rule.needsBody() {
		if body, err = readBody(upbr, rf, maxPatchBody); err != nil {
			s.dropUpstream()
			return err
		}
		if rf.kind == bodyClose {
			s.dropUpstream()
		}
	}
	out, ok := rule.transform(resp, body)
	if !ok {
		s.p.C.Skipped.Add(1)
	}
	var b bytes.Buffer
	b.Write(resp.encode())
	if out != nil {
		b.Write(out)
		_, err := s.client.Write(b.Bytes())
		return err
	}
	if _, err := s.client.Write(b.Bytes()); err != nil {
		return err
	}
	return copyBody(s.client, upbr, rf)
}

// keepAlive says whether a message lets the connection carry another.
func keepAlive(h *head) bool {
	proto := h.start[0]
	if strings.HasPrefix(h.start[0], "HTTP/") == false {
		proto = h.start[2] // a request: method target proto
	}
	if h.has("Connection", "close") {
		return false
	}
	if proto == "HTTP/1.0" {
		return h.has("Connection", "keep-alive")
	}
	return true
}

// reset closes c with a TCP RST (SO_LINGER 0).
func reset(c net.Conn) {
	if tc, ok := c.(interface{ SetLinger(int) error }); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
