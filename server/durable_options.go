package server

import (
	"path/filepath"
	"time"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/layout"
	"github.com/mqttds/mqttds/server/config"
)

// DurableOptions turn on durable sessions: a session with a Session Expiry Interval > 0 (MQTT
// 5), or Clean Session = false (MQTT 3), keeps its state and receives its messages through ds,
// and survives restarts and crashes. The zero value is off.
type DurableOptions struct {
	// Enable turns durable sessions on.
	Enable bool
	// DB is an open store to use. When nil, the broker opens Dir itself and closes it on Close.
	DB *ds.DB
	// Dir is the store directory opened when DB is nil.
	Dir string
	// Storage are the options Dir is opened with (nil: ds defaults).
	Storage *ds.Options
	// BatchSize is the most messages read from one stream at a time. Default 100.
	BatchSize int
	// IdlePollInterval is how often an online session looks at storage when no commit
	// notification came: a fallback only. Default 1s.
	IdlePollInterval time.Duration
	// HeartbeatInterval is how often this node records that it is alive. Default 5s.
	HeartbeatInterval time.Duration
	// RenewStreamsInterval is the least time between two looks of one session for new streams
	// (topics learned since, new generations) while its shards keep committing; with no commit
	// there is nothing new to look for. Default 10ms.
	RenewStreamsInterval time.Duration
	// SessionGCInterval is how often offline durable sessions are checked for expiry, besides
	// each session's own timer. Default 10m.
	SessionGCInterval time.Duration
	// CatchUpWindow is the send window of a durable session that is behind (its last read
	// filled the window: more is stored): a fetched window waits for one fsync before it is
	// sent, so a window larger than MaxInflight drains a backlog in fewer fsyncs. It never
	// exceeds the client's Receive Maximum [MQTT-3.3.4-9]; a session that has caught up goes
	// back to MaxInflight. Default 1024 (about what an in-memory session may queue, MaxQueued);
	// a value at or below MaxInflight turns it off.
	CatchUpWindow int
	// SharedRedispatchTimeout is how long a member of a durable shared group may hold a
	// message unacknowledged before the group gives it to another member. Default 30s.
	SharedRedispatchTimeout time.Duration
	// Clustered is set when the store is replicated and other brokers (one per site) use it
	// too: every PUBLISH is stored, since this broker's route index knows only its own
	// subscriptions, and a session unknown here is looked up in the store (it may have been
	// created through another site).
	Clustered bool
}

// durableOptionsFromConfig maps the durable_sessions and durable_storage sections.
func durableOptionsFromConfig(cfg *config.Config) DurableOptions {
	d, m := cfg.DurableSessions, cfg.DurableStorage.Messages
	st := &ds.Options{
		NumShards: m.NShards,
		Buffer: ds.BufferOptions{MaxItems: m.LocalWriteBuffer.MaxItems, MaxBytes: int(m.LocalWriteBuffer.MaxBytes),
			FlushInterval: m.LocalWriteBuffer.FlushInterval.D()},
		Layout: layout.Options{Kind: m.Layout.Type, EpochBits: m.Layout.EpochBits,
			BitsPerTopicLevel: m.Layout.BitsPerTopicLevel, TopicIndexBytes: m.Layout.TopicIndexBytes},
		Retention: ds.RetentionOptions{Period: d.MessageRetentionPeriod.D()},
	}
	if m.Layout.EpochBits == 0 {
		st.Layout.EpochBits = layout.NoEpochBits
	}
	for _, rc := range d.RetentionClasses {
		st.Retention.Classes = append(st.Retention.Classes, ds.RetentionClass{Filter: rc.Filter, Period: rc.Period.D()})
	}
	dir := m.DataDir
	if dir == "" {
		dir = filepath.Join(cfg.DataDir, "ds")
	}
	return DurableOptions{
		Enable:                  d.Enable,
		Clustered:               m.NSites > 1,
		Dir:                     dir,
		Storage:                 st,
		BatchSize:               d.BatchSize,
		IdlePollInterval:        d.IdlePollInterval.D(),
		HeartbeatInterval:       d.HeartbeatInterval.D(),
		SessionGCInterval:       d.SessionGCInterval.D(),
		RenewStreamsInterval:    d.RenewStreamsInterval.D(),
		SharedRedispatchTimeout: d.SharedRedispatchTimeout.D(),
	}
}

func (o *DurableOptions) ensureDefaults() {
	setDefault(&o.BatchSize, 100)
	setDefault(&o.IdlePollInterval, time.Second)
	setDefault(&o.HeartbeatInterval, 5*time.Second)
	setDefault(&o.SessionGCInterval, 10*time.Minute)
	setDefault(&o.RenewStreamsInterval, renewInterval)
	setDefault(&o.SharedRedispatchTimeout, 30*time.Second)
	setDefault(&o.CatchUpWindow, 1024)
}
