package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mqttds/mqttds/server"
	"github.com/mqttds/mqttds/server/config"
)

func init() {
	register("serve", "run the broker (default 127.0.0.1:1883, data in ./data)", func(args []string) error {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		defer signal.Stop(sig)
		return serve(args, os.Environ(), os.Stderr, sig)
	})
}

// shutdownTimeout bounds how long a stop waits for connections to close.
const shutdownTimeout = 10 * time.Second

// serve runs the broker until stop delivers a signal: it then stops
// accepting, tells v5 clients DISCONNECT 0x8B, closes every connection and
// returns nil, so the process exits 0.
func serve(args, environ []string, logOut io.Writer, stop <-chan os.Signal) error {
	// 1. Flags and configuration: defaults, then the file, then MQTTDS_
	// variables, then the flags.
	fs := newFlagSet("serve", "mqttds serve [--config FILE] [--bind ADDR] [--data-dir DIR]", logOut)
	cfgFile := fs.String("config", "", "YAML configuration file (see 'mqttds config defaults')")
	bind := fs.String("bind", "", "address of the TCP listener, overriding listeners.tcp.bind")
	dataDir := fs.String("data-dir", "", "data directory, overriding data_dir")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("serve takes no arguments, got %q", strings.Join(pos, " "))
	}
	cfg, err := config.Load(*cfgFile, environ)
	if err != nil {
		return err
	}
	if *bind != "" {
		cfg.Listeners.TCP.Enabled, cfg.Listeners.TCP.Bind = true, *bind
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, err := newLogger(cfg.Log, logOut)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}

	// 2. The broker's options and listeners, from the configuration.
	opts, ls, err := server.FromConfig(cfg, log)
	if err != nil {
		return err
	}

	// 3. The storage: durable sessions, their messages, and the retained messages. It is opened
	// with every durable_storage option (shards, write buffer, layout, retention), alone or as
	// one site of a replicated cluster (cluster.go).
	db, closeStore, err := openStore(cfg, opts, log, stop)
	if err != nil {
		return err
	}
	defer closeStore()
	retained, err := server.OpenDSRetained(db)
	if err != nil {
		return err
	}
	opts.Retained = retained
	opts.Durable.DB = db

	// 4. Who may call the HTTP API (api_auth.go).
	var localToken string
	if cfg.API.Bind != "" {
		api, token, err := apiAuth(cfg)
		if err != nil {
			return err
		}
		opts.API, localToken = api, token
		if localToken != "" {
			defer os.Remove(filepath.Join(cfg.DataDir, server.LocalTokenFile))
		}
	}

	// 5. The broker.
	srv, err := server.New(opts)
	if err != nil {
		return err
	}
	attachPeers(opts, srv)
	for _, l := range ls {
		if err := srv.AddListener(l); err != nil {
			return err
		}
	}
	webhooks, err := server.WebhooksFromConfig(cfg, opts.NodeName, log)
	if err != nil {
		return err
	}
	for _, w := range webhooks {
		srv.AddHook(w)
	}
	if err := srv.Start(); err != nil {
		return err
	}

	// 6. The HTTP API (REST and /metrics).
	var api *http.Server
	if cfg.API.Bind != "" {
		ln, err := net.Listen("tcp", cfg.API.Bind)
		if err != nil {
			_ = srv.Close(context.Background())
			return fmt.Errorf("api.bind: %w", err)
		}
		api = &http.Server{Handler: srv.APIHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := api.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("api server stopped", "err", err)
			}
		}()
		log.Info("api listening", "address", ln.Addr().String())
	}
	log.Info("mqttds started", "data_dir", cfg.DataDir)

	// 7. Wait for a signal, then stop in order.
	s := <-stop
	log.Info("stopping", "signal", s.String())
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if api != nil {
		_ = api.Shutdown(ctx)
	}
	if err := srv.Close(ctx); err != nil {
		log.Warn("connections still open at shutdown deadline", "err", err)
	}
	for _, w := range webhooks { // after the broker: the last events are sent once more
		if err := w.Close(ctx); err != nil {
			log.Warn("webhook events still queued at shutdown deadline", "url", w.Metrics().URL)
		}
	}
	log.Info("stopped")
	return nil
}

// newLogger builds the slog logger the configuration asks for.
func newLogger(lc config.Log, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(lc.Level)); err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	ho := &slog.HandlerOptions{Level: level}
	if lc.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho)), nil
	}
	return slog.New(slog.NewTextHandler(w, ho)), nil
}
