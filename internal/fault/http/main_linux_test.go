package http_test

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect/rtest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// childEnv makes the test binary play the agent (child): crash and CPU tests need the
// proxy in a process of its own.
const childEnv = "KC_DNSHTTP_HTTP_CHILD"

func TestMain(m *testing.M) {
	redirect.NodeNetns = "/proc/self/ns/net" // the test's namespace plays the node
	if os.Getenv(childEnv) != "" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// childExperiment is the experiment of the child's fault.
const childExperiment = "exp-dnshttp-httpchild"

// child applies the HTTP fault of KC_SPEC (JSON) as the agent would (rtest.ChildApply).
func child() int {
	var h plan.HTTP
	if err := json.Unmarshal([]byte(os.Getenv("KC_SPEC")), &h); err != nil {
		fmt.Println("error", err)
		return 1
	}
	return rtest.ChildApply(plan.Fault{Kind: plan.KindHTTP, HTTP: &h}, childExperiment)
}
