package auth

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode"

	"github.com/mqttds/mqttds/mqtt/topic"
)

// Action is what a client asks to do with a topic.
type Action uint8

const (
	// Publish sends to a topic name.
	Publish Action = 1 << iota
	// Subscribe asks for a topic filter.
	Subscribe
	// AllActions is both; it appears in rules ("all"), never in a check.
	AllActions = Publish | Subscribe
)

func (a Action) String() string {
	switch a {
	case Publish:
		return "publish"
	case Subscribe:
		return "subscribe"
	case AllActions:
		return "all"
	default:
		return fmt.Sprintf("Action(%d)", uint8(a))
	}
}

// Identity is who asks for an action: the authenticated username (Result.Username), the client id and
// the client's address (the zero Addr when unknown, for example over a unix socket).
type Identity struct {
	ClientID string
	Username string
	Addr     netip.Addr
}

// Authorizer decides whether a connected client may publish to a topic name or subscribe to a topic
// filter. The broker validates names and filters before asking. A non-nil error means the authorizer
// could not decide; the broker then refuses the action. Implementations are safe for concurrent use.
type Authorizer interface {
	Authorize(ctx context.Context, id Identity, act Action, topicOrFilter string) (bool, error)
}

// SubjectKind says which property of a client a rule tests.
type SubjectKind uint8

const (
	// Anyone matches every client ("all").
	Anyone SubjectKind = iota
	// ByUser matches the authenticated username ("user NAME").
	ByUser
	// ByClient matches the client id ("client ID").
	ByClient
	// ByAddr matches the client's address against an IP prefix ("ip 10.0.0.0/8", "ip ::1").
	ByAddr
)

// Rule is one line of an ACL file.
type Rule struct {
	Line     int
	Decision Decision // Allow or Deny
	Subject  SubjectKind
	Name     string       // ByUser, ByClient
	Prefix   netip.Prefix // ByAddr
	Action   Action       // Publish, Subscribe or AllActions
	// Filter is a topic filter in which %u stands for the username and %c for the client id.
	Filter string
}

// String formats r as an ACL line that parses back to r (except Line).
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString(r.Decision.String())
	switch r.Subject {
	case Anyone:
		b.WriteString(" all")
	case ByUser:
		b.WriteString(" user " + quoteToken(r.Name))
	case ByClient:
		b.WriteString(" client " + quoteToken(r.Name))
	case ByAddr:
		b.WriteString(" ip " + r.Prefix.String())
	}
	b.WriteString(" " + r.Action.String() + " " + quoteToken(r.Filter))
	return b.String()
}

// quoteToken quotes s when it would not read back as one token.
func quoteToken(s string) string {
	if s == "" || s[0] == '"' || strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || !unicode.IsPrint(r)
	}) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

func (r *Rule) matchesSubject(id Identity) bool {
	switch r.Subject {
	case ByUser:
		return id.Username != "" && id.Username == r.Name
	case ByClient:
		return id.ClientID == r.Name
	case ByAddr:
		return id.Addr.IsValid() && r.Prefix.Contains(id.Addr.Unmap())
	default:
		return true
	}
}

// expand substitutes %u and %c in the rule's filter. A placeholder must stand for exactly one level,
// so ok is false (the rule does not apply) when its value is empty or holds '+', '#' or '/': otherwise
// the client id "+" would turn "devices/%c/#" into a wildcard over every device, and "a/b" would reach
// into the tree of client "a".
func (r *Rule) expand(id Identity) (filter string, ok bool) {
	if !strings.Contains(r.Filter, "%") {
		return r.Filter, true
	}
	for _, p := range []struct{ ph, val string }{{"%u", id.Username}, {"%c", id.ClientID}} {
		if strings.Contains(r.Filter, p.ph) && (p.val == "" || strings.ContainsAny(p.val, "+#/\x00")) {
			return "", false
		}
	}
	// One pass, one allocation: this runs for every publish that reaches the rule.
	var b strings.Builder
	b.Grow(len(r.Filter) + len(id.Username) + len(id.ClientID))
	for f := r.Filter; f != ""; {
		i := strings.IndexByte(f, '%')
		if i < 0 || i+1 == len(f) {
			b.WriteString(f)
			break
		}
		b.WriteString(f[:i])
		switch f[i+1] {
		case 'u':
			b.WriteString(id.Username)
		case 'c':
			b.WriteString(id.ClientID)
		default: // a lone '%': keep it and look for a placeholder from the next byte on
			b.WriteByte('%')
			f = f[i+1:]
			continue
		}
		f = f[i+2:]
	}
	return b.String(), true
}

