// Package sentinel holds the proof that the agent may run in the node's network
// namespace (the helper pod's hostNetwork, issue 17): TestAgentInSentinelNetns runs the
// agent, as a whole process, in a namespace of the test's making and applies every
// network-touching fault to a target elsewhere; the sentinel must not change.
// Only tests live here.
package sentinel
