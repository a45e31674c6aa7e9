package server

// The conformance matrix: every numbered normative statement of MQTT 5.0
// and 3.1.1 (testdata/mqtt-statements.txt) is mapped either to the tests
// that exercise it or to the reason no test applies. TestConformanceMatrix
// fails when a statement is missing, an entry names a test that does not
// exist, or an entry has no statement; TestConformanceDesignTable keeps the
// table in DESIGN.md equal to this one:
//
//	go test ./server -run TestConformanceDesignTable -update-conformance

import (
	"bufio"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var updateConformance = flag.Bool("update-conformance", false, "rewrite the conformance table in DESIGN.md")

const (
	v5   = "5.0"
	v311 = "3.1.1"
)

// Reasons a statement needs no test of the broker. Each starts with "n/a:".
const (
	clientOnly    = "n/a: binds the Client only"
	noProblemInfo = "n/a: the broker puts no Reason String and no User Property on CONNACK, acknowledgements, SUBACK, UNSUBACK, DISCONNECT or AUTH, so none can push a packet over the client's Maximum Packet Size or ignore Request Problem Information 0"
	noIDRejected  = "n/a: no client id is rejected; any 1..65535-byte UTF-8 id is accepted (an empty 3.1.1 id with CleanSession 0 is 3.1.3-8)"
	maxQoS2       = "n/a: the broker supports QoS 2 and announces no Maximum QoS"
	oneCopy       = "n/a: the broker sends one copy for overlapping subscriptions, carrying every identifier (3.3.4-4)"
	forwardOnly   = "n/a: the broker only forwards a Response Topic or Content Type it received; it never originates one"
	noAuth        = "n/a: enhanced authentication is not built: a CONNECT with an Authentication Method is refused with 0x8C (4.12.0-1), so no AUTH exchange ever starts"
	expiryInbound = "n/a: the broker does not expire inbound QoS 2 state by Message Expiry; an unreleased packet id is kept until PUBREL or AwaitRelTimeout"
	transient     = "n/a: not exercised over a socket: a transient failure while handling a packet (storage) closes the connection"
	noBridge      = "n/a: the broker opens no connections to other servers (no bridge)"
)

// conformance is the matrix: version, statement id, then the covering tests
// separated by spaces (a name defined in more than one package is written
// dir.TestName), or a reason starting with "n/a:".
var conformance = []struct{ version, id, by string }{
	{v5, "MQTT-1.5.4-1", "TestMalformedInput"},
	{v5, "MQTT-1.5.4-2", "TestMalformedInput"},
	{v5, "MQTT-1.5.4-3", "mqtt/topic.TestMatch mqtt/topic.TestValidate"},
	{v5, "MQTT-1.5.5-1", "TestGoldenEncode TestConformance_PacketIdentifiers"},
	{v5, "MQTT-1.5.7-1", "TestMalformedInput"},
	{v5, "MQTT-2.1.3-1", "TestMalformedInput"},
	{v5, "MQTT-2.2.1-2", "TestConformance_PacketIdentifiers"},
	{v5, "MQTT-2.2.1-3", "TestMalformedInput"},
	{v5, "MQTT-2.2.1-4", "TestConformance_PacketIdentifiers"},
	{v5, "MQTT-2.2.1-5", "TestConformance_PacketIdentifiers TestMalformedInput"},
	{v5, "MQTT-2.2.1-6", "TestConformance_PacketIdentifiers"},
	{v5, "MQTT-2.2.2-1", "TestGoldenEncode TestConformance_PacketIdentifiers"},
	{v311, "MQTT-1.5.3-1", "TestMalformedInput"},
	{v311, "MQTT-1.5.3-2", "TestMalformedInput"},
	{v311, "MQTT-1.5.3-3", "mqtt/topic.TestMatch mqtt/topic.TestValidate"},
	{v311, "MQTT-2.2.2-1", "TestMalformedInput"},
	{v311, "MQTT-2.2.2-2", "TestMalformedInput"},
	{v311, "MQTT-2.3.1-1", "TestMalformedInput"},
	{v311, "MQTT-2.3.1-2", clientOnly},
	{v311, "MQTT-2.3.1-3", clientOnly},
	{v311, "MQTT-2.3.1-4", "TestConformanceV311_Redelivery TestConformance_PacketIdentifiers"},
	{v311, "MQTT-2.3.1-5", "TestConformance_PacketIdentifiers"},
	{v311, "MQTT-2.3.1-6", "TestConformance_PacketIdentifiers"},
	{v311, "MQTT-2.3.1-7", "TestConformance_PacketIdentifiers"},
	{v5, "MQTT-3.1.0-1", "TestConnect_FirstPacketMustBeConnect TestMalformedInput"},
	{v5, "MQTT-3.1.0-2", "TestConnect_SecondConnectIsProtocolError"},
	{v5, "MQTT-3.1.2-1", "TestMalformedInput"},
	{v5, "MQTT-3.1.2-2", "TestConnect_UnsupportedVersion TestMalformedInput"},
	{v5, "MQTT-3.1.2-3", "TestMalformedInput"},
	{v5, "MQTT-3.1.2-4", "TestTakeover TestConformance_OfflineQueue"},
	{v5, "MQTT-3.1.2-5", "TestConformance_OfflineQueue TestPaho_SessionResume"},
	{v5, "MQTT-3.1.2-6", "TestConformance_SessionExpiry"},
	{v5, "MQTT-3.1.2-7", "TestConformance_WillMessage TestWill"},
	{v5, "MQTT-3.1.2-8", "TestConformance_WillMessage TestWill"},
	{v5, "MQTT-3.1.2-9", clientOnly},
	{v5, "MQTT-3.1.2-10", "TestConformance_WillMessage TestWill"},
	{v5, "MQTT-3.1.2-11", clientOnly},
	{v5, "MQTT-3.1.2-12", "TestMalformedInput"},
	{v5, "MQTT-3.1.2-13", clientOnly},
	{v5, "MQTT-3.1.2-14", "TestConformance_WillMessage TestWill"},
	{v5, "MQTT-3.1.2-15", "TestConformance_WillMessage TestWill"},
	{v5, "MQTT-3.1.2-16", clientOnly},
	{v5, "MQTT-3.1.2-17", clientOnly},
	{v5, "MQTT-3.1.2-18", clientOnly},
	{v5, "MQTT-3.1.2-19", clientOnly},
	{v5, "MQTT-3.1.2-20", clientOnly},
	{v5, "MQTT-3.1.2-21", clientOnly},
	{v5, "MQTT-3.1.2-22", "TestConformance_KeepAlive TestKeepAlive"},
	{v5, "MQTT-3.1.2-23", "TestConformance_SessionExpiry TestConformance_OfflineQueue"},
	{v5, "MQTT-3.1.2-24", "TestConformance_MaximumPacketSize TestClientMaximumPacketSize"},
	{v5, "MQTT-3.1.2-25", "TestConformance_MaximumPacketSize TestClientMaximumPacketSize"},
	{v5, "MQTT-3.1.2-26", "TestConformance_TopicAliases"},
	{v5, "MQTT-3.1.2-27", "TestConformance_TopicAliases"},
	{v5, "MQTT-3.1.2-28", "TestConformance_RequestResponse"},
	{v5, "MQTT-3.1.2-29", noProblemInfo},
	{v5, "MQTT-3.1.2-30", clientOnly},
	{v5, "MQTT-3.1.3-1", clientOnly},
	{v5, "MQTT-3.1.3-2", "TestConformance_OfflineQueue TestTakeover"},
	{v5, "MQTT-3.1.3-3", clientOnly},
	{v5, "MQTT-3.1.3-4", clientOnly},
	{v5, "MQTT-3.1.3-5", "TestConformance_ClientIDs"},
	{v5, "MQTT-3.1.3-6", "TestConformance_AssignedClientID TestConnect_V5Capabilities"},
	{v5, "MQTT-3.1.3-7", "TestConformance_AssignedClientID TestConnect_V5Capabilities"},
	{v5, "MQTT-3.1.3-8", noIDRejected},
	{v5, "MQTT-3.1.3-9", "TestConformance_WillDelay TestWillDelayLongerThanSession"},
	{v5, "MQTT-3.1.3-10", "TestConformance_WillMessage"},
	{v5, "MQTT-3.1.3-11", clientOnly},
	{v5, "MQTT-3.1.3-12", clientOnly},
	{v5, "MQTT-3.1.4-1", "TestMalformedInput"},
	{v5, "MQTT-3.1.4-2", "TestAuth_Connect TestConformance_RefusedConnectIgnoresTheRest"},
	{v5, "MQTT-3.1.4-3", "TestTakeover"},
	{v5, "MQTT-3.1.4-4", "TestConformance_OfflineQueue TestTakeover"},
	{v5, "MQTT-3.1.4-5", "TestConformance_ClientIDs"},
	{v5, "MQTT-3.1.4-6", "TestConformance_RefusedConnectIgnoresTheRest"},
	{v311, "MQTT-3.1.0-1", "TestMalformedInput"},
	{v311, "MQTT-3.1.0-2", "TestConnect_SecondConnectIsProtocolError"},
	{v311, "MQTT-3.1.2-1", "TestMalformedInput"},
	{v311, "MQTT-3.1.2-2", "TestConformanceV311_UnsupportedProtocolLevel TestConnect_UnsupportedVersion"},
	{v311, "MQTT-3.1.2-3", "TestMalformedInput"},
	{v311, "MQTT-3.1.2-4", "TestConformanceV311_OfflineQueue"},
	{v311, "MQTT-3.1.2-5", "TestConformanceV311_OfflineQueue"},
	{v311, "MQTT-3.1.2-6", "TestConformanceV311_OfflineQueue"},
	{v311, "MQTT-3.1.2-7", "TestConformanceV311_Retained"},
	{v311, "MQTT-3.1.2-8", "TestConformanceV311_Will"},
	{v311, "MQTT-3.1.2-9", clientOnly},
	{v311, "MQTT-3.1.2-10", "TestConformanceV311_Will"},
	{v311, "MQTT-3.1.2-11", "TestMalformedInput"},
	{v311, "MQTT-3.1.2-12", "TestConformanceV311_Will"},
	{v311, "MQTT-3.1.2-13", clientOnly},
	{v311, "MQTT-3.1.2-14", "TestMalformedInput"},
	{v311, "MQTT-3.1.2-15", "TestMalformedInput"},
	{v311, "MQTT-3.1.2-16", "TestConformanceV311_Will"},
	{v311, "MQTT-3.1.2-17", "TestConformanceV311_Will"},
	{v311, "MQTT-3.1.2-18", clientOnly},
	{v311, "MQTT-3.1.2-19", clientOnly},
	{v311, "MQTT-3.1.2-20", clientOnly},
	{v311, "MQTT-3.1.2-21", clientOnly},
	{v311, "MQTT-3.1.2-22", "TestMalformedInput"},
	{v311, "MQTT-3.1.2-23", clientOnly},
	{v311, "MQTT-3.1.2-24", "TestConformanceV311_KeepAlive"},
	{v311, "MQTT-3.1.3-1", clientOnly},
	{v311, "MQTT-3.1.3-2", "TestConformanceV311_OfflineQueue"},
	{v311, "MQTT-3.1.3-3", clientOnly},
	{v311, "MQTT-3.1.3-4", clientOnly},
	{v311, "MQTT-3.1.3-5", "TestConformance_ClientIDs"},
	{v311, "MQTT-3.1.3-6", "TestConformanceV311_ZeroLengthClientID TestConnect_V3ClientID"},
	{v311, "MQTT-3.1.3-7", clientOnly},
	{v311, "MQTT-3.1.3-8", "TestConformanceV311_ZeroLengthClientID TestConnect_V3ClientID"},
	{v311, "MQTT-3.1.3-9", noIDRejected},
	{v311, "MQTT-3.1.3-10", clientOnly},
	{v311, "MQTT-3.1.3-11", clientOnly},
	{v311, "MQTT-3.1.4-1", "TestMalformedInput"},
	{v311, "MQTT-3.1.4-2", "TestTakeover"},
	{v311, "MQTT-3.1.4-3", "TestConformanceV311_OfflineQueue"},
	{v311, "MQTT-3.1.4-4", "TestConformance_ClientIDs"},
	{v311, "MQTT-3.1.4-5", "TestConformance_RefusedConnectIgnoresTheRest"},
	{v5, "MQTT-3.2.0-1", "TestConnect_KickDuringConnect TestConformance_ClientIDs"},
	{v5, "MQTT-3.2.0-2", "TestConnect_SecondConnectIsProtocolError"},
	{v5, "MQTT-3.2.2-1", "TestGoldenEncode TestMalformedInput"},
	{v5, "MQTT-3.2.2-2", "TestConformance_OfflineQueue"},
	{v5, "MQTT-3.2.2-3", "TestConformance_OfflineQueue TestConformance_WillDelay"},
	{v5, "MQTT-3.2.2-4", clientOnly},
	{v5, "MQTT-3.2.2-5", clientOnly},
	{v5, "MQTT-3.2.2-6", "TestConformance_RefusedConnectIgnoresTheRest TestAuth_Connect"},
	{v5, "MQTT-3.2.2-7", "TestConformance_RefusedConnectIgnoresTheRest TestAuth_Connect"},
	{v5, "MQTT-3.2.2-8", "TestGoldenEncode TestMalformedInput"},
	{v5, "MQTT-3.2.2-9", maxQoS2},
	{v5, "MQTT-3.2.2-10", maxQoS2},
	{v5, "MQTT-3.2.2-11", clientOnly},
	{v5, "MQTT-3.2.2-12", maxQoS2},
	{v5, "MQTT-3.2.2-13", "TestConformance_FeaturesOff"},
	{v5, "MQTT-3.2.2-14", clientOnly},
	{v5, "MQTT-3.2.2-15", clientOnly},
	{v5, "MQTT-3.2.2-16", "TestConformance_AssignedClientID TestConnect_V5Capabilities"},
	{v5, "MQTT-3.2.2-17", clientOnly},
	{v5, "MQTT-3.2.2-18", clientOnly},
	{v5, "MQTT-3.2.2-19", noProblemInfo},
	{v5, "MQTT-3.2.2-20", noProblemInfo},
	{v5, "MQTT-3.2.2-21", clientOnly},
	{v5, "MQTT-3.2.2-22", "TestConformance_KeepAlive"},
	{v311, "MQTT-3.2.0-1", "TestConformanceV311_ZeroLengthClientID TestConformance_ClientIDs"},
	{v311, "MQTT-3.2.2-1", "TestConformanceV311_OfflineQueue"},
	{v311, "MQTT-3.2.2-2", "TestConformanceV311_OfflineQueue"},
	{v311, "MQTT-3.2.2-3", "TestConformanceV311_OfflineQueue"},
	{v311, "MQTT-3.2.2-4", "TestConformanceV311_ZeroLengthClientID TestConformance_RefusedConnectIgnoresTheRest"},
	{v311, "MQTT-3.2.2-5", "TestConformanceV311_ZeroLengthClientID TestConformance_RefusedConnectIgnoresTheRest"},
	{v311, "MQTT-3.2.2-6", "TestGoldenErrors TestMalformedInput"},
	{v5, "MQTT-3.3.1-1", "TestConformance_RedeliveryOnReconnect TestRetransmitOnReconnect"},
	{v5, "MQTT-3.3.1-2", "TestConformance_PacketIdentifiers TestMalformedInput"},
	{v5, "MQTT-3.3.1-3", "TestConformance_PacketIdentifiers TestQoS_Flows"},
	{v5, "MQTT-3.3.1-4", "TestMalformedInput"},
	{v5, "MQTT-3.3.1-5", "TestConformance_RetainHandling server.TestRetained"},
	{v5, "MQTT-3.3.1-6", "TestConformance_RetainHandling server.TestRetained"},
	{v5, "MQTT-3.3.1-7", "TestConformance_RetainHandling server.TestRetained"},
	{v5, "MQTT-3.3.1-8", "TestConformance_RetainHandling server.TestRetained"},
	{v5, "MQTT-3.3.1-9", "TestConformance_RetainHandling server.TestRetained"},
	{v5, "MQTT-3.3.1-10", "TestConformance_RetainHandling server.TestRetained"},
	{v5, "MQTT-3.3.1-11", "TestConformance_RetainHandling server.TestRetained"},
	{v5, "MQTT-3.3.1-12", "TestConformance_RetainAsPublished TestSubscriptionOptions"},
	{v5, "MQTT-3.3.1-13", "TestConformance_RetainAsPublished TestSubscriptionOptions"},
	{v5, "MQTT-3.3.2-1", "TestMalformedInput mqtt/topic.TestValidate"},
	{v5, "MQTT-3.3.2-2", "TestMalformedInput mqtt/topic.TestValidate"},
	{v5, "MQTT-3.3.2-3", "TestConformance_TopicAliases TestQoS_Flows"},
	{v5, "MQTT-3.3.2-4", "TestConformance_PropertiesForwarded TestPayloadFormatPublish"},
	{v5, "MQTT-3.3.2-5", "TestConformance_MessageExpiry TestMessageExpiryAndProperties"},
	{v5, "MQTT-3.3.2-6", "TestConformance_MessageExpiry TestConformance_PropertiesForwarded TestMessageExpiryAndProperties"},
	{v5, "MQTT-3.3.2-7", "TestConformance_TopicAliases"},
	{v5, "MQTT-3.3.2-8", "TestConformance_TopicAliases TestTopicAliases"},
	{v5, "MQTT-3.3.2-9", clientOnly},
	{v5, "MQTT-3.3.2-10", clientOnly},
	{v5, "MQTT-3.3.2-11", "TestConformance_TopicAliases TestTopicAliases"},
	{v5, "MQTT-3.3.2-12", "TestConformance_TopicAliases TestTopicAliases"},
	{v5, "MQTT-3.3.2-13", forwardOnly},
	{v5, "MQTT-3.3.2-14", forwardOnly},
	{v5, "MQTT-3.3.2-15", "TestConformance_PropertiesForwarded TestConformance_RequestResponse"},
	{v5, "MQTT-3.3.2-16", "TestConformance_PropertiesForwarded TestConformance_RequestResponse"},
	{v5, "MQTT-3.3.2-17", "TestConformance_PropertiesForwarded"},
	{v5, "MQTT-3.3.2-18", "TestConformance_PropertiesForwarded"},
	{v5, "MQTT-3.3.2-19", forwardOnly},
	{v5, "MQTT-3.3.2-20", "TestConformance_PropertiesForwarded"},
	{v5, "MQTT-3.3.4-1", "TestQoS_Flows TestConformance_PacketIdentifiers"},
	{v5, "MQTT-3.3.4-2", "TestConformance_OverlappingSubscriptions TestSubscriptionOptions"},
	{v5, "MQTT-3.3.4-3", "TestConformance_OverlappingSubscriptions TestSubscriptionOptions"},
	{v5, "MQTT-3.3.4-4", "TestSubscriptionOptions TestConformance_OverlappingSubscriptions"},
	{v5, "MQTT-3.3.4-5", oneCopy},
	{v5, "MQTT-3.3.4-6", "TestMalformedInput"},
	{v5, "MQTT-3.3.4-7", clientOnly},
	{v5, "MQTT-3.3.4-8", clientOnly},
	{v5, "MQTT-3.3.4-9", "TestConformance_ReceiveMaximum TestOutboundWindow"},
	{v5, "MQTT-3.3.4-10", "TestConformance_ReceiveMaximum"},
	{v311, "MQTT-3.3.1-1", "TestConformanceV311_Redelivery TestRetransmitOnReconnect"},
	{v311, "MQTT-3.3.1-2", "TestConformance_PacketIdentifiers TestMalformedInput"},
	{v311, "MQTT-3.3.1-3", "TestConformance_PacketIdentifiers TestQoS_Flows"},
	{v311, "MQTT-3.3.1-4", "TestMalformedInput"},
	{v311, "MQTT-3.3.1-5", "TestConformanceV311_Retained"},
	{v311, "MQTT-3.3.1-6", "TestConformanceV311_Retained"},
	{v311, "MQTT-3.3.1-7", "TestConformanceV311_Retained"},
	{v311, "MQTT-3.3.1-8", "TestConformanceV311_Retained"},
	{v311, "MQTT-3.3.1-9", "TestConformanceV311_Retained"},
	{v311, "MQTT-3.3.1-10", "TestConformanceV311_Retained"},
	{v311, "MQTT-3.3.1-11", "TestConformanceV311_Retained"},
	{v311, "MQTT-3.3.1-12", "TestConformanceV311_Retained"},
	{v311, "MQTT-3.3.2-1", "TestMalformedInput mqtt/topic.TestValidate"},
	{v311, "MQTT-3.3.2-2", "TestMalformedInput mqtt/topic.TestValidate"},
	{v311, "MQTT-3.3.2-3", "TestConformanceV311_DollarTopics TestQoS_Flows"},
	{v311, "MQTT-3.3.4-1", "TestQoS_Flows TestConformance_PacketIdentifiers"},
	{v311, "MQTT-3.3.5-1", "TestConformanceV311_OverlappingSubscriptions"},
	{v311, "MQTT-3.3.5-2", "TestAuth_ACL"},
	{v5, "MQTT-3.4.2-1", "TestReasonCodeSets TestMalformedInput"},
	{v5, "MQTT-3.4.2-2", noProblemInfo},
	{v5, "MQTT-3.4.2-3", noProblemInfo},
	{v5, "MQTT-3.5.2-1", "TestReasonCodeSets TestMalformedInput"},
	{v5, "MQTT-3.5.2-2", noProblemInfo},
	{v5, "MQTT-3.5.2-3", noProblemInfo},
	{v5, "MQTT-3.6.1-1", "TestMalformedInput"},
	{v5, "MQTT-3.6.2-1", "TestReasonCodeSets TestMalformedInput"},
	{v5, "MQTT-3.6.2-2", noProblemInfo},
	{v5, "MQTT-3.6.2-3", noProblemInfo},
	{v5, "MQTT-3.7.2-1", "TestReasonCodeSets TestMalformedInput"},
	{v5, "MQTT-3.7.2-2", noProblemInfo},
	{v5, "MQTT-3.7.2-3", noProblemInfo},
	{v311, "MQTT-3.6.1-1", "TestMalformedInput"},
	{v5, "MQTT-3.8.1-1", "TestMalformedInput"},
	{v5, "MQTT-3.8.3-1", clientOnly},
	{v5, "MQTT-3.8.3-2", "TestMalformedInput"},
	{v5, "MQTT-3.8.3-3", "TestConformance_NoLocal TestSubscriptionOptions"},
	{v5, "MQTT-3.8.3-4", "TestMalformedInput"},
	{v5, "MQTT-3.8.3-5", "TestMalformedInput"},
	{v5, "MQTT-3.8.4-1", "TestConformance_PacketIdentifiers"},
	{v5, "MQTT-3.8.4-2", "TestConformance_PacketIdentifiers"},
	{v5, "MQTT-3.8.4-3", "TestConformance_RetainHandling"},
	{v5, "MQTT-3.8.4-4", "TestConformance_RetainHandling"},
	{v5, "MQTT-3.8.4-5", "TestConformance_PacketIdentifiers"},
	{v5, "MQTT-3.8.4-6", "TestConformance_PacketIdentifiers"},
	{v5, "MQTT-3.8.4-7", "TestConformance_PacketIdentifiers"},
	{v5, "MQTT-3.8.4-8", "TestQoS_Flows TestConformance_SharedSubscriptions"},
	{v311, "MQTT-3.8.1-1", "TestMalformedInput"},
	{v311, "MQTT-3.8.3-1", clientOnly},
	{v311, "MQTT-3.8.3-2", "TestConformance_FeaturesOff"},
	{v311, "MQTT-3.8.3-3", "TestMalformedInput"},
	{v311, "MQTT-3.8.3-4", "TestMalformedInput"},
	{v311, "MQTT-3.8.4-1", "TestConformance_PacketIdentifiers TestConformanceV311_SubscribeUnsubscribe"},
	{v311, "MQTT-3.8.4-2", "TestConformance_PacketIdentifiers TestConformanceV311_SubscribeUnsubscribe"},
	{v311, "MQTT-3.8.4-3", "TestConformanceV311_Retained"},
	{v311, "MQTT-3.8.4-4", "TestConformance_PacketIdentifiers TestConformanceV311_SubscribeUnsubscribe"},
	{v311, "MQTT-3.8.4-5", "TestConformance_PacketIdentifiers TestConformanceV311_SubscribeUnsubscribe"},
	{v311, "MQTT-3.8.4-6", "TestQoS_Flows TestConformanceV311_OverlappingSubscriptions"},
	{v5, "MQTT-3.9.2-1", noProblemInfo},
	{v5, "MQTT-3.9.2-2", noProblemInfo},
	{v5, "MQTT-3.9.3-1", "TestConformance_PacketIdentifiers"},
	{v5, "MQTT-3.9.3-2", "TestReasonCodeSets TestConformance_PacketIdentifiers"},
	{v311, "MQTT-3.9.3-1", "TestConformance_PacketIdentifiers TestConformanceV311_SubscribeUnsubscribe"},
	{v311, "MQTT-3.9.3-2", "TestConformanceV311_SubscribeUnsubscribe TestMalformedInput"},
	{v5, "MQTT-3.10.1-1", "TestMalformedInput"},
	{v5, "MQTT-3.10.3-1", clientOnly},
	{v5, "MQTT-3.10.3-2", "TestMalformedInput"},
	{v5, "MQTT-3.10.4-1", "TestConformance_Unsubscribe"},
	{v5, "MQTT-3.10.4-2", "TestConformance_UnsubscribeFinishesInflight TestConformance_Unsubscribe"},
	{v5, "MQTT-3.10.4-3", "TestConformance_UnsubscribeFinishesInflight TestConformance_Unsubscribe"},
	{v5, "MQTT-3.10.4-4", "TestConformance_Unsubscribe"},
	{v5, "MQTT-3.10.4-5", "TestConformance_PacketIdentifiers TestConformance_Unsubscribe"},
	{v5, "MQTT-3.10.4-6", "TestConformance_Unsubscribe"},
	{v311, "MQTT-3.10.1-1", "TestMalformedInput"},
	{v311, "MQTT-3.10.3-1", clientOnly},
	{v311, "MQTT-3.10.3-2", clientOnly},
	{v311, "MQTT-3.10.4-1", "TestConformanceV311_Unsubscribe"},
	{v311, "MQTT-3.10.4-2", "TestConformanceV311_Unsubscribe"},
	{v311, "MQTT-3.10.4-3", "TestConformance_UnsubscribeFinishesInflight"},
	{v311, "MQTT-3.10.4-4", "TestConformance_PacketIdentifiers TestConformanceV311_SubscribeUnsubscribe"},
	{v311, "MQTT-3.10.4-5", "TestConformance_PacketIdentifiers TestConformanceV311_SubscribeUnsubscribe"},
	{v311, "MQTT-3.10.4-6", "TestConformanceV311_Unsubscribe"},
	{v5, "MQTT-3.11.2-1", noProblemInfo},
	{v5, "MQTT-3.11.2-2", noProblemInfo},
	{v5, "MQTT-3.11.3-1", "TestConformance_Unsubscribe TestConformance_PacketIdentifiers"},
	{v5, "MQTT-3.11.3-2", "TestReasonCodeSets TestConformance_Unsubscribe"},
	{v5, "MQTT-3.12.4-1", "TestConformance_PacketIdentifiers TestConformance_KeepAlive"},
	{v311, "MQTT-3.12.4-1", "TestConformance_PacketIdentifiers"},
	{v5, "MQTT-3.14.0-1", "TestMalformedInput"},
	{v5, "MQTT-3.14.1-1", "TestMalformedInput"},
	{v5, "MQTT-3.14.2-1", "TestMalformedInput"},
	{v5, "MQTT-3.14.2-2", "TestConformance_KeepAlive"},
	{v5, "MQTT-3.14.2-3", noProblemInfo},
	{v5, "MQTT-3.14.2-4", noProblemInfo},
	{v5, "MQTT-3.14.4-1", "TestConformance_KeepAlive"},
	{v5, "MQTT-3.14.4-2", "TestConformance_KeepAlive"},
	{v5, "MQTT-3.14.4-3", "TestConformance_WillMessage TestWill"},
	{v311, "MQTT-3.14.1-1", "TestMalformedInput"},
	{v311, "MQTT-3.14.4-1", clientOnly},
	{v311, "MQTT-3.14.4-2", clientOnly},
	{v311, "MQTT-3.14.4-3", "TestConformanceV311_Will"},
	{v5, "MQTT-3.15.1-1", "TestMalformedInput"},
	{v5, "MQTT-3.15.2-1", "TestMalformedInput"},
	{v5, "MQTT-3.15.2-2", noAuth},
	{v5, "MQTT-3.15.2-3", noAuth},
	{v5, "MQTT-4.1.0-1", "TestConformance_OfflineQueue TestConformance_RedeliveryOnReconnect"},
	{v5, "MQTT-4.1.0-2", "TestConformance_SessionExpiry TestSessionExpiry"},
	{v5, "MQTT-4.2-1", "TestTCP TestWebSocket"},
	{v311, "MQTT-4.1.0-1", "TestConformanceV311_OfflineQueue TestConformanceV311_Redelivery"},
	{v311, "MQTT-4.1.0-2", "TestConformanceV311_OfflineQueue TestConformanceV311_Redelivery"},
	{v5, "MQTT-4.3.1-1", "TestConformance_PacketIdentifiers"},
	{v5, "MQTT-4.3.2-1", "TestConformance_RedeliveryOnReconnect TestConformance_PacketIdentifiers"},
	{v5, "MQTT-4.3.2-2", "TestConformance_RedeliveryOnReconnect TestConformance_PacketIdentifiers"},
	{v5, "MQTT-4.3.2-3", "TestConformance_RedeliveryOnReconnect TestConformance_PacketIdentifiers"},
	{v5, "MQTT-4.3.2-4", "TestConformance_PacketIdentifiers"},
	{v5, "MQTT-4.3.2-5", "TestConformance_PacketIdentifiers"},
	{v5, "MQTT-4.3.3-1", "TestConformance_RedeliveryOnReconnect TestQoS_Flows"},
	{v5, "MQTT-4.3.3-2", "TestConformance_RedeliveryOnReconnect TestQoS_Flows"},
	{v5, "MQTT-4.3.3-3", "TestConformance_RedeliveryOnReconnect TestQoS_Flows"},
	{v5, "MQTT-4.3.3-4", "TestConformance_RedeliveryOnReconnect TestQoS_Flows"},
	{v5, "MQTT-4.3.3-5", "TestConformance_RedeliveryOnReconnect TestQoS_Flows"},
	{v5, "MQTT-4.3.3-6", "TestRetransmitOnReconnect TestDurableModel_Walk"},
	{v5, "MQTT-4.3.3-7", "TestConformance_NoExpiryOnceSent"},
	{v5, "MQTT-4.3.3-8", "TestConformance_PacketIdentifiers TestQoS2_InboundDuplicate"},
	{v5, "MQTT-4.3.3-9", "TestConformance_FailedPubrecFreesID"},
	{v5, "MQTT-4.3.3-10", "TestQoS2_InboundDuplicate"},
	{v5, "MQTT-4.3.3-11", "TestConformance_PacketIdentifiers TestQoS2_InboundDuplicate"},
	{v5, "MQTT-4.3.3-12", "TestConformance_PacketIdentifiers TestQoS2_InboundDuplicate"},
	{v5, "MQTT-4.3.3-13", expiryInbound},
	{v5, "MQTT-4.4.0-1", "TestConformance_RedeliveryOnReconnect TestRetransmitOnReconnect"},
	{v5, "MQTT-4.4.0-2", "TestDurableModel_Walk TestDurableShared_StaysWithMember"},
	{v5, "MQTT-4.5.0-1", "TestConformance_OfflineQueue TestQoS_Flows"},
	{v5, "MQTT-4.5.0-2", clientOnly},
	{v311, "MQTT-4.3.1-1", "TestConformance_PacketIdentifiers"},
	{v311, "MQTT-4.3.2-1", "TestConformanceV311_Redelivery"},
	{v311, "MQTT-4.3.2-2", "TestConformance_PacketIdentifiers TestQoS_Flows"},
	{v311, "MQTT-4.3.3-1", "TestConformanceV311_Redelivery"},
	{v311, "MQTT-4.3.3-2", "TestConformance_PacketIdentifiers TestQoS_Flows"},
	{v311, "MQTT-4.4.0-1", "TestConformanceV311_Redelivery"},
	{v311, "MQTT-4.5.0-1", "TestConformanceV311_OfflineQueue TestQoS_Flows"},
	{v311, "MQTT-4.5.0-2", clientOnly},
	{v5, "MQTT-4.6.0-1", clientOnly},
	{v5, "MQTT-4.6.0-2", clientOnly},
	{v5, "MQTT-4.6.0-3", clientOnly},
	{v5, "MQTT-4.6.0-4", clientOnly},
	{v5, "MQTT-4.6.0-5", "TestConformance_OfflineQueue TestOutboundWindow"},
	{v5, "MQTT-4.6.0-6", "TestConformance_OfflineQueue TestOutboundWindow"},
	{v311, "MQTT-4.6.0-1", clientOnly},
	{v311, "MQTT-4.6.0-2", clientOnly},
	{v311, "MQTT-4.6.0-3", clientOnly},
	{v311, "MQTT-4.6.0-4", clientOnly},
	{v311, "MQTT-4.6.0-5", "TestConformanceV311_OfflineQueue TestOutboundWindow"},
	{v311, "MQTT-4.6.0-6", "TestConformanceV311_OfflineQueue TestOutboundWindow"},
	{v5, "MQTT-4.7.0-1", "mqtt/topic.TestValidate mqtt/topic.TestParseFilter TestMalformedInput"},
	{v5, "MQTT-4.7.1-1", "mqtt/topic.TestValidate mqtt/topic.TestParseFilter TestMalformedInput"},
	{v5, "MQTT-4.7.1-2", "mqtt/topic.TestValidate mqtt/topic.TestParseFilter TestMalformedInput"},
	{v5, "MQTT-4.7.3-1", "mqtt/topic.TestValidate mqtt/topic.TestParseFilter TestMalformedInput"},
	{v5, "MQTT-4.7.3-2", "mqtt/topic.TestValidate mqtt/topic.TestParseFilter TestMalformedInput"},
	{v5, "MQTT-4.7.3-3", "mqtt/topic.TestValidate mqtt/topic.TestParseFilter TestMalformedInput"},
	{v5, "MQTT-4.7.3-4", "mqtt/topic.TestMatch"},
	{v311, "MQTT-4.7.1-1", "mqtt/topic.TestValidate mqtt/topic.TestParseFilter TestMalformedInput"},
	{v311, "MQTT-4.7.1-2", "mqtt/topic.TestValidate mqtt/topic.TestParseFilter TestMalformedInput"},
	{v311, "MQTT-4.7.1-3", "mqtt/topic.TestValidate mqtt/topic.TestParseFilter TestMalformedInput"},
	{v311, "MQTT-4.7.3-1", "mqtt/topic.TestValidate mqtt/topic.TestParseFilter TestMalformedInput"},
	{v311, "MQTT-4.7.3-2", "mqtt/topic.TestValidate mqtt/topic.TestParseFilter TestMalformedInput"},
	{v311, "MQTT-4.7.3-3", "mqtt/topic.TestValidate mqtt/topic.TestParseFilter TestMalformedInput"},
	{v311, "MQTT-4.7.3-4", "mqtt/topic.TestMatch"},
	{v5, "MQTT-4.7.2-1", "mqtt/topic.TestMatch TestSys"},
	{v311, "MQTT-4.7.2-1", "TestConformanceV311_DollarTopics mqtt/topic.TestMatch"},
	{v5, "MQTT-4.8.2-1", "mqtt/topic.TestParseFilter"},
	{v5, "MQTT-4.8.2-2", "mqtt/topic.TestParseFilter"},
	{v5, "MQTT-4.8.2-3", "TestConformance_SharedSubscriptions TestShared_RoundRobin"},
	{v5, "MQTT-4.8.2-4", "TestDurableShared_StaysWithMember TestDurableSharedRestart_QoS2StaysWithMember"},
	{v5, "MQTT-4.8.2-5", "TestDurableSharedRestart_QoS2DroppedWithSession"},
	{v5, "MQTT-4.8.2-6", "TestDurableShared_StaysWithMember"},
	{v5, "MQTT-4.9.0-1", "TestConformance_ReceiveMaximum TestConformance_ServerReceiveMaximum"},
	{v5, "MQTT-4.9.0-2", "TestConformance_ReceiveMaximum TestConformance_ServerReceiveMaximum"},
	{v5, "MQTT-4.9.0-3", "TestConformance_ReceiveMaximum TestConformance_ServerReceiveMaximum"},
	{v5, "MQTT-4.12.0-1", "TestConformance_AuthMethodRefused"},
	{v5, "MQTT-4.12.0-2", noAuth},
	{v5, "MQTT-4.12.0-3", clientOnly},
	{v5, "MQTT-4.12.0-4", noAuth},
	{v5, "MQTT-4.12.0-5", noAuth},
	{v5, "MQTT-4.12.0-6", "TestConformance_AuthMethodRefused"},
	{v5, "MQTT-4.12.0-7", clientOnly},
	{v5, "MQTT-4.12.1-1", clientOnly},
	{v5, "MQTT-4.12.1-2", noAuth},
	{v5, "MQTT-4.13.1-1", "TestMalformedInput"},
	{v5, "MQTT-4.13.2-1", "TestMalformedInput"},
	{v311, "MQTT-4.8.0-1", "TestMalformedInput"},
	{v311, "MQTT-4.8.0-2", transient},
	{v5, "MQTT-6.0.0-1", "TestWebSocket_TextFrameClosesConnection"},
	{v311, "MQTT-6.0.0-1", "TestWebSocket_TextFrameClosesConnection"},
	{v5, "MQTT-6.0.0-2", "TestConformance_WebSocketFraming"},
	{v311, "MQTT-6.0.0-2", "TestConformance_WebSocketFraming TestWebSocket_EndToEnd"},
	{v5, "MQTT-6.0.0-3", clientOnly},
	{v311, "MQTT-6.0.0-3", clientOnly},
	{v5, "MQTT-6.0.0-4", "TestConformance_WebSocketFraming TestWebSocket_RequiresSubprotocol"},
	{v311, "MQTT-6.0.0-4", "TestWebSocket TestWebSocket_RequiresSubprotocol"},
	{v311, "MQTT-7.0.0-1", noBridge},
	{v311, "MQTT-7.0.0-2", "TestPaho_Interop TestConformanceV311_Retained"},
	{v311, "MQTT-7.1.1-1", "TestTCP TestWebSocket"},
	{v311, "MQTT-7.1.2-1", clientOnly},
}

type statement struct{ version, id, binds string }

// readStatements reads testdata/mqtt-statements.txt.
func readStatements(t *testing.T) []statement {
	t.Helper()
	f, err := os.Open("testdata/mqtt-statements.txt")
	require.NoError(t, err)
	defer f.Close()
	var out []statement
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Split(line, "\t")
		require.Len(t, fs, 3, "line %q", line)
		out = append(out, statement{fs[0], fs[1], fs[2]})
	}
	require.NoError(t, sc.Err())
	return out
}

