//go:build !unix

package actors

import "time"

// processCPU: no process CPU clock here, so the broker keeps the GOMAXPROCS it started with.
func processCPU() (time.Duration, bool) { return 0, false }
