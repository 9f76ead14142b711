// Package nft manages nftables tables that kubectl-chaos owns, inside a given network
// namespace, over one NETLINK_NETFILTER socket (github.com/mdlayher/netlink).
//
// Tables are created with the kernel's NFT_TABLE_F_OWNER flag: the kernel deletes such a
// table when the netlink socket that created it closes, so a fault never outlives the
// agent, even after kill -9. google/nftables v0.3.0 always sends table flags 0, which is
// why this package builds its own batches; rule expressions reuse google/nftables' expr
// types and expr.Marshal.
//
// Everything but this comment is Linux-only.
package nft
