//go:build linux

package nfqueue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Protocol constants (include/uapi/linux/netfilter/nfnetlink_queue.h).
const (
	subsysQueue = 3 // NFNL_SUBSYS_QUEUE

	msgPacket       = 0 // NFQNL_MSG_PACKET
	msgVerdict      = 1 // NFQNL_MSG_VERDICT
	msgConfig       = 2 // NFQNL_MSG_CONFIG
	msgVerdictBatch = 3 // NFQNL_MSG_VERDICT_BATCH

	cfgCmdBind   = 1 // NFQNL_CFG_CMD_BIND
	cfgCmdUnbind = 2 // NFQNL_CFG_CMD_UNBIND

	attrCfgCmd    = 1 // NFQA_CFG_CMD
	attrCfgParams = 2 // NFQA_CFG_PARAMS
	attrCfgMaxLen = 3 // NFQA_CFG_QUEUE_MAXLEN
	attrCfgMask   = 4 // NFQA_CFG_MASK
	attrCfgFlags  = 5 // NFQA_CFG_FLAGS

	attrPacketHdr  = 1  // NFQA_PACKET_HDR
	attrVerdictHdr = 2  // NFQA_VERDICT_HDR
	attrMark       = 3  // NFQA_MARK
	attrTimestamp  = 4  // NFQA_TIMESTAMP
	attrInDev      = 5  // NFQA_IFINDEX_INDEV
	attrOutDev     = 6  // NFQA_IFINDEX_OUTDEV
	attrPayload    = 10 // NFQA_PAYLOAD
	attrCapLen     = 13 // NFQA_CAP_LEN

	nlaTypeMask = 0x3fff // ^(NLA_F_NESTED|NLA_F_NET_BYTEORDER)
)

// Queue is one bound nfqueue. Receive must be called from one goroutine; Verdict and
// VerdictBatch may be called from any goroutine.
type Queue struct {
	conn *netlink.Conn
	rc   syscall.RawConn
	num  uint16

	buf []byte

	wmu  sync.Mutex
	wbuf [32]byte
	pbuf []byte // VerdictPayload's message
	seq  atomic.Uint32

	closed atomic.Bool
}

// Open binds queue cfg.Queue in the namespace cfg.NetNS and configures it.
func Open(cfg Config) (*Queue, error) {
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: cfg.NetNS})
	if err != nil {
		return nil, fmt.Errorf("nfqueue: open netfilter netlink socket (netns fd %d): %w", cfg.NetNS, err)
	}
	q := &Queue{conn: conn, num: cfg.Queue}
	if err := q.setup(cfg); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

func (q *Queue) setup(cfg Config) error {
	rc, err := q.conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("nfqueue: raw socket: %w", err)
	}
	q.rc = rc
	rb := cfg.ReadBuffer
	if rb <= 0 {
		rb = 8 << 20
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rb)
		if serr != nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rb)
		}
	}); err != nil || serr != nil {
		return fmt.Errorf("nfqueue: set receive buffer to %d bytes: %w", rb, errors.Join(err, serr))
	}

	// The kernel handles PF_BIND/PF_UNBIND as no-ops since 3.8: only BIND is needed.
	cmd := []byte{cfgCmdBind, 0, 0, 0}
	if err := q.config(attr(attrCfgCmd, cmd)); err != nil {
		return fmt.Errorf("nfqueue: bind queue %d: %w", q.num, err)
	}
	mode := cfg.Copy
	if mode == 0 {
		mode = CopyMeta
	}
	params := make([]byte, 5)
	binary.BigEndian.PutUint32(params, cfg.CopyRange)
	params[4] = byte(mode)
	if err := q.config(attr(attrCfgParams, params)); err != nil {
		return fmt.Errorf("nfqueue: set copy mode %d range %d on queue %d: %w", mode, cfg.CopyRange, q.num, err)
	}
	if cfg.MaxLen > 0 {
		if err := q.config(attr(attrCfgMaxLen, be32(cfg.MaxLen))); err != nil {
			return fmt.Errorf("nfqueue: set max length %d on queue %d: %w", cfg.MaxLen, q.num, err)
		}
	}
	if cfg.Flags != 0 {
		b := append(attr(attrCfgFlags, be32(cfg.Flags)), attr(attrCfgMask, be32(cfg.Flags))...)
		if err := q.config(b); err != nil {
			return fmt.Errorf("nfqueue: set flags %#x on queue %d: %w", cfg.Flags, q.num, err)
		}
	}
	size := 1 << 16
	if mode == CopyPacket && int(cfg.CopyRange)+4096 > size {
		size = int(cfg.CopyRange) + 4096
	}
	q.buf = make([]byte, size)
	return nil
}

