// Module depcheck checks that every command the project calls comes from a Debian
// package the machine image has or the install step (make deps) installs. A module of
// its own so its shell parser stays out of the product's go.mod.
module github.com/kubectl-chaos/kubectl-chaos/internal/depcheck

go 1.26.6

require mvdan.cc/sh/v3 v3.14.1
