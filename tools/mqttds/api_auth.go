package main

import (
	"fmt"
	"path/filepath"

	"github.com/mqttds/mqttds/internal/atomicfile"
	"github.com/mqttds/mqttds/server"
	"github.com/mqttds/mqttds/server/apikey"
	"github.com/mqttds/mqttds/server/config"
)

// apiAuth builds the API's authentication from the configuration: the API keys of
// <data_dir>/api_keys.json, api.token, and (api.local_token) a fresh token written to
// <data_dir>/api.token, which it returns so that the caller removes the file at stop.
//
// An API that other hosts can reach must have a credential an operator chose: an API key or
// api.token. The local token does not count, since only this host can read it.
func apiAuth(cfg *config.Config) (server.APIOptions, string, error) {
	keys, err := apikey.Open(filepath.Join(cfg.DataDir, apikey.FileName))
	if err != nil {
		return server.APIOptions{}, "", err
	}
	if cfg.APIPublic() && keys.Len() == 0 && cfg.API.Token == "" {
		return server.APIOptions{}, "", fmt.Errorf("api.bind %s is not a loopback address, and no API key and no api.token "+
			"is configured: anyone who reaches it could manage the broker. Set api.token (MQTTDS_API_TOKEN), or bind "+
			"the API to 127.0.0.1 and create a key with `mqttds ctl api-key create NAME` first", cfg.API.Bind)
	}
	o := server.APIOptions{Authenticate: true, Keys: keys, MetricsAuth: cfg.API.MetricsAuth,
		TraceDir: filepath.Join(cfg.DataDir, "trace")}
	if cfg.API.Token != "" {
		o.Tokens = append(o.Tokens, cfg.API.Token)
	}
	if !cfg.API.LocalToken {
		return o, "", nil
	}
	token, err := apikey.NewToken()
	if err != nil {
		return server.APIOptions{}, "", err
	}
	if err := writePrivate(filepath.Join(cfg.DataDir, server.LocalTokenFile), token+"\n"); err != nil {
		return server.APIOptions{}, "", fmt.Errorf("api.local_token: %w", err)
	}
	o.Tokens = append(o.Tokens, token)
	return o, token, nil
}

// writePrivate replaces path with content, readable by its owner only. The content appears
// whole or not at all (a temporary file renamed over path).
func writePrivate(path, content string) error {
	return atomicfile.Write(path, []byte(content), 0o600)
}
