package subscriptions

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestIndexDataDriven runs the scripts in testdata/index. Commands:
//
//	add <client> <filter> [qos=N] [id=N] [rh=N] [nolocal] [rap]   → added | replaced | error: …
//	remove <client> <filter>                                     → true | false
//	remove-client <client>                                       → number removed
//	match <topic> [from=<publisher>]                             → one line per Subscriber, sorted
//	list <client>                                                → the client's subscriptions, sorted
//	len                                                          → Metrics
func TestIndexDataDriven(t *testing.T) {
	ix := New()
	datadriven.RunTest(t, "testdata/index", func(t *testing.T, d *datadriven.TestData) string {
		arg := func(i int) string { return d.CmdArgs[i].Key }
		switch d.Cmd {
		case "add":
			var o Options
			for _, a := range d.CmdArgs[2:] {
				switch a.Key {
				case "qos":
					o.QoS = byte(atoi(t, a.Vals[0]))
				case "id":
					o.SubscriptionID = uint32(atoi(t, a.Vals[0]))
				case "rh":
					o.RetainHandling = byte(atoi(t, a.Vals[0]))
				case "nolocal":
					o.NoLocal = true
				case "rap":
					o.RetainAsPublished = true
				default:
					t.Fatalf("unknown option %q", a.Key)
				}
			}
			replaced, err := ix.Add(arg(0), arg(1), o)
			switch {
			case err != nil:
				return "error: " + err.Error()
			case replaced:
				return "replaced"
			}
			return "added"
		case "remove":
			return fmt.Sprint(ix.Remove(arg(0), arg(1)))
		case "remove-client":
			return fmt.Sprint(ix.RemoveClient(arg(0)))
		case "match":
			var from string
			d.MaybeScanArgs(t, "from", &from)
			return formatSubscribers(ix.Match(arg(0), from, nil))
		case "list":
			var lines []string
			for _, s := range ix.ClientSubscriptions(arg(0), nil) {
				lines = append(lines, fmt.Sprintf("%s group=%q %+v", s.Filter, s.Group, s.Options))
			}
			slices.Sort(lines)
			return strings.Join(lines, "\n")
		case "len":
			m := ix.Metrics()
			if m.Subscriptions != ix.Len() || m.Clients != ix.Clients() {
				t.Fatalf("Metrics %+v disagrees with Len %d and Clients %d", m, ix.Len(), ix.Clients())
			}
			return fmt.Sprintf("subscriptions=%d clients=%d shared=%d nodes=%d", m.Subscriptions, m.Clients,
				m.SharedSubscriptions, m.Nodes)
		}
		t.Fatalf("unknown command %q", d.Cmd)
		return ""
	})
}

// formatSubscribers prints Match results in a stable order.
func formatSubscribers(subs []Subscriber) string {
	var lines []string
	for _, s := range subs {
		var b strings.Builder
		if s.Shared() {
			fmt.Fprintf(&b, "share %s:", s.Group)
			members := slices.Clone(s.Members) // the index's slice is read-only
			sortMembers(members)
			for _, m := range members {
				fmt.Fprintf(&b, " %s(qos=%d", m.ClientID, m.QoS)
				if m.SubscriptionID != 0 {
					fmt.Fprintf(&b, " id=%d", m.SubscriptionID)
				}
				b.WriteString(")")
			}
		} else {
			fmt.Fprintf(&b, "%s qos=%d", s.ClientID, s.QoS)
			if len(s.SubscriptionIDs) > 0 {
				ids := slices.Clone(s.SubscriptionIDs)
				slices.Sort(ids)
				fmt.Fprintf(&b, " ids=%v", ids)
			}
			if s.RetainAsPublished {
				b.WriteString(" rap")
			}
		}
		lines = append(lines, b.String())
	}
	slices.Sort(lines)
	if len(lines) == 0 {
		return "none"
	}
	return strings.Join(lines, "\n")
}

func atoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("bad number %q", s)
	}
	return n
}
