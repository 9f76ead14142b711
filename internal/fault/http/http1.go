package http

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxHead bounds a request's or response's header block.
const maxHead = 64 << 10

// head is one HTTP/1.x message head: its bytes as received, so a message we do not
// change is relayed byte for byte, and its parsed start line and fields.
type head struct {
	raw    []byte
	start  [3]string // request: method, target, proto; response: proto, code, reason
	fields []field
}

type field struct{ name, value string }

var errHeadTooLarge = errors.New("HTTP header block larger than 64 KiB")

// readHead reads one message head (up to the empty line). io.EOF means the peer closed
// between messages.
func readHead(br *bufio.Reader) (*head, error) {
	h := &head{}
	for first := true; ; first = false {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return nil, errHeadTooLarge
		}
		if err != nil {
			if first && len(line) == 0 && err == io.EOF {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("reading HTTP head: %w", err)
		}
		h.raw = append(h.raw, line...)
		if len(h.raw) > maxHead {
			return nil, errHeadTooLarge
		}
		s := strings.TrimRight(string(line), "\r\n")
		if first {
			if s == "" { // tolerated: a stray CRLF between messages
				h.raw = h.raw[:0]
				first = true
				continue
			}
			parts := strings.SplitN(s, " ", 3)
			if len(parts) < 2 {
				return nil, fmt.Errorf("malformed HTTP start line %q", s)
			}
			copy(h.start[:], parts)
			continue
		}
		if s == "" {
			return h, nil
		}
		name, value, ok := strings.Cut(s, ":")
		if !ok {
			return nil, fmt.Errorf("malformed HTTP header line %q", s)
		}
		h.fields = append(h.fields, field{strings.TrimSpace(name), strings.TrimSpace(value)})
	}
}

// get returns the values of a field, comma-joined.
func (h *head) get(name string) string {
	var vs []string
	for _, f := range h.fields {
		if strings.EqualFold(f.name, name) {
			vs = append(vs, f.value)
		}
	}
	return strings.Join(vs, ", ")
}

// has reports whether a comma-separated field lists token.
func (h *head) has(name, token string) bool {
	for _, v := range strings.Split(h.get(name), ",") {
		if strings.EqualFold(strings.TrimSpace(v), token) {
			return true
		}
	}
	return false
}

// set replaces every field called name with one (or removes them, for value "").
func (h *head) set(name, value string) {
	out := h.fields[:0]
	for _, f := range h.fields {
		if !strings.EqualFold(f.name, name) {
			out = append(out, f)
		}
	}
	h.fields = out
	if value != "" {
		h.fields = append(h.fields, field{name, value})
	}
}

// encode rebuilds the head from its start line and fields (after a change).
func (h *head) encode() []byte {
	var b bytes.Buffer
	b.WriteString(strings.TrimSpace(strings.Join(h.start[:], " ")))
	b.WriteString("\r\n")
	for _, f := range h.fields {
		b.WriteString(f.name + ": " + f.value + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// Body framings.
const (
	bodyNone    = iota
	bodyLength  // Content-Length bytes
	bodyChunked // chunked transfer coding
	bodyClose   // until the connection closes (responses only)
)

type framing struct {
	kind int
	n    int64
}

// requestFraming is how a request's body is delimited (RFC 9112 §6).
func requestFraming(h *head) (framing, error) {
	if te := h.get("Transfer-Encoding"); te != "" {
		if !h.has("Transfer-Encoding", "chunked") {
			return framing{}, fmt.Errorf("request transfer coding %q without chunked", te)
		}
		return framing{kind: bodyChunked}, nil
	}
	return lengthFraming(h, bodyNone)
}

// responseFraming is how a response to method is delimited.
func responseFraming(h *head, method string) (framing, error) {
	code, _ := strconv.Atoi(h.start[1])
	if method == "HEAD" || code/100 == 1 || code == 204 || code == 304 {
		return framing{kind: bodyNone}, nil
	}
	if method == "CONNECT" && code/100 == 2 {
		return framing{kind: bodyNone}, nil
	}
	if h.get("Transfer-Encoding") != "" {
		if h.has("Transfer-Encoding", "chunked") {
			return framing{kind: bodyChunked}, nil
		}
		return framing{kind: bodyClose}, nil
	}
	return lengthFraming(h, bodyClose)
}

func lengthFraming(h *head, otherwise int) (framing, error) {
	cl := h.get("Content-Length")
	if cl == "" {
		return framing{kind: otherwise}, nil
	}
	if i := strings.IndexByte(cl, ','); i >= 0 { // repeated equal values are allowed
		cl = strings.TrimSpace(cl[:i])
	}
	n, err := strconv.ParseInt(cl, 10, 64)
	if err != nil || n < 0 {
		return framing{}, fmt.Errorf("bad Content-Length %q", cl)
	}
	if n == 0 {
		return framing{kind: bodyNone}, nil
	}
	return framing{kind: bodyLength, n: n}, nil
}

// copyBody relays one body from br to w as it arrives (raw: chunk sizes, extensions
// and trailers included), so streaming bodies flow through unchanged.
func copyBody(w io.Writer, br *bufio.Reader, f framing) error {
	switch f.kind {
	case bodyNone:
		return nil
	case bodyLength:
		_, err := io.CopyN(w, br, f.n)
		return err
	case bodyClose:
		_, err := io.Copy(w, br)
		return err
	}
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("reading chunk size: %w", err)
		}
		if _, err := w.Write(line); err != nil {
			return err
		}
		sz := strings.TrimSpace(string(line))
		if i := strings.IndexByte(sz, ';'); i >= 0 {
			sz = sz[:i]
		}
		n, err := strconv.ParseInt(strings.TrimSpace(sz), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("bad chunk size %q", sz)
		}
		if n == 0 { // trailers, then the empty line
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return fmt.Errorf("reading trailers: %w", err)
				}
				if _, err := w.Write(line); err != nil {
					return err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := io.CopyN(w, br, n+2); err != nil { // data and its CRLF
			return err
		}
	}
}

// readBody reads a whole body into memory, at most limit bytes (decoded, for chunked).
func readBody(br *bufio.Reader, f framing, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	if f.kind == bodyChunked {
		if err := copyBody(&dechunker{w: &buf}, br, f); err != nil {
			return nil, err
		}
	} else if err := copyBody(&buf, br, f); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("body of %d bytes is over the %d-byte limit", buf.Len(), limit)
	}
	return buf.Bytes(), nil
}

// dechunker receives what copyBody writes for a chunked body (line, data+CRLF, …) and
// keeps the data only.
type dechunker struct {
	w    io.Writer
	left int64 // data bytes (+2 for CRLF) expected next
	done bool
}

func (d *dechunker) Write(p []byte) (int, error) {
	n := len(p)
	if d.done {
		return n, nil // trailers
	}
	if d.left == 0 {
		sz := strings.TrimSpace(string(p))
		if i := strings.IndexByte(sz, ';'); i >= 0 {
			sz = sz[:i]
		}
		v, _ := strconv.ParseInt(strings.TrimSpace(sz), 16, 64)
		if v == 0 {
			d.done = true
		} else {
			d.left = v + 2
		}
		return n, nil
	}
	data := p
	if int64(len(data)) > d.left-2 {
		data = data[:max(0, d.left-2)]
	}
	d.left -= int64(len(p))
	_, err := d.w.Write(data)
	return n, err
}