// config sends one NFQNL_MSG_CONFIG with attrs and waits for the kernel's ack.
func (q *Queue) config(attrs []byte) error {
	data := append(nfgen(q.num), attrs...)
	_, err := q.conn.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(subsysQueue<<8 | msgConfig),
			Flags: netlink.Request | netlink.Acknowledge,
		},
		Data: data,
	})
	return err
}

// Num is the queue number.
func (q *Queue) Num() uint16 { return q.num }

// SetReadDeadline makes a blocked Receive return os.ErrDeadlineExceeded at t.
func (q *Queue) SetReadDeadline(t time.Time) error { return q.conn.SetReadDeadline(t) }

// Receive reads one datagram from the kernel and calls fn for every packet message
// in it, in order. fn must not keep p or p.Payload. It returns ErrOverrun after an
// ENOBUFS (messages were lost; call again), a kernel error reply (e.g. a verdict on an
// unknown id) as a wrapped syscall.Errno, and net.ErrClosed-like errors after Close.
func (q *Queue) Receive(fn func(p *Packet)) error {
	var n int
	var rerr error
	err := q.rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), q.buf, unix.MSG_DONTWAIT)
		return rerr != unix.EAGAIN && rerr != unix.EWOULDBLOCK
	})
	if err != nil {
		return fmt.Errorf("nfqueue: receive on queue %d: %w", q.num, err)
	}
	if rerr != nil {
		if rerr == unix.ENOBUFS {
			return ErrOverrun
		}
		return fmt.Errorf("nfqueue: receive on queue %d: %w", q.num, rerr)
	}
	return parseMessages(q.buf[:n], fn)
}

func parseMessages(b []byte, fn func(p *Packet)) error {
	var p Packet
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return fmt.Errorf("nfqueue: malformed netlink message length %d (have %d bytes)", l, len(b))
		}
		body := b[unix.NLMSG_HDRLEN:l]
		switch {
		case typ == unix.NLMSG_ERROR:
			if len(body) >= 4 {
				if errno := int32(binary.NativeEndian.Uint32(body[:4])); errno != 0 {
					return fmt.Errorf("nfqueue: kernel error reply: %w", syscall.Errno(-errno))
				}
			}
		case typ == subsysQueue<<8|msgPacket && len(body) >= 4:
			p = Packet{}
			parsePacket(body[4:], &p)
			fn(&p)
		}
		al := nlAlign(l)
		if al > len(b) {
			break
		}
		b = b[al:]
	}
	return nil
}

func parsePacket(b []byte, p *Packet) {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) & nlaTypeMask
		if l < 4 || l > len(b) {
			return
		}
		v := b[4:l]
		switch typ {
		case attrPacketHdr:
			if len(v) >= 7 {
				p.ID = binary.BigEndian.Uint32(v[0:4])
				p.HWProtocol = binary.BigEndian.Uint16(v[4:6])
				p.Hook = v[6]
			}
		case attrMark:
			if len(v) >= 4 {
				p.Mark = binary.BigEndian.Uint32(v)
			}
		case attrTimestamp:
			if len(v) >= 16 {
				sec := int64(binary.BigEndian.Uint64(v[0:8]))
				usec := int64(binary.BigEndian.Uint64(v[8:16]))
				p.TimestampNs = sec*1e9 + usec*1e3
			}
		case attrInDev:
			if len(v) >= 4 {
				p.InDev = binary.BigEndian.Uint32(v)
			}
		case attrOutDev:
			if len(v) >= 4 {
				p.OutDev = binary.BigEndian.Uint32(v)
			}
		case attrPayload:
			p.Payload = v
			if p.Len == 0 {
				p.Len = uint32(len(v))
			}
		case attrCapLen:
			if len(v) >= 4 {
				p.Len = binary.BigEndian.Uint32(v)
			}
		}
		al := nlAlign(l)
		if al > len(b) {
			return
		}
		b = b[al:]
	}
}

