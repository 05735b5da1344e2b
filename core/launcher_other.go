//go:build !linux

package core

import "syscall"

// childProcAttr: without Pdeathsig, the child relies on its
// parent-alive pipe to notice that the parent died.
func childProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
