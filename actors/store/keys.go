package store

import (
	"encoding/binary"
	"errors"
	"strings"
)

const (
	messagePrefix = 'm'
	recordPrefix  = 'r'
	seqLen        = 8
)

var errCorruptValue = errors.New("store: corrupt message value")

// appendQueuePrefix appends 'm' | uvarint(len(queue)) | queue: the common prefix of the queue's
// message keys.
func appendQueuePrefix(dst []byte, queue string) []byte {
	dst = append(dst, messagePrefix)
	dst = binary.AppendUvarint(dst, uint64(len(queue)))
	return append(dst, queue...)
}

// appendMessageKey appends the key of message seq of queue.
func appendMessageKey(dst []byte, queue string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(appendQueuePrefix(dst, queue), seq)
}

// prefixEnd returns the smallest key greater than every key that starts with prefix, or nil when
// there is none (prefix is all 0xff). The result does not alias prefix.
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// splitMessageKey splits a message key into its queue prefix (including the 'm' and length) and
// seq. ok is false when key is not a well-formed message key.
func splitMessageKey(key []byte) (prefix []byte, queue []byte, seq uint64, ok bool) {
	if len(key) < 1+1+seqLen || key[0] != messagePrefix {
		return nil, nil, 0, false
	}
	n, w := binary.Uvarint(key[1:])
	if w <= 0 || uint64(len(key)-1-w) != n+seqLen {
		return nil, nil, 0, false
	}
	p := 1 + w + int(n)
	return key[:p], key[1+w : p], binary.BigEndian.Uint64(key[p:]), true
}

// appendMessageValue appends uvarint(deliveryCount) | data.
func appendMessageValue(dst []byte, deliveryCount uint32, data []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(deliveryCount))
	return append(dst, data...)
}

// decodeMessageValue splits a stored message value. data aliases value.
func decodeMessageValue(value []byte) (deliveryCount uint32, data []byte, err error) {
	dc, w := binary.Uvarint(value)
	if w <= 0 || dc > 0xffffffff {
		return 0, nil, errCorruptValue
	}
	return uint32(dc), value[w:], nil
}

// appendRecordPrefix appends 'r' | kind | 0x00.
func appendRecordPrefix(dst []byte, kind string) []byte {
	dst = append(dst, recordPrefix)
	dst = append(dst, kind...)
	return append(dst, 0)
}

// validKind reports whether kind can name a record kind (it must not contain 0x00, the separator).
func validKind(kind string) bool {
	return !strings.ContainsRune(kind, 0)
}
