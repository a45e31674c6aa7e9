package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/mqttds/mqttds/mqtt"
	"github.com/mqttds/mqttds/server/auth"
	"github.com/mqttds/mqttds/server/listeners"
)

// errNormalDisconnect ends the read loop after a client's DISCONNECT.
var errNormalDisconnect = errors.New("server: client disconnected")

// refusal is a CONNECT the broker turned down, with the code for CONNACK.
type refusal struct {
	code  mqtt.ReasonCode
	cause DisconnectCause
}

func (r *refusal) Error() string { return "server: connect refused: " + r.code.String() }

// handshake reads and answers CONNECT. On success the connection is
// attached to its session and ready for loop.
func (c *conn) handshake() error {
	// 1. The first packet must be CONNECT, within the idle timeout
	// [MQTT-3.1.0-1] v5.
	p, err := c.readPacket(c.srv.opts.IdleTimeout)
	if err != nil {
		return c.connectFailed(err)
	}
	if p.Type != mqtt.TypeConnect {
		c.setCause(CauseProtocol)
		return &mqtt.Error{Code: mqtt.ProtocolError, Rule: "MQTT-3.1.0-1", Detail: "first packet is " + p.Type.String()}
	}
	// 2. Accept or refuse it.
	start := time.Now()
	if err := c.connect(&p); err != nil {
		var r *refusal
		if errors.As(err, &r) {
			c.setCause(r.cause)
			c.refuse(r.code)
		}
		return err
	}
	c.srv.connectTime.Observe(time.Since(start).Seconds())
	return nil
}

// connectFailed handles a CONNECT that could not be read: a v5 client gets
// a CONNACK with the reason [MQTT-3.1.4-1] v5, an unsupported level the
// CONNACK its version knows [MQTT-3.1.2-2], anything else just a close.
func (c *conn) connectFailed(err error) error {
	var me *mqtt.Error
	switch {
	case errors.Is(err, errPacketTooLarge):
		c.setCause(CauseTooLarge)
	case errors.As(err, &me):
		c.setCause(causeOf(err))
		switch {
		case me.Version.Valid():
			c.version = me.Version
			c.refuse(me.Code)
		case me.Code == mqtt.UnsupportedProtocolVersion:
			c.version = mqtt.V311 // a level we do not know gets 3.1.1's answer
			c.refuse(me.Code)
		}
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.setCause(CauseIdle)
		} else {
			c.setCause(CauseNetwork)
		}
	}
	return err
}

// refuse sends a CONNACK with a failure code and closes after it
// [MQTT-3.2.2-7] v5. A 3.x client gets the return code that fits, or just
// the close when none does [MQTT-3.2.2-6] v3.1.1.
func (c *conn) refuse(code mqtt.ReasonCode) {
	if c.version != mqtt.V5 {
		if _, ok := mqtt.V3ConnackCode(code); !ok {
			return
		}
	}
	c.goodbye.Store(true)
	c.sendPacket(&mqtt.Packet{Type: mqtt.TypeConnack, ReasonCode: code}, true)
}

