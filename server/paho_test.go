package server

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
)

// pahoV5 connects a paho.golang (MQTT 5) client; received messages go to
// the returned channel.
func pahoV5(t *testing.T, addr, id string, clean bool, expiry uint32) (*paho.Client, chan *paho.Publish) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	require.NoError(t, err)
	got := make(chan *paho.Publish, 100)
	c := paho.NewClient(paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(r paho.PublishReceived) (bool, error) {
			got <- r.Packet
			return true, nil
		}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ack, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: clean, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	require.NoError(t, err)
	require.EqualValues(t, 0, ack.ReasonCode)
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c, got
}

func receive[T any](t *testing.T, ch chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatal("no message")
		panic("unreachable")
	}
}

// paho.golang (v5) and paho.mqtt.golang (v3.1.1) exchange messages at every
// QoS through the broker, and a v5 session resumes with its backlog.
func TestPaho_Interop(t *testing.T) {
	_, addr := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	v5, v5got := pahoV5(t, addr, "paho5", true, 0)
	_, err := v5.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "interop/#", QoS: 2}}})
	require.NoError(t, err)

	v3got := make(chan pahov3.Message, 100)
	o := pahov3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("paho3").SetProtocolVersion(4).
		SetAutoReconnect(false).SetCleanSession(true)
	v3 := pahov3.NewClient(o)
	ct := v3.Connect()
	require.True(t, ct.WaitTimeout(testTimeout))
	require.NoError(t, ct.Error())
	defer v3.Disconnect(100)
	tok := v3.Subscribe("interop/#", 2, func(_ pahov3.Client, m pahov3.Message) { v3got <- m })
	require.True(t, tok.WaitTimeout(testTimeout))
	require.NoError(t, tok.Error())

	for qos := byte(0); qos <= 2; qos++ {
		payload := fmt.Sprintf("from v5 at qos%d", qos)
		_, err := v5.Publish(ctx, &paho.Publish{Topic: "interop/v5", QoS: qos, Payload: []byte(payload)})
		require.NoError(t, err)
		require.Equal(t, payload, string(receive(t, v5got).Payload))
		m := receive(t, v3got)
		require.Equal(t, payload, string(m.Payload()))
		require.Equal(t, qos, m.Qos())

		payload = fmt.Sprintf("from v3 at qos%d", qos)
		tok := v3.Publish("interop/v3", qos, false, payload)
		require.True(t, tok.WaitTimeout(testTimeout))
		require.NoError(t, tok.Error())
		require.Equal(t, payload, string(receive(t, v3got).Payload()))
		p := receive(t, v5got)
		require.Equal(t, payload, string(p.Payload))
		require.Equal(t, qos, p.QoS)
	}
}

func TestPaho_SessionResume(t *testing.T) {
	_, addr := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _ := pahoV5(t, addr, "resumer", true, 300)
	_, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "backlog", QoS: 1}}})
	require.NoError(t, err)
	require.NoError(t, c.Disconnect(&paho.Disconnect{}))

	p, _ := pahoV5(t, addr, "producer", true, 0)
	for i := range 10 {
		_, err := p.Publish(ctx, &paho.Publish{Topic: "backlog", QoS: 1, Payload: []byte(fmt.Sprint(i))})
		require.NoError(t, err)
	}
	_, got := pahoV5(t, addr, "resumer", false, 300)
	for i := range 10 {
		require.Equal(t, fmt.Sprint(i), string(receive(t, got).Payload))
	}
}
