package dsbench

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/mqttds/mqttds/ds"
	"github.com/mqttds/mqttds/layout"
	"github.com/mqttds/mqttds/mqtt/topic"
)

// Config is one workload written into one fresh store and replayed. A zero field means that
// field's default (EnsureDefaults); Validate reports every problem at once.
type Config struct {
	// Topics is the topic template (see Template). Default DefaultTopics.
	Topics string `json:"topics"`
	// MessagesPerTopic is how many messages each topic gets. Default 2.
	MessagesPerTopic int `json:"messages_per_topic"`
	// MaxMessages bounds NumTopics × MessagesPerTopic: a larger workload is refused before
	// anything is written. Default 10,000,000.
	MaxMessages int `json:"max_messages"`
	// PayloadBytes is the size of every payload. Default 64; a negative value means empty
	// payloads.
	PayloadBytes int `json:"payload_bytes"`
	// Rate is the simulated publish rate of the whole fleet, messages per second: the store's
	// clock advances 1/Rate s per message, so the key structure (how many messages share an
	// epoch) does not depend on how fast this machine writes. A negative value uses the wall
	// clock. Default 10,000.
	Rate float64 `json:"rate"`
	// Batch is how many messages one Store call carries; they share a commit time, so
	// Batch/Rate is the workload's time resolution. Default 100.
	Batch int `json:"batch"`
	// Seed makes the publish order (a fresh shuffle of the topics every round) reproducible.
	// Default 1.
	Seed uint64 `json:"seed"`

	// Shards is the store's number of shards. Default ds.DefaultNumShards.
	Shards int `json:"shards"`
	// Layout are the layout options of the store's generations.
	Layout layout.Options `json:"layout"`

	// Filters are the topic filters replayed, in order. Default Template.DefaultFilters.
	Filters []string `json:"filters"`
	// ReadBatch is the n of every Next call. Default 100.
	ReadBatch int `json:"read_batch"`
	// Live replays the generation that was written while it is still current, as a live
	// consumer would (the open epoch of a wildcard stream is read in time order). By default the
	// generation is closed first, so every epoch is complete: a replay of history.
	Live bool `json:"live"`

	// Dir is the store directory; it must be missing or empty. Default: a temporary directory,
	// removed at the end.
	Dir string `json:"dir,omitempty"`
}

// Defaults of Config.
const (
	DefaultTopics           = "site/{0..99}/dev/{0..999}/temp"
	DefaultMessagesPerTopic = 2
	DefaultMaxMessages      = 10_000_000
	DefaultPayloadBytes     = 64
	DefaultRate             = 10_000
	DefaultBatch            = 100
	DefaultReadBatch        = 100
)

// EnsureDefaults fills every zero field with its default.
func (c *Config) EnsureDefaults() {
	if c.Topics == "" {
		c.Topics = DefaultTopics
	}
	if c.MessagesPerTopic == 0 {
		c.MessagesPerTopic = DefaultMessagesPerTopic
	}
	if c.MaxMessages == 0 {
		c.MaxMessages = DefaultMaxMessages
	}
	if c.PayloadBytes == 0 {
		c.PayloadBytes = DefaultPayloadBytes
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Shards == 0 {
		c.Shards = ds.DefaultNumShards
	}
	c.Layout.EnsureDefaults()
	if c.ReadBatch == 0 {
		c.ReadBatch = DefaultReadBatch
	}
	if len(c.Filters) == 0 {
		if t, err := ParseTemplate(c.Topics); err == nil {
			c.Filters = t.DefaultFilters()
		}
	}
}

// Validate reports every problem of c in one error. Call it after EnsureDefaults.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("dsbench: "+format, args...))
	}
	t, err := ParseTemplate(c.Topics)
	if err != nil {
		errs = append(errs, err)
	}
	if c.MessagesPerTopic < 1 {
		bad("messages per topic = %d: must be positive", c.MessagesPerTopic)
	}
	if c.MaxMessages < 1 {
		bad("max messages = %d: must be positive", c.MaxMessages)
	}
	if t != nil && c.MessagesPerTopic > 0 && t.NumTopics() > c.MaxMessages/c.MessagesPerTopic {
		bad("%d topics × %d messages is more than the limit of %d messages", t.NumTopics(), c.MessagesPerTopic, c.MaxMessages)
	}
	if c.PayloadBytes > 1<<20 {
		bad("payload of %d bytes: at most 1 MiB", c.PayloadBytes)
	}
	if c.Batch < 1 {
		bad("batch = %d: must be positive", c.Batch)
	}
	if math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		bad("rate = %g msg/s: not a number", c.Rate)
	}
	if c.Rate > 1e6 {
		bad("rate = %g msg/s: at most 1,000,000 (one message per µs)", c.Rate)
	}
	if c.Shards < 1 || c.Shards > 1024 {
		bad("shards = %d: must be in [1, 1024]", c.Shards)
	}
	if err := c.Layout.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(c.Filters) == 0 {
		bad("no filter to replay")
	}
	for _, f := range c.Filters {
		if err := topic.ValidateFilter(f); err != nil {
			bad("filter %q: %v", f, err)
		}
	}
	if c.ReadBatch < 1 {
		bad("read batch = %d: must be positive", c.ReadBatch)
	}
	return errors.Join(errs...)
}

// payloadSize returns the effective payload size.
func (c *Config) payloadSize() int { return max(c.PayloadBytes, 0) }

// tick is the simulated time between two messages.
func (c *Config) tick() time.Duration {
	if c.Rate <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / c.Rate)
}

// EpochBits returns the effective epoch_bits of the layout (0 for layout.NoEpochBits).
func (c *Config) EpochBits() int {
	if c.Layout.EpochBits == layout.NoEpochBits {
		return 0
	}
	return c.Layout.EpochBits
}