// applies reports whether the rule decides act on topicOrFilter for id. An allow rule must cover a
// whole subscription; a deny rule refuses any subscription that overlaps it, so that "#" cannot be
// used to read what "deny all subscribe secret/#" hides.
func (r *Rule) applies(id Identity, act Action, t string) bool {
	if r.Action&act == 0 || !r.matchesSubject(id) {
		return false
	}
	filter, ok := r.expand(id)
	switch {
	case !ok:
		return false
	case act == Publish:
		return topic.Match(filter, t)
	case r.Decision == Allow:
		return covers(filter, t)
	default:
		return intersects(filter, t)
	}
}

// ACL is an ordered rule list: the first rule that applies decides, and NoMatch decides when none does.
// Reload swaps in the file's new rules; checks in progress finish with the rules they started with.
type ACL struct {
	path    string
	noMatch Decision
	// rules is the current rule list.
	// Use: replaced whole by Reload; read without locks by Check.
	rules atomic.Pointer[[]Rule]
}

// NewACL returns an ACL of rules. noMatch must be Allow or Deny.
func NewACL(rules []Rule, noMatch Decision) *ACL {
	if noMatch != Allow && noMatch != Deny {
		panic(fmt.Sprintf("auth: ACL noMatch must be allow or deny, not %v", noMatch))
	}
	a := &ACL{noMatch: noMatch}
	a.rules.Store(&rules)
	return a
}

// LoadACL reads the ACL file at path.
func LoadACL(path string, noMatch Decision) (*ACL, error) {
	rules, err := readACLFile(path)
	if err != nil {
		return nil, err
	}
	a := NewACL(rules, noMatch)
	a.path = path
	return a, nil
}

// Reload re-reads the file given to LoadACL. On error the rules loaded before stay in force.
func (a *ACL) Reload() error {
	if a.path == "" {
		return errors.New("auth: ACL has no file to reload")
	}
	rules, err := readACLFile(a.path)
	if err != nil {
		return err
	}
	a.rules.Store(&rules)
	return nil
}

func readACLFile(path string) ([]Rule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return ParseACL(bytes.NewReader(data), path)
}

// Rules returns the rules in force. The caller must not modify them.
func (a *ACL) Rules() []Rule { return *a.rules.Load() }

// Check returns the decision for act (Publish or Subscribe) on a topic name or subscription filter,
// and the rule that made it (nil when NoMatch decided). A shared subscription is checked on its topic
// filter: "$share/g/a/b" as "a/b".
func (a *ACL) Check(id Identity, act Action, topicOrFilter string) (Decision, *Rule) {
	t := topicOrFilter
	if act == Subscribe {
		f, err := topic.ParseFilter(t)
		if err != nil {
			return Deny, nil
		}
		t = f.Filter
	}
	rules := *a.rules.Load()
	for i := range rules {
		if rules[i].applies(id, act, t) {
			return rules[i].Decision, &rules[i]
		}
	}
	return a.noMatch, nil
}

// Authorize implements Authorizer.
func (a *ACL) Authorize(_ context.Context, id Identity, act Action, topicOrFilter string) (bool, error) {
	if act != Publish && act != Subscribe {
		return false, fmt.Errorf("auth: Authorize wants publish or subscribe, not %v", act)
	}
	d, _ := a.Check(id, act, topicOrFilter)
	return d == Allow, nil
}

// ACLFormat is the version of the ACL file format this package reads. A file may declare it with a
// marker comment, "#mqttds-acl 1"; a reader refuses a marker naming a version it does not know.
const ACLFormat = 1

const aclMarker = "#mqttds-acl"

