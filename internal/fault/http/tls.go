package http

import (
	"encoding/binary"
	"errors"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// tls handles a connection that starts with a TLS record: without --tls, or when the
// ClientHello's server name does not match, it passes through untouched; a matching one
// is reset (abort) or held (delay) before a byte reaches the server. Nothing is
// decrypted.
func (s *session) tls() error {
	rule := s.p.Rule
	if !rule.spec.TLS {
		s.p.C.Passed.Add(1)
		return s.splice()
	}
	hdr, err := s.br.Peek(5)
	if err != nil {
		return err
	}
	n := int(binary.BigEndian.Uint16(hdr[3:5]))
	rec, err := s.br.Peek(5 + n)
	if err != nil {
		return err
	}
	name, err := ServerName(rec[5:])
	if err == nil && rule.sni.Match(name) {
		s.p.C.Matched.Add(1)
		if rule.Hit() {
			s.p.C.Altered.Add(1)
			if rule.spec.Action == plan.HTTPAbort {
				reset(s.client)
				return nil
			}
			if err := s.p.sleep(s.ctx, rule.spec.Delay.D()); err != nil {
				return err
			}
		}
	}
	return s.splice()
}

var errNoSNI = errors.New("no server name in the ClientHello")

// ServerName returns the server_name of a TLS ClientHello handshake message (the
// payload of the first handshake record). A ClientHello split over several records is
// read from the first only, which carries the extension in practice.
func ServerName(b []byte) (string, error) {
	bad := errors.New("not a TLS ClientHello")
	if len(b) < 4 || b[0] != 1 { // handshake type client_hello
		return "", bad
	}
	b = b[4:]
	if len(b) < 34 {
		return "", bad
	}
	b = b[34:] // version, random
	skip := func(lenBytes int) bool {
		if len(b) < lenBytes {
			return false
		}
		n := 0
		for _, c := range b[:lenBytes] {
			n = n<<8 | int(c)
		}
		if len(b) < lenBytes+n {
			return false
		}
		b = b[lenBytes+n:]
		return true
	}
	if !skip(1) || !skip(2) || !skip(1) { // session id, cipher suites, compression
		return "", bad
	}
	if len(b) < 2 {
		return "", errNoSNI
	}
	ext := b[2:min(len(b), 2+int(binary.BigEndian.Uint16(b)))]
	for len(ext) >= 4 {
		typ, n := binary.BigEndian.Uint16(ext), int(binary.BigEndian.Uint16(ext[2:]))
		if len(ext) < 4+n {
			return "", bad
		}
		data := ext[4 : 4+n]
		ext = ext[4+n:]
		if typ != 0 { // server_name
			continue
		}
		if len(data) < 2 {
			return "", bad
		}
		list := data[2:]
		for len(list) >= 3 {
			kind, l := list[0], int(binary.BigEndian.Uint16(list[1:]))
			if len(list) < 3+l {
				return "", bad
			}
			if kind == 0 { // host_name
				return string(list[3 : 3+l]), nil
			}
			list = list[3+l:]
		}
	}
	return "", errNoSNI
}