// connect carries out an accepted-so-far CONNECT: client id, limits,
// authentication, session, CONNACK.
func (c *conn) connect(p *mqtt.Packet) error {
	s := c.srv
	cp := p.Connect
	props := &p.Properties
	c.version = cp.ProtocolVersion

	// 1. Client id: assign one to an empty id [MQTT-3.1.3-6] v5; 3.x only
	// allows that with a clean session [MQTT-3.1.3-8] v3.1.1.
	// Strings of a decoded packet share its buffer: copy what outlives it.
	id, assigned := strings.Clone(cp.ClientID), false
	if id == "" {
		if c.version != mqtt.V5 && !cp.CleanStart {
			return &refusal{mqtt.ClientIdentifierNotValid, CauseRefused}
		}
		id, assigned = s.newClientID(), true
	}
	c.clientID = id

	// Enhanced authentication is not built: a CONNECT that names an
	// Authentication Method is refused with 0x8C and closed
	// [MQTT-4.12.0-1] v5. Accepting it would send a CONNACK without the
	// method, which [MQTT-4.12.0-5] v5 forbids.
	if c.version == mqtt.V5 && props.Has(mqtt.PropAuthMethod) {
		return &refusal{mqtt.BadAuthenticationMethod, CauseAuth}
	}

	// 2. Capacity: connection count and memory.
	if max := s.opts.MaxConnections; max > 0 && s.stats.connections.Load() > int64(max) {
		return &refusal{mqtt.QuotaExceeded, CauseRefused}
	}
	if s.memoryHigh() {
		return &refusal{mqtt.ServerBusy, CauseRefused}
	}

	// 3. Authentication, with the configured delay on failure.
	user, err := c.authenticate(cp)
	if err != nil {
		return err
	}
	c.username = strings.Clone(user)

	// 4. What this connection negotiated.
	c.keepAlive = time.Duration(cp.KeepAlive) * time.Second
	if s.opts.ServerKeepAlive > 0 && c.version == mqtt.V5 {
		c.keepAlive = s.opts.ServerKeepAlive
	}
	c.clientReceiveMax = 65535
	if c.version == mqtt.V5 {
		if props.Has(mqtt.PropReceiveMaximum) {
			c.clientReceiveMax = props.ReceiveMaximum
		}
		c.clientMaxPacket = props.MaximumPacketSize
		c.clientAliasMax = props.TopicAliasMaximum
	}
	expiry := c.sessionExpiry(cp.CleanStart, props)
	will, willDelay, err := c.will(cp)
	if err != nil {
		return err
	}

	// 5. The session: take over, discard or resume [MQTT-3.1.2-4..6] v5;
	// then CONNACK first [MQTT-3.2.0-1] v5, the re-sends of a resumed
	// session, and whatever arrives. Should the session end between the two
	// steps (its previous connection's end), start again with a new one.
	// The writes are held until the connection is ready: a client that
	// has its CONNACK is listed and can be kicked, and a kick that comes
	// in between queues its DISCONNECT behind the CONNACK.
	// The client id is claimed throughout, so that another CONNECT with it
	// waits, then takes the session over from this one [MQTT-3.1.4-3] v5.
	// In a cluster the other brokers let go of the client id first, and the session is read
	// only once this site's replica has everything they wrote to it.
	release := s.claims.claim(id)
	if err := s.prepareSession(id); err != nil {
		release()
		s.log.Warn("connect refused: the session's storage is not current on this site", "client", id, "err", err)
		return &refusal{mqtt.ServerUnavailable, CauseRefused}
	}
	var sess Session
	var present bool
	c.connected = true
	c.holdWrites()
	cfg := sessionConfig{expiry: expiry, will: will, willDelay: willDelay}
	for {
		sess, present = s.openSession(id, cp.CleanStart)
		sess = s.durableFor(sess, cfg)
		ack := &mqtt.Packet{Type: mqtt.TypeConnack, SessionPresent: present}
		if c.version == mqtt.V5 {
			c.connackProperties(&ack.Properties, props, expiry, assigned)
		}
		c.sess = sess
		if sess.attach(c, present, ack, cfg) {
			break
		}
	}
	if s.attached != nil {
		s.attached(id)
	}
	c.ready.Store(true)
	s.stats.connectionsTotal.Add(1)
	c.releaseWrites()
	// Let go of the client id only now: a CONNECT that takes the session
	// over from here on finds this connection ready, so its DISCONNECT
	// 0x8E goes out after the CONNACK.
	release()

	info := c.info()
	s.hooks.clientConnected(info)
	if present {
		s.hooks.sessionResumed(info)
	} else {
		s.hooks.sessionCreated(info)
	}
	s.log.Debug("client connected", "client", id, "version", c.version.String(), "listener", c.listener,
		"remote", c.remote, "session_present", present, "keepalive", c.keepAlive)
	c.autoSubscribe()
	return nil
}