// Verdict sets the verdict of one packet.
func (q *Queue) Verdict(id, verdict uint32) error {
	return q.sendVerdict(msgVerdict, id, verdict)
}

// VerdictBatch sets the verdict of packet id and of every packet with a lower id that
// is still held in this queue (NFQNL_MSG_VERDICT_BATCH).
func (q *Queue) VerdictBatch(id, verdict uint32) error {
	return q.sendVerdict(msgVerdictBatch, id, verdict)
}

// VerdictPayload sets the verdict of one packet and replaces its contents with payload
// (the packet from the network header on, as received with CopyPacket). The kernel
// takes the new contents as they are: it recomputes no checksum.
func (q *Queue) VerdictPayload(id, verdict uint32, payload []byte) error {
	q.wmu.Lock()
	defer q.wmu.Unlock()
	b := q.pbuf[:0]
	b = append(b, q.verdictMsg(msgVerdict, id, verdict, uint32(len(q.wbuf)+nlAlign(4+len(payload))))...)
	b = append(b, attr(attrPayload, payload)...)
	q.pbuf = b
	return q.write(b, id, verdict)
}

func (q *Queue) sendVerdict(msg uint16, id, verdict uint32) error {
	q.wmu.Lock()
	defer q.wmu.Unlock()
	return q.write(q.verdictMsg(msg, id, verdict, uint32(len(q.wbuf))), id, verdict)
}

// verdictMsg fills q.wbuf with a verdict message of total length size (attributes
// after the verdict header are the caller's). Call with q.wmu held.
func (q *Queue) verdictMsg(msg uint16, id, verdict, size uint32) []byte {
	b := q.wbuf[:]
	binary.NativeEndian.PutUint32(b[0:4], size)
	binary.NativeEndian.PutUint16(b[4:6], subsysQueue<<8|msg)
	binary.NativeEndian.PutUint16(b[6:8], unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(b[8:12], q.seq.Add(1))
	binary.NativeEndian.PutUint32(b[12:16], 0)
	copy(b[16:20], nfgen(q.num))
	binary.NativeEndian.PutUint16(b[20:22], 12)
	binary.NativeEndian.PutUint16(b[22:24], attrVerdictHdr)
	binary.BigEndian.PutUint32(b[24:28], verdict)
	binary.BigEndian.PutUint32(b[28:32], id)
	return b
}

// write sends one message. Call with q.wmu held.
func (q *Queue) write(b []byte, id, verdict uint32) error {
	var werr error
	err := q.rc.Write(func(fd uintptr) bool {
		werr = unix.Sendto(int(fd), b, unix.MSG_DONTWAIT, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return werr != unix.EAGAIN && werr != unix.EWOULDBLOCK
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("nfqueue: verdict %d for packet %d on queue %d: %w", verdict, id, q.num, err)
	}
	return nil
}

// Close unbinds the queue and closes the socket. Packets still held by the kernel for
// this queue are dropped by the kernel when the binding goes: accept them first.
func (q *Queue) Close() error {
	if q.closed.Swap(true) {
		return nil
	}
	return q.conn.Close()
}

// Unbind asks the kernel to unbind the queue but keeps the socket (for tests of the
// kernel's bypass behaviour).
func (q *Queue) Unbind() error {
	if err := q.config(attr(attrCfgCmd, []byte{cfgCmdUnbind, 0, 0, 0})); err != nil {
		return fmt.Errorf("nfqueue: unbind queue %d: %w", q.num, err)
	}
	return nil
}

func nfgen(queue uint16) []byte {
	b := []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0}
	binary.BigEndian.PutUint16(b[2:], queue)
	return b
}

func attr(typ uint16, v []byte) []byte {
	l := 4 + len(v)
	b := make([]byte, nlAlign(l))
	binary.NativeEndian.PutUint16(b[0:2], uint16(l))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	copy(b[4:], v)
	return b
}

func be32(v uint32) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, v)
	return b
}

func nlAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }
