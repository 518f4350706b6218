package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/warren-mq/warren/examples/internal/brokertest"
	"github.com/warren-mq/warren/protocol"
)

// noManagementBroker is a scripted AMQP 1.0 peer that refuses every attach the way RabbitMQ 3.10's
// AMQP 1.0 plugin refuses one to /management, which it does not have: an attach with a null terminus,
// then a detach with amqp:invalid-field "Attach rejected: {unknown_destination,\"/management\"}".
// It returns the broker's URL.
func noManagementBroker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			err = refuseAttaches(c)
			_ = c.Close()
			if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				t.Errorf("scripted broker: %v", err)
			}
		}
	}()
	return "amqp://" + ln.Addr().String()
}

func refuseAttaches(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	fr := protocol.NewFrameReader(c, 1<<20)
	if _, err := fr.ReadProtoHeader(); err != nil {
		return err
	}
	if _, err := c.Write(protocol.AppendProtoHeader(nil, protocol.ProtoAMQP)); err != nil {
		return err
	}
	write := func(channel uint16, p protocol.Performative) error {
		b, err := protocol.AppendFrame(nil, channel, p)
		if err == nil {
			_, err = c.Write(b)
		}
		return err
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return err
		}
		if len(f.Body) == 0 {
			continue // heartbeat
		}
		perf, _, err := protocol.DecodeFrameBody(f.Body)
		if err != nil {
			return err
		}
		switch p := perf.(type) {
		case *protocol.Open:
			err = write(0, &protocol.Open{ContainerID: "rabbit@localhost", MaxFrameSize: 1 << 20})
		case *protocol.Begin:
			err = write(f.Channel, &protocol.Begin{RemoteChannel: protocol.Some(f.Channel), NextOutgoingID: 1,
				IncomingWindow: 100, OutgoingWindow: 100, HandleMax: 255})
		case *protocol.Attach:
			if err = write(f.Channel, &protocol.Attach{Name: p.Name, Handle: p.Handle, Role: !p.Role}); err == nil {
				err = write(f.Channel, &protocol.Detach{Handle: p.Handle, Closed: true, Error: protocol.NewError(protocol.ErrInvalidField,
					`Attach rejected: {unknown_destination,"/management"}`)})
			}
		case *protocol.Detach:
		case *protocol.End:
			err = write(f.Channel, &protocol.End{})
		case *protocol.Close:
			_ = write(0, &protocol.Close{})
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// RabbitMQ 3.x has no /management node: --declare says so, and what to do instead.
func TestLoadtestDeclareWithoutManagementNode(t *testing.T) {
	url := noManagementBroker(t)
	var stdout, stderr bytes.Buffer
	err := run(brokertest.Context(t, 20*time.Second), []string{"--url", url, "--count", "10", "--declare",
		"--target", "/queue/perf-%d", "--source", "/amq/queue/perf-%d"}, &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--declare: the broker refused the /management node")
	assert.Contains(t, err.Error(), `amqp:invalid-field: Attach rejected: {unknown_destination,"/management"}`)
	assert.Contains(t, err.Error(), "RabbitMQ 3.x")
	assert.Contains(t, err.Error(), "declare the queues beforehand (examples/loadtest/README.md shows how) and run without --declare")
	assert.Empty(t, stdout.String(), "nothing was measured")
}