// authenticate asks the configured Authenticator and returns the username
// to use from now on. A refusal waits AuthFailureDelay, then answers 0x86
// (v5) or return code 4 (3.x) [MQTT-3.1.4-2] v5.
func (c *conn) authenticate(cp *mqtt.Connect) (string, error) {
	s := c.srv
	cred := auth.Credentials{ClientID: c.clientID, Username: cp.Username, RemoteAddr: addrPort(c.remote)}
	if cp.PasswordFlag {
		cred.Password = cp.Password
		if cred.Password == nil {
			cred.Password = []byte{}
		}
	}
	cn := peerCommonName(c.nc)
	cred.CertCommonName = cn
	user := cp.Username
	if cn != "" && s.opts.UseCNAsUsername[c.listener] {
		user = cn
		cred.Username = cn
	}
	if s.opts.Authenticator == nil {
		return user, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := s.opts.Authenticator.Authenticate(ctx, cred)
	switch {
	case err != nil:
		s.log.Error("authentication backend failed", "client", c.clientID, "err", err)
		return "", &refusal{mqtt.ServerUnavailable, CauseAuth}
	case res.Decision != auth.Allow:
		s.stats.authFailures.Add(1)
		s.log.Info("authentication failed", "client", c.clientID, "user", cp.Username, "remote", c.remote, "reason", res.Reason)
		if d := s.opts.AuthFailureDelay; d > 0 {
			select {
			case <-time.After(d):
			case <-s.closing:
			}
		}
		return "", &refusal{mqtt.BadUserNameOrPassword, CauseAuth}
	}
	if res.Username != "" {
		user = res.Username
	}
	return user, nil
}

// sessionExpiry is how long the session outlives this connection: the v5
// Session Expiry Interval (capped by MaxSessionExpiry), or for 3.x zero
// with a clean session and SessionExpiryV3 without.
func (c *conn) sessionExpiry(clean bool, props *mqtt.Properties) time.Duration {
	o := c.srv.opts
	if c.version != mqtt.V5 {
		if clean {
			return 0
		}
		return o.SessionExpiryV3
	}
	e := time.Duration(props.SessionExpiry) * time.Second
	if props.SessionExpiry == 0xFFFFFFFF {
		e = neverExpire
	}
	if o.MaxSessionExpiry > 0 && e > o.MaxSessionExpiry {
		e = o.MaxSessionExpiry
	}
	return e
}

// will turns the CONNECT's Will into the message to publish later
// [MQTT-3.1.2-7] v5.
func (c *conn) will(cp *mqtt.Connect) (*Message, time.Duration, error) {
	w := cp.Will
	if w == nil {
		return nil, 0, nil
	}
	if err := c.srv.topics.ValidateName(w.Topic); err != nil {
		return nil, 0, &refusal{mqtt.TopicNameInvalid, CauseProtocol}
	}
	if w.Retain && c.srv.opts.RetainNotAvailable {
		return nil, 0, &refusal{mqtt.RetainNotSupported, CauseRefused}
	}
	if !c.payloadFormatValid(w.Properties.PayloadFormat, w.Payload) {
		// MQTT5 §3.1.3.2.3: a Will that says it is UTF-8 must be.
		return nil, 0, &refusal{mqtt.PayloadFormatInvalid, CauseProtocol}
	}
	if !c.mayPublish(w.Topic) {
		// Checked now, while the client's identity is at hand: a Will the
		// ACL would refuse is never stored.
		c.srv.log.Info("will denied", "client", c.clientID, "user", c.username, "topic", w.Topic)
		return nil, 0, nil
	}
	m := messageFromWill(w, c.clientID, time.Now())
	return m, time.Duration(w.Properties.WillDelay) * c.srv.willDelayUnit, nil
}

// connackProperties announces what this broker supports and what it
// decided (MQTT5 §3.2.2.3).
func (c *conn) connackProperties(ap, cp *mqtt.Properties, expiry time.Duration, assigned bool) {
	o := c.srv.opts
	if assigned {
		ap.AssignedClientID = c.clientID // [MQTT-3.1.3-7], [MQTT-3.2.2-16] v5
	}
	if o.ServerKeepAlive > 0 {
		ap.ServerKeepAlive = uint16(o.ServerKeepAlive / time.Second)
		ap.Present.Add(mqtt.PropServerKeepAlive)
	}
	if expiry != neverExpire && uint32(expiry/time.Second) != cp.SessionExpiry {
		ap.SessionExpiry = uint32(expiry / time.Second)
		ap.Present.Add(mqtt.PropSessionExpiry)
	}
	ap.ReceiveMaximum = o.ReceiveMaximum
	ap.MaximumPacketSize = o.MaxPacketSize
	if o.TopicAliasMaximum > 0 {
		ap.TopicAliasMaximum = uint16(o.TopicAliasMaximum)
	}
	if o.RetainNotAvailable {
		ap.Present.Add(mqtt.PropRetainAvailable) // explicit 0
	}
	if o.WildcardNotAvailable {
		ap.Present.Add(mqtt.PropWildcardSubAvailable)
	}
	if o.SharedNotAvailable {
		ap.Present.Add(mqtt.PropSharedSubAvailable)
	}
}

// newClientID makes a client id no current session uses [MQTT-3.2.2-16] v5.
func (s *Server) newClientID() string {
	var b [12]byte
	for {
		_, _ = rand.Read(b[:])
		id := "mqttds-" + hex.EncodeToString(b[:])
		if s.session(id) == nil {
			return id
		}
	}
}

// peerCommonName is the subject CN of a verified client certificate.
func peerCommonName(nc net.Conn) string {
	tc, ok := nc.(listeners.TLSConn)
	if !ok {
		return ""
	}
	st := tc.ConnectionState()
	if len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return ""
	}
	return st.PeerCertificates[0].Subject.CommonName
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
