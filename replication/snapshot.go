package replication

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/replication/raftstore"
	"github.com/mqttds/mqttds/replication/site"
	"github.com/mqttds/mqttds/replication/snapstream"
)

// Snapshots. A replica whose log position the leader has compacted away (it was down for
// long, or lost its data) catches up from a snapshot of the shard, the way CockroachDB does with
// one pebble instance per node:
//
//  1. take: raft asks the leader's Storage for a snapshot (snapStorage.Snapshot, on the loop
//     goroutine). The leader opens a pebble snapshot; the raft snapshot's metadata is the
//     applied index, its term and the configuration, all current on that goroutine, and its
//     Data is only a token naming the pebble snapshot.
//  2. send: when the MsgSnap leaves in a Ready, a goroutine streams the shard's span
//     (ds.ShardSpan) from the pebble snapshot to the replica (POST /v1/snapshot/<shard>,
//     package snapstream: checksummed frames), and reports the outcome to raft.
//  3. stage: the replica writes the stream into an sstable under the store's directory, with a
//     range deletion over the span first, and only once the whole stream checked out hands
//     the MsgSnap to its group.
//  4. install: when raft's Ready carries the snapshot (step 5 of the Ready contract, before
//     the entries), the group writes a second sstable with the group's raft state (an empty
//     log after the snapshot, its hard state and configuration) and ingests both in one
//     pebble Ingest, which is atomic: a crash leaves either the old replica or the new one.
//     ds then rebuilds the shard's state (ds.DB.ReplaceReplicated).
//
// A failed or cut transfer is reported to raft, which sends a new snapshot later; a transfer
// is not resumed where it stopped.

const (
	snapshotPath = "/v1/snapshot/"
	// maxSnapshotSends bounds the snapshots a group streams at once.
	maxSnapshotSends = 2
	snapshotDir      = "snapshots"
)

var snapshotMagic = []byte("mqttds-snapshot:")

// snapStorage is the raft.Storage of a group: the raftstore, with snapshots taken by the group.
type snapStorage struct {
	*raftstore.Storage
	g *group
}

func (s snapStorage) Snapshot() (*pb.Snapshot, error) { return s.g.takeSnapshot() }

// outSnap is a snapshot raft asked for and has not sent yet.
type outSnap struct {
	snap *pebble.Snapshot
	meta *pb.SnapshotMetadata
}

