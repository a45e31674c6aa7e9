package ds

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStoreAndRead(t *testing.T) {
	db := openTest(t, "db", testOptions())
	ctx := context.Background()
	require.NoError(t, db.Store(ctx, []Message{
		msg("c1", "a/b", "1"), msg("c2", "a/c", "2"), msg("c1", "x/y", "3"),
	}, Sync))
	got := readAll(t, db, "a/#", 0)
	require.Len(t, got, 2)
	for _, m := range got {
		require.Equal(t, byte(1), m.QoS)
		require.NotZero(t, m.Timestamp)
	}
	require.Len(t, readAll(t, db, "#", 0), 3)
}
