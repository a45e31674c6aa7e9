// Package peering carries publishes between the brokers of a cluster for the sessions each
// keeps in memory.
//
// Durable sessions need none of this: in a cluster every PUBLISH is stored in the replicated
// store, and a durable session reads it from its site's replica whichever broker took it. A
// session kept in memory lives on one broker only, so a message published on another broker
// has to be carried to it. Each broker therefore tells every other one which filters its
// in-memory sessions subscribe to (its routes), and a broker that takes a PUBLISH sends it once
// to each other broker with a matching route, which hands it to its own in-memory sessions.
//
// # Routes
//
// A broker's routes are the filters its sessions subscribe to; the subscription index reports
// each filter's first subscriber and its last one leaving (Node.Route). Each peer receives the changes as numbered
// deltas (add or remove a filter) under the sender's epoch, a random number drawn at start. A
// receiver that finds a delta out of sequence, or an epoch it does not know (the sender or the
// receiver restarted), answers 409 and the sender sends its whole route set instead. An empty
// delta goes out every SyncInterval, so a peer that restarted learns the routes even when
// nothing changes. Routes are applied asynchronously: a subscription acknowledged on one broker
// takes effect on the others one round trip later.
//
// # Messages
//
// Each peer has a bounded queue and one sender that posts what is queued as one batch, so
// messages reach a peer in the order they were published here. A message that finds the queue
// full, or a batch the peer does not take, is dropped and counted: the in-memory sessions of a
// broker that cannot be reached are not reachable either.
//
// # Retained messages
//
// Every peer gets each retained PUBLISH, matching routes or not, to keep its view of the
// retained messages (the replicated table holds them; each broker serves them from memory).
//
// # Take-over
//
// Before a broker admits a CONNECT it asks every peer to let go of the client id (TakeOver):
// a peer with that client connected disconnects it (Session taken over) and answers once the
// connection let go of its session, so a client id is connected to one broker at a time.
//
// # Shared subscriptions
//
// A shared group's filter is a route too ("$share/{group}/{filter}") while the group has a
// member on the broker. A message matching a group is given to one broker among those with
// members, taken in turn, and that broker picks the member with its own strategy: the group
// receives it once across the cluster.
package peering
