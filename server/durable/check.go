package durable

import (
	"fmt"

	"github.com/mqttds/mqttds/ds"
)

// CheckRecord decodes one record of the session table (a key and value as ds.Table.Scan gives
// them) and returns why it is invalid, or nil. Open runs the same decoders; tools use
// CheckRecord to check a store, and fuzzing to show that no stored bytes crash the loader.
func CheckRecord(key, value []byte) error {
	if len(key) == 1 && key[0] == kindHeartbeat {
		_, err := decodeTime(value)
		return err
	}
	kind, _, rest, err := parseSessionKey(key)
	if err != nil {
		return err
	}
	switch kind {
	case kindMeta:
		if len(rest) != 0 {
			return fmt.Errorf("%w: meta key with %d trailing bytes", ErrCorruption, len(rest))
		}
		_, err = decodeMeta(value)
	case kindInflight:
		_, _, err = decodeInflightRecord(rest, value)
	case kindRel:
		if len(rest) != 2 {
			return fmt.Errorf("%w: packet id of %d bytes", ErrCorruption, len(rest))
		}
		_, err = decodeTime(value)
	case kindHold:
		_, err = decodeHold(rest, value)
	case kindCursor:
		var it ds.Iterator
		var st ds.Stream
		_, itb, derr := decodeCursor(value)
		switch {
		case derr != nil:
			err = derr
		default:
			if err = it.UnmarshalBinary(itb); err == nil {
				err = st.UnmarshalBinary(streamOfCursorKey(rest))
			}
		}
	default:
		err = fmt.Errorf("%w: key kind %q", ErrCorruption, kind)
	}
	return err
}
