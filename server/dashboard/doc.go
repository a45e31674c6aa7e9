// Package dashboard is the broker's web dashboard: a handful of static files (HTML, CSS and
// plain JavaScript, embedded in the binary) that the management listener serves under Prefix.
//
// It is not a backend. The files hold no data and are served to anyone; every figure the page
// shows is fetched by the browser from the authenticated REST API (/api/v1, /metrics) with the
// API key the user logs in with, kept in the tab's sessionStorage and sent as
// "Authorization: Bearer <key>". Nothing here reads broker state, so the dashboard can show
// nothing that the API would not answer the same key.
//
// The pages: overview (node status and live message and byte rate charts, polled every
// second), clients (connected clients and disconnected durable sessions, kick, delete
// session), subscriptions, storage (shards, generations, disk, seeks and steps per message
// read) and trace (list, start, stop, log, delete). The JavaScript keeps every API route it
// calls in one table (routes in app.js), which a server test checks against the OpenAPI
// document.
//
// Handler is safe for concurrent use; the files never change while the process runs.
//
// Usage (package server does this in APIHandler):
//
//	mux.Handle("GET "+dashboard.Prefix, dashboard.Handler())
package dashboard
