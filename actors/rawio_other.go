//go:build unix && (!linux || race)

package actors

import "syscall"

// On Unix systems other than Linux, and under the race detector, the syscall package's own calls (see
// rawio.go).

func rawWrite(fd int, p []byte) (int, error) { return syscall.Write(fd, p) }

func rawRead(fd int, p []byte) (int, error) { return syscall.Read(fd, p) }

const rawSockets = true
