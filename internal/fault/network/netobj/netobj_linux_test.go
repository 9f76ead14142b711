package netobj

import (
	"testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/nft"
)

// The words say what nft.Random does.
func TestLossScaleIsNFTs(t *testing.T) {
	if LossScale != nft.LossScale {
		t.Fatalf("netobj.LossScale %d, nft.LossScale %d", LossScale, nft.LossScale)
	}
}
