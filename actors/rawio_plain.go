//go:build !unix

package actors

import "errors"

// Where sockets are not non-blocking file descriptors (Windows), connections use net.Conn's own Read
// and Write: rawConnOf gives no raw socket, so rawRead and rawWrite are never called (rawio.go).
const rawSockets = false

var errNoRawIO = errors.New("raw socket I/O is not available on this platform")

func rawWrite(int, []byte) (int, error) { return 0, errNoRawIO }

func rawRead(int, []byte) (int, error) { return 0, errNoRawIO }
