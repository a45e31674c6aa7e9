// Package clienttest starts a throwaway Mosquitto broker for tests of MQTT clients and tools: on
// 127.0.0.1, on free ports, with a configuration file in the test's temporary directory, stopped by
// PID when the test ends. It is test support, imported only from _test.go files.
package clienttest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Mosquitto is a running broker.
type Mosquitto struct {
	Port    int    // plain MQTT
	WSPort  int    // MQTT over WebSocket (path /mqtt), through a bridge in the test process
	TLSPort int    // MQTT over TLS, with the certificate in CAFile
	CAFile  string // PEM of the self-signed certificate the TLS listener presents (for 127.0.0.1)
	Dir     string // the broker's directory: config, persistence, log
	bin     string
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the first broker process has been reaped
}

// Options tunes StartMosquitto.
type Options struct {
	// Persistence turns on Mosquitto's persistence into Dir (saved on clean exit only).
	Persistence bool
	// Extra lines appended to the generated configuration.
	Extra []string
}

// MosquittoPath returns the broker binary, or "" if none is installed.
func MosquittoPath() string {
	for _, p := range []string{"mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	return ""
}

// StartMosquitto starts a broker for the test and registers its stop. It skips the test, saying
// how to install one, when no mosquitto binary is found, and fails it if the broker does not come
// up within five seconds.
func StartMosquitto(t testing.TB, o *Options) *Mosquitto {
	t.Helper()
	bin := MosquittoPath()
	if bin == "" {
		t.Skip("mosquitto is not installed (apt-get install -y mosquitto); skipping the tests against a real broker")
	}
	if o == nil {
		o = &Options{}
	}
	m := &Mosquitto{Dir: t.TempDir(), bin: bin, exited: make(chan struct{})}
	m.Port, m.TLSPort = freePort(t), freePort(t)
	m.CAFile = writeCert(t, m.Dir)
	cfg := []string{
		// Run as whoever runs the test: started as root, Mosquitto would switch to its own user
		// and could not read the test's private temporary directory.
		"user " + currentUser(),
		"per_listener_settings false",
		"allow_anonymous true",
		"log_dest file " + filepath.Join(m.Dir, "mosquitto.log"),
		"log_type error", "log_type warning", "log_type notice",
		fmt.Sprintf("persistence %v", o.Persistence),
		"persistence_location " + m.Dir + "/",
		"pid_file " + m.pidFile(), // written by a broker started with -d (see RestartCommand)
		"max_inflight_messages 0",
		"max_queued_messages 0",
		fmt.Sprintf("listener %d 127.0.0.1", m.Port),
		fmt.Sprintf("listener %d 127.0.0.1", m.TLSPort),
		"certfile " + filepath.Join(m.Dir, "cert.pem"),
		"keyfile " + filepath.Join(m.Dir, "key.pem"),
	}
	cfg = append(cfg, o.Extra...)
	conf := m.conf()
	if err := os.WriteFile(conf, []byte(strings.Join(cfg, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m.cmd = exec.Command(bin, "-c", conf)
	m.cmd.Dir = m.Dir
	var stderr bytes.Buffer
	m.cmd.Stderr = &stderr
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("starting mosquitto: %v", err)
	}
	go func() { _ = m.cmd.Wait(); close(m.exited) }() // reap at once, so "gone" is visible in /proc
	t.Cleanup(m.Stop)
	deadline := time.Now().Add(5 * time.Second)
	for _, port := range []int{m.Port, m.TLSPort} {
		for port != 0 {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 100*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(m.Dir, "mosquitto.log"))
				t.Fatalf("mosquitto did not listen on %d: %v\nstderr: %s\nlog: %s", port, err, stderr.String(), log)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	m.WSPort = startWSBridge(t, m.Addr())
	return m
}

// Addr is the plain listener's host:port.
func (m *Mosquitto) Addr() string { return fmt.Sprintf("127.0.0.1:%d", m.Port) }

// PID is the broker's process id.
func (m *Mosquitto) PID() int { return m.cmd.Process.Pid }

func (m *Mosquitto) conf() string    { return filepath.Join(m.Dir, "mosquitto.conf") }
func (m *Mosquitto) pidFile() string { return filepath.Join(m.Dir, "mosquitto.pid") }

// RestartCommand returns a shell command that stops the broker cleanly (SIGTERM, so Mosquitto
// saves its persistence file), waits for it to exit and starts it again in the background on the
// same ports. Stop also ends the restarted broker.
func (m *Mosquitto) RestartCommand(t testing.TB) string {
	script := filepath.Join(m.Dir, "restart.sh")
	body := fmt.Sprintf(`#!/bin/sh
pid=$(cat %[1]s 2>/dev/null || echo %[2]d)
kill -TERM "$pid"
while [ -e /proc/"$pid" ] && ! { grep -q '^State:.*Z' /proc/"$pid"/status 2>/dev/null && [ "$(ls /proc/"$pid"/task 2>/dev/null | wc -l)" -le 1 ]; }; do sleep 0.02; done
rm -f %[1]s
exec %[3]s -c %[4]s -d
`, m.pidFile(), m.PID(), m.bin, m.conf())
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	return script
}

// Stop ends the broker (SIGTERM, then SIGKILL after two seconds), and a broker a RestartCommand
// started, and waits for them.
func (m *Mosquitto) Stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	select {
	case <-m.exited:
	default:
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.exited:
		case <-time.After(2 * time.Second):
			_ = m.cmd.Process.Kill()
			<-m.exited
		}
	}
	if b, err := os.ReadFile(m.pidFile()); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != m.PID() {
			stopPID(pid)
		}
	}
}

// stopPID ends a process that is not our child: SIGTERM, then SIGKILL if it lingers.
func stopPID(pid int) {
	// Gone: no process, or a zombie whose other threads have all exited (only then are its files,
	// and so its locks and sockets, released).
	gone := func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return true
		}
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		return bytes.Contains(b, []byte("State:\tZ")) && len(tasks) <= 1
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 100 && !gone(); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if !gone() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeCert writes a self-signed certificate for 127.0.0.1 (cert.pem, key.pem) and returns the
// certificate's path, which doubles as the CA file.
func writeCert(t testing.TB, dir string) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(dir, "cert.pem")
	write := func(path, typ string, b []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(cert, "CERTIFICATE", der)
	write(filepath.Join(dir, "key.pem"), "EC PRIVATE KEY", kder)
	return cert
}