// takeSnapshot is step 1 (loop goroutine).
func (g *group) takeSnapshot() (*pb.Snapshot, error) {
	applied := g.applied.Load()
	if g.n.db == nil || applied == 0 || g.sending+len(g.outgoing) >= maxSnapshotSends {
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	term, err := g.st.Term(applied)
	if err != nil {
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	g.snapSeq++
	meta := &pb.SnapshotMetadata{Index: &applied, Term: &term, ConfState: g.st.ConfState()}
	if g.outgoing == nil {
		g.outgoing = map[uint64]*outSnap{}
	}
	g.outgoing[g.snapSeq] = &outSnap{snap: g.n.pebble.NewSnapshot(), meta: meta}
	data := binary.BigEndian.AppendUint64(bytes.Clone(snapshotMagic), g.snapSeq)
	return &pb.Snapshot{Data: data, Metadata: meta}, nil
}

// sendSnapshot is step 2: it starts streaming the snapshot m announces (loop goroutine).
func (g *group) sendSnapshot(m *pb.Message) {
	data := m.GetSnapshot().GetData()
	var out *outSnap
	var token uint64
	if bytes.HasPrefix(data, snapshotMagic) && len(data) == len(snapshotMagic)+8 {
		token = binary.BigEndian.Uint64(data[len(snapshotMagic):])
		out = g.outgoing[token]
	}
	if out == nil {
		g.rn.ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
		return
	}
	delete(g.outgoing, token)
	g.sending++
	g.n.wg.Add(1)
	go func() {
		defer g.n.wg.Done()
		ctx, cancel := g.n.untilStop(0)
		defer cancel()
		err := g.n.streamSnapshot(ctx, g.shard, m, out.snap)
		if err != nil {
			g.n.metrics.snapshotFailures.Add(1)
			g.log.Warn("replication: sending a snapshot failed", "to", m.GetTo(), "index", out.meta.GetIndex(), "err", err)
		} else {
			g.n.metrics.snapshotsSent.Add(1)
			g.log.Info("replication: snapshot sent", "to", m.GetTo(), "index", out.meta.GetIndex())
		}
		g.mu.Lock()
		g.mu.reports = append(g.mu.reports, snapReport{to: m.GetTo(), ok: err == nil})
		g.mu.Unlock()
		g.signal()
	}()
}

type snapReport struct {
	to uint64
	ok bool
}

// releaseSnapshots closes the pebble snapshots raft took but never sent (the group stops).
func (g *group) releaseSnapshots() {
	for token, out := range g.outgoing {
		out.snap.Close()
		delete(g.outgoing, token)
	}
}

// streamSnapshot posts the shard's span under snap to the site m is for; it closes snap.
func (n *Node) streamSnapshot(ctx context.Context, shard int, m *pb.Message, snap *pebble.Snapshot) error {
	defer snap.Close()
	header, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	produced := make(chan error, 1)
	go func() {
		err := writeShardSpan(pw, header, snap, shard)
		pw.CloseWithError(err)
		produced <- err
	}()
	url := "http://" + site.ID(m.GetTo()).String() + snapshotPath + strconv.Itoa(shard)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, pr)
	if err != nil {
		pr.CloseWithError(err)
		<-produced
		return err
	}
	resp, err := n.http.Do(req)
	if err != nil {
		pr.CloseWithError(err)
		<-produced
		return err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	pr.CloseWithError(errors.New("replication: the receiver answered"))
	perr := <-produced
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("replication: snapshot refused with %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	return perr
}

func writeShardSpan(w io.Writer, header []byte, snap *pebble.Snapshot, shard int) error {
	sw := snapstream.NewWriter(w)
	if err := sw.Header(header); err != nil {
		return err
	}
	start, end := ds.ShardSpan(shard)
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return err
	}
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		if err := sw.Add(it.Key(), v); err != nil {
			it.Close()
			return err
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return err
	}
	return sw.Close()
}

// serveSnapshot is step 3, on the receiving site.
func (n *Node) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	shard, err := strconv.Atoi(r.PathValue("shard"))
	g := n.group(shard)
	if err != nil || g == nil || n.db == nil {
		http.Error(w, "no replica of that shard here", http.StatusNotFound)
		return
	}
	m, path, err := n.stageSnapshot(r.Body, shard)
	if err != nil {
		n.metrics.snapshotFailures.Add(1)
		g.log.Warn("replication: refused a snapshot", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	g.staged(m, path)
	w.WriteHeader(http.StatusNoContent)
}

// stageSnapshot checks a snapshot stream and writes it to an sstable; it returns the MsgSnap
// of its header and the sstable's path.
func (n *Node) stageSnapshot(body io.Reader, shard int) (*pb.Message, string, error) {
	rd := snapstream.NewReader(body)
	header, err := rd.Header()
	if err != nil {
		return nil, "", err
	}
	m := &pb.Message{}
	if err := proto.Unmarshal(header, m); err != nil {
		return nil, "", fmt.Errorf("snapshot header: %w", err)
	}
	meta := m.GetSnapshot().GetMetadata()
	if m.GetType() != pb.MessageType_MsgSnap || m.GetTo() != uint64(n.cfg.Site) || meta.GetIndex() == 0 {
		return nil, "", fmt.Errorf("snapshot header is not a snapshot for site %v", n.cfg.Site)
	}
	fs, dir := n.db.Dir()
	staging := fs.PathJoin(dir, snapshotDir)
	if err := fs.MkdirAll(staging, 0o755); err != nil {
		return nil, "", err
	}
	path := fs.PathJoin(staging, fmt.Sprintf("shard-%d-%d-%d-%d.sst", shard, meta.GetIndex(), meta.GetTerm(), n.snapFiles.Add(1)))
	start, end := ds.ShardSpan(shard)
	err = n.writeTable(fs, path, start, end, func(sw *sstable.Writer) error {
		for {
			k, v, ok, err := rd.Next()
			if err != nil || !ok {
				return err
			}
			if bytes.Compare(k, start) < 0 || bytes.Compare(k, end) >= 0 {
				return fmt.Errorf("snapshot key %x outside shard %d", k, shard)
			}
			if err := sw.Set(k, v); err != nil {
				return err
			}
		}
	})
	if err != nil {
		return nil, "", err
	}
	return m, path, nil
}

// writeTable writes an sstable to path: a range deletion of [start, end), then the points
// add writes. The file is synced (sstable.Writer.Close); it is removed on failure.
func (n *Node) writeTable(fs vfs.FS, path string, start, end []byte, add func(*sstable.Writer) error) error {
	f, err := fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	sw := sstable.NewWriter(objstorageprovider.NewFileWritable(f), sstable.WriterOptions{TableFormat: n.pebble.TableFormat()})
	err = sw.DeleteRange(start, end)
	if err == nil {
		err = add(sw)
	}
	if cerr := sw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = fs.Remove(path)
	}
	return err
}

type stagedKey struct{ index, term uint64 }

// staged records a staged snapshot and hands its message to raft.
func (g *group) staged(m *pb.Message, path string) {
	meta := m.GetSnapshot().GetMetadata()
	key := stagedKey{meta.GetIndex(), meta.GetTerm()}
	g.mu.Lock()
	if g.mu.staged == nil {
		g.mu.staged = map[stagedKey]string{}
	}
	old := g.mu.staged[key]
	g.mu.staged[key] = path
	g.mu.Unlock()
	if old != "" {
		g.removeStaged(old)
	}
	g.deliver(m)
}

func (g *group) removeStaged(path string) {
	fs, _ := g.n.db.Dir()
	// An ingest moves the files it ingests into the store.
	if err := fs.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		g.log.Warn("replication: removing a staged snapshot", "path", path, "err", err)
	}
}

// dropStaged removes staged snapshots that can no longer be installed (raft applied past
// them, or the group stops).
func (g *group) dropStaged(all bool) {
	applied := g.applied.Load()
	g.mu.Lock()
	var drop []string
	for key, path := range g.mu.staged {
		if all || key.index <= applied {
			drop = append(drop, path)
			delete(g.mu.staged, key)
		}
	}
	g.mu.Unlock()
	for _, path := range drop {
		g.removeStaged(path)
	}
}

// installSnapshot is step 4 (loop goroutine, step 5 of the Ready contract).
func (g *group) installSnapshot(snap *pb.Snapshot, hs *pb.HardState) error {
	meta := snap.GetMetadata()
	key := stagedKey{meta.GetIndex(), meta.GetTerm()}
	g.mu.Lock()
	path := g.mu.staged[key]
	delete(g.mu.staged, key)
	g.mu.Unlock()
	if path == "" {
		return fmt.Errorf("replication: shard %d: raft installs snapshot %d/%d that was never staged", g.shard, key.index, key.term)
	}
	defer g.removeStaged(path)
	fs, _ := g.n.db.Dir()
	start, end, kvs, err := g.st.RestoreState(meta, hs)
	if err != nil {
		return err
	}
	raftPath := path + ".raft"
	err = g.n.writeTable(fs, raftPath, start, end, func(sw *sstable.Writer) error {
		for _, kv := range kvs {
			if err := sw.Set(kv.Key, kv.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer g.removeStaged(raftPath)
	// Nothing of this replica's own is in flight: it follows the leader that sent the snapshot.
	err = g.n.db.ReplaceReplicated(g.shard, func(db *pebble.DB) error {
		return db.Ingest(context.Background(), []string{path, raftPath})
	})
	if err != nil {
		return err
	}
	g.st.Restored(meta, hs)
	// The snapshot carries the shard's target replica set too.
	target, err := readTarget(g.n.pebble, g.shard)
	if err != nil {
		return err
	}
	g.m.target, g.m.leader = target.sites, target.leader
	g.publishView("", 0)
	g.applied.Store(meta.GetIndex())
	g.lastIndex = meta.GetIndex()
	g.needReload = false
	g.n.metrics.snapshotsReceived.Add(1)
	g.log.Info("replication: snapshot installed", "index", meta.GetIndex(), "term", meta.GetTerm())
	return nil
}
