package nft

import "encoding/binary"

var nativeEndian = binary.NativeEndian
