// Package nfqueue speaks the kernel's nfnetlink_queue protocol (NFNL_SUBSYS_QUEUE) on
// github.com/mdlayher/netlink: bind a queue, choose what is copied to userspace,
// receive packet messages and send (batch) verdicts. It is the small subset a delaying
// agent needs; github.com/florianl/go-nfqueue is not available to this module.
//
// The socket is opened inside a chosen network namespace (queues are per netns), so the
// caller never switches a thread itself. Linux only; on other systems Open fails.
package nfqueue

import "errors"

// Verdicts (include/uapi/linux/netfilter.h).
const (
	Drop   uint32 = 0 // NF_DROP
	Accept uint32 = 1 // NF_ACCEPT
)

// CopyMode says how much of each packet the kernel copies into the packet message.
type CopyMode uint8

const (
	CopyNone   CopyMode = 0 // NFQNL_COPY_NONE
	CopyMeta   CopyMode = 1 // NFQNL_COPY_META: headers of the message only, no payload
	CopyPacket CopyMode = 2 // NFQNL_COPY_PACKET: up to CopyRange bytes of the packet
)

// Queue flags (NFQA_CFG_F_*).
const (
	FlagFailOpen  uint32 = 1 << 0 // queue full (or socket buffer full) → accept instead of drop
	FlagConntrack uint32 = 1 << 1
	FlagGSO       uint32 = 1 << 2 // hand GSO packets over whole instead of segmenting them
	FlagUIDGID    uint32 = 1 << 3
)

// Config of one queue binding.
type Config struct {
	// NetNS is an open file descriptor of the network namespace to bind the queue in;
	// 0 means the caller's namespace.
	NetNS int
	// Queue is the queue number the nftables rule sends packets to.
	Queue uint16
	// Copy and CopyRange: what each packet message carries. Default CopyMeta.
	Copy      CopyMode
	CopyRange uint32
	// MaxLen is the most packets the kernel holds for this queue (kernel default 1024).
	MaxLen uint32
	// Flags are NFQA_CFG_F_* bits, e.g. FlagFailOpen|FlagGSO.
	Flags uint32
	// ReadBuffer is the socket receive buffer in bytes (SO_RCVBUFFORCE when root).
	// Default 8 MiB: a full buffer makes the kernel fail the packet open (FlagFailOpen)
	// or drop it.
	ReadBuffer int
}

// Packet is one queued packet's metadata.
type Packet struct {
	// ID is the kernel's packet id in this queue: increasing, so a batch verdict on
	// ID accepts this packet and every earlier one still held.
	ID uint32
	// HWProtocol is the link-layer protocol (0x0800 IPv4, 0x86dd IPv6), host order.
	HWProtocol uint16
	// Hook is the netfilter hook (0 prerouting, 1 input, 2 forward, 3 output, 4 postrouting).
	Hook uint8
	Mark uint32
	// InDev and OutDev are interface indexes (0 = none).
	InDev, OutDev uint32
	// Len is the packet length in bytes when the kernel told it (NFQA_CAP_LEN or payload).
	Len uint32
	// TimestampNs is the kernel's receive timestamp in ns since the epoch, 0 if unset.
	TimestampNs int64
	// Payload is the copied part of the packet (CopyPacket); it aliases the receive
	// buffer and is valid only until the next Receive.
	Payload []byte
}

// ErrOverrun is returned by Receive when the socket receive buffer overflowed
// (ENOBUFS): some packet messages were lost. With FlagFailOpen the kernel accepted
// those packets itself; the queue is still usable.
var ErrOverrun = errors.New("nfqueue: socket receive buffer overrun (ENOBUFS), packet messages lost")