// testFuncs finds every func TestX in the module's *_test.go files and the
// package directories that hold one of that name.
func testFuncs(t *testing.T) map[string][]string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^func (Test\w+)\(`)
	out := map[string][]string{}
	root := ".."
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		for _, m := range re.FindAllSubmatch(b, -1) {
			name := string(m[1])
			if !slices.Contains(out[name], dir) {
				out[name] = append(out[name], dir)
			}
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

func TestConformanceMatrix(t *testing.T) {
	stmts := readStatements(t)
	require.Len(t, stmts, 251+141, "251 numbered statements in 5.0, 141 in 3.1.1")
	known := map[[2]string]bool{}
	for _, s := range stmts {
		known[[2]string{s.version, s.id}] = true
	}
	tests := testFuncs(t)
	entries := map[[2]string]string{}
	for _, e := range conformance {
		k := [2]string{e.version, e.id}
		require.True(t, known[k], "%s %s is not a statement of that version", e.version, e.id)
		_, dup := entries[k]
		require.False(t, dup, "%s %s is listed twice", e.version, e.id)
		entries[k] = e.by
		if strings.HasPrefix(e.by, "n/a: ") {
			continue
		}
		names := strings.Fields(e.by)
		require.NotEmpty(t, names, "%s %s: no test and no reason", e.version, e.id)
		for _, n := range names {
			dir, name := splitTestName(n)
			dirs := tests[name]
			require.NotEmpty(t, dirs, "%s %s: no test named %s", e.version, e.id, name)
			if dir == "" {
				require.Len(t, dirs, 1, "%s %s: %s is defined in %v; name the package (dir.TestName)", e.version, e.id, name, dirs)
			} else {
				require.Contains(t, dirs, dir, "%s %s: no test %s in %s", e.version, e.id, name, dir)
			}
		}
	}
	for _, s := range stmts {
		_, ok := entries[[2]string{s.version, s.id}]
		require.True(t, ok, "%s %s (%s) is neither covered nor excused", s.version, s.id, s.binds)
		if entries[[2]string{s.version, s.id}] == clientOnly {
			require.Equal(t, "Client", s.binds, "%s %s binds %s, not the Client only", s.version, s.id, s.binds)
		}
	}
}

// splitTestName splits "mqtt/topic.TestValidate" into its package
// directory and test name; an unqualified name has no directory.
func splitTestName(n string) (dir, name string) {
	if i := strings.LastIndex(n, "."); i >= 0 {
		return n[:i], n[i+1:]
	}
	return "", n
}

const (
	conformanceBegin = "<!-- conformance table: generated by TestConformanceDesignTable -update-conformance; do not edit -->"
	conformanceEnd   = "<!-- end of conformance table -->"
)

// conformanceTable renders the matrix as markdown, tests named with their
// package directory.
func conformanceTable(t *testing.T) string {
	binds := map[[2]string]string{}
	for _, s := range readStatements(t) {
		binds[[2]string{s.version, s.id}] = s.binds
	}
	tests := testFuncs(t)
	var b strings.Builder
	covered, excused := 0, 0
	for _, e := range conformance {
		if strings.HasPrefix(e.by, "n/a: ") {
			excused++
		} else {
			covered++
		}
	}
	fmt.Fprintf(&b, "%d statements: %d covered by tests, %d not applicable.\n\n", len(conformance), covered, excused)
	b.WriteString("| Version | Statement | Binds | Covered by |\n| --- | --- | --- | --- |\n")
	for _, e := range conformance {
		by := e.by
		if !strings.HasPrefix(by, "n/a: ") {
			var names []string
			for _, n := range strings.Fields(by) {
				if dir, name := splitTestName(n); dir == "" {
					n = strings.Join(tests[name], ",") + "." + name
				}
				names = append(names, "`"+n+"`")
			}
			by = strings.Join(names, ", ")
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", e.version, e.id, binds[[2]string{e.version, e.id}], by)
	}
	return b.String()
}

func TestConformanceDesignTable(t *testing.T) {
	const path = "../DESIGN.md"
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	doc := string(raw)
	i := strings.Index(doc, conformanceBegin)
	j := strings.Index(doc, conformanceEnd)
	require.True(t, i >= 0 && j > i, "DESIGN.md has no conformance table markers")
	want := doc[:i+len(conformanceBegin)] + "\n" + conformanceTable(t) + doc[j:]
	if *updateConformance {
		require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
		return
	}
	require.Equal(t, want, doc, "DESIGN.md's conformance table is stale: go test ./server -run TestConformanceDesignTable -update-conformance")
}
