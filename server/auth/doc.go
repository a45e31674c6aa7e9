// Package auth decides who may connect (Authenticator) and what a connected client may publish or
// subscribe to (Authorizer). It holds no protocol code: the broker fills Credentials and Identity from
// its packets and connections, calls these plain interfaces, and turns the answers into reason codes.
//
// # Authentication
//
// A Chain asks authenticators in order; the first that allows or denies decides, and a chain where
// every authenticator abstains denies. The broker builds it from the configuration:
//
//	chain := auth.NewChain(
//		auth.NewClientIDAllowlist(cfg.Auth.ClientIDAllowlist), // denies ids not listed (if any are)
//		auth.CertCommonName{},                                 // verified certificate → allow, CN as username
//		passwords,                                             // *PasswordAuthenticator: username → bcrypt/argon2id
//		auth.Anonymous{Allowed: cfg.Auth.AllowAnonymous},      // no username → allow or deny
//	)
//	res, err := chain.Authenticate(ctx, auth.Credentials{ClientID: id, Username: u, Password: pw})
//
// The chain counts attempts, allows, denials and errors (Chain.Metrics). It does not sleep: the broker
// applies auth.failure_delay to a denial before it answers, on the connection's own goroutine.
//
// Password files hold "username:hash" lines with bcrypt or argon2id (PHC string) hashes; see
// PasswordFile, and `mqttds passwd` for the command that edits them. Passwords are compared in constant
// time, and an unknown user costs as much time as a wrong password.
//
// # Authorization: the ACL file
//
// One rule per line; blank lines and lines whose first non-blank character is '#' are comments (a '#'
// later on a line is part of the rule, since it is also the multi-level wildcard). The comment
// "#mqttds-acl 1" may declare the format version (ACLFormat); other versions are refused:
//
//	<allow|deny>  <subject>  <action>  <topic filter>
//
//	subject:  all | user NAME | client CLIENT_ID | ip ADDRESS-OR-CIDR
//	action:   publish | subscribe | all
//
// A token with spaces is written as a Go quoted string ("my topic/#"). The filter may hold %u (the
// username) and %c (the client id). For example:
//
//	# Devices own their subtree; nobody else may write there.
//	allow all           all        devices/%c/#
//	deny  all           publish    devices/#
//	# Operators read everything, including $SYS.
//	allow user ops      subscribe  #
//	allow user ops      subscribe  $SYS/#
//	# The plant network may publish telemetry.
//	allow ip 10.1.0.0/16 publish   telemetry/+/raw
//	deny  all           subscribe  secret/#
//
// Rules are checked top to bottom and the first that applies decides; if none applies, acl_nomatch
// (Allow or Deny) does. A rule applies when its subject matches the client, its action includes the
// requested one and its filter
//
//   - for a publish, matches the topic name (MQTT §4.7 rules);
//   - for an allow rule and a subscription, covers the whole subscription filter: every topic the
//     subscription could receive is matched by the rule ("a/+" is covered by "a/#", "#" is not);
//   - for a deny rule and a subscription, overlaps the subscription filter: some topic is matched by
//     both, so "#" is refused by "deny all subscribe secret/#".
//
// A rule whose filter holds a placeholder applies only when the value is non-empty and has no '+', '#'
// or '/', so that a client id cannot widen "devices/%c/#" into a wildcard or into another client's
// tree. A shared subscription "$share/group/f" is checked as f. Parse errors give the file and line.
//
// What auth is not: it does not watch files; the broker calls Chain.Reload and ACL.Reload (for example
// on SIGHUP). PasswordAuthenticator and ACL swap their whole contents atomically on reload, and every
// type here is safe for concurrent use except PasswordFile, the editing model.
//
// Topic matching for publish checks is mqtt/topic's; the two filter relations subscriptions need
// (covers, intersects) live in this package because nothing else needs them.
package auth
