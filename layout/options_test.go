package layout

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOptionsDefaultsAndRoundTrip(t *testing.T) {
	var o Options
	o.EnsureDefaults()
	require.NoError(t, o.Validate())
	require.Equal(t, Options{Kind: KindWildcardOptimized, TopicIndexBytes: 4, BitsPerTopicLevel: 64,
		EpochBits: 20, Thresholds: []int{100, 20}}, o)

	for _, in := range []Options{
		o,
		{Kind: KindReference, TopicIndexBytes: 2, BitsPerTopicLevel: 8, EpochBits: NoEpochBits, Thresholds: []int{3, 0}},
		{Kind: KindWildcardOptimized, TopicIndexBytes: 8, BitsPerTopicLevel: 13, EpochBits: 64, Thresholds: []int{1, 2, 300000}},
	} {
		b, err := in.MarshalBinary()
		require.NoError(t, err)
		var out Options
		require.NoError(t, out.UnmarshalBinary(b))
		require.Equal(t, in, out)
	}
}

func TestOptionsValidateReportsEverything(t *testing.T) {
	o := Options{Kind: "btree", TopicIndexBytes: 9, BitsPerTopicLevel: 7, EpochBits: 65, Thresholds: []int{5, -1}}
	err := o.Validate()
	require.Error(t, err)
	for _, want := range []string{`unknown kind "btree"`, "TopicIndexBytes 9", "BitsPerTopicLevel 7", "EpochBits 65", "Thresholds[1] = -1"} {
		require.ErrorContains(t, err, want)
	}
	_, err = o.MarshalBinary()
	require.Error(t, err)
}

func TestOptionsUnmarshalRejectsGarbage(t *testing.T) {
	good, err := Options{}.MarshalBinary()
	require.NoError(t, err)
	for _, b := range [][]byte{nil, {1}, {2, 1}, {1, 9}, good[:len(good)-1], append(append([]byte(nil), good...), 0)} {
		var o Options
		require.ErrorIs(t, o.UnmarshalBinary(b), ErrCorrupt, "%x", b)
	}
}