// ParseACL reads ACL rules, one per line, in the format described in the package documentation. name
// labels errors ("acl.conf:7: ..."); every bad line is reported, together.
func ParseACL(r io.Reader, name string) ([]Rule, error) {
	var rules []Rule
	var errs []error
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			if err := checkFormatMarker(line, aclMarker, ACLFormat); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %w", name, lineNo, err))
			}
			continue
		}
		rule, err := parseRule(line)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", name, lineNo, err))
			continue
		}
		rule.Line = lineNo
		rules = append(rules, rule)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rules, nil
}

// parseRule parses "<allow|deny> <all | user NAME | client ID | ip PREFIX> <publish|subscribe|all> <filter>".
func parseRule(line string) (Rule, error) {
	toks, err := tokenize(line)
	if err != nil {
		return Rule{}, err
	}
	var r Rule
	switch toks[0] {
	case "allow":
		r.Decision = Allow
	case "deny":
		r.Decision = Deny
	default:
		return Rule{}, fmt.Errorf("rule starts with %q (want allow or deny)", toks[0])
	}
	want := 0
	if len(toks) > 1 {
		switch toks[1] {
		case "all":
			want = 4
		case "user", "client", "ip":
			want = 5
		default:
			return Rule{}, fmt.Errorf("subject %q (want all, user, client or ip)", toks[1])
		}
	}
	if len(toks) != want {
		if want == 0 {
			want = 4
		}
		return Rule{}, fmt.Errorf("%d fields, want %d: allow|deny  all | user NAME | client ID | ip PREFIX  publish|subscribe|all  FILTER", len(toks), want)
	}
	if err := parseSubject(&r, toks[1], toks[2]); err != nil {
		return Rule{}, err
	}
	rest := toks[want-2:]
	switch rest[0] {
	case "publish":
		r.Action = Publish
	case "subscribe":
		r.Action = Subscribe
	case "all":
		r.Action = AllActions
	default:
		return Rule{}, fmt.Errorf("action %q (want publish, subscribe or all)", rest[0])
	}
	r.Filter = rest[1]
	if strings.HasPrefix(r.Filter, topic.SharePrefix) || strings.HasPrefix(r.Filter, topic.QueuePrefix) {
		return Rule{}, fmt.Errorf("filter %q: rules match the topic filter; leave out the share prefix", r.Filter)
	}
	if err := topic.ValidateFilter(r.Filter); err != nil {
		return Rule{}, fmt.Errorf("filter %q: %w", r.Filter, err)
	}
	return r, nil
}

func parseSubject(r *Rule, kind, value string) error {
	switch kind {
	case "user", "client":
		if value == "" {
			return fmt.Errorf("empty %s name", kind)
		}
		r.Subject, r.Name = ByUser, value
		if kind == "client" {
			r.Subject = ByClient
		}
	case "ip":
		p, err := netip.ParsePrefix(value)
		if err != nil {
			a, aerr := netip.ParseAddr(value)
			if aerr != nil {
				return fmt.Errorf("ip %q is neither an address nor a CIDR prefix", value)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		r.Subject, r.Prefix = ByAddr, p.Masked()
	default: // "all", the zero Subject
		r.Subject = Anyone
	}
	return nil
}

// tokenize splits a line into whitespace-separated tokens; a token that starts with '"' is a Go quoted
// string, so names and filters with spaces can be written.
func tokenize(line string) ([]string, error) {
	var toks []string
	for {
		line = strings.TrimLeftFunc(line, unicode.IsSpace)
		if line == "" {
			return toks, nil
		}
		if line[0] == '"' {
			q, err := strconv.QuotedPrefix(line)
			if err != nil {
				return nil, fmt.Errorf("unterminated or invalid quoted string %s", line)
			}
			s, _ := strconv.Unquote(q)
			toks = append(toks, s)
			line = line[len(q):]
			if line != "" && !unicode.IsSpace(rune(line[0])) {
				return nil, fmt.Errorf("missing space after quoted string %s", q)
			}
			continue
		}
		end := strings.IndexFunc(line, unicode.IsSpace)
		if end < 0 {
			end = len(line)
		}
		toks = append(toks, line[:end])
		line = line[end:]
	}
}
