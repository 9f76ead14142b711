package http_test

import (
	"os"
	"testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect"
)

func TestMain(m *testing.M) {
	redirect.NodeNetns = "/proc/self/ns/net" // the test's namespace plays the node
	os.Exit(m.Run())
}
