package core

import "syscall"

// childProcAttr makes the kernel kill the child when its parent dies.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
