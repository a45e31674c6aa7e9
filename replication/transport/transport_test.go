package transport

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/mqttds/mqttds/replication/site"
)

// inbox records what a transport delivers.
type inbox struct {
	mu          sync.Mutex
	msgs        []*pb.Message
	groups      []uint32
	unreachable map[site.ID]int
}

func (b *inbox) HandleMessage(group uint32, m *pb.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, m)
	b.groups = append(b.groups, group)
}

func (b *inbox) Unreachable(p site.ID, _ uint32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.unreachable == nil {
		b.unreachable = map[site.ID]int{}
	}
	b.unreachable[p]++
}

func (b *inbox) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs)
}

func listen(t *testing.T, id site.ID, h Handler) *Transport {
	t.Helper()
	tr, err := Listen("127.0.0.1:0", id, h, nil)
	require.NoError(t, err)
	t.Cleanup(func() { tr.Close() })
	return tr
}

func heartbeat(from, to uint64, term uint64) *pb.Message {
	return &pb.Message{Type: pb.MessageType_MsgHeartbeat.Enum(), From: new(from), To: new(to), Term: new(term)}
}

func TestSendDelivers(t *testing.T) {
	var ia, ib inbox
	a := listen(t, 1, &ia)
	b := listen(t, 2, &ib)
	a.AddPeer(2, b.Addr())
	for i := range 100 {
		a.Send(uint32(i%4), heartbeat(1, 2, uint64(i)))
	}
	require.Eventually(t, func() bool { return ib.count() == 100 }, 10*time.Second, time.Millisecond)
	ib.mu.Lock()
	for i, m := range ib.msgs {
		require.Equal(t, uint64(i), m.GetTerm(), "one connection keeps the order")
		require.Equal(t, uint32(i%4), ib.groups[i])
	}
	ib.mu.Unlock()
	// The counter moves after the write returns, which may be after delivery.
	require.Eventually(t, func() bool { return a.Stats().Sent == 100 }, 10*time.Second, time.Millisecond)
}

func TestFilterDropsAndHeals(t *testing.T) {
	var ia, ib inbox
	a := listen(t, 1, &ia)
	b := listen(t, 2, &ib)
	a.AddPeer(2, b.Addr())
	a.SetFilter(func(from, to site.ID, group uint32) bool { return group != 7 })
	a.Send(7, heartbeat(1, 2, 1))
	a.Send(8, heartbeat(1, 2, 2))
	require.Eventually(t, func() bool { return ib.count() == 1 }, 10*time.Second, time.Millisecond)
	require.EqualValues(t, 1, a.Stats().Filtered)
	a.SetFilter(nil)
	a.Send(7, heartbeat(1, 2, 3))
	require.Eventually(t, func() bool { return ib.count() == 2 }, 10*time.Second, time.Millisecond)
}

// The filter cuts HTTP requests between sites too, per request (a pooled connection does not
// outlive it), and heals.
func TestFilterCutsRequests(t *testing.T) {
	var ia, ib inbox
	a := listen(t, 1, &ia)
	b := listen(t, 2, &ib)
	a.AddPeer(2, b.Addr())
	b.ServeHTTP(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	client := a.Client()
	get := func() error {
		resp, err := client.Get("http://" + site.ID(2).String() + "/x")
		if err == nil {
			resp.Body.Close()
			require.Equal(t, http.StatusNoContent, resp.StatusCode)
		}
		return err
	}
	require.NoError(t, get())
	a.SetFilter(func(_, to site.ID, group uint32) bool { return to != 2 || group != HTTPGroup })
	require.ErrorIs(t, get(), ErrFiltered, "a cut request fails like a lost one")
	require.EqualValues(t, 1, a.Stats().Filtered)
	a.Send(3, heartbeat(1, 2, 1))
	require.Eventually(t, func() bool { return ib.count() == 1 }, 10*time.Second, time.Millisecond,
		"raft frames are another group")
	a.SetFilter(nil)
	require.NoError(t, get())
}

func TestUnknownOrDeadPeerIsUnreachable(t *testing.T) {
	var ia inbox
	a := listen(t, 1, &ia)
	a.Send(1, heartbeat(1, 9, 1))
	// A peer whose address refuses connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	ln.Close()
	a.AddPeer(3, dead)
	a.Send(1, heartbeat(1, 3, 1))
	require.Eventually(t, func() bool {
		ia.mu.Lock()
		defer ia.mu.Unlock()
		return ia.unreachable[9] == 1 && ia.unreachable[3] >= 1
	}, 10*time.Second, time.Millisecond)
}

func TestReconnectAfterPeerRestart(t *testing.T) {
	var ia, ib inbox
	a := listen(t, 1, &ia)
	b, err := Listen("127.0.0.1:0", 2, &ib, nil)
	require.NoError(t, err)
	addr := b.Addr()
	a.AddPeer(2, addr)
	a.Send(0, heartbeat(1, 2, 1))
	require.Eventually(t, func() bool { return ib.count() == 1 }, 10*time.Second, time.Millisecond)
	require.NoError(t, b.Close())
	var ib2 inbox
	var b2 *Transport
	require.Eventually(t, func() bool { // the port may take a moment to be free again
		b2, err = Listen(addr, 2, &ib2, nil)
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	defer b2.Close()
	// Messages sent while the old connection is found dead are dropped; keep sending until
	// one arrives over a new connection.
	require.Eventually(t, func() bool {
		a.Send(0, heartbeat(1, 2, 2))
		return ib2.count() > 0
	}, 10*time.Second, 20*time.Millisecond)
}

func TestCorruptFrameClosesConnection(t *testing.T) {
	var ib inbox
	b := listen(t, 2, &ib)
	good, err := AppendFrame(nil, 1, 5, heartbeat(1, 2, 4))
	require.NoError(t, err)
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 0xff
	c, err := net.Dial("tcp", b.Addr())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(append(bytes.Clone(good), bad...))
	require.NoError(t, err)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err, "the transport hangs up after the corrupt frame")
	require.Equal(t, 1, ib.count(), "the good frame before it was delivered")
}

func TestFrameRoundTrip(t *testing.T) {
	m := heartbeat(3, 4, 9)
	m.Entries = []*pb.Entry{{Index: new(uint64(5)), Term: new(uint64(9)), Data: []byte("batch")}}
	buf, err := AppendFrame([]byte("prefix"), 3, 11, m)
	require.NoError(t, err)
	from, group, got, err := ReadFrame(bytes.NewReader(buf[len("prefix"):]))
	require.NoError(t, err)
	require.Equal(t, site.ID(3), from)
	require.Equal(t, uint32(11), group)
	require.Equal(t, "batch", string(got.GetEntries()[0].GetData()))
}

func TestHTTPSharesThePort(t *testing.T) {
	var ia, ib inbox
	a := listen(t, 1, &ia)
	b := listen(t, 2, &ib)
	a.AddPeer(2, b.Addr())
	b.ServeHTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.URL.Path, body)
	}))
	resp, err := a.Client().Post("http://"+site.ID(2).String()+"/echo", "application/octet-stream", strings.NewReader("hi"))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "/echo hi", string(body))
	// Raft frames still flow on the same port.
	a.Send(1, heartbeat(1, 2, 1))
	require.Eventually(t, func() bool { return ib.count() == 1 }, 10*time.Second, time.Millisecond)
	_, err = a.Client().Get("http://" + site.ID(9).String() + "/")
	require.ErrorContains(t, err, "no address")
}
