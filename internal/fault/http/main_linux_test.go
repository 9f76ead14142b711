package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect"
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

// child applies the HTTP fault of KC_SPEC (JSON) to the namespace and journal named in
// its environment, says "ready" and waits to be killed.
func child() int {
	ino, _ := strconv.ParseUint(os.Getenv("KC_INODE"), 10, 64)
	ft := fault.Target{Target: plan.Target{Namespace: "default", Pod: "crash", Container: "app"},
		NetnsPath: os.Getenv("KC_NETNS"), NetnsInode: ino, Experiment: childExperiment}
	var h plan.HTTP
	err := json.Unmarshal([]byte(os.Getenv("KC_SPEC")), &h)
	var j *journal.Journal
	if err == nil {
		j, err = journal.Create(os.Getenv("KC_DIR"), journal.Meta{Experiment: ft.Experiment, Deadline: time.Now().Add(time.Hour)}, ft.Target)
	}
	var inj fault.Injector
	if err == nil {
		inj, err = fault.New(plan.Fault{Kind: plan.KindHTTP, HTTP: &h})
	}
	if err == nil {
		_, err = inj.Apply(context.Background(), ft, j)
	}
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("ready")
	select {}
}
